//! Per-series risk terms at the current spot: the mark and, at every grid node, bounds on the
//! per-contract value change, so that an account's scenario loss is a sum of guaranteed bounds
//! of the full-revaluation loss.
//!
//! Price part, f(x) = V(S(1+x)) - V(S), by the gamma ladder: with gamma x S bounded on each
//! segment between adjacent grid nodes (gamma is unimodal in S with its peak at d1 = -sigma sqrt T,
//! so it is bounded by the segment's end points or that peak),
//!   f(x_k) / S = delta x_k + Σ_j w_kj gamma_j   with   w_kj = ∫_{segment j, between 0 and x_k} |x_k - u| du,
//! which the per-segment minimum turns into the lower bound and the maximum into the upper one;
//! the upper bound also takes the chord f(x) <= delta(S(1 +- R)) x S when smaller (delta is
//! increasing). Vol part, at the node's own spot: vega over the shocked volatility interval, from
//! the exact range of d1. Extended moves are repriced exactly, floored at intrinsic value.
//! Everything is per one contract and divided by spot.
use crate::bs::{self, log_moneyness, years_from_secs, OptionInputs, OptionKind, MAX_VOL, MIN_VOL};
use crate::error::{RiskError, RiskResult};
use crate::fx::{add, fx_ratio, half, mul, mul_int, sub, Fx};
use crate::grid::{
    direction_of, segment_range, GridConstants, Words, CORE_NODES, DOWN, EXTENDED_DOWN_NODE,
    EXTENDED_UP_NODE, SEGMENTS, UP,
};
use crate::math::{exp, normal_cdf, normal_pdf, sqrt};
use crate::model::{Instrument, Underlying};

/// Bound on the engine's normalised price error (validated by the accuracy tests), widened into
/// the marks so that rounding and model error both go against the holder.
pub const MARK_ERROR: Fx = Fx::from_bits(64);
/// phi(0) = 1/sqrt(2 pi), rounded up (the density's maximum).
const PDF_AT_ZERO: Fx = fx_ratio(3_989_422_805, 10_000_000_000);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeriesRisk {
    pub is_option: bool,
    /// The spot (quote-native per contract) everything here is divided by; 0 means the
    /// underlying's current spot. A cached risk (`window`) keeps the spot it was normalised by.
    pub spot: u64,
    /// Value / S at the current spot, and the lower / upper marks used for equity.
    pub mark: Fx,
    pub mark_low: Fx,
    pub mark_high: Fx,
    pub delta: Fx,
    /// Reported Greeks (normalised like `bs::Greeks`).
    pub gamma: Fx,
    pub vega: Fx,
    pub theta: Fx,
    /// Options only (zero for perps and futures, whose bounds follow from the marks): bounds on
    /// the per-contract value change from the price move alone at each core node:
    /// price_low <= (V(S_k, sigma) - V(S, sigma)) / S <= price_high.
    pub price_low: [Fx; CORE_NODES],
    pub price_high: [Fx; CORE_NODES],
    /// Bounds on the per-contract value change from the volatility shock alone at each core node
    /// (index DOWN / UP shock): vol_pnl_min <= V(S_k, sigma + dv) - V(S_k, sigma) <= vol_pnl_max.
    pub vol_pnl_min: [[Fx; 2]; CORE_NODES],
    pub vol_pnl_max: [[Fx; 2]; CORE_NODES],
    /// Value / S bounds at the extended down / up moves.
    pub extended_low: [Fx; 2],
    pub extended_high: [Fx; 2],
    /// Dated futures only (not stored in words: options carry none): value change / S per
    /// contract when the basis shock raises the carried value, e^{rT} x s T (s the
    /// underlying's `basis_shock`, T in years), and its fall when it lowers it (the same);
    /// each within `MARK_ERROR` of the exact one.
    pub carry_rise: Fx,
    pub carry_fall: Fx,
    /// A settled series (`settled`): a fixed cash claim, not an option whatever its kind (no
    /// short-option minimum). Not stored in words.
    pub settled: bool,
}

