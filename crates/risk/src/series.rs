//! Per-series risk terms at the current spot: the mark and the bounds that make the aggregated
//! Taylor expansion a guaranteed upper bound of the full-revaluation loss on the grid.
//!
//! For an option of value V(S) the price part of a scenario, f(x) = V(S(1+x)) - V(S), satisfies
//! on each side of spot (gamma >= 0, delta increasing in S):
//!   delta x + 1/2 gamma_min x^2  <=  f(x) / S  <=  min(delta x + 1/2 gamma_max x^2, delta_edge x)
//! where gamma_min/gamma_max bound gamma x S over [S, S(1 +- R)] (gamma is unimodal in S with its
//! peak at d1 = -sigma sqrt T) and delta_edge is delta at S(1 +- R). The volatility part at the
//! shocked spot is bounded by vega_min/vega_max over the whole box of spots and volatilities
//! (interval arithmetic on d1). Extended moves use intrinsic value (below) and intrinsic plus the
//! largest possible time value (above). Everything is per one contract and divided by spot.
use crate::bs::{self, log_moneyness, years_from_secs, OptionInputs, OptionKind, MAX_VOL, MIN_VOL};
use crate::error::RiskResult;
use crate::fx::{add, fx_ratio, mul, sub, Fx};
use crate::grid::{GridConstants, DOWN, EXTENDED_DOWN_NODE, EXTENDED_UP_NODE, UP};
use crate::math::{exp, normal};
use crate::model::{Instrument, Underlying};

/// Bound on the engine's normalised price error (validated by the accuracy tests), widened into
/// the marks so that rounding and model error both go against the holder.
pub const MARK_ERROR: Fx = Fx::from_bits(64);
/// phi(0) = 1/sqrt(2 pi), rounded up.
const PDF_AT_ZERO_UP: Fx = fx_ratio(3_989_422_805, 10_000_000_000);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeriesRisk {
    pub is_option: bool,
    /// Value / S at the current spot, and the lower / upper marks used for equity.
    pub mark: Fx,
    pub mark_low: Fx,
    pub mark_high: Fx,
    pub delta: Fx,
    /// Reported Greeks (normalised like `bs::Greeks`).
    pub gamma: Fx,
    pub vega: Fx,
    pub theta: Fx,
    /// gamma x S bounds on each side (index DOWN / UP).
    pub gamma_min: [Fx; 2],
    pub gamma_max: [Fx; 2],
    /// false for an option at expiry, whose gamma is unbounded at the strike.
    pub gamma_max_finite: bool,
    pub delta_edge: [Fx; 2],
    /// Bounds on the per-contract value change from the volatility shock alone (index DOWN / UP):
    /// vol_pnl_min <= V(S', sigma + dv) - V(S', sigma) <= vol_pnl_max.
    pub vol_pnl_min: [Fx; 2],
    pub vol_pnl_max: [Fx; 2],
    /// Value / S bounds at the extended down / up moves.
    pub extended_low: [Fx; 2],
    pub extended_high: [Fx; 2],
}

/// Effective vol shocks for a series at volatility `vol`: the grid's, kept inside [MIN_VOL, MAX_VOL].
pub fn effective_vol_shocks(vol: Fx, grid: &GridConstants) -> RiskResult<(Fx, Fx)> {
    let down = grid.vol_down.min(sub(vol, MIN_VOL)?.max(Fx::ZERO));
    let up = grid.vol_up.min(sub(MAX_VOL, vol)?.max(Fx::ZERO));
    Ok((down, up))
}

/// Volatility the engine uses for an option on `underlying` (sticky strike).
pub fn option_vol(underlying: &Underlying, strike: u64) -> RiskResult<Fx> {
    underlying
        .surface
        .vol_at(log_moneyness(underlying.spot, strike)?)
}

pub fn series_risk(
    underlying: &Underlying,
    grid: &GridConstants,
    instrument: &Instrument,
    now: i64,
) -> RiskResult<SeriesRisk> {
    match *instrument {
        Instrument::Perpetual => Ok(linear(Fx::ONE, Fx::ZERO)),
        Instrument::Future { expiry } => {
            let years = years_from_secs(seconds_left(expiry, now))?;
            if underlying.rate == 0 {
                return Ok(linear(Fx::ONE, Fx::ZERO));
            }
            // e^{rT} carries the exponential's rounding: widen the marks like an option's.
            Ok(linear(exp(mul(underlying.rate, years)?)?, MARK_ERROR))
        }
        Instrument::Option {
            kind,
            strike,
            expiry,
        } => option_risk(underlying, grid, kind, strike, seconds_left(expiry, now)),
    }
}

