//! Governance bounds: which parameter changes apply at once and which wait in the timelock.
//!
//! Model (docs/security.md, "Roles and bounds"). Every risk-relevant parameter changes in one of
//! two ways:
//! - a **step**, applied at once by the role that owns the parameter: every field stays within
//!   `STEP_BPS` of its *reference* (rates and weights within a fixed absolute amount instead,
//!   since their value can be near zero), discrete fields (correlation group) do not move, and
//!   an object takes at most one step per `STEP_WINDOW_SECS`. The reference is the value the
//!   object had when its current period of `timelock_secs` began (`reference`): steps cannot
//!   compound past one bound within a timelock, so whatever the delay hides, it hides at most one
//!   step's worth of change (two across a period boundary);
//! - anything else is **queued** (`queue_change`) and applies `timelock_secs` later, executed by
//!   anyone within `EXECUTION_WINDOW_SECS`, cancelable by its proposer or the role's holder.
//!
//! One class applies at once whatever its size: a market with no open interest and a collateral
//! asset nobody holds, since no existing user can be hurt by it.
//!
//! Pure functions only: the handlers read the stored values and the clock and pass them here.
use xmargin_risk::Fx;

use crate::error::XmarginError;
use crate::state::{AssetWeights, StoredRiskParams, StoredVolSurface, UnderlyingRisk};

/// One step per object per hour: with `STEP_BPS` a parameter moves at most ~5 % an hour.
pub const STEP_WINDOW_SECS: i64 = 3_600;
/// Largest relative step of a parameter, in basis points of its value.
pub const STEP_BPS: u64 = 500;
/// Largest step of an interest rate (I32F32 bits): 25 bps a year.
pub const RATE_STEP_BITS: u64 = (Fx::ONE.to_bits() as u64) / 400;
/// Largest step of a collateral weight (I32F32 bits): 2 points.
pub const WEIGHT_STEP_BITS: u64 = (Fx::ONE.to_bits() as u64) / 50;
/// The timelock's range: long enough to leave, short enough to fix a mistake.
pub const MIN_TIMELOCK_SECS: u32 = 3_600;
pub const MAX_TIMELOCK_SECS: u32 = 14 * 86_400;
/// A queued change not executed within this long after its delay lapses.
pub const EXECUTION_WINDOW_SECS: i64 = 7 * 86_400;
/// Longest pause before it lapses unless renewed.
pub const MAX_PAUSE_SECS: i64 = 7 * 86_400;

/// `next` is within `STEP_BPS` of `previous` (a zero value cannot move by a step).
pub fn within_relative_step(previous: i64, next: i64) -> bool {
    let change = (next as i128 - previous as i128).unsigned_abs();
    change * 10_000 <= (previous as i128).unsigned_abs() * STEP_BPS as u128
}

/// Unsigned values, as `within_relative_step`.
pub fn within_relative_step_u64(previous: u64, next: u64) -> bool {
    let change = previous.abs_diff(next) as u128;
    change * 10_000 <= previous as u128 * STEP_BPS as u128
}

/// `next` is within `max` of `previous`.
pub fn within_absolute_step(previous: i64, next: i64, max: u64) -> bool {
    (next as i128 - previous as i128).unsigned_abs() <= max as u128
}

/// What steps are measured from: the stored reference while its period lasts, else `current`,
/// which starts a new period at `now`.
pub fn reference<T: Copy>(
    stored: T,
    stored_at: i64,
    current: T,
    now: i64,
    period: i64,
) -> (T, i64) {
    if now >= stored_at.saturating_add(period) {
        (current, now)
    } else {
        (stored, stored_at)
    }
}

/// The verdict on an immediate change: `too_large` when it is not a step of the reference,
/// else `StepTooSoon` while the window since the last step is open.
pub fn judge_step(
    is_step: bool,
    last_step_at: i64,
    now: i64,
    too_large: XmarginError,
) -> Result<(), XmarginError> {
    if !is_step {
        Err(too_large)
    } else if !step_window_open(last_step_at, now) {
        Err(XmarginError::StepTooSoon)
    } else {
        Ok(())
    }
}

