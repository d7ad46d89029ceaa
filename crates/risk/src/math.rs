//! Deterministic fixed-point elementary functions: exp, ln, sqrt and the standard normal
//! CDF/density. No floating point, no division except where noted, no panics.
use crate::error::{RiskError, RiskResult};
use crate::fx::{add, fx_bits, mul, sub, Fx, FRAC_BITS};
use crate::tables::{
    EXP2_SIXTEENTHS, INTERVALS_PER_UNIT, INV_1P_SIXTEENTHS, INV_LN2, LN2, LN2_Q64, LN2_SIXTEENTH,
    LN_1P_SIXTEENTHS, NORMAL_CDF_TAYLOR, NORMAL_PDF_TAYLOR, TABLE_LOWER,
};

pub const LN_2: Fx = fx_bits(LN2);
const ONE: Fx = Fx::ONE;
/// e^x is below one unit of the last place for x under this.
const EXP_UNDERFLOW: Fx = Fx::from_bits(-23 << FRAC_BITS);
/// e^21.4 is close to `Fx::MAX`.
const EXP_OVERFLOW: Fx = crate::fx::fx_ratio(214, 10);

/// 1/k for the Taylor series of exp (k = 1..=6).
const EXP_TAYLOR: [Fx; 6] = reciprocals();

/// e^x. Range reduction x = k ln2 + j ln2/16 + r with 0 <= r < ln2/16, then a degree-6 Taylor
/// polynomial (truncation error below 1e-13).
pub fn exp(x: Fx) -> RiskResult<Fx> {
    if x < EXP_UNDERFLOW {
        return Ok(Fx::ZERO);
    }
    if x > EXP_OVERFLOW {
        return Err(RiskError::Overflow);
    }
    let k = mul(x, fx_bits(INV_LN2))?.floor();
    let k_int = k.to_bits() >> FRAC_BITS;
    let r = sub(x, mul(k, LN_2)?)?;
    // r is in [0, ln 2): an unsigned division (SBPF v0 has no signed one).
    let j = ((r.to_bits().max(0) as u64 / LN2_SIXTEENTH as u64) as i64).clamp(0, 15);
    let r = sub(r, fx_bits(j * LN2_SIXTEENTH))?;
    // Horner: 1 + r(1 + r/2(1 + r/3(...)))
    let mut acc = ONE;
    for inv_k in EXP_TAYLOR.iter().rev() {
        acc = add(ONE, mul(mul(r, *inv_k)?, acc)?)?;
    }
    let scaled = mul(acc, fx_bits(EXP2_SIXTEENTHS[j as usize]))?;
    shift_by_power_of_two(scaled, k_int)
}

fn shift_by_power_of_two(value: Fx, power: i64) -> RiskResult<Fx> {
    if power >= 0 {
        let shift = u32::try_from(power).map_err(|_| RiskError::Overflow)?;
        value
            .checked_shl(shift)
            .filter(|v| v.checked_shr(shift) == Some(value))
            .ok_or(RiskError::Overflow)
    } else {
        let shift = u32::try_from(-power).map_err(|_| RiskError::Overflow)?;
        Ok(if shift >= 63 {
            Fx::ZERO
        } else {
            Fx::from_bits(value.to_bits() >> shift)
        })
    }
}

/// 1/k for the series of ln(1+f) (k = 1..=8).
const LN_SERIES: [Fx; 8] = reciprocals();

/// [1/1, 1/2, ..., 1/N], each exact to the last bit.
const fn reciprocals<const N: usize>() -> [Fx; N] {
    let mut out = [Fx::ZERO; N];
    let mut k = 0;
    while k < N {
        out[k] = crate::fx::fx_ratio(1, k as i64 + 1);
        k += 1;
    }
    out
}

/// ln(v) of a positive integer: v = 2^e (1 + j/16)(1 + f) with 0 <= f < 1/16, then a degree-8
/// series for ln(1+f) (error below 2e-12). No division.
pub fn ln_u64(v: u64) -> RiskResult<Fx> {
    if v == 0 {
        return Err(RiskError::Overflow);
    }
    let exponent = 63 - v.leading_zeros() as i64;
    // mantissa in [1, 2) with 32 fraction bits
    let mantissa_bits = if exponent >= FRAC_BITS as i64 {
        v >> (exponent - FRAC_BITS as i64)
    } else {
        v << (FRAC_BITS as i64 - exponent)
    };
    let mantissa = Fx::from_bits(mantissa_bits as i64);
    let j = ((mantissa_bits >> (FRAC_BITS - 4)) & 15) as usize;
    let f = sub(mul(mantissa, fx_bits(INV_1P_SIXTEENTHS[j]))?, ONE)?;
    // ln(1+f) = f(1 - f(1/2 - f(1/3 - ...)))
    let mut acc = LN_SERIES[LN_SERIES.len() - 1];
    for inv_k in LN_SERIES.iter().rev().skip(1) {
        acc = sub(*inv_k, mul(f, acc)?)?;
    }
    let ln_1p_f = mul(f, acc)?;
    crate::fx::op_count::mul128();
    let exponent_part = Fx::from_bits(((exponent as i128 * LN2_Q64) >> FRAC_BITS) as i64);
    add(add(exponent_part, fx_bits(LN_1P_SIXTEENTHS[j]))?, ln_1p_f)
}

