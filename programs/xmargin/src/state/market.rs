use anchor_lang::prelude::*;
use xmargin_risk::bs::OptionKind;
use xmargin_risk::grid::{GridConstants, LevelSpan, FACTOR_LEVELS, GRID_WORDS};
use xmargin_risk::portfolio::UnderlyingConstants;
use xmargin_risk::window::MAX_SPOT_TOLERANCE_BPS;
use xmargin_risk::{Fx, Instrument, ScenarioGrid, Underlying, VolSurface};

use crate::error::XmarginError;
use crate::state::BPS_DENOMINATOR;

/// Spot at which price-independent parameters are validated and derived.
const NOMINAL_SPOT: u64 = 1_000_000;

/// Series per market (perps, futures, and every strike x expiry of the option chain).
pub const MAX_SERIES: usize = 64;
/// The widest fill band the risk authority may set: 10 % of spot beyond the valuation. Two
/// colluding accounts move at most this much value per contract filled (docs/security.md).
pub const MAX_FILL_BAND_BPS: u16 = 1_000;
/// Markets the clearinghouse lists; a position slot stores its market as a u8.
pub const MAX_MARKETS: u8 = 64;

/// Where a price comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, AnchorSerialize, AnchorDeserialize)]
pub enum OracleKind {
    /// The quote asset: exactly one, no oracle.
    None,
    /// Pyth legacy (push) price account, read with `pyth-sdk-solana`.
    PythLegacy,
    /// Pyth pull-oracle `PriceUpdateV2` account.
    PythPull,
}

impl TryFrom<u8> for OracleKind {
    type Error = Error;
    fn try_from(value: u8) -> Result<Self> {
        match value {
            0 => Ok(Self::None),
            1 => Ok(Self::PythLegacy),
            2 => Ok(Self::PythPull),
            _ => err!(XmarginError::InvalidParameter),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, AnchorSerialize, AnchorDeserialize)]
pub enum SeriesKind {
    Perpetual,
    Future,
    Call,
    Put,
}

impl TryFrom<u8> for SeriesKind {
    type Error = Error;
    fn try_from(value: u8) -> Result<Self> {
        match value {
            0 => Ok(Self::Perpetual),
            1 => Ok(Self::Future),
            2 => Ok(Self::Call),
            3 => Ok(Self::Put),
            _ => err!(XmarginError::UnknownSeries),
        }
    }
}

pub const SERIES_UNUSED: u8 = 0;
pub const SERIES_ACTIVE: u8 = 1;
pub const SERIES_SETTLED: u8 = 2;
/// The settlement price is the first valid oracle price published within this long after
/// expiry.
pub const SETTLEMENT_WINDOW_SECS: i64 = 3_600;
/// The perp mark is a time-weighted average of trade prices over about this window.
pub const MARK_TWAP_WINDOW_SECS: i64 = 3_600;
/// Funding rates are per day and clamped to this many basis points per day.
pub const FUNDING_PERIOD_SECS: i64 = 86_400;
pub const MAX_FUNDING_RATE_BPS: i64 = 100;

/// One tradable series of a market.
#[zero_copy]
#[derive(Debug, PartialEq, Eq)]
pub struct Series {
    /// Quote-native per contract; 0 for perps and futures.
    pub strike: u64,
    /// Unix seconds; 0 for perps.
    pub expiry: i64,
    /// Σ of long sizes and Σ of |short sizes|: equal at all times.
    pub open_interest_long: u64,
    pub open_interest_short: u64,
    /// Quote-native per contract, once settled.
    pub settlement_price: u64,
    /// Cumulative funding paid per long contract (perps), quote-native. Whole units keep every
    /// payment, size x index change, exact and zero-sum.
    pub funding_index: i64,
    /// Time-weighted mark of cleared trade prices (perps), quote-native per contract.
    pub mark_twap: u64,
    pub twap_updated_at: i64,
    pub last_funding_time: i64,
    /// Cumulative loss socialized per contract held (either side), quote-native.
    pub loss_index: i64,
    /// `SeriesKind` as u8.
    pub kind: u8,
    /// `SERIES_*`.
    pub status: u8,
    pub _padding: [u8; 6],
}

impl Series {
    pub fn instrument(&self) -> Result<Instrument> {
        Ok(match SeriesKind::try_from(self.kind)? {
            SeriesKind::Perpetual => Instrument::Perpetual,
            SeriesKind::Future => Instrument::Future {
                expiry: self.expiry,
            },
            SeriesKind::Call => Instrument::Option {
                kind: OptionKind::Call,
                strike: self.strike,
                expiry: self.expiry,
            },
            SeriesKind::Put => Instrument::Option {
                kind: OptionKind::Put,
                strike: self.strike,
                expiry: self.expiry,
            },
        })
    }

