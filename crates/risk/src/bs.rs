//! European Black–Scholes price and Greeks in fixed point, normalised by spot:
//! price / S, delta, gamma x S, vega / S (per 1.00 of volatility) and theta / S (per year).
//! One division per evaluation (1 / (sigma sqrt T)); N and phi come from the Taylor table.
use crate::error::{RiskError, RiskResult};
use crate::fx::{add, fx_ratio, half, mul, sub, Fx, FRAC_BITS};
use crate::math::{exp, ln_u64, normal, normal_cdf};

pub const SECONDS_PER_YEAR: u64 = 365 * 24 * 3600;
pub const MIN_VOL: Fx = fx_ratio(1, 100);
pub const MAX_VOL: Fx = fx_ratio(5, 1);
pub const MAX_EXPIRY_SECS: u64 = 10 * SECONDS_PER_YEAR;
pub const MIN_RATE: Fx = fx_ratio(-20, 100);
pub const MAX_RATE: Fx = fx_ratio(50, 100);
/// |ln(S/K)| <= ln 64: strikes from 1/64 to 64 times spot.
pub const MAX_LOG_MONEYNESS: Fx = fx_ratio(41_588_830_833, 10_000_000_000);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptionKind {
    Call,
    Put,
}

/// Inputs in normalised form; `log_moneyness` = ln(S / K). Time is in whole seconds so that
/// sqrt(T) and 1/(sigma sqrt T) keep full relative precision for expiries of minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionInputs {
    pub kind: OptionKind,
    pub log_moneyness: Fx,
    pub secs: u64,
    pub vol: Fx,
    pub rate: Fx,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Greeks {
    pub price: Fx,
    pub delta: Fx,
    pub gamma: Fx,
    pub vega: Fx,
    pub theta: Fx,
}

/// Seconds to years; exact to one unit in the last place with a native 64-bit division.
pub fn years_from_secs(secs: u64) -> RiskResult<Fx> {
    if secs > MAX_EXPIRY_SECS {
        return Err(RiskError::ExpiryOutOfRange);
    }
    let bits = (secs << FRAC_BITS) / SECONDS_PER_YEAR;
    i64::try_from(bits)
        .map(Fx::from_bits)
        .map_err(|_| RiskError::Overflow)
}

/// ln(spot / strike) for quote-native prices.
pub fn log_moneyness(spot: u64, strike: u64) -> RiskResult<Fx> {
    if spot == 0 {
        return Err(RiskError::SpotOutOfRange);
    }
    if strike == 0 {
        return Err(RiskError::MoneynessOutOfRange);
    }
    let value = sub(ln_u64(spot)?, ln_u64(strike)?)?;
    if value.abs() > MAX_LOG_MONEYNESS {
        return Err(RiskError::MoneynessOutOfRange);
    }
    Ok(value)
}

/// sqrt(secs / year) with 32 fraction bits, from a 64-fraction-bit quotient.
pub fn sqrt_years_from_secs(secs: u64) -> RiskResult<Fx> {
    if secs > MAX_EXPIRY_SECS {
        return Err(RiskError::ExpiryOutOfRange);
    }
    let years_q64 = ((secs as u128) << 64) / SECONDS_PER_YEAR as u128;
    i64::try_from(crate::math::isqrt_u128(years_q64))
        .map(Fx::from_bits)
        .map_err(|_| RiskError::Overflow)
}

pub fn validate(inputs: &OptionInputs) -> RiskResult<()> {
    if inputs.vol < MIN_VOL || inputs.vol > MAX_VOL {
        return Err(RiskError::VolatilityOutOfRange);
    }
    if inputs.secs > MAX_EXPIRY_SECS {
        return Err(RiskError::ExpiryOutOfRange);
    }
    if inputs.rate < MIN_RATE || inputs.rate > MAX_RATE {
        return Err(RiskError::RateOutOfRange);
    }
    if inputs.log_moneyness.abs() > MAX_LOG_MONEYNESS {
        return Err(RiskError::MoneynessOutOfRange);
    }
    Ok(())
}

/// The shared pieces of one evaluation, reused by the margin bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standardised {
    pub years: Fx,
    pub sqrt_years: Fx,
    /// sigma sqrt(T)
    pub total_vol: Fx,
    pub inv_total_vol: Fx,
    pub d1: Fx,
    pub d2: Fx,
    /// K e^{-rT} / S
    pub discounted_strike: Fx,
}

