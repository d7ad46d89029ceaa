//! Fixed-point scalar (`I32F32`), money rounding and the operation counters.
//!
//! Every multiply or divide of the engine goes through this module so the benchmark can count
//! them (feature `op-count`). An `I32F32` product needs the 128-bit intermediate: on SBF that is
//! a `__multi3` libcall, and a division a `__divti3` one, so these counts are the engine's
//! compute cost model.
use crate::error::{RiskError, RiskResult};

/// Normalised quantities (prices / spot, Greeks, shocks, weights): 32 integer and 32 fraction bits.
pub type Fx = fixed::types::I32F32;

pub const FRAC_BITS: u32 = 32;

#[inline]
pub const fn fx_bits(bits: i64) -> Fx {
    Fx::from_bits(bits)
}

/// `num / den` as a fixed-point constant, exact to the last bit (floor); for compile-time params.
pub const fn fx_ratio(num: i64, den: i64) -> Fx {
    Fx::from_bits((((num as i128) << FRAC_BITS) / den as i128) as i64)
}

/// |a| x |b| as (high, low) 64-bit halves, from four 32 x 32 -> 64 products. SBPF has a
/// 64-bit multiply but no high half: a full i128 product is a `__multi3` call costing several
/// times this.
#[inline]
fn widening_magnitude(a: u64, b: u64) -> (u64, u64) {
    widening_limbs((a & LOW, a >> 32), (b & LOW, b >> 32))
}

const LOW: u64 = 0xffff_ffff;

/// (low, high) 32-bit limbs of two magnitudes -> their product as (high, low) 64-bit halves.
/// The sums cannot wrap (each partial is below 2^64 and so is the product's high half); they
/// wrap explicitly so the overflow-checked build adds no checks.
#[inline]
fn widening_limbs((a_lo, a_hi): (u64, u64), (b_lo, b_hi): (u64, u64)) -> (u64, u64) {
    let p0 = a_lo * b_lo;
    let p1 = a_lo * b_hi;
    let p2 = a_hi * b_lo;
    let p3 = a_hi * b_hi;
    let middle = (p0 >> 32).wrapping_add(p1 & LOW).wrapping_add(p2 & LOW);
    let low = (p0 & LOW) | (middle << 32);
    let high = p3
        .wrapping_add(p1 >> 32)
        .wrapping_add(p2 >> 32)
        .wrapping_add(middle >> 32);
    (high, low)
}

/// One factor of many exact products, split once: an exposure multiplies a position's notional
/// by some 34 bounds, and on SBF each product is built from 32-bit limbs.
#[derive(Clone, Copy, Debug)]
pub struct Multiplicand {
    value: i64,
    /// 32-bit limbs of `value` in two's complement (as u64).
    limbs: (u64, u64),
}

impl Multiplicand {
    pub fn new(value: i64) -> Self {
        let bits = value as u64;
        Self {
            value,
            limbs: (bits & LOW, bits >> 32),
        }
    }

    pub fn value(&self) -> i64 {
        self.value
    }

    /// `slot += value x f`, modulo 2^128: exact whenever the final sum fits i128, however the
    /// terms are ordered. `Exposure` bounds its sums so that they always do, which spares a
    /// 128-bit overflow check per product (34 per option).
    #[inline]
    pub fn accumulate(&self, slot: &mut MoneyFrac, f: Fx) {
        op_count::mul128();
        #[cfg(target_os = "solana")]
        {
            *slot = self.limb_sum(*slot, f);
        }
        #[cfg(not(target_os = "solana"))]
        {
            *slot = slot.wrapping_add(self.value as i128 * f.to_bits() as i128);
        }
    }

