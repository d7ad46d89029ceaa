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
/// The largest open-interest cap per series, in contracts (any larger is a listing mistake).
pub const MAX_OPEN_INTEREST_CAP: u64 = 1 << 53;
/// Markets the clearinghouse lists; a position slot stores its market as a u8.
pub const MAX_MARKETS: u8 = 64;
/// Cached option risk older than an hour is never used, whatever the market's setting.
pub const MAX_CACHE_AGE_SECS: u32 = 3_600;

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
/// Expired with a settlement price proposed, which an earlier valid price may still replace
/// until `Series::settlement_final_at`.
pub const SERIES_SETTLING: u8 = 3;
/// The settlement price is the earliest valid oracle price published at or after expiry that
/// anyone presents within this long of the first proposal; a price published more than this
/// long after expiry is the fallback, flagged (docs/security.md, "Expiry").
pub const SETTLEMENT_WINDOW_SECS: i64 = 3_600;
/// A perp's premium weighs the fills of the current window of this length fully and those of
/// the previous one less and less through it (`Series::premium_ppm_at`).
pub const PREMIUM_WINDOW_SECS: i64 = 3_600;
/// Funding rates are per day and clamped to this many basis points per day.
pub const FUNDING_PERIOD_SECS: i64 = 86_400;
pub const MAX_FUNDING_RATE_BPS: i64 = 100;
/// Premiums and rates are in parts per million of the index.
pub const PPM: i64 = 1_000_000;
/// Funding per contract = index x rate (ppm a day) x seconds over this.
const FUNDING_DENOMINATOR: i128 = PPM as i128 * FUNDING_PERIOD_SECS as i128;
/// Funding rates hold for steps of this length, fixed in absolute time
/// (`Series::accrue_funding`).
pub const FUNDING_STEP_SECS: i64 = 300;
/// Steps over which a premium can be non-zero after an accrual: two windows, and the partial
/// steps at either end.
const FUNDING_STEPS_PER_ACCRUAL: usize = (2 * PREMIUM_WINDOW_SECS / FUNDING_STEP_SECS) as usize + 2;

/// The start of the `period`-second step that `t` falls in (rounded down). In unsigned
/// arithmetic: SBPF v0 has no signed division (LLVM narrows a 128-bit one to it).
pub fn step_start(t: i64, period: i64) -> i64 {
    let period = period.unsigned_abs().max(1);
    let magnitude = t.unsigned_abs();
    if t >= 0 {
        (magnitude / period * period) as i64
    } else {
        (magnitude.div_ceil(period) * period).wrapping_neg() as i64
    }
}

