//! Series risk that stays valid over a window of spot and time, so a crank can compute an
//! option's bounds once and every margin check inside the window can reuse them.
//!
//! Everything the engine bounds is a value at some spot: the mark at S, the scenario values at
//! S(1+x_k) with the volatility sigma(S) shocked down, flat or up, and the extended moves. An
//! option's value is monotone in each input the window lets move: in spot (calls increase, puts
//! decrease), in volatility (vega >= 0; the shocked vol min(sigma + up, MAX) and
//! max(sigma - down, MIN) are non-decreasing in sigma) and in time to expiry (for a call when the
//! rate is >= 0, for a put when it is <= 0). So over the whole window every such value lies
//! between the value at the window's lowest corner and the value at its highest one, and the
//! engine's own bounds at those two corners bound it: the lower bounds come from the low corner,
//! the upper bounds from the high corner. The result is expressed in the engine's form (marks,
//! changes from the marks), normalised by the window's highest spot, so `Exposure::add` sums
//! exactly the corner values and the notional (size x highest spot) errs against the holder.
use crate::bs::{log_moneyness, OptionKind};
use crate::error::{RiskError, RiskResult};
use crate::fx::{add, sub, Fx};
use crate::grid::{GridConstants, CORE_NODES};
use crate::model::{Instrument, Underlying, VolSurface};
use crate::series::{series_risk, SeriesRisk};

/// Spot may move this far (basis points) from the spot the window was computed at.
pub const MAX_SPOT_TOLERANCE_BPS: u16 = 1_000;
const BPS: u64 = 10_000;
/// Slack on the volatility range: `log_moneyness` and the smile are rounded, so sigma(S) at a
/// spot inside the window may sit a few units in the last place outside the corner vols.
const VOL_SLACK: Fx = Fx::from_bits(1 << 8);

/// Any spot in `[spot_low, spot_high]` (quote-native per contract) at any time in
/// `[from, until]` (unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskWindow {
    pub spot_low: u64,
    pub spot_high: u64,
    pub from: i64,
    pub until: i64,
}

impl RiskWindow {
    /// `spot` widened by `tolerance_bps` each way (outward-rounded), from `now` for
    /// `max_age_secs`.
    pub fn around(spot: u64, tolerance_bps: u16, now: i64, max_age_secs: u32) -> RiskResult<Self> {
        if spot == 0 || tolerance_bps > MAX_SPOT_TOLERANCE_BPS {
            return Err(RiskError::InvalidParameter);
        }
        let width = (spot as u128 * tolerance_bps as u128).div_ceil(BPS as u128);
        let width = u64::try_from(width).map_err(|_| RiskError::Overflow)?;
        Ok(Self {
            spot_low: spot.saturating_sub(width).max(1),
            spot_high: spot.checked_add(width).ok_or(RiskError::Overflow)?,
            from: now,
            until: now
                .checked_add(max_age_secs as i64)
                .ok_or(RiskError::Overflow)?,
        })
    }

    pub fn contains(&self, spot: u64, now: i64) -> bool {
        (self.spot_low..=self.spot_high).contains(&spot) && (self.from..=self.until).contains(&now)
    }
}

/// Whether an option's value is monotone in time to expiry at this rate (see the module doc).
pub fn cacheable(kind: OptionKind, rate: Fx) -> bool {
    match kind {
        OptionKind::Call => rate >= 0,
        OptionKind::Put => rate <= 0,
    }
}