    /// `slot + value x f` modulo 2^128, from the 32-bit limbs (what SBF runs; bit-identical to
    /// the native product, tests). The product of the two's complement words corrected in its
    /// high half: modulo 2^128, a x b = ua x ub - 2^64 (ub if a < 0, ua if b < 0), with no
    /// branch and no 128-bit negation.
    #[inline]
    pub fn limb_sum(&self, slot: MoneyFrac, f: Fx) -> MoneyFrac {
        let b = f.to_bits();
        let ub = b as u64;
        let (high, low) = widening_limbs(self.limbs, (ub & LOW, ub >> 32));
        let a_negative = (self.value >> 63) as u64;
        let b_negative = (b >> 63) as u64;
        let high = high
            .wrapping_sub(ub & a_negative)
            .wrapping_sub(self.value as u64 & b_negative);
        slot.wrapping_add(((high as u128) << 64 | low as u128) as i128)
    }
}

/// a x b exactly, as i128, from 32-bit limbs.
#[inline]
pub fn limb_mul_wide(a: i64, b: i64) -> i128 {
    let (high, low) = widening_magnitude(a.unsigned_abs(), b.unsigned_abs());
    let magnitude = ((high as u128) << 64 | low as u128) as i128;
    if (a < 0) != (b < 0) {
        -magnitude
    } else {
        magnitude
    }
}

/// I32F32 a x b from 32-bit limbs, rounded down (toward negative infinity) exactly as `fixed`
/// does; `None` outside I32F32.
#[inline]
pub fn limb_mul(a: Fx, b: Fx) -> Option<Fx> {
    let (x, y) = (a.to_bits(), b.to_bits());
    let (high, low) = widening_magnitude(x.unsigned_abs(), y.unsigned_abs());
    // |product| >> 32 must fit 64 bits before the sign is applied (checked below).
    if high >> 32 != 0 {
        return None;
    }
    let truncated = (high << 32) | (low >> 32);
    let bits = if (x < 0) != (y < 0) {
        // floor(-m / 2^32) = -ceil(m / 2^32)
        let ceil = truncated + u64::from(low & 0xffff_ffff != 0);
        if ceil > 1 << 63 {
            return None;
        }
        (ceil as i64).wrapping_neg()
    } else {
        i64::try_from(truncated).ok()?
    };
    Some(Fx::from_bits(bits))
}

/// a x b exactly, as u128: the limb product on SBF (no `__multi3` call), the native widening
/// multiply elsewhere.
#[inline]
pub fn mul_u64_wide(a: u64, b: u64) -> u128 {
    #[cfg(target_os = "solana")]
    {
        let (high, low) = widening_magnitude(a, b);
        (high as u128) << 64 | low as u128
    }
    #[cfg(not(target_os = "solana"))]
    {
        a as u128 * b as u128
    }
}

/// a x b exactly, as i128: the limb product on SBF (no `__multi3` call), the native widening
/// multiply elsewhere. Both are bit-identical (tests).
#[inline]
pub fn mul_wide(a: i64, b: i64) -> i128 {
    #[cfg(target_os = "solana")]
    {
        limb_mul_wide(a, b)
    }
    #[cfg(not(target_os = "solana"))]
    {
        a as i128 * b as i128
    }
}

/// a x b rounded down, `Overflow` outside I32F32.
#[inline]
pub fn mul(a: Fx, b: Fx) -> RiskResult<Fx> {
    op_count::mul128();
    #[cfg(target_os = "solana")]
    let product = limb_mul(a, b);
    #[cfg(not(target_os = "solana"))]
    let product = a.checked_mul(b);
    product.ok_or(RiskError::Overflow)
}

/// `a x k` for a small integer `k`: a native 64-bit multiply.
#[inline]
pub fn mul_int(a: Fx, k: i64) -> RiskResult<Fx> {
    op_count::mul64();
    a.checked_mul_int(k).ok_or(RiskError::Overflow)
}

#[inline]
pub fn div(a: Fx, b: Fx) -> RiskResult<Fx> {
    op_count::div128();
    a.checked_div(b).ok_or(RiskError::Overflow)
}