/// A step may be taken at `now` when the last one was at least a window ago.
pub fn step_window_open(last_step_at: i64, now: i64) -> bool {
    now >= last_step_at.saturating_add(STEP_WINDOW_SECS)
}

/// A step of a market's risk: the rate by `RATE_STEP_BITS`, the correlation group not at all,
/// every other field by `STEP_BPS`.
pub fn is_market_risk_step(previous: &UnderlyingRisk, next: &UnderlyingRisk) -> bool {
    let (p, n) = (&previous.grid, &next.grid);
    let relative = [
        (p.price_range, n.price_range),
        (p.vol_down, n.vol_down),
        (p.vol_up, n.vol_up),
        (p.extended_down, n.extended_down),
        (p.extended_up, n.extended_up),
        (p.extended_weight, n.extended_weight),
        (previous.beta, next.beta),
        (previous.short_option_minimum, next.short_option_minimum),
        (previous.basis_shock, next.basis_shock),
        (
            previous.calendar_spread_minimum,
            next.calendar_spread_minimum,
        ),
    ];
    let relative_unsigned = [
        (
            previous.concentration_threshold,
            next.concentration_threshold,
        ),
        (
            previous.cache_spot_tolerance_bps as u64,
            next.cache_spot_tolerance_bps as u64,
        ),
        (
            previous.cache_max_age_secs as u64,
            next.cache_max_age_secs as u64,
        ),
        (previous.fill_band_bps as u64, next.fill_band_bps as u64),
        (previous.max_open_interest, next.max_open_interest),
        (previous.max_position, next.max_position),
    ];
    previous.correlation_group == next.correlation_group
        && within_absolute_step(previous.rate, next.rate, RATE_STEP_BITS)
        && relative.iter().all(|&(a, b)| within_relative_step(a, b))
        && relative_unsigned
            .iter()
            .all(|&(a, b)| within_relative_step_u64(a, b))
}

/// A step of a vol surface: every parameter by at most `max_step_bits` (the clearinghouse's
/// `max_vol_step_bits`).
pub fn is_vol_surface_step(
    previous: &StoredVolSurface,
    next: &StoredVolSurface,
    max_step_bits: u64,
) -> bool {
    previous.largest_step(next) <= max_step_bits
}

/// A step of a collateral asset: weights by `WEIGHT_STEP_BITS`, depth and cap by `STEP_BPS`.
pub fn is_collateral_step(
    previous: (&AssetWeights, u64, u64),
    next: (&AssetWeights, u64, u64),
) -> bool {
    let ((pw, p_depth, p_cap), (nw, n_depth, n_cap)) = (previous, next);
    [
        (pw.init_asset, nw.init_asset),
        (pw.maint_asset, nw.maint_asset),
        (pw.init_liab, nw.init_liab),
        (pw.maint_liab, nw.maint_liab),
    ]
    .iter()
    .all(|&(a, b)| within_absolute_step(a, b, WEIGHT_STEP_BITS))
        && within_relative_step_u64(p_depth, n_depth)
        && within_relative_step_u64(p_cap, n_cap)
}

/// A step of the global risk parameters and oracle guards: every field by `STEP_BPS`.
pub fn is_risk_params_step(previous: &[u64; 10], next: &[u64; 10]) -> bool {
    previous
        .iter()
        .zip(next)
        .all(|(&a, &b)| within_relative_step_u64(a, b))
}

/// The global risk parameters as the unsigned fields `is_risk_params_step` compares.
pub fn risk_params_fields(
    risk: &StoredRiskParams,
    guards: [&crate::state::OracleGuard; 2],
    max_vol_step_bits: i64,
) -> [u64; 10] {
    let [strict, tolerant] = guards;
    [
        risk.initial_factor_bits.unsigned_abs(),
        risk.concentration_factor_bits.unsigned_abs(),
        risk.theta_horizon_secs,
        strict.max_age_secs as u64,
        strict.max_age_slots as u64,
        strict.max_conf_bps as u64,
        tolerant.max_age_secs as u64,
        tolerant.max_age_slots as u64,
        tolerant.max_conf_bps as u64,
        max_vol_step_bits.unsigned_abs(),
    ]
}