/// 1 / (a b) from the exact 64-fraction-bit product, so a small sigma sqrt T keeps its
/// relative precision (one 128-bit division).
pub fn inverse_of_product(a: Fx, b: Fx) -> RiskResult<Fx> {
    crate::fx::op_count::mul128();
    crate::fx::op_count::div128();
    let product_q64 = (a.to_bits() as i128) * (b.to_bits() as i128);
    if product_q64 <= 0 {
        return Err(RiskError::ExpiryOutOfRange);
    }
    let bits = (1i128 << (3 * FRAC_BITS)) / product_q64;
    i64::try_from(bits)
        .map(Fx::from_bits)
        .map_err(|_| RiskError::Overflow)
}

/// d1, d2 and friends for `secs > 0`.
pub fn standardise(inputs: &OptionInputs) -> RiskResult<Standardised> {
    let years = years_from_secs(inputs.secs)?;
    let sqrt_years = sqrt_years_from_secs(inputs.secs)?;
    let total_vol = mul(inputs.vol, sqrt_years)?;
    let inv_total_vol = inverse_of_product(inputs.vol, sqrt_years)?;
    let drift = add(inputs.log_moneyness, mul(inputs.rate, years)?)?;
    let d1 = add(mul(drift, inv_total_vol)?, half(total_vol))?;
    let d2 = sub(d1, total_vol)?;
    let discounted_strike = exp(-drift)?;
    Ok(Standardised {
        years,
        sqrt_years,
        total_vol,
        inv_total_vol,
        d1,
        d2,
        discounted_strike,
    })
}

/// Price and Greeks; at expiry (`years == 0`) the intrinsic value and its step delta.
pub fn greeks(inputs: &OptionInputs) -> RiskResult<Greeks> {
    validate(inputs)?;
    if inputs.secs == 0 {
        return intrinsic(inputs);
    }
    let st = standardise(inputs)?;
    let n1 = normal(st.d1)?;
    let (n2_cdf, n2_complement) = normal_cdf(st.d2)?;
    let gamma = mul(n1.pdf, st.inv_total_vol)?;
    let vega = mul(n1.pdf, st.sqrt_years)?;
    // phi sigma / (2 sqrt T) = gamma sigma^2 / 2: no second division, and gamma is the larger
    // intermediate, so the product keeps its relative precision.
    let decay = half(mul(gamma, mul(inputs.vol, inputs.vol)?)?);
    let greeks = match inputs.kind {
        OptionKind::Call => {
            let strike_leg = mul(st.discounted_strike, n2_cdf)?;
            Greeks {
                price: sub(n1.cdf, strike_leg)?.max(Fx::ZERO),
                delta: n1.cdf,
                gamma,
                vega,
                theta: sub(-decay, mul(inputs.rate, strike_leg)?)?,
            }
        }
        OptionKind::Put => {
            let strike_leg = mul(st.discounted_strike, n2_complement)?;
            Greeks {
                price: sub(strike_leg, n1.complement)?.max(Fx::ZERO),
                delta: -n1.complement,
                gamma,
                vega,
                theta: add(-decay, mul(inputs.rate, strike_leg)?)?,
            }
        }
    };
    Ok(greeks)
}

/// Value at expiry: max(0, +-(1 - K/S)); delta is the step (0 at the money), other Greeks 0.
fn intrinsic(inputs: &OptionInputs) -> RiskResult<Greeks> {
    let strike_ratio = exp(-inputs.log_moneyness)?;
    let (price, delta) = match inputs.kind {
        OptionKind::Call => (
            sub(Fx::ONE, strike_ratio)?.max(Fx::ZERO),
            if inputs.log_moneyness > 0 {
                Fx::ONE
            } else {
                Fx::ZERO
            },
        ),
        OptionKind::Put => (
            sub(strike_ratio, Fx::ONE)?.max(Fx::ZERO),
            if inputs.log_moneyness < 0 {
                -Fx::ONE
            } else {
                Fx::ZERO
            },
        ),
    };
    Ok(Greeks {
        price,
        delta,
        ..Greeks::default()
    })
}