/// One premium window's fills (`Series::premium_ppm_at`).
struct PremiumWindow {
    start: i64,
    premium_volume: i64,
    volume: u64,
}

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
    /// Perps: Σ |size| x premium (ppm of the index) and Σ |size| of the fills of the current
    /// premium window (`premium_window`, a multiple of `PREMIUM_WINDOW_SECS`) and of the one
    /// before (`Series::premium_ppm_at`).
    pub premium_volume: i64,
    pub volume: u64,
    pub prior_premium_volume: i64,
    pub prior_volume: u64,
    pub premium_window: i64,
    /// Funding accrued but below one unit per contract, as the numerator over
    /// `FUNDING_DENOMINATOR`: carried into the next accrual, so frequent accruals lose nothing.
    pub funding_carry: i64,
    /// Funding is accrued into `funding_index` up to this time.
    pub last_funding_time: i64,
    /// Cumulative loss socialized per contract held (either side), quote-native.
    pub loss_index: i64,
    /// `SeriesKind` as u8.
    pub kind: u8,
    /// `SERIES_*`.
    pub status: u8,
    /// 1 when the settlement price was published after the settlement window (nobody
    /// proposed one inside it): the fallback.
    pub settlement_fallback: u8,
    pub _padding: [u8; 5],
    /// Publish time of `settlement_price` once proposed (`SERIES_SETTLING` or settled).
    pub settlement_publish_time: i64,
    /// When a proposed settlement price becomes final: one window after the first proposal.
    pub settlement_final_at: i64,
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

    /// A fill that raised open interest (from `before`) must leave it within `cap`; one that
    /// lowered it passes whatever the cap (which may have been lowered since).
    pub fn check_open_interest_cap(&self, before: u64, cap: u64) -> Result<()> {
        require!(
            self.open_interest_long <= before.max(cap),
            XmarginError::OpenInterestCapExceeded
        );
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
        self.payoff_at(self.settlement_price)
    }

    /// The payoff per contract once a settlement price is proposed (`SERIES_SETTLING`) or
    /// final: from then on the series is a fixed claim, valued at it.
    pub fn fixed_payoff(&self) -> Result<Option<u64>> {
        if self.status != SERIES_SETTLING && self.status != SERIES_SETTLED {
            return Ok(None);
        }
        self.payoff_at(self.settlement_price).map(Some)
    }

    fn payoff_at(&self, price: u64) -> Result<u64> {
        Ok(match SeriesKind::try_from(self.kind)? {
            SeriesKind::Perpetual => return err!(XmarginError::SeriesNotExpired),
            SeriesKind::Future => price,
            SeriesKind::Call => price.saturating_sub(self.strike),
            SeriesKind::Put => self.strike.saturating_sub(price),
        })
    }

    /// The premium funding is paid on at time `t` (not before the current window), in ppm of
    /// the index: the premiums of banded fills weighted by size, those of the previous window
    /// weighing less as `t` runs through the current one, anchored at the index by the open
    /// interest (as if every open contract had traded at the index), so a fill moves it by at
    /// most its share of that weight. A function of absolute time and the fills alone, however
    /// often anyone accrues. Rounded toward zero.
    pub fn premium_ppm_at(&self, t: i64) -> i64 {
        let (current, prior) = self.windows_at(t);
        // The previous window's weight, x PREMIUM_WINDOW_SECS.
        let left = (current.start + PREMIUM_WINDOW_SECS - t).clamp(0, PREMIUM_WINDOW_SECS) as i128;
        let window = PREMIUM_WINDOW_SECS as i128;
        let premium = current.premium_volume as i128 * window + prior.premium_volume as i128 * left;
        let weight = (current.volume as i128 + self.open_interest_long as i128) * window
            + prior.volume as i128 * left;
        if weight == 0 {
            return 0;
        }
        (premium / weight) as i64
    }

    /// The current and previous premium windows as of `t` (>= `premium_window`).
    fn windows_at(&self, t: i64) -> (PremiumWindow, PremiumWindow) {
        let stored = PremiumWindow {
            start: self.premium_window,
            premium_volume: self.premium_volume,
            volume: self.volume,
        };
        let prior = PremiumWindow {
            start: self.premium_window - PREMIUM_WINDOW_SECS,
            premium_volume: self.prior_premium_volume,
            volume: self.prior_volume,
        };
        let start = step_start(t, PREMIUM_WINDOW_SECS);
        let empty = |start| PremiumWindow {
            start,
            premium_volume: 0,
            volume: 0,
        };
        if start <= stored.start {
            (stored, prior)
        } else if start == stored.start + PREMIUM_WINDOW_SECS {
            (empty(start), stored)
        } else {
            (empty(start), empty(start - PREMIUM_WINDOW_SECS))
        }
    }

    /// Moves the stored windows on to `t`'s.
    fn roll_premium(&mut self, t: i64) {
        let (current, prior) = self.windows_at(t);
        self.premium_window = current.start;
        self.premium_volume = current.premium_volume;
        self.volume = current.volume;
        self.prior_premium_volume = prior.premium_volume;
        self.prior_volume = prior.volume;
    }

    /// Folds a fill of `size` contracts at `price` (inside its band) into the premium, against
    /// the oracle's `index_price` (both quote-native per contract), at `now`. Funding is
    /// accrued first (a no-op where the fill's instruction already did), so the fill weighs
    /// only on what follows it.
    pub fn record_premium(
        &mut self,
        size: i64,
        price: u64,
        index_price: u64,
        now: i64,
    ) -> Result<()> {
        require!(index_price > 0, XmarginError::OracleInvalid);
        self.accrue_funding(index_price, now)?;
        self.roll_premium(now);
        let gap_ppm = (price as i128 - index_price as i128) * PPM as i128 / index_price as i128;
        let contracts = size.unsigned_abs();
        // Saturating: the sums only weigh a rate that is clamped anyway, and an error here
        // would let a huge fill stop the series' trading for two windows.
        let added = gap_ppm.saturating_mul(contracts as i128);
        let added = added.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        self.premium_volume = self.premium_volume.saturating_add(added);
        self.volume = self.volume.saturating_add(contracts);
        Ok(())
    }

    /// Accrues funding from `last_funding_time` to `now` at `index_price` (quote-native per
    /// contract) into `funding_index`. Time is cut into steps of `FUNDING_STEP_SECS` fixed in
    /// absolute time; each step pays the premium at its middle (`premium_ppm_at`, from the fills
    /// recorded so far) clamped to ±`MAX_FUNDING_RATE_BPS` a day, for the part of it in the
    /// interval. The rate is thus a function of time and the fills alone: accruing more or less
    /// often pays the same, and the part below one unit per contract is carried to the next
    /// accrual (`funding_carry`). Called before anything changes a perp position and by the
    /// crank: each position pays for the time it was held. Returns (mean rate in ppm per day
    /// over the interval, amount per contract).
    pub fn accrue_funding(&mut self, index_price: u64, now: i64) -> Result<(i64, i64)> {
        let from = self.last_funding_time;
        if now <= from {
            return Ok((0, 0));
        }
        let cap = MAX_FUNDING_RATE_BPS * (PPM / BPS_DENOMINATOR as i64);
        // Two windows after the stored one the premium is zero.
        let stop = now.min(
            self.premium_window
                .max(step_start(from, PREMIUM_WINDOW_SECS))
                .saturating_add(2 * PREMIUM_WINDOW_SECS),
        );
        let mut rate_time: i128 = 0;
        let mut t = from;
        for _ in 0..FUNDING_STEPS_PER_ACCRUAL {
            if t >= stop {
                break;
            }
            let step = step_start(t, FUNDING_STEP_SECS);
            let end = (step + FUNDING_STEP_SECS).min(stop);
            let rate = self
                .premium_ppm_at(step + FUNDING_STEP_SECS / 2)
                .clamp(-cap, cap) as i128;
            rate_time += rate * (end - t) as i128;
            t = end;
        }
        self.roll_premium(now);
        self.last_funding_time = now;
        let numerator = index_price as i128 * rate_time + self.funding_carry as i128;
        let per_contract = numerator / FUNDING_DENOMINATOR;
        self.funding_carry = (numerator - per_contract * FUNDING_DENOMINATOR) as i64;
        let per_contract =
            i64::try_from(per_contract).map_err(|_| error!(XmarginError::MathOverflow))?;
        self.funding_index = self
            .funding_index
            .checked_add(per_contract)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        let rate_ppm = rate_time / (now - from) as i128;
        Ok((rate_ppm as i64, per_contract))
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// Most contracts held long (= short) in any one series; fills that raise open interest
    /// past it are refused. At most `MAX_OPEN_INTEREST_CAP`.
    pub max_open_interest: u64,
    /// Most contracts one account holds in any one series (long or short), at most
    /// `max_open_interest`. Liquidations are exempt: closing out an account must always work.
    pub max_position: u64,
    /// I32F32 bits: basis shock of dated futures per year of tenor
    /// (`xmargin_risk::Underlying::basis_shock`).
    pub basis_shock: i64,
    /// I32F32 bits: calendar-spread minimum per netted pair of tenors, as a fraction of the
    /// delta-notional (`xmargin_risk::Underlying::calendar_spread_minimum`).
    pub calendar_spread_minimum: i64,
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
    /// Unix time of the last change of `risk` (one step per `governance::STEP_WINDOW_SECS`).
    pub risk_updated_at: i64,
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
    /// What steps of `risk` and `surface` are measured from, and since when
    /// (`governance::reference`).
    pub risk_reference: UnderlyingRisk,
    pub surface_reference: StoredVolSurface,
    pub risk_reference_at: i64,
    pub surface_reference_at: i64,
}