    /// Open interest after one side's fill of `size` (counts both sides: Σ long sizes and
    /// Σ |short sizes|).
    pub fn record_fill(&mut self, fill: &crate::state::Fill, size: i64) -> Result<()> {
        let overflow = || error!(XmarginError::AmountTooLarge);
        let before = fill.size_after.checked_sub(size).ok_or_else(overflow)?;
        let long = |s: i64| s.max(0).unsigned_abs();
        let short = |s: i64| s.min(0).unsigned_abs();
        self.open_interest_long = self
            .open_interest_long
            .checked_add(long(fill.size_after))
            .and_then(|oi| oi.checked_sub(long(before)))
            .ok_or_else(overflow)?;
        self.open_interest_short = self
            .open_interest_short
            .checked_add(short(fill.size_after))
            .and_then(|oi| oi.checked_sub(short(before)))
            .ok_or_else(overflow)?;
        Ok(())
    }

    /// Sizes sum to zero, so both sides' open interest must match after every pair of fills.
    pub fn check_open_interest(&self) -> Result<()> {
        require!(
            self.open_interest_long == self.open_interest_short,
            XmarginError::OpenInterestMismatch
        );
        Ok(())
    }

    /// Cash paid per long contract at settlement (quote-native): the settlement price for
    /// futures, intrinsic value for options.
    pub fn settlement_payoff(&self) -> Result<u64> {
        require!(
            self.status == SERIES_SETTLED,
            XmarginError::SeriesNotSettled
        );
        let price = self.settlement_price;
        Ok(match SeriesKind::try_from(self.kind)? {
            SeriesKind::Perpetual => return err!(XmarginError::SeriesNotExpired),
            SeriesKind::Future => price,
            SeriesKind::Call => price.saturating_sub(self.strike),
            SeriesKind::Put => self.strike.saturating_sub(price),
        })
    }

    /// Folds a cleared trade price into the mark TWAP: the new price weighs in proportion to the
    /// time since the last update, up to the whole window.
    pub fn record_trade_price(&mut self, price: u64, now: i64) {
        if self.mark_twap == 0 {
            self.mark_twap = price;
        } else {
            let elapsed = now
                .saturating_sub(self.twap_updated_at)
                .clamp(0, MARK_TWAP_WINDOW_SECS);
            let gap = price as i128 - self.mark_twap as i128;
            let moved = gap * elapsed as i128 / MARK_TWAP_WINDOW_SECS as i128;
            self.mark_twap = (self.mark_twap as i128 + moved) as u64;
        }
        self.twap_updated_at = now;
    }

    /// Funding per contract accrued since the last crank at `index_price` (quote-native per
    /// contract): the premium of the mark TWAP over the index, clamped, pro rata over time,
    /// rounded toward zero. Returns (rate in bps per day, amount per contract).
    pub fn accrue_funding(&mut self, index_price: u64, now: i64) -> Result<(i64, i64)> {
        let elapsed = now.saturating_sub(self.last_funding_time).max(0);
        self.last_funding_time = now;
        // Before the first trade there is no mark to pay funding on.
        if self.mark_twap == 0 || index_price == 0 {
            return Ok((0, 0));
        }
        let premium_bps = (self.mark_twap as i128 - index_price as i128) * BPS_DENOMINATOR as i128
            / index_price as i128;
        let rate_bps =
            premium_bps.clamp(-MAX_FUNDING_RATE_BPS as i128, MAX_FUNDING_RATE_BPS as i128);
        let per_contract = index_price as i128 * rate_bps * elapsed as i128
            / (BPS_DENOMINATOR as i128 * FUNDING_PERIOD_SECS as i128);
        let per_contract =
            i64::try_from(per_contract).map_err(|_| error!(XmarginError::MathOverflow))?;
        self.funding_index = self
            .funding_index
            .checked_add(per_contract)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        Ok((rate_bps as i64, per_contract))
    }

    /// Spreads `loss` over every contract held on either side, rounded up per contract; returns
    /// (per contract, contracts, the rounding excess collected beyond `loss`).
    pub fn socialize_loss(&mut self, loss: u64) -> Result<(u64, u64, u64)> {
        let contracts = self
            .open_interest_long
            .checked_add(self.open_interest_short)
            .filter(|c| *c > 0)
            .ok_or_else(|| error!(XmarginError::NoSeriesToSocialize))?;
        let per_contract = loss.div_ceil(contracts);
        let collected = per_contract
            .checked_mul(contracts)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        self.loss_index = i64::try_from(per_contract)
            .ok()
            .and_then(|p| self.loss_index.checked_add(p))
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        Ok((per_contract, contracts, collected - loss))
    }

