//! Inputs of the engine: what an account holds and what the market looks like.
use crate::bs::{OptionKind, MAX_VOL, MIN_VOL};
use crate::error::{RiskError, RiskResult};
use crate::fx::{add, fx_ratio, mul, Fx};

pub const MAX_UNDERLYINGS: usize = 8;
pub const MAX_POSITIONS: usize = 32;
pub const MAX_COLLATERAL: usize = 8;
/// Spot (quote-native per contract) above 2^52 leaves too little headroom for the i128 exposures.
pub const MAX_SPOT: u64 = 1 << 52;
/// Largest |size x spot| of one position, in quote-native units (2.9 x 10^17: $288 billion in
/// USDC). Bounded so that an exposure's sums (`portfolio::MAX_EXPOSURE_POSITIONS` products,
/// |bound| <= 2^63) fit i128 and need no overflow check per product.
pub const MAX_NOTIONAL: i128 = 1 << 58;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instrument {
    Perpetual,
    /// Dated future, cash-settled at `expiry` (unix seconds).
    Future {
        expiry: i64,
    },
    /// European option; `strike` in quote-native units per contract.
    Option {
        kind: OptionKind,
        strike: u64,
        expiry: i64,
    },
}

impl Instrument {
    /// The tenor a position is bucketed by for the calendar-spread charge: its expiry, or 0 for
    /// a perpetual.
    pub fn tenor(&self) -> i64 {
        match *self {
            Instrument::Perpetual => 0,
            Instrument::Future { expiry } | Instrument::Option { expiry, .. } => expiry,
        }
    }
}

/// Sticky-strike volatility smile: sigma(k) = atm + skew k + smile k^2 with k = ln(K/S),
/// clamped to [min, max].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolSurface {
    pub atm: Fx,
    pub skew: Fx,
    pub smile: Fx,
    pub min: Fx,
    pub max: Fx,
}

impl VolSurface {
    pub const fn flat(vol: Fx) -> Self {
        Self {
            atm: vol,
            skew: Fx::ZERO,
            smile: Fx::ZERO,
            min: vol,
            max: vol,
        }
    }

    pub fn validate(&self) -> RiskResult<()> {
        let ordered = MIN_VOL <= self.min && self.min <= self.max && self.max <= MAX_VOL;
        if !ordered || self.atm < self.min || self.atm > self.max {
            return Err(RiskError::InvalidParameter);
        }
        Ok(())
    }

    /// Volatility for a strike at log-moneyness ln(S/K).
    pub fn vol_at(&self, log_moneyness: Fx) -> RiskResult<Fx> {
        let k = -log_moneyness;
        let quadratic = add(mul(self.skew, k)?, mul(self.smile, mul(k, k)?)?)?;
        Ok(add(self.atm, quadratic)?.clamp(self.min, self.max))
    }
}

/// Stress grid of one underlying. Core scenarios: 9 relative price moves evenly spaced over
/// [-price_range, +price_range] x volatility {-vol_down, 0, +vol_up} (absolute vol points).
/// Extended moves: -extended_down and +extended_up at base volatility, their losses counted at
/// `extended_weight`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScenarioGrid {
    pub price_range: Fx,
    pub vol_down: Fx,
    pub vol_up: Fx,
    pub extended_down: Fx,
    pub extended_up: Fx,
    pub extended_weight: Fx,
}

impl ScenarioGrid {
    pub fn validate(&self) -> RiskResult<()> {
        let half = fx_ratio(1, 2);
        let ok = self.price_range > 0
            && self.price_range <= half
            && (Fx::ZERO..=Fx::ONE).contains(&self.vol_down)
            && (Fx::ZERO..=Fx::ONE).contains(&self.vol_up)
            && self.extended_down >= self.price_range
            && self.extended_down <= fx_ratio(95, 100)
            && self.extended_up >= self.price_range
            && self.extended_up <= fx_ratio(10, 1)
            && (Fx::ZERO..=Fx::ONE).contains(&self.extended_weight);
        if ok {
            Ok(())
        } else {
            Err(RiskError::InvalidParameter)
        }
    }
}