fn seconds_left(expiry: i64, now: i64) -> u64 {
    u64::try_from(expiry.saturating_sub(now)).unwrap_or(0)
}

/// A future or perp: value per contract is `delta` x S, linear in spot; `error` bounds how far
/// the computed `delta` may be from the exact one.
fn linear(delta: Fx, error: Fx) -> SeriesRisk {
    SeriesRisk {
        is_option: false,
        mark: delta,
        mark_low: delta - error,
        mark_high: delta + error,
        delta,
        gamma_max_finite: true,
        delta_edge: [delta; 2],
        ..SeriesRisk::default()
    }
}

fn option_risk(
    underlying: &Underlying,
    grid: &GridConstants,
    kind: OptionKind,
    strike: u64,
    secs: u64,
) -> RiskResult<SeriesRisk> {
    let log_m = log_moneyness(underlying.spot, strike)?;
    let vol = underlying.surface.vol_at(log_m)?;
    let inputs = OptionInputs {
        kind,
        log_moneyness: log_m,
        secs,
        vol,
        rate: underlying.rate,
    };
    let greeks = bs::greeks(&inputs)?;
    let mut risk = SeriesRisk {
        is_option: true,
        mark: greeks.price,
        mark_low: sub(greeks.price, MARK_ERROR)?.max(Fx::ZERO),
        mark_high: add(greeks.price, MARK_ERROR)?,
        delta: greeks.delta,
        gamma: greeks.gamma,
        vega: greeks.vega,
        theta: greeks.theta,
        ..SeriesRisk::default()
    };
    if secs == 0 {
        expired_bounds(&mut risk, grid, kind, log_m)?;
        return Ok(risk);
    }
    let st = bs::standardise(&inputs)?;
    risk.gamma_max_finite = true;
    for side in [DOWN, UP] {
        let d1_edge = add(st.d1, mul(grid.ln_edge[side], st.inv_total_vol)?)?;
        let n_edge = normal(d1_edge)?;
        risk.delta_edge[side] = match kind {
            OptionKind::Call => n_edge.cdf,
            OptionKind::Put => -n_edge.complement,
        };
        let gamma_edge = mul(mul(n_edge.pdf, st.inv_total_vol)?, grid.inv_edge[side])?;
        risk.gamma_min[side] = greeks.gamma.min(gamma_edge);
        risk.gamma_max[side] = peak_gamma(&st, d1_edge)?.unwrap_or(greeks.gamma.max(gamma_edge));
    }
    vol_bounds(&mut risk, &inputs, &st, grid)?;
    extended_bounds(&mut risk, grid, kind, st.discounted_strike, st.total_vol)?;
    Ok(risk)
}

/// Gamma x S at its peak (d1 = -sigma sqrt T) when the peak lies between spot and the edge.
fn peak_gamma(st: &bs::Standardised, d1_edge: Fx) -> RiskResult<Option<Fx>> {
    let peak_d1 = -st.total_vol;
    let (low, high) = if d1_edge < st.d1 {
        (d1_edge, st.d1)
    } else {
        (st.d1, d1_edge)
    };
    if peak_d1 < low || peak_d1 > high {
        return Ok(None);
    }
    // S*/S = exp((d1* - d1) s), so gamma(S*) S = phi(s) / (s S*/S) = phi(s) exp((s + d1) s) / s.
    let spot_ratio_inverse = exp(mul(add(st.total_vol, st.d1)?, st.total_vol)?)?;
    let pdf = normal(st.total_vol)?.pdf;
    Ok(Some(mul(mul(pdf, st.inv_total_vol)?, spot_ratio_inverse)?))
}