#[inline]
/// `a / d` rounded toward zero like `/`, with an unsigned division only: SBPF v0 has no signed
/// division instruction (LLVM refuses to emit one).
pub fn div_int(a: Fx, d: u32) -> Fx {
    let bits = a.to_bits();
    let magnitude = (bits.unsigned_abs() / d.max(1) as u64) as i64;
    Fx::from_bits(if bits < 0 { -magnitude } else { magnitude })
}

/// `a / 2` rounded toward zero.
pub fn half(a: Fx) -> Fx {
    div_int(a, 2)
}

pub fn add(a: Fx, b: Fx) -> RiskResult<Fx> {
    a.checked_add(b).ok_or(RiskError::Overflow)
}

#[inline]
pub fn sub(a: Fx, b: Fx) -> RiskResult<Fx> {
    a.checked_sub(b).ok_or(RiskError::Overflow)
}

/// Money with 32 fraction bits (`quote-native x 2^32`): exposures are accumulated exactly in it and
/// rounded once, in the direction that hurts the account holder.
pub type MoneyFrac = i128;

/// `amount x f` exactly, as `MoneyFrac`. An i64 amount cannot overflow (|i64 x i64| < 2^126);
/// a wider one takes the checked path.
#[inline]
pub fn money_times(amount: i128, f: Fx) -> RiskResult<MoneyFrac> {
    op_count::mul128();
    match i64::try_from(amount) {
        // |i64 x i64| < 2^126: exact in i128, so the unchecked product cannot wrap.
        Ok(narrow) => Ok(mul_wide(narrow, f.to_bits())),
        Err(_) => amount
            .checked_mul(f.to_bits() as i128)
            .ok_or(RiskError::Overflow),
    }
}

#[inline]
pub fn floor_money(value: MoneyFrac) -> i128 {
    value >> FRAC_BITS
}

#[inline]
pub fn ceil_money(value: MoneyFrac) -> i128 {
    -((-value) >> FRAC_BITS)
}

/// `amount x f` rounded down (assets) or up (liabilities), in whole quote-native units.
#[inline]
pub fn money_mul_floor(amount: i128, f: Fx) -> RiskResult<i128> {
    Ok(floor_money(money_times(amount, f)?))
}

#[inline]
pub fn money_mul_ceil(amount: i128, f: Fx) -> RiskResult<i128> {
    Ok(ceil_money(money_times(amount, f)?))
}

/// Narrow an i128 money amount to the i64 the accounts store.
#[inline]
pub fn to_i64(value: i128) -> RiskResult<i64> {
    i64::try_from(value).map_err(|_| RiskError::Overflow)
}

/// Counters of 128-bit multiplies and divides, compiled to nothing without `op-count`.
pub mod op_count {
    #[cfg(feature = "op-count")]
    mod imp {
        use std::cell::Cell;
        thread_local! {
            static MUL128: Cell<u64> = const { Cell::new(0) };
            static DIV128: Cell<u64> = const { Cell::new(0) };
            static MUL64: Cell<u64> = const { Cell::new(0) };
        }
        #[inline]
        pub fn mul64() {
            MUL64.with(|c| c.set(c.get() + 1));
        }
        #[inline]
        pub fn mul128() {
            MUL128.with(|c| c.set(c.get() + 1));
        }
        #[inline]
        pub fn div128() {
            DIV128.with(|c| c.set(c.get() + 1));
        }
        pub fn take() -> super::OpCounts {
            super::OpCounts {
                mul128: MUL128.with(|c| c.replace(0)),
                div128: DIV128.with(|c| c.replace(0)),
                mul64: MUL64.with(|c| c.replace(0)),
            }
        }
    }
    #[cfg(not(feature = "op-count"))]
    mod imp {
        #[inline(always)]
        pub fn mul128() {}
        #[inline(always)]
        pub fn div128() {}
        #[inline(always)]
        pub fn mul64() {}
        pub fn take() -> super::OpCounts {
            super::OpCounts::default()
        }
    }