impl Market {
    pub const SEED: &'static [u8] = b"market";
    pub const SPACE: usize = 8 + core::mem::size_of::<Market>();

    pub fn oracle_kind(&self) -> Result<OracleKind> {
        OracleKind::try_from(self.oracle_kind)
    }

    /// Steps of `risk` are measured from its current value from `now` on (a change nobody could
    /// be surprised by: executed after the timelock, or made while nobody held a position).
    pub fn rebase_risk(&mut self, now: i64) {
        self.risk_reference = self.risk;
        self.risk_reference_at = now;
    }

    /// `rebase_risk` for the surface.
    pub fn rebase_surface(&mut self, now: i64) {
        self.surface_reference = self.surface;
        self.surface_reference_at = now;
    }

    /// Whether any account holds a position in any of this market's series.
    pub fn has_open_interest(&self) -> bool {
        self.series[..self.series_count as usize]
            .iter()
            .any(|series| series.open_interest_long > 0 || series.open_interest_short > 0)
    }

    /// Where a new series goes: the first settled series nobody holds any more (no position can
    /// refer to it: sizes are never 0 in a used position slot), else the next unused slot.
    pub fn free_series_slot(&self) -> Option<usize> {
        let count = self.series_count as usize;
        self.series[..count]
            .iter()
            .position(|s| {
                s.status == SERIES_SETTLED
                    && s.open_interest_long == 0
                    && s.open_interest_short == 0
            })
            .or((count < MAX_SERIES).then_some(count))
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
            basis_shock: Fx::from_bits(self.risk.basis_shock),
            calendar_spread_minimum: Fx::from_bits(self.risk.calendar_spread_minimum),
        }
    }

    /// Parameters the engine accepts, checked at a nominal spot.
    pub fn validate_risk(&self) -> Result<()> {
        require!(
            self.risk.cache_spot_tolerance_bps <= MAX_SPOT_TOLERANCE_BPS
                && self.risk.cache_max_age_secs <= MAX_CACHE_AGE_SECS
                && self.risk.fill_band_bps <= MAX_FILL_BAND_BPS
                && self.risk.max_open_interest <= MAX_OPEN_INTEREST_CAP
                && self.risk.max_position > 0
                && self.risk.max_position <= self.risk.max_open_interest,
            XmarginError::InvalidParameter
        );
        self.underlying(NOMINAL_SPOT)
            .validate()
            .map_err(|_| error!(XmarginError::InvalidParameter))
    }

    /// The widening of the fill band, as a fraction of spot, rounded down (a band never
    /// wider than set).
    pub fn fill_band_widening(&self) -> Fx {
        // Unsigned: SBPF v0 has no signed 64-bit division.
        Fx::from_bits((((self.risk.fill_band_bps as u64) << 32) / BPS_DENOMINATOR as u64) as i64)
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
    assert!(core::mem::size_of::<Series>() == 136);
    assert!(core::mem::offset_of!(Series, settlement_publish_time) == 120);
    assert!(core::mem::offset_of!(Series, premium_volume) == 48);
    assert!(core::mem::offset_of!(Series, kind) == 112);
    assert!(core::mem::size_of::<StoredVolSurface>() == 40);
    assert!(core::mem::size_of::<UnderlyingRisk>() == 128);
    assert!(core::mem::offset_of!(UnderlyingRisk, basis_shock) == 112);
    assert!(core::mem::offset_of!(UnderlyingRisk, cache_spot_tolerance_bps) == 82);
    assert!(core::mem::offset_of!(UnderlyingRisk, fill_band_bps) == 88);
    assert!(core::mem::offset_of!(UnderlyingRisk, max_position) == 104);
    assert!(core::mem::offset_of!(Market, surface) == 64);
    assert!(core::mem::offset_of!(Market, risk) == 104);
    assert!(core::mem::offset_of!(Market, risk_updated_at) == 248);
    assert!(core::mem::offset_of!(Market, grid_constants) == 264);
    assert!(core::mem::offset_of!(Market, risk_generation) == 264 + GRID_WORDS * 8 + 24);
    assert!(core::mem::offset_of!(Market, series) == 264 + GRID_WORDS * 8 + 64);
    assert!(core::mem::size_of::<Market>() == 264 + GRID_WORDS * 8 + 64 + 64 * 136 + 128 + 40 + 16);
    assert!(core::mem::align_of::<Market>() == 8);
};