    /// Perps never expire; everything else stops trading at its expiry.
    pub fn is_expired(&self, now: i64) -> bool {
        self.kind != SeriesKind::Perpetual as u8 && now >= self.expiry
    }
}

/// Volatility smile as stored (I32F32 bits).
#[zero_copy]
#[derive(Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
// Plain borsh: `AnchorSerialize` would add a second IDL description under `idl-build`
// (`zero_copy` already gives one).
#[borsh(crate = "anchor_lang::prelude::borsh")]
pub struct StoredVolSurface {
    pub atm: i64,
    pub skew: i64,
    pub smile: i64,
    pub min: i64,
    pub max: i64,
}

impl StoredVolSurface {
    pub fn to_risk(&self) -> VolSurface {
        VolSurface {
            atm: Fx::from_bits(self.atm),
            skew: Fx::from_bits(self.skew),
            smile: Fx::from_bits(self.smile),
            min: Fx::from_bits(self.min),
            max: Fx::from_bits(self.max),
        }
    }

    fn fields(&self) -> [i64; 5] {
        [self.atm, self.skew, self.smile, self.min, self.max]
    }

    /// Largest absolute change of any parameter from `self` to `next`.
    pub fn largest_step(&self, next: &StoredVolSurface) -> u64 {
        self.fields()
            .iter()
            .zip(next.fields())
            .map(|(a, b)| a.abs_diff(b))
            .max()
            .unwrap_or(0)
    }
}

/// Scenario grid as stored (I32F32 bits).
#[zero_copy]
#[derive(Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
// Plain borsh: `AnchorSerialize` would add a second IDL description under `idl-build`
// (`zero_copy` already gives one).
#[borsh(crate = "anchor_lang::prelude::borsh")]
pub struct StoredGrid {
    pub price_range: i64,
    pub vol_down: i64,
    pub vol_up: i64,
    pub extended_down: i64,
    pub extended_up: i64,
    pub extended_weight: i64,
}

impl StoredGrid {
    pub fn to_risk(&self) -> ScenarioGrid {
        ScenarioGrid {
            price_range: Fx::from_bits(self.price_range),
            vol_down: Fx::from_bits(self.vol_down),
            vol_up: Fx::from_bits(self.vol_up),
            extended_down: Fx::from_bits(self.extended_down),
            extended_up: Fx::from_bits(self.extended_up),
            extended_weight: Fx::from_bits(self.extended_weight),
        }
    }
}

/// Risk parameters of one underlying other than its surface.
#[zero_copy]
#[derive(Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
// Plain borsh: `AnchorSerialize` would add a second IDL description under `idl-build`
// (`zero_copy` already gives one).
#[borsh(crate = "anchor_lang::prelude::borsh")]
pub struct UnderlyingRisk {
    pub grid: StoredGrid,
    pub rate: i64,
    pub beta: i64,
    pub short_option_minimum: i64,
    pub concentration_threshold: u64,
    pub correlation_group: u8,
    pub _padding: [u8; 1],
    /// Cached option risk (`RiskCache`) holds while spot stays within this many basis points
    /// of the spot it was computed at, for `cache_max_age_secs`; 0 in either disables the cache.
    pub cache_spot_tolerance_bps: u16,
    pub cache_max_age_secs: u32,
    /// A fill clears within this many basis points of spot beyond the series' valuation
    /// (`xmargin_risk::fill::FillBand`), at most `MAX_FILL_BAND_BPS`.
    pub fill_band_bps: u16,
    pub _band_padding: [u8; 6],
}

/// One underlying and its series, PDA `["market", index]`.
#[account(zero_copy)]
#[derive(Debug)]
pub struct Market {
    pub oracle: Pubkey,
    pub feed_id: [u8; 32],
    pub surface: StoredVolSurface,
    pub risk: UnderlyingRisk,
    /// A contract is `contract_size / 10^contract_decimals` units of the underlying.
    pub contract_size: u64,
    pub surface_updated_at: i64,
    pub index: u8,
    pub bump: u8,
    /// `OracleKind` as u8.
    pub oracle_kind: u8,
    pub contract_decimals: u8,
    pub series_count: u8,
    pub _padding: [u8; 3],
    /// `xmargin_risk::UnderlyingConstants` of `risk` (grid constants as words, factor level
    /// spans as `LevelSpan` bits): derived whenever `risk` changes so margin checks skip the
    /// derivation.
    pub grid_constants: [i64; GRID_WORDS],
    pub factor_spans: [u16; FACTOR_LEVELS],
    pub _constants_padding: [u8; 2],
    /// Bumped whenever the surface or `risk` changes: cached option risk of an older generation
    /// is ignored.
    pub risk_generation: u64,
    /// The market's `RiskCache` account, once created (default key until then).
    pub risk_cache: Pubkey,
    pub series: [Series; MAX_SERIES],
}

impl Market {
    pub const SEED: &'static [u8] = b"market";
    pub const SPACE: usize = 8 + core::mem::size_of::<Market>();