/// ln(x) of a positive fixed-point value.
pub fn ln(x: Fx) -> RiskResult<Fx> {
    if x <= 0 {
        return Err(RiskError::Overflow);
    }
    let frac_bits_ln2 = Fx::from_bits(((FRAC_BITS as i128 * LN2_Q64) >> FRAC_BITS) as i64);
    sub(ln_u64(x.to_bits() as u64)?, frac_bits_ln2)
}

/// floor(sqrt(n)), exact. Below 2^104 on a machine with a floating point unit, from the
/// correctly rounded square root of n as f64 (within 2 of the root there), corrected by exact
/// integer compares: a few instructions where the integer method takes ~300 (a keeper margins
/// a liquidity-capped deposit per collateral asset). Elsewhere, and on SBF (no floating point
/// unit), the integer method.
#[inline]
pub fn isqrt_u128(n: u128) -> u128 {
    #[cfg(not(target_os = "solana"))]
    if n < 1 << 104 {
        // n as f64 from its two 64-bit halves (a u128 conversion is a library call). The guess
        // is below 2^52 + 2, so the squares below fit u128.
        let approx = (n >> 64) as u64 as f64 * 18_446_744_073_709_551_616.0 + n as u64 as f64;
        let mut root = approx.sqrt() as u64 as u128;
        while root * root > n {
            root -= 1;
        }
        while (root + 1) * (root + 1) <= n {
            root += 1;
        }
        return root;
    }
    n.isqrt()
}

/// Square root, rounded down.
pub fn sqrt(x: Fx) -> RiskResult<Fx> {
    if x < 0 {
        return Err(RiskError::Overflow);
    }
    let widened = (x.to_bits() as u128) << FRAC_BITS;
    i64::try_from(isqrt_u128(widened))
        .map(Fx::from_bits)
        .map_err(|_| RiskError::Overflow)
}

/// N(x), 1 - N(x) and the density phi(x), each to about 1e-10 absolute. The smaller of the two
/// tails is evaluated directly so it keeps its relative accuracy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Normal {
    pub cdf: Fx,
    pub complement: Fx,
    pub pdf: Fx,
}

pub fn normal(x: Fx) -> RiskResult<Normal> {
    let position = table_position(x)?;
    let (cdf, complement) = split_tails(x, tail_value(position))?;
    Ok(Normal {
        cdf,
        complement,
        pdf: pdf_value(position),
    })
}

/// (N(x), 1 - N(x)) without the density: the table polynomial alone.
pub fn normal_cdf(x: Fx) -> RiskResult<(Fx, Fx)> {
    split_tails(x, tail_value(table_position(x)?))
}

/// phi(x) alone, from the table of the derivative's coefficients.
pub fn normal_pdf(x: Fx) -> RiskResult<Fx> {
    Ok(pdf_value(table_position(x)?))
}

/// Row and offset of -|x| in the Taylor tables; None below the table, where N and phi are under
/// one unit in the last place.
fn table_position(x: Fx) -> RiskResult<Option<(usize, Fx)>> {
    let a = if x > 0 { -x } else { x };
    let lower = Fx::from_bits(TABLE_LOWER << FRAC_BITS);
    if a < lower {
        return Ok(None);
    }
    Ok(Some(table_row(sub(a, lower)?.to_bits())))
}

/// N(-|x|).
fn tail_value(position: Option<(usize, Fx)>) -> Fx {
    position.map_or(Fx::ZERO, |(index, t)| {
        horner(&NORMAL_CDF_TAYLOR[index], t).max(Fx::ZERO)
    })
}

/// phi(x) = phi(-|x|).
fn pdf_value(position: Option<(usize, Fx)>) -> Fx {
    position.map_or(Fx::ZERO, |(index, t)| {
        horner(&NORMAL_PDF_TAYLOR[index], t).max(Fx::ZERO)
    })
}

/// (N(x), 1 - N(x)) from the smaller tail N(-|x|), which keeps its relative accuracy.
fn split_tails(x: Fx, tail: Fx) -> RiskResult<(Fx, Fx)> {
    let other = sub(ONE, tail)?;
    Ok(if x > 0 { (other, tail) } else { (tail, other) })
}

/// Σ c_k t^k by Horner's rule on raw bits. |t| <= 1/8 and every partial sum stays below 2 (the
/// series converge to N or phi in [0, 1] with terms shrinking geometrically), so each product
/// is below 2^66 before the shift and the result fits: no overflow is possible.
fn horner(coefficients: &[i64], t: Fx) -> Fx {
    let t = t.to_bits() as i128;
    let mut value: i64 = 0;
    for c in coefficients.iter().rev() {
        crate::fx::op_count::mul128();
        value = c.wrapping_add(((value as i128).wrapping_mul(t) >> FRAC_BITS) as i64);
    }
    Fx::from_bits(value)
}