#[cfg(test)]
mod tests {
    use super::*;

    fn perp() -> Series {
        let mut series: Series = bytemuck::Zeroable::zeroed();
        series.kind = SeriesKind::Perpetual as u8;
        series.status = SERIES_ACTIVE;
        series
    }

    const HOUR: i64 = PREMIUM_WINDOW_SECS;

    #[test]
    fn a_fill_moves_the_premium_by_its_share_of_volume_and_open_interest() {
        let mut series = perp();
        series.open_interest_long = 999;
        // One contract at 2 % over an index of 100 (20,000 ppm) against 999 open: its share is
        // 1 / 1,000.
        series.record_premium(1, 102, 100, 0).unwrap();
        assert_eq!(series.premium_ppm_at(0), 20);
        // A discount pulls it back the same way, by size.
        series.record_premium(-3, 99, 100, 0).unwrap();
        assert_eq!(series.premium_ppm_at(0), (20_000 - 3 * 10_000) / (4 + 999));
    }

    #[test]
    fn huge_fills_saturate_the_premium_sums_instead_of_failing() {
        let mut series = perp();
        series.record_premium(i64::MAX, 2, 1, 0).unwrap();
        series.record_premium(i64::MAX, 2, 1, 0).unwrap();
        assert_eq!(series.premium_volume, i64::MAX);
        assert_eq!(series.volume, i64::MAX as u64 * 2);
        // Gone two windows later like any fill.
        assert_eq!(series.premium_ppm_at(2 * HOUR), 0);
    }