/// Bounds of an option valid for every spot and time in `window` (vol surface and grid as in
/// `underlying` and `grid`; `underlying.spot` is the spot the window was opened at and only
/// sets the reported Greeks). Perps and futures are cheap and exact: they are not windowed.
// Out of line, like `corner` and `combine`: each holds several `SeriesRisk`s, which together
// would not fit one 4 KB SBF stack frame.
#[inline(never)]
pub fn windowed_series_risk(
    underlying: &Underlying,
    grid: &GridConstants,
    instrument: &Instrument,
    window: &RiskWindow,
) -> RiskResult<SeriesRisk> {
    let Instrument::Option { kind, strike, .. } = *instrument else {
        return Err(RiskError::InvalidParameter);
    };
    let valid = window.spot_low > 0
        && window.spot_low <= underlying.spot
        && underlying.spot <= window.spot_high
        && window.from <= window.until;
    if !valid || !cacheable(kind, underlying.rate) {
        return Err(RiskError::InvalidParameter);
    }
    let (vol_low, vol_high) = vol_range(&underlying.surface, window, strike)?;
    // Low corner: least valuable spot, lowest vol, least time left; high corner: the opposite.
    let (low_spot, high_spot) = match kind {
        OptionKind::Call => (window.spot_low, window.spot_high),
        OptionKind::Put => (window.spot_high, window.spot_low),
    };
    let low = corner(
        underlying,
        grid,
        instrument,
        (low_spot, vol_low, window.until),
    )?;
    let high = corner(
        underlying,
        grid,
        instrument,
        (high_spot, vol_high, window.from),
    )?;
    let centre = series_risk(underlying, grid, instrument, window.from)?;
    combine(
        &low,
        low_spot,
        &high,
        high_spot,
        &centre,
        underlying.spot,
        window.spot_high,
    )
}

/// The engine's bounds at one corner (spot, flat volatility, time) of the window.
#[inline(never)]
fn corner(
    underlying: &Underlying,
    grid: &GridConstants,
    instrument: &Instrument,
    (spot, vol, now): (u64, Fx, i64),
) -> RiskResult<SeriesRisk> {
    let at = Underlying {
        spot,
        surface: VolSurface::flat(vol),
        ..*underlying
    };
    series_risk(&at, grid, instrument, now)
}

/// The corner bounds as one `SeriesRisk` normalised by `reference` (see the module doc).
#[inline(never)]
fn combine(
    low: &SeriesRisk,
    low_spot: u64,
    high: &SeriesRisk,
    high_spot: u64,
    centre: &SeriesRisk,
    centre_spot: u64,
    reference: u64,
) -> RiskResult<SeriesRisk> {
    let floor = |v: Fx, spot: u64| rescale(v, spot, reference, false);
    let ceil = |v: Fx, spot: u64| rescale(v, spot, reference, true);
    let mark_low = floor(low.mark_low, low_spot)?;
    let mark_high = ceil(high.mark_high, high_spot)?;
    let mut risk = SeriesRisk {
        is_option: true,
        spot: reference,
        mark: floor(centre.mark, centre_spot)?,
        mark_low,
        mark_high,
        delta: centre.delta,
        gamma: centre.gamma,
        vega: floor(centre.vega, centre_spot)?,
        theta: floor(centre.theta, centre_spot)?,
        ..SeriesRisk::default()
    };
    for node in 0..CORE_NODES {
        let low_flat = add(low.mark_low, low.price_low[node])?;
        let high_flat = add(high.mark_high, high.price_high[node])?;
        let low_value = floor(low_flat, low_spot)?;
        let high_value = ceil(high_flat, high_spot)?;
        risk.price_low[node] = sub(low_value, mark_low)?;
        risk.price_high[node] = sub(high_value, mark_high)?;
        for shock in 0..2 {
            let shocked_low = floor(add(low_flat, low.vol_pnl_min[node][shock])?, low_spot)?;
            let shocked_high = ceil(add(high_flat, high.vol_pnl_max[node][shock])?, high_spot)?;
            risk.vol_pnl_min[node][shock] = sub(shocked_low, low_value)?;
            risk.vol_pnl_max[node][shock] = sub(shocked_high, high_value)?;
        }
    }
    for side in 0..2 {
        risk.extended_low[side] = floor(low.extended_low[side], low_spot)?;
        risk.extended_high[side] = ceil(high.extended_high[side], high_spot)?;
    }
    Ok(risk)
}