/// One underlying's market data and risk parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Underlying {
    /// Oracle price in quote-native units per contract.
    pub spot: u64,
    pub surface: VolSurface,
    pub rate: Fx,
    pub grid: ScenarioGrid,
    /// Underlyings in one group move together through one market factor; across groups they are
    /// independent.
    pub correlation_group: u8,
    /// Loading on the group's factor, in [0, 1]: correlation(u, v) = beta_u beta_v in a group.
    pub beta: Fx,
    /// |net delta| (quote-native) above which initial margin adds a concentration charge.
    pub concentration_threshold: u64,
    /// Short-option minimum: fraction of spot charged per short option contract, a floor under
    /// the requirement of the underlying's correlation group (deep out-of-the-money shorts can
    /// show almost no loss on the grid).
    pub short_option_minimum: Fx,
    /// Basis shock, per year of tenor: every dated future's carried value moves by up to this
    /// fraction of itself per year to expiry (a future of tenor T is repriced at
    /// S e^{rate T} (1 +- basis_shock T)), so a perp against a future, or two futures of
    /// different tenors, never net to zero. In [0, `MAX_BASIS_SHOCK`].
    pub basis_shock: Fx,
    /// Calendar-spread minimum: fraction of the delta-notional netted across different tenors
    /// charged per netted pair (SPAN's intra-commodity spread charge), in
    /// [0, `MAX_CALENDAR_SPREAD_MINIMUM`]. See `portfolio::Exposure::basis_charge`.
    pub calendar_spread_minimum: Fx,
}

/// Largest basis shock: a future's price moving by 100 % of itself per year to expiry.
pub const MAX_BASIS_SHOCK: Fx = Fx::ONE;
/// Largest calendar-spread minimum: 10 % of the netted delta-notional.
pub const MAX_CALENDAR_SPREAD_MINIMUM: Fx = fx_ratio(1, 10);

impl Underlying {
    pub fn validate(&self) -> RiskResult<()> {
        if self.spot == 0 || self.spot > MAX_SPOT {
            return Err(RiskError::SpotOutOfRange);
        }
        if self.rate < crate::bs::MIN_RATE || self.rate > crate::bs::MAX_RATE {
            return Err(RiskError::RateOutOfRange);
        }
        if !(Fx::ZERO..=Fx::ONE).contains(&self.beta)
            || !(Fx::ZERO..=fx_ratio(1, 10)).contains(&self.short_option_minimum)
            || !(Fx::ZERO..=MAX_BASIS_SHOCK).contains(&self.basis_shock)
            || !(Fx::ZERO..=MAX_CALENDAR_SPREAD_MINIMUM).contains(&self.calendar_spread_minimum)
        {
            return Err(RiskError::InvalidParameter);
        }
        self.surface.validate()?;
        self.grid.validate()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Index into the market's underlyings.
    pub underlying: u8,
    pub instrument: Instrument,
    /// Contracts; positive long, negative short.
    pub size: i64,
    /// Signed quote-native amount paid to open (size x entry price); unrealized PnL is
    /// size x mark - cost_basis.
    pub cost_basis: i64,
}

/// One collateral balance with its valuation parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Collateral {
    /// Native units; negative is a borrow (only the quote asset can be borrowed on chain).
    pub amount: i64,
    /// Quote-native units per native unit.
    pub price: Fx,
    pub init_asset_weight: Fx,
    pub maint_asset_weight: Fx,
    pub init_liab_weight: Fx,
    pub maint_liab_weight: Fx,
    /// Value (quote-native) up to which the full asset weight applies; above it the weighted
    /// value only grows with the square root of the value. 0 disables the liquidity haircut.
    pub liquidity_depth: u64,
}

impl Collateral {
    pub fn validate(&self) -> RiskResult<()> {
        // An asset may be valued at zero (a dead feed, in a liquidation); a liability never.
        let priced = self.price > 0 || (self.price == 0 && self.amount >= 0);
        let ok = priced
            && Fx::ZERO <= self.init_asset_weight
            && self.init_asset_weight <= self.maint_asset_weight
            && self.maint_asset_weight <= Fx::ONE
            && Fx::ONE <= self.maint_liab_weight
            && self.maint_liab_weight <= self.init_liab_weight
            && self.init_liab_weight <= fx_ratio(4, 1);
        if ok {
            Ok(())
        } else {
            Err(RiskError::InvalidParameter)
        }
    }
}

/// Account-independent parameters of the margin rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskParams {
    /// initial = maintenance x initial_factor + concentration charges; >= 1.
    pub initial_factor: Fx,
    /// Fraction of |net delta| above the threshold charged to initial margin.
    pub concentration_factor: Fx,
    /// Net option decay over this horizon is charged to maintenance.
    pub theta_horizon_secs: u64,
}

impl RiskParams {
    pub fn validate(&self) -> RiskResult<()> {
        let ok = self.initial_factor >= Fx::ONE
            && self.initial_factor <= fx_ratio(10, 1)
            && (Fx::ZERO..=Fx::ONE).contains(&self.concentration_factor)
            && self.theta_horizon_secs <= 30 * 24 * 3600;
        if ok {
            Ok(())
        } else {
            Err(RiskError::InvalidParameter)
        }
    }
}