    pub fn oracle_kind(&self) -> Result<OracleKind> {
        OracleKind::try_from(self.oracle_kind)
    }

    pub fn series(&self, index: u8) -> Result<&Series> {
        self.series[..self.series_count as usize]
            .get(index as usize)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))
    }

    pub fn series_mut(&mut self, index: u8) -> Result<&mut Series> {
        let count = self.series_count as usize;
        self.series[..count]
            .get_mut(index as usize)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))
    }

    /// The engine's view of this underlying at `spot` (quote-native per contract).
    pub fn underlying(&self, spot: u64) -> Underlying {
        Underlying {
            spot,
            surface: self.surface.to_risk(),
            rate: Fx::from_bits(self.risk.rate),
            grid: self.risk.grid.to_risk(),
            correlation_group: self.risk.correlation_group,
            beta: Fx::from_bits(self.risk.beta),
            concentration_threshold: self.risk.concentration_threshold,
            short_option_minimum: Fx::from_bits(self.risk.short_option_minimum),
        }
    }

    /// Parameters the engine accepts, checked at a nominal spot.
    pub fn validate_risk(&self) -> Result<()> {
        require!(
            self.risk.cache_spot_tolerance_bps <= MAX_SPOT_TOLERANCE_BPS
                && self.risk.fill_band_bps <= MAX_FILL_BAND_BPS,
            XmarginError::InvalidParameter
        );
        self.underlying(NOMINAL_SPOT)
            .validate()
            .map_err(|_| error!(XmarginError::InvalidParameter))
    }

    /// The widening of the fill band, as a fraction of spot, rounded down (a band never
    /// wider than set).
    pub fn fill_band_widening(&self) -> Fx {
        Fx::from_bits(((self.risk.fill_band_bps as i64) << 32) / BPS_DENOMINATOR as i64)
    }

    /// Marks every cached option risk of this market as outdated.
    pub fn bump_risk_generation(&mut self) -> Result<()> {
        self.risk_generation = self
            .risk_generation
            .checked_add(1)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        Ok(())
    }

    /// Re-derives the stored constants from `risk` (they do not depend on prices).
    pub fn refresh_constants(&mut self) -> Result<()> {
        let constants = UnderlyingConstants::new(&self.underlying(NOMINAL_SPOT))
            .map_err(|_| error!(XmarginError::InvalidParameter))?;
        self.grid_constants = constants.grid.to_words();
        self.factor_spans = constants.spans.map(LevelSpan::to_bits);
        Ok(())
    }

    pub fn constants(&self) -> Result<UnderlyingConstants> {
        let mut grid = GridConstants::default();
        self.read_grid_constants(&mut grid)?;
        Ok(UnderlyingConstants {
            grid,
            spans: self.factor_spans(),
        })
    }

    /// The stored factor level spans.
    pub fn factor_spans(&self) -> [LevelSpan; FACTOR_LEVELS] {
        self.factor_spans.map(LevelSpan::from_bits)
    }

    /// The stored grid constants decoded into `grid`, in place.
    pub fn read_grid_constants(&self, grid: &mut GridConstants) -> Result<()> {
        grid.read_words(&self.grid_constants)
            .map_err(|_| error!(XmarginError::InvalidParameter))
    }
}

const _: () = {
    assert!(core::mem::size_of::<Series>() == 88);
    assert!(core::mem::size_of::<StoredVolSurface>() == 40);
    assert!(core::mem::size_of::<UnderlyingRisk>() == 96);
    assert!(core::mem::offset_of!(UnderlyingRisk, cache_spot_tolerance_bps) == 82);
    assert!(core::mem::offset_of!(UnderlyingRisk, fill_band_bps) == 88);
    assert!(core::mem::offset_of!(Market, surface) == 64);
    assert!(core::mem::offset_of!(Market, risk) == 104);
    assert!(core::mem::offset_of!(Market, grid_constants) == 224);
    assert!(core::mem::offset_of!(Market, risk_generation) == 224 + GRID_WORDS * 8 + 24);
    assert!(core::mem::offset_of!(Market, series) == 224 + GRID_WORDS * 8 + 64);
    assert!(core::mem::size_of::<Market>() == 224 + GRID_WORDS * 8 + 64 + 64 * 88);
    assert!(core::mem::align_of::<Market>() == 8);
};