    #[test]
    fn a_window_s_fills_weigh_fully_then_fade_through_the_next_window() {
        let mut series = perp();
        series.record_premium(10, 101, 100, 0).unwrap();
        assert_eq!(series.premium_ppm_at(HOUR - 1), 10_000);
        // Continuous at the window's end, half way through the next, gone after it.
        assert_eq!(series.premium_ppm_at(HOUR), 10_000);
        assert_eq!(series.premium_ppm_at(HOUR + HOUR / 2), 10_000);
        series.open_interest_long = 10;
        assert_eq!(series.premium_ppm_at(HOUR), 5_000);
        // 10 x 10,000 x 1/2 over 10 x 1/2 + 10.
        assert_eq!(series.premium_ppm_at(HOUR + HOUR / 2), 3_333);
        assert_eq!(series.premium_ppm_at(2 * HOUR), 0);
        assert_eq!(series.premium_ppm_at(5 * HOUR), 0);
    }

    /// The premium is a function of absolute time and the fills, and steps are fixed in
    /// absolute time: accruing every two seconds pays exactly what one accrual over the whole
    /// interval pays, and nothing is lost to rounding (`funding_carry`).
    #[test]
    fn frequent_accruals_pay_exactly_what_one_accrual_pays() {
        let mut once = perp();
        once.open_interest_long = 1_000;
        once.record_premium(1_000, 102, 100, 0).unwrap();
        let mut often = once;
        let index = 150_000_000;
        once.accrue_funding(index, 3 * HOUR).unwrap();
        for t in (2..=3 * HOUR).step_by(2) {
            often.accrue_funding(index, t).unwrap();
        }
        assert_eq!(often.last_funding_time, once.last_funding_time);
        assert_eq!(
            (often.funding_index, often.funding_carry),
            (once.funding_index, once.funding_carry)
        );
        // An hour at the 1 % cap (62,500 per contract at 150), then the fading hour.
        assert_eq!(once.funding_index, 100_881);
        // A premium of a few ppm accrued every second still pays.
        let mut small = perp();
        small.open_interest_long = 1_000_000;
        small.record_premium(501, 102, 100, 0).unwrap();
        assert_eq!(small.premium_ppm_at(0), 10);
        for t in 1..=HOUR {
            small.accrue_funding(index, t).unwrap();
        }
        // 10 ppm a day for an hour, a hair less as the open interest does not move: 62 units.
        assert_eq!(small.funding_index, 62);
    }

    #[test]
    fn funding_accrues_the_clamped_premium_step_by_step() {
        let mut series = perp();
        series.open_interest_long = 1;
        // 5 % over the index, anchored by one open contract: 25,000 ppm, clamped to 10,000.
        series.record_premium(1, 105, 100, 0).unwrap();
        assert_eq!(series.premium_ppm_at(0), 25_000);
        // The first hour at the cap, the second at the cap until the fill's weight has faded
        // below it (the last quarter hour), then nothing.
        let (rate, per_contract) = series.accrue_funding(100_000_000, 3 * HOUR).unwrap();
        let hour_at_cap = 100_000_000 * 10_000 * HOUR / (PPM * FUNDING_PERIOD_SECS);
        assert!(per_contract > 3 * hour_at_cap / 2 && per_contract < 2 * hour_at_cap);
        assert_eq!((rate, per_contract), (6_282, 78_532));
        assert_eq!(series.funding_index, per_contract);
        assert_eq!(series.last_funding_time, 3 * HOUR);
        assert_eq!(
            series.accrue_funding(100_000_000, 4 * HOUR).unwrap(),
            (0, 0)
        );
        // Time never runs backwards.
        assert_eq!(series.accrue_funding(100_000_000, HOUR).unwrap(), (0, 0));
        assert_eq!(series.last_funding_time, 4 * HOUR);
    }

    #[test]
    fn steps_start_on_multiples_of_their_period_either_side_of_zero() {
        for (t, start) in [
            (0, 0),
            (1, 0),
            (299, 0),
            (300, 300),
            (-1, -300),
            (-300, -300),
            (-301, -600),
        ] {
            assert_eq!(step_start(t, 300), start, "{t}");
        }
        assert_eq!(step_start(1_764_921_600 + 3_599, HOUR), 1_764_921_600);
    }

    #[test]
    fn open_interest_cap_allows_reducing_past_a_lowered_cap() {
        let mut series = perp();
        series.open_interest_long = 50;
        assert!(series.check_open_interest_cap(40, 50).is_ok());
        assert!(series.check_open_interest_cap(40, 49).is_err());
        // Above a lowered cap but lower than before the fill.
        assert!(series.check_open_interest_cap(60, 10).is_ok());
    }
}