/// A queued change may run from `executable_at` for `EXECUTION_WINDOW_SECS`.
pub fn is_executable(executable_at: i64, now: i64) -> Result<(), ExecutionRefusal> {
    if now < executable_at {
        Err(ExecutionRefusal::TooEarly)
    } else if now > executable_at.saturating_add(EXECUTION_WINDOW_SECS) {
        Err(ExecutionRefusal::Expired)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionRefusal {
    TooEarly,
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_relative_step_is_five_percent_of_the_value() {
        assert!(within_relative_step(10_000, 10_500));
        assert!(within_relative_step(10_000, 9_500));
        assert!(!within_relative_step(10_000, 10_501));
        assert!(!within_relative_step(-10_000, -10_501));
        assert!(within_relative_step(0, 0));
        assert!(!within_relative_step(0, 1));
        assert!(within_relative_step(i64::MIN, i64::MIN));
        assert!(!within_relative_step(i64::MAX, i64::MIN));
        assert!(within_relative_step_u64(u64::MAX, u64::MAX));
        assert!(!within_relative_step_u64(1, 2));
    }

    #[test]
    fn a_queued_change_runs_only_within_its_window() {
        assert_eq!(is_executable(100, 99), Err(ExecutionRefusal::TooEarly));
        assert_eq!(is_executable(100, 100), Ok(()));
        assert_eq!(is_executable(100, 100 + EXECUTION_WINDOW_SECS), Ok(()));
        assert_eq!(
            is_executable(100, 101 + EXECUTION_WINDOW_SECS),
            Err(ExecutionRefusal::Expired)
        );
        assert_eq!(is_executable(i64::MAX, i64::MAX), Ok(()));
    }

    /// Ten hourly steps of 5 % each within one period: only the first is within the bound of
    /// the reference, so drift stops at one bound until the period ends.
    #[test]
    fn steps_do_not_compound_within_a_period() {
        let period = 86_400;
        let (mut value, mut stored, mut stored_at) = (10_000i64, 0i64, i64::MIN / 2);
        let mut taken = 0;
        for hour in 0..10 {
            let now = 1_000_000 + hour * STEP_WINDOW_SECS;
            let (base, base_at) = reference(stored, stored_at, value, now, period);
            let next = value + value / 20;
            if within_relative_step(base, next) {
                value = next;
                taken += 1;
            }
            (stored, stored_at) = (base, base_at);
        }
        assert_eq!((taken, value), (1, 10_500));
        // A period later the reference moves to the current value: one more step.
        let now = 1_000_000 + period;
        let (base, _) = reference(stored, stored_at, value, now, period);
        assert_eq!(base, 10_500);
        assert!(within_relative_step(base, value + value / 20));
    }

    #[test]
    fn a_change_past_the_bound_is_too_large_before_it_is_too_soon() {
        let verdict = |is_step, now| {
            judge_step(is_step, 0, now, XmarginError::VolStepTooLarge).map_err(|e| e as u32)
        };
        assert_eq!(verdict(false, 0), Err(XmarginError::VolStepTooLarge as u32));
        assert_eq!(
            verdict(true, STEP_WINDOW_SECS - 1),
            Err(XmarginError::StepTooSoon as u32)
        );
        assert_eq!(verdict(true, STEP_WINDOW_SECS), Ok(()));
    }

    #[test]
    fn the_step_window_is_an_hour() {
        const START: i64 = 2_000_000_000;
        assert!(step_window_open(0, STEP_WINDOW_SECS));
        assert!(!step_window_open(0, STEP_WINDOW_SECS - 1));
        assert!(!step_window_open(START, START));
        assert!(step_window_open(START, START + STEP_WINDOW_SECS));
    }

    proptest! {
        /// Against an f64 reference: accepted steps stay within the bound, refused ones past it.
        #[test]
        fn a_relative_step_never_exceeds_its_bound(previous in any::<i64>(), next in any::<i64>()) {
            let ok = within_relative_step(previous, next);
            let change = (next as f64 - previous as f64).abs();
            let bound = (previous as f64).abs() * STEP_BPS as f64 / 10_000.0;
            if ok {
                prop_assert!(change <= bound * (1.0 + 1e-9) + 1.0);
            } else {
                prop_assert!(change >= bound * (1.0 - 1e-9) - 1.0);
            }
        }

    }
}