/// The table row covering `offset` (bits of a - TABLE_LOWER) and the distance to its midpoint.
fn table_row(offset: i64) -> (usize, Fx) {
    let last = NORMAL_CDF_TAYLOR.len() - 1;
    let index = usize::try_from((offset * INTERVALS_PER_UNIT) >> FRAC_BITS)
        .unwrap_or(last)
        .min(last);
    // midpoint = lower + (index + 1/2) / INTERVALS_PER_UNIT
    const HALF_STEP: i64 = (1i64 << FRAC_BITS) / (2 * INTERVALS_PER_UNIT);
    let half_step = HALF_STEP;
    let midpoint_offset = (index as i64) * 2 * half_step + half_step;
    (index, Fx::from_bits(offset - midpoint_offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(x: Fx) -> f64 {
        x.to_num()
    }

    #[test]
    fn exp_matches_f64_over_its_range() {
        let mut x = -22.0f64;
        while x < 21.0 {
            let got = f(exp(Fx::from_num(x)).unwrap());
            let want = Fx::from_num(x).to_num::<f64>().exp();
            assert!(
                (got - want).abs() <= 2e-9 * want.max(1.0),
                "exp({x}) = {got}, want {want}"
            );
            x += 0.0137;
        }
        assert_eq!(exp(Fx::from_num(-40)).unwrap(), Fx::ZERO);
        assert_eq!(exp(Fx::from_num(30)), Err(RiskError::Overflow));
    }

    #[test]
    fn ln_matches_f64() {
        for v in [1u64, 2, 3, 7, 1000, 123_456_789, u64::MAX / 3, u64::MAX] {
            let got = f(ln_u64(v).unwrap());
            assert!((got - (v as f64).ln()).abs() < 2e-9, "ln({v}) = {got}");
        }
        for x in [0.01f64, 0.5, 0.85, 1.0, 1.15, 2.0, 1000.0] {
            let q = Fx::from_num(x);
            assert!((f(ln(q).unwrap()) - f(q).ln()).abs() < 2e-9);
        }
        assert_eq!(ln_u64(0), Err(RiskError::Overflow));
        assert_eq!(ln(Fx::ZERO), Err(RiskError::Overflow));
        assert_eq!(ln(-Fx::ONE), Err(RiskError::Overflow));
    }

    #[test]
    fn sqrt_is_floor_exact() {
        assert_eq!(sqrt(Fx::from_num(4)).unwrap(), Fx::from_num(2));
        assert_eq!(sqrt(Fx::ZERO).unwrap(), Fx::ZERO);
        assert_eq!(sqrt(-Fx::ONE), Err(RiskError::Overflow));
        let r = sqrt(Fx::from_num(2)).unwrap().to_bits() as i128;
        let two = 2i128 << 64;
        assert!(r * r <= two && (r + 1) * (r + 1) > two);
    }

    #[test]
    fn normal_matches_erfc_and_is_consistent() {
        let mut x = -9.0f64;
        while x <= 9.0 {
            let q = Fx::from_num(x);
            let n = normal(q).unwrap();
            let xf = f(q);
            let cdf = 0.5 * libm::erfc(-xf / std::f64::consts::SQRT_2);
            let pdf = (-0.5 * xf * xf).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!((f(n.cdf) - cdf).abs() < 1e-9, "N({x})");
            assert!((f(n.complement) - (1.0 - cdf)).abs() < 1e-9, "1-N({x})");
            assert!((f(n.pdf) - pdf).abs() < 1e-9, "phi({x})");
            assert_eq!(n.cdf + n.complement, Fx::ONE);
            x += 0.01;
        }
    }

    #[test]
    fn integer_square_root_is_exact_at_squares_and_around_the_f64_cutoff() {
        for root in [
            0u128,
            1,
            2,
            3,
            1 << 26,
            (1 << 52) - 1,
            1 << 52,
            (1 << 52) + 1,
            1 << 63,
        ] {
            let square = root * root;
            assert_eq!(isqrt_u128(square), root);
            if square > 0 {
                assert_eq!(isqrt_u128(square - 1), root - 1);
            }
            assert_eq!(isqrt_u128(square + 1), square.saturating_add(1).isqrt());
        }
        for n in [(1u128 << 104) - 1, 1 << 104, (1 << 104) + 1, u128::MAX] {
            assert_eq!(isqrt_u128(n), n.isqrt(), "{n}");
        }
    }

    proptest! {
        #[test]
        fn integer_square_root_matches_the_integer_method(bits in 0u32..128, n in any::<u128>()) {
            let n = n >> bits;
            prop_assert_eq!(isqrt_u128(n), n.isqrt());
        }

        #[test]
        fn cdf_is_monotone(a in -10.0f64..10.0, b in -10.0f64..10.0) {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            let nl = normal(Fx::from_num(lo)).unwrap().cdf;
            let nh = normal(Fx::from_num(hi)).unwrap().cdf;
            // Monotone up to the table's rounding (a few units in the last place).
            prop_assert!(nl <= nh + Fx::from_bits(4));
        }
    }
}