/// Length of `SeriesRisk::to_words`.
pub const SERIES_RISK_WORDS: usize = 2 + 7 + 2 * CORE_NODES + 4 * CORE_NODES + 4;

impl SeriesRisk {
    /// Plain words an account can store (I32F32 bits, flags and spot as integers), in field
    /// order.
    pub fn to_words(&self) -> [i64; SERIES_RISK_WORDS] {
        let mut words = [0i64; SERIES_RISK_WORDS];
        let values = [i64::from(self.is_option), self.spot as i64]
            .into_iter()
            .chain(
                [
                    self.mark,
                    self.mark_low,
                    self.mark_high,
                    self.delta,
                    self.gamma,
                    self.vega,
                    self.theta,
                ]
                .into_iter()
                .chain(self.price_low)
                .chain(self.price_high)
                .chain(self.vol_pnl_min.into_iter().flatten())
                .chain(self.vol_pnl_max.into_iter().flatten())
                .chain(self.extended_low)
                .chain(self.extended_high)
                .map(Fx::to_bits),
            );
        for (slot, value) in words.iter_mut().zip(values) {
            *slot = value;
        }
        words
    }

    /// The inverse of `to_words`; a flag other than 0/1 or a spot beyond i64 is an error.
    pub fn from_words(words: &[i64; SERIES_RISK_WORDS]) -> RiskResult<Self> {
        let mut risk = Self::default();
        risk.read_words(words)?;
        Ok(risk)
    }

    /// Whether `from_words` accepts `words` and they describe an option (a cache holds only
    /// option risk), checked without decoding them.
    pub fn words_describe_option(words: &[i64; SERIES_RISK_WORDS]) -> bool {
        words[0] == 1 && words[1] >= 0
    }