/// `v` (a value divided by `from_spot`) divided by `to_spot` instead, rounded down or up.
fn rescale(v: Fx, from_spot: u64, to_spot: u64, up: bool) -> RiskResult<Fx> {
    if to_spot == 0 {
        return Err(RiskError::SpotOutOfRange);
    }
    let scaled = v.to_bits().unsigned_abs() as u128 * from_spot as u128;
    let (quotient, remainder) = (scaled / to_spot as u128, scaled % to_spot as u128);
    let quotient = i128::try_from(quotient).map_err(|_| RiskError::Overflow)?;
    let bits = match (v.to_bits() < 0, up, remainder > 0) {
        (false, true, true) => quotient + 1,
        (false, _, _) => quotient,
        (true, false, true) => -(quotient + 1),
        (true, _, _) => -quotient,
    };
    i64::try_from(bits)
        .map(Fx::from_bits)
        .map_err(|_| RiskError::Overflow)
}

/// The range of sigma(S) = surface(ln(S/K)) over the window's spots: the smile is quadratic in
/// k = ln(K/S), so its extremes are at the end points unless its vertex lies between them, where
/// the surface's clamp is the safe bound on that side.
fn vol_range(surface: &VolSurface, window: &RiskWindow, strike: u64) -> RiskResult<(Fx, Fx)> {
    let log_low = log_moneyness(window.spot_low, strike)?;
    let log_high = log_moneyness(window.spot_high, strike)?;
    let at_low = surface.vol_at(log_low)?;
    let at_high = surface.vol_at(log_high)?;
    let mut low = at_low.min(at_high);
    let mut high = at_low.max(at_high);
    // d sigma / dk = skew + 2 smile k: a sign change between the end points puts the vertex
    // inside.
    let slope = |log_m: Fx| -> RiskResult<Fx> {
        add(
            surface.skew,
            crate::fx::mul_int(crate::fx::mul(surface.smile, -log_m)?, 2)?,
        )
    };
    let (slope_low, slope_high) = (slope(log_low)?, slope(log_high)?);
    if (slope_low <= 0) != (slope_high <= 0) || slope_low == 0 || slope_high == 0 {
        if surface.smile > 0 {
            low = surface.min;
        } else if surface.smile < 0 {
            high = surface.max;
        }
    }
    Ok((
        sub(low, VOL_SLACK)?.max(surface.min),
        add(high, VOL_SLACK)?.min(surface.max),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_outward_in_both_signs() {
        let v = Fx::from_bits(10);
        assert_eq!(rescale(v, 1, 3, false).unwrap().to_bits(), 3);
        assert_eq!(rescale(v, 1, 3, true).unwrap().to_bits(), 4);
        assert_eq!(rescale(-v, 1, 3, false).unwrap().to_bits(), -4);
        assert_eq!(rescale(-v, 1, 3, true).unwrap().to_bits(), -3);
        assert_eq!(rescale(v, 3, 3, true).unwrap(), v);
        assert_eq!(rescale(v, 3, 0, true), Err(RiskError::SpotOutOfRange));
    }

    #[test]
    fn window_around_rounds_outward_and_checks_inputs() {
        let w = RiskWindow::around(10_001, 25, 100, 60).unwrap();
        assert_eq!(
            (w.spot_low, w.spot_high, w.from, w.until),
            (9_975, 10_027, 100, 160)
        );
        assert!(w.contains(9_975, 100) && w.contains(10_027, 160));
        assert!(!w.contains(9_974, 100) && !w.contains(10_028, 100));
        assert!(!w.contains(10_001, 99) && !w.contains(10_001, 161));
        assert_eq!(
            RiskWindow::around(0, 25, 0, 1),
            Err(RiskError::InvalidParameter)
        );
        assert_eq!(
            RiskWindow::around(1, MAX_SPOT_TOLERANCE_BPS + 1, 0, 1),
            Err(RiskError::InvalidParameter)
        );
    }

    #[test]
    fn monotone_in_time_only_for_the_safe_rate_signs() {
        let positive = crate::fx::fx_ratio(5, 100);
        assert!(cacheable(OptionKind::Call, positive) && !cacheable(OptionKind::Put, positive));
        assert!(!cacheable(OptionKind::Call, -positive) && cacheable(OptionKind::Put, -positive));
        assert!(cacheable(OptionKind::Call, Fx::ZERO) && cacheable(OptionKind::Put, Fx::ZERO));
    }
}