    /// Operations since the last `take()` on this thread.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct OpCounts {
        pub mul128: u64,
        pub div128: u64,
        pub mul64: u64,
    }

    pub use imp::{div128, mul128, mul64, take};
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_limb_product_matches_fixed_at_the_edges() {
        let edges = [
            0,
            1,
            -1,
            2,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            1 << 32,
            -(1 << 32),
            (1 << 32) + 1,
            (1 << 31) - 1,
            -(1 << 31),
            1 << 62,
            -(1 << 62),
            0xffff_ffff,
            -0xffff_ffff,
        ];
        for a in edges {
            for b in edges {
                let (high, low) = widening_magnitude(a as u64, b as u64);
                assert_eq!(
                    (high as u128) << 64 | low as u128,
                    a as u64 as u128 * b as u64 as u128,
                    "{a} x {b} unsigned"
                );
                assert_eq!(limb_mul_wide(a, b), a as i128 * b as i128, "{a} x {b}");
                for slot in [
                    0i128,
                    -(1 << 100),
                    i128::MAX - (1 << 126),
                    i128::MIN + (1 << 126),
                ] {
                    let native = slot.wrapping_add(a as i128 * b as i128);
                    let limbs = Multiplicand::new(a).limb_sum(slot, Fx::from_bits(b));
                    assert_eq!(limbs, native, "{slot} + {a} x {b}");
                }
                let (x, y) = (Fx::from_bits(a), Fx::from_bits(b));
                assert_eq!(limb_mul(x, y), x.checked_mul(y), "{a} x {b}");
            }
        }
    }

    proptest! {
        #[test]
        fn the_limb_product_matches_i128_and_fixed(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(limb_mul_wide(a, b), a as i128 * b as i128);
            let slot = (a as i128) << 60;
            prop_assert_eq!(
                Multiplicand::new(a).limb_sum(slot, Fx::from_bits(b)),
                slot.wrapping_add(a as i128 * b as i128)
            );
            let (x, y) = (Fx::from_bits(a), Fx::from_bits(b));
            prop_assert_eq!(limb_mul(x, y), x.checked_mul(y));
        }

        #[test]
        fn small_products_match_fixed(a in -(1i64 << 40)..(1i64 << 40), b in -(1i64 << 40)..(1i64 << 40)) {
            let (x, y) = (Fx::from_bits(a), Fx::from_bits(b));
            prop_assert_eq!(limb_mul(x, y), x.checked_mul(y));
        }

        #[test]
        fn unsigned_division_matches_signed_division(bits in (i64::MIN + 1)..i64::MAX, d in 1u32..1000) {
            prop_assert_eq!(div_int(Fx::from_bits(bits), d), Fx::from_bits(bits) / d as i64);
            prop_assert_eq!(half(Fx::from_bits(bits)), Fx::from_bits(bits) / 2);
        }

        #[test]
        fn money_rounding_brackets_the_exact_product(amount in -(1i128 << 62)..(1i128 << 62), bits in any::<i64>()) {
            let f = Fx::from_bits(bits);
            let exact = amount * bits as i128; // exact value x 2^32
            let floor = money_mul_floor(amount, f).unwrap();
            let ceil = money_mul_ceil(amount, f).unwrap();
            prop_assert!(floor << FRAC_BITS <= exact && exact < (floor + 1) << FRAC_BITS);
            prop_assert!(ceil << FRAC_BITS >= exact && exact > (ceil - 1) << FRAC_BITS);
        }
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(mul(Fx::MAX, Fx::from_num(2)), Err(RiskError::Overflow));
        assert_eq!(div(Fx::ONE, Fx::ZERO), Err(RiskError::Overflow));
        assert_eq!(add(Fx::MAX, Fx::ONE), Err(RiskError::Overflow));
        assert_eq!(to_i64(i128::from(i64::MAX) + 1), Err(RiskError::Overflow));
    }
}