    /// `from_words` into `self`, in place (the struct is ~540 bytes and every copy costs on
    /// SBF).
    pub fn read_words(&mut self, words: &[i64; SERIES_RISK_WORDS]) -> RiskResult<()> {
        let mut reader = Words { words, at: 0 };
        self.is_option = match reader.word()? {
            0 => false,
            1 => true,
            _ => return Err(RiskError::InvalidParameter),
        };
        self.spot = u64::try_from(reader.word()?).map_err(|_| RiskError::InvalidParameter)?;
        let mut marks = [Fx::ZERO; 7];
        reader.fill(&mut marks)?;
        [
            self.mark,
            self.mark_low,
            self.mark_high,
            self.delta,
            self.gamma,
            self.vega,
            self.theta,
        ] = marks;
        reader.fill(&mut self.price_low)?;
        reader.fill(&mut self.price_high)?;
        for row in self.vol_pnl_min.iter_mut() {
            reader.fill(row)?;
        }
        for row in self.vol_pnl_max.iter_mut() {
            reader.fill(row)?;
        }
        reader.fill(&mut self.extended_low)?;
        reader.fill(&mut self.extended_high)?;
        self.carry_rise = Fx::ZERO;
        self.carry_fall = Fx::ZERO;
        self.settled = false;
        Ok(())
    }
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
        Instrument::Perpetual => linear(Fx::ONE, Fx::ZERO),
        Instrument::Future { expiry } => {
            let years = years_from_secs(seconds_left(expiry, now))?;
            let mut risk = if underlying.rate == 0 {
                linear(Fx::ONE, Fx::ZERO)?
            } else {
                // e^{rT} carries the exponential's rounding: widen the marks like an option's.
                linear(exp(mul(underlying.rate, years)?)?, MARK_ERROR)?
            };
            if underlying.basis_shock > 0 && years > 0 {
                // The carried value e^{rT} moves by +-s T of itself: one product (an exponential
                // is ~1,200 CU on SBF, for every future of every check).
                let shift = mul(risk.delta, mul(underlying.basis_shock, years)?)?;
                risk.carry_rise = shift;
                risk.carry_fall = shift;
            }
            Ok(risk)
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
/// the computed `delta` may be from the exact one. Only the marks are set: the value per
/// contract lies in [mark_low, mark_high] x S at every spot, so `Exposure` bounds every
/// scenario of a linear position from its marks and the move (no per-node bounds to store).
pub fn linear(delta: Fx, error: Fx) -> RiskResult<SeriesRisk> {
    Ok(SeriesRisk {
        is_option: false,
        mark: delta,
        mark_low: sub(delta, error)?,
        mark_high: add(delta, error)?,
        delta,
        ..SeriesRisk::default()
    })
}

/// A series settled at `payoff` (quote-native per contract) whose positions are not yet
/// closed: worth exactly the payoff in every scenario. Normalised by the payoff itself, so
/// the value is exact (size x payoff) and every change bound is zero.
pub fn settled(payoff: u64) -> SeriesRisk {
    let unit = if payoff > 0 { Fx::ONE } else { Fx::ZERO };
    SeriesRisk {
        is_option: true,
        settled: true,
        spot: payoff,
        mark: unit,
        mark_low: unit,
        mark_high: unit,
        extended_low: [unit; 2],
        extended_high: [unit; 2],
        ..SeriesRisk::default()
    }
}

/// a x b rounded up: the truncated product plus one unit in the last place.
fn mul_up(a: Fx, b: Fx) -> RiskResult<Fx> {
    add(mul(a, b)?, Fx::from_bits(1))
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
    let ladder = node_ladder(&st, grid)?;
    let mut gamma_min = [Fx::ZERO; SEGMENTS];
    let mut gamma_max = [Fx::ZERO; SEGMENTS];
    for segment in 0..SEGMENTS {
        let (low, high) = (ladder[segment], ladder[segment + 1]);
        gamma_min[segment] = low.gamma.min(high.gamma);
        gamma_max[segment] = peak_gamma(&st, low.d1, high.d1)?.unwrap_or(low.gamma.max(high.gamma));
    }
    let mut delta_edge = [Fx::ZERO; 2];
    for (side, node) in [(DOWN, 0), (UP, CORE_NODES - 1)] {
        let (cdf, complement) = normal_cdf(ladder[node].d1)?;
        delta_edge[side] = match kind {
            OptionKind::Call => cdf,
            OptionKind::Put => -complement,
        };
    }
    price_bounds(&mut risk, grid, &gamma_min, Some(&gamma_max), &delta_edge)?;
    vol_bounds(&mut risk, &inputs, &st, grid, &ladder)?;
    extended_bounds(&mut risk, grid, kind, &st)?;
    Ok(risk)
}

/// Price-move bounds at each core node from delta and the gamma ladder:
///   low  = delta x_k + Σ_j w_kj gamma_min_j
///   high = min(delta x_k + Σ_j w_kj gamma_max_j, delta_edge x_k)   (the chord: delta increases)
/// `gamma_max` is None at expiry, where gamma is unbounded at the strike.
fn price_bounds(
    risk: &mut SeriesRisk,
    grid: &GridConstants,
    gamma_min: &[Fx; SEGMENTS],
    gamma_max: Option<&[Fx; SEGMENTS]>,
    delta_edge: &[Fx; 2],
) -> RiskResult<()> {
    for node in 0..CORE_NODES {
        let x = grid.moves[node];
        let (start, end) = segment_range(node);
        let mut low = mul(risk.delta, x)?;
        let mut taylor_high = mul_up(risk.delta, x)?;
        for segment in start..end {
            let weight = grid.segment_weight(node, segment)?;
            low = add(low, mul(weight, gamma_min[segment])?)?;
            if let Some(gamma_max) = gamma_max {
                taylor_high = add(taylor_high, mul_up(weight, gamma_max[segment])?)?;
            }
        }
        let chord = mul_up(delta_edge[direction_of(node)], x)?;
        risk.price_low[node] = low;
        risk.price_high[node] = if gamma_max.is_some() {
            taylor_high.min(chord)
        } else {
            chord
        };
    }
    Ok(())
}

/// d1 and gamma x S at one core node.
#[derive(Clone, Copy, Debug, Default)]
struct NodeGreeks {
    d1: Fx,
    pdf: Fx,
    gamma: Fx,
}

fn node_ladder(
    st: &bs::Standardised,
    grid: &GridConstants,
) -> RiskResult<[NodeGreeks; CORE_NODES]> {
    let mut ladder = [NodeGreeks::default(); CORE_NODES];
    for (node, slot) in ladder.iter_mut().enumerate() {
        let d1 = add(st.d1, mul(grid.ln_moves[node], st.inv_total_vol)?)?;
        let pdf = normal_pdf(d1)?;
        let gamma = mul(mul(pdf, st.inv_total_vol)?, grid.inv_moves[node])?;
        *slot = NodeGreeks { d1, pdf, gamma };
    }
    Ok(ladder)
}

/// Gamma x S at its peak (d1 = -sigma sqrt T) when the peak lies inside [d1_low, d1_high].
fn peak_gamma(st: &bs::Standardised, d1_low: Fx, d1_high: Fx) -> RiskResult<Option<Fx>> {
    let peak_d1 = -st.total_vol;
    if peak_d1 < d1_low || peak_d1 > d1_high {
        return Ok(None);
    }
    // S*/S = exp((d1* - d1) s), so gamma(S*) S = phi(s) / (s S*/S) = phi(s) exp((s + d1) s) / s.
    let spot_ratio_inverse = exp(mul(add(st.total_vol, st.d1)?, st.total_vol)?)?;
    let pdf = normal_pdf(st.total_vol)?;
    Ok(Some(mul(mul(pdf, st.inv_total_vol)?, spot_ratio_inverse)?))
}

/// Vega bounds at each node's spot over the shocked volatility interval. With m = ln(S_k/K) + rT
/// fixed, d1(s) = m/s + s/2 is increasing in s when m <= 0 and convex with its minimum sqrt(2m)
/// at s = sqrt(2m) when m > 0, so its exact range over [s_a, s_b] comes from the end points
/// (sigma - down, sigma, sigma + up) and, when it falls inside, that minimum. The density at the
/// middle end point is the ladder's.
fn vol_bounds(
    risk: &mut SeriesRisk,
    inputs: &OptionInputs,
    st: &bs::Standardised,
    grid: &GridConstants,
    ladder: &[NodeGreeks; CORE_NODES],
) -> RiskResult<()> {
    let (down, up) = effective_vol_shocks(inputs.vol, grid)?;
    let low_sigma = sub(inputs.vol, down)?;
    let high_sigma = add(inputs.vol, up)?;
    let totals = [
        mul(low_sigma, st.sqrt_years)?,
        st.total_vol,
        mul(high_sigma, st.sqrt_years)?,
    ];
    let inverses = [
        bs::inverse_of_product(low_sigma, st.sqrt_years)?,
        st.inv_total_vol,
        bs::inverse_of_product(high_sigma, st.sqrt_years)?,
    ];
    let drift = add(inputs.log_moneyness, mul(inputs.rate, st.years)?)?;
    for (node, greeks) in ladder.iter().enumerate() {
        let m = add(drift, grid.ln_moves[node])?;
        let d1 = [
            add(mul(m, inverses[0])?, half(totals[0]))?,
            greeks.d1,
            add(mul(m, inverses[2])?, half(totals[2]))?,
        ];
        let pdf = [normal_pdf(d1[0])?, greeks.pdf, normal_pdf(d1[2])?];
        let scale = mul(add(Fx::ONE, grid.moves[node])?, st.sqrt_years)?;
        // sqrt(2m) and its density depend on the node only: computed at most once for both
        // shocks, and only when needed.
        let mut turning: Option<Fx> = None;
        let mut turning_pdf: Option<Fx> = None;
        for (shock, (a, b), size) in [(DOWN, (0, 1), down), (UP, (1, 2), up)] {
            // Largest |d1| (smallest density) is at an end point; the smallest |d1| is at an end
            // point, at 0 where d1 changes sign, or at the interior minimum sqrt(2m).
            let pdf_min = pdf[a].min(pdf[b]);
            let mut pdf_max = pdf[a].max(pdf[b]);
            if (d1[a] <= 0) != (d1[b] <= 0) {
                pdf_max = PDF_AT_ZERO;
            } else if m > 0 {
                let turn = match turning {
                    Some(value) => value,
                    None => *turning.insert(sqrt(mul_int(m, 2)?)?),
                };
                if totals[a] < turn && turn < totals[b] {
                    let density = match turning_pdf {
                        Some(value) => value,
                        None => *turning_pdf.insert(normal_pdf(turn)?),
                    };
                    pdf_max = pdf_max.max(density);
                }
            }
            let vega_max = mul(scale, pdf_max)?;
            let vega_min = mul(scale, pdf_min)?;
            // A shock of size dv moves value by [vega_min dv, vega_max dv] up, mirrored down.
            let (min, max) = if shock == DOWN {
                (-mul(vega_max, size)?, -mul(vega_min, size)?)
            } else {
                (mul(vega_min, size)?, mul(vega_max, size)?)
            };
            risk.vol_pnl_min[node][shock] = min;
            risk.vol_pnl_max[node][shock] = max;
        }
    }
    Ok(())
}

/// Value / S at the extended moves, repriced exactly (base volatility, as the grid defines
/// them): two more normal-table evaluations per side. The discounted intrinsic value stays as a
/// floor and the price error band widens with the move.
fn extended_bounds(
    risk: &mut SeriesRisk,
    grid: &GridConstants,
    kind: OptionKind,
    st: &bs::Standardised,
) -> RiskResult<()> {
    for (side, node) in [(DOWN, EXTENDED_DOWN_NODE), (UP, EXTENDED_UP_NODE)] {
        let spot_ratio = add(Fx::ONE, grid.moves[node])?;
        let d1 = add(st.d1, mul(grid.ln_extended[side], st.inv_total_vol)?)?;
        let (n1, n1_complement) = normal_cdf(d1)?;
        let (n2, n2_complement) = normal_cdf(sub(d1, st.total_vol)?)?;
        let (price, intrinsic) = match kind {
            OptionKind::Call => (
                sub(mul(spot_ratio, n1)?, mul(st.discounted_strike, n2)?)?,
                sub(spot_ratio, st.discounted_strike)?,
            ),
            OptionKind::Put => (
                sub(
                    mul(st.discounted_strike, n2_complement)?,
                    mul(spot_ratio, n1_complement)?,
                )?,
                sub(st.discounted_strike, spot_ratio)?,
            ),
        };
        let error = mul(MARK_ERROR, spot_ratio.ceil().max(Fx::ONE))?;
        // The computed intrinsic value carries the exponential's rounding too.
        risk.extended_low[side] = sub(price, error)?.max(sub(intrinsic, error)?).max(Fx::ZERO);
        risk.extended_high[side] = add(price, error)?.max(risk.extended_low[side]);
    }
    Ok(())
}

/// An option at expiry is worth its intrinsic value: piecewise linear in spot, so gamma is 0 away
/// from the strike (a valid lower bound) and unbounded at it (the chord is the upper bound).
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
    let mut delta_edge = [Fx::ZERO; 2];
    for (side, edge_node, node) in [
        (DOWN, 0, EXTENDED_DOWN_NODE),
        (UP, CORE_NODES - 1, EXTENDED_UP_NODE),
    ] {
        let edge_ratio = add(Fx::ONE, grid.moves[edge_node])?;
        if in_the_money(edge_ratio) {
            delta_edge[side] = sign;
        }
        let value = intrinsic_at(add(Fx::ONE, grid.moves[node])?)?;
        // The strike ratio is an exponential: its rounding widens both sides.
        risk.extended_low[side] = sub(value, MARK_ERROR)?.max(Fx::ZERO);
        risk.extended_high[side] = add(value, MARK_ERROR)?;
    }
    price_bounds(risk, grid, &[Fx::ZERO; SEGMENTS], None, &delta_edge)
}