/// Vega bounds over spots in [S(1-R), S(1+R)] and vols in [sigma - down, sigma + up].
fn vol_bounds(
    risk: &mut SeriesRisk,
    inputs: &OptionInputs,
    st: &bs::Standardised,
    grid: &GridConstants,
) -> RiskResult<()> {
    let (down, up) = effective_vol_shocks(inputs.vol, grid)?;
    let low_sigma = sub(inputs.vol, down)?;
    let high_sigma = add(inputs.vol, up)?;
    let low_vol = mul(low_sigma, st.sqrt_years)?;
    let high_vol = mul(high_sigma, st.sqrt_years)?;
    let inv_low = bs::inverse_of_product(low_sigma, st.sqrt_years)?;
    let inv_high = bs::inverse_of_product(high_sigma, st.sqrt_years)?;
    let drift = add(inputs.log_moneyness, mul(inputs.rate, st.years)?)?;
    let m_low = add(drift, grid.ln_edge[DOWN])?;
    let m_high = add(drift, grid.ln_edge[UP])?;
    let (ratio_low, ratio_high) = if m_low >= 0 {
        (mul(m_low, inv_high)?, mul(m_high, inv_low)?)
    } else if m_high <= 0 {
        (mul(m_low, inv_low)?, mul(m_high, inv_high)?)
    } else {
        (mul(m_low, inv_low)?, mul(m_high, inv_low)?)
    };
    let d1_low = add(ratio_low, low_vol / 2)?;
    let d1_high = add(ratio_high, high_vol / 2)?;
    let nearest = if d1_low <= 0 && d1_high >= 0 {
        Fx::ZERO
    } else {
        d1_low.abs().min(d1_high.abs())
    };
    let farthest = d1_low.abs().max(d1_high.abs());
    let vega_max = mul(
        mul(add(Fx::ONE, grid.price_range)?, st.sqrt_years)?,
        normal(nearest)?.pdf,
    )?;
    let vega_min = mul(
        mul(sub(Fx::ONE, grid.price_range)?, st.sqrt_years)?,
        normal(farthest)?.pdf,
    )?;
    // Value change from a shock dv lies in [vega_min dv, vega_max dv] for dv > 0, mirrored below.
    risk.vol_pnl_min = [-mul(vega_max, down)?, mul(vega_min, up)?];
    risk.vol_pnl_max = [-mul(vega_min, down)?, mul(vega_max, up)?];
    Ok(())
}

/// Value / S at the extended moves: discounted intrinsic <= value <= intrinsic + max time value,
/// the time value being largest at S = K e^{-rT} where it equals K'(2N(s/2) - 1) <= K' s phi(0).
fn extended_bounds(
    risk: &mut SeriesRisk,
    grid: &GridConstants,
    kind: OptionKind,
    discounted_strike: Fx,
    total_vol: Fx,
) -> RiskResult<()> {
    let max_time_value = mul(mul(discounted_strike, total_vol)?, PDF_AT_ZERO_UP)?;
    for (side, node) in [(DOWN, EXTENDED_DOWN_NODE), (UP, EXTENDED_UP_NODE)] {
        let spot_ratio = add(Fx::ONE, grid.moves[node])?;
        let (intrinsic, ceiling) = match kind {
            OptionKind::Call => (sub(spot_ratio, discounted_strike)?, spot_ratio),
            OptionKind::Put => (sub(discounted_strike, spot_ratio)?, discounted_strike),
        };
        let low = intrinsic.max(Fx::ZERO);
        risk.extended_low[side] = low;
        risk.extended_high[side] = add(low, max_time_value)?.min(ceiling);
    }
    Ok(())
}

/// An option at expiry is worth its intrinsic value: piecewise linear in spot.
fn expired_bounds(
    risk: &mut SeriesRisk,
    grid: &GridConstants,
    kind: OptionKind,
    log_m: Fx,
) -> RiskResult<()> {
    let strike_ratio = exp(-log_m)?;
    let intrinsic_at = |spot_ratio: Fx| -> RiskResult<Fx> {
        Ok(match kind {
            OptionKind::Call => sub(spot_ratio, strike_ratio)?,
            OptionKind::Put => sub(strike_ratio, spot_ratio)?,
        }
        .max(Fx::ZERO))
    };
    let in_the_money = |spot_ratio: Fx| match kind {
        OptionKind::Call => spot_ratio > strike_ratio,
        OptionKind::Put => spot_ratio < strike_ratio,
    };
    let sign = match kind {
        OptionKind::Call => Fx::ONE,
        OptionKind::Put => -Fx::ONE,
    };
    for side in [DOWN, UP] {
        let edge_ratio = if side == DOWN {
            sub(Fx::ONE, grid.price_range)?
        } else {
            add(Fx::ONE, grid.price_range)?
        };
        risk.delta_edge[side] = if in_the_money(edge_ratio) {
            sign
        } else {
            Fx::ZERO
        };
        // gamma_min = 0 is a valid lower bound; gamma_max is infinite at the strike.
        let node = if side == DOWN {
            EXTENDED_DOWN_NODE
        } else {
            EXTENDED_UP_NODE
        };
        let value = intrinsic_at(add(Fx::ONE, grid.moves[node])?)?;
        risk.extended_low[side] = value;
        risk.extended_high[side] = value;
    }
    Ok(())
}
