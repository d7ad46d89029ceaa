//! Every refusal of the engine is a named error; nothing in the engine panics on user input.
use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskError {
    /// An intermediate result left the representable range.
    Overflow,
    /// Spot must be positive and at most `MAX_SPOT`.
    SpotOutOfRange,
    /// Strike must be positive and within `MAX_LOG_MONEYNESS` of spot.
    MoneynessOutOfRange,
    /// Volatility outside `[MIN_VOL, MAX_VOL]`.
    VolatilityOutOfRange,
    /// Time to expiry negative or beyond `MAX_EXPIRY_SECS`.
    ExpiryOutOfRange,
    /// Rate outside `[MIN_RATE, MAX_RATE]`.
    RateOutOfRange,
    /// A grid, surface, correlation or collateral parameter is outside its documented range.
    InvalidParameter,
    /// A position names an underlying the market data does not have.
    UnknownUnderlying,
    /// More positions, underlyings or collateral entries than an account can hold.
    CapacityExceeded,
    /// Position notional (size x spot) beyond `MAX_NOTIONAL`.
    NotionalOutOfRange,
    /// The liquidation search was given an empty or inconsistent range.
    NoLiquidationSolution,
}

impl fmt::Display for RiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for RiskError {}

pub type RiskResult<T> = Result<T, RiskError>;
