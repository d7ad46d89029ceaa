//! Pyth adapters (legacy push accounts and pull-oracle `PriceUpdateV2`) and validity by action.
//!
//! A price is read once into `OraclePrice`, then judged against the guard of the action using
//! it: opening risk needs the strict guard, reducing risk the tolerant one. An invalid price is
//! an error, never a zero: liabilities cannot vanish behind a bad oracle. The one exception is
//! collateral (an asset, never a liability) under `Liquidate`: its value may only fall, so a
//! halted feed prices it low or at zero instead of blocking the account's liquidation.
use anchor_lang::prelude::*;
use pyth_sdk_solana::state::{load_price_account, PriceStatus, SolanaPriceAccount};
use pyth_solana_receiver_sdk::price_update::{PriceUpdateV2, VerificationLevel};
use xmargin_risk::fx::mul_u64_wide;
use xmargin_risk::Fx;

use crate::error::XmarginError;
use crate::state::{OracleGuard, OracleKind, BPS_DENOMINATOR};

/// Owner of Pyth legacy price accounts (Solana mainnet).
pub const PYTH_LEGACY_PROGRAM_ID: Pubkey = pubkey!("FsJ3A3u2vn5cTVofAjvy6y5kwABJAqYWpe4975bi2epH");
/// Owner of `PriceUpdateV2` accounts: the Pyth Solana receiver.
pub const PYTH_RECEIVER_PROGRAM_ID: Pubkey = pyth_solana_receiver_sdk::ID;

/// Which guard an action must pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OracleUse {
    /// Adds risk: strict freshness and confidence.
    OpenRisk,
    /// Only reduces risk (or withdraws from an account without positions or debt): tolerant
    /// guard.
    ReduceRisk,
    /// A liquidation or bankruptcy: markets strict; a collateral asset at its strict price,
    /// else at the low end of its tolerant price, else at zero (`CollateralPricing`).
    Liquidate,
}

/// How a collateral asset was priced for a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollateralPricing {
    /// The action's guard held.
    Valid,
    /// `Liquidate` only: the strict guard failed, the tolerant one held; priced at the low end.
    Low,
    /// `Liquidate` only: no guard held; valued at zero.
    Zero,
}

impl OracleUse {
    /// A check of `account` alone (withdrawal, health view): strict prices when it holds
    /// positions or owes quote (a stale price could overvalue what backs the debt), tolerant
    /// ones for collateral alone.
    pub fn for_account(account: &crate::state::MarginAccount) -> Self {
        if account.has_positions() || account.quote_balance() < 0 {
            Self::OpenRisk
        } else {
            Self::ReduceRisk
        }
    }
}

/// A price as published: `price x 10^expo` per unit of the asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OraclePrice {
    pub price: i64,
    pub conf: u64,
    pub expo: i32,
    pub ema_price: i64,
    pub publish_time: i64,
    pub slot: u64,
}

/// Reads `account` as an oracle of `kind` carrying `feed_id` (pull oracles). Callers find the
/// account by its registered address, so a foreign account is never read.
pub fn read_oracle(
    account: &AccountInfo,
    kind: OracleKind,
    feed_id: &[u8; 32],
) -> Result<OraclePrice> {
    parse_oracle(account.owner, &account.try_borrow_data()?, kind, feed_id)
}

/// An oracle account's price from its owner and data: what the program reads on chain, and the
/// SDK and keeper read from fetched accounts.
pub fn parse_oracle(
    owner: &Pubkey,
    data: &[u8],
    kind: OracleKind,
    feed_id: &[u8; 32],
) -> Result<OraclePrice> {
    match kind {
        OracleKind::PythLegacy => parse_legacy(owner, data),
        OracleKind::PythPull => parse_pull(owner, data, feed_id),
        OracleKind::None => err!(XmarginError::OracleInvalid),
    }
}

fn parse_legacy(owner: &Pubkey, data: &[u8]) -> Result<OraclePrice> {
    require_keys_eq!(
        *owner,
        PYTH_LEGACY_PROGRAM_ID,
        XmarginError::OracleWrongOwner
    );
    let price_account =
        load_price_account::<32, ()>(data).map_err(|_| error!(XmarginError::OracleInvalid))?;
    let price_account: &SolanaPriceAccount = price_account;
    require!(
        price_account.agg.status == PriceStatus::Trading,
        XmarginError::OracleNotTrading
    );
    Ok(OraclePrice {
        price: price_account.agg.price,
        conf: price_account.agg.conf,
        expo: price_account.expo,
        ema_price: price_account.ema_price.val,
        publish_time: price_account.timestamp,
        slot: price_account.agg.pub_slot,
    })
}

fn parse_pull(owner: &Pubkey, data: &[u8], feed_id: &[u8; 32]) -> Result<OraclePrice> {
    require_keys_eq!(
        *owner,
        PYTH_RECEIVER_PROGRAM_ID,
        XmarginError::OracleWrongOwner
    );
    let update = PriceUpdateV2::try_deserialize(&mut &data[..])
        .map_err(|_| error!(XmarginError::OracleInvalid))?;
    require!(
        update.verification_level == VerificationLevel::Full,
        XmarginError::OracleNotVerified
    );
    let message = &update.price_message;
    require!(
        message.feed_id == *feed_id,
        XmarginError::OracleFeedMismatch
    );
    Ok(OraclePrice {
        price: message.price,
        conf: message.conf,
        expo: message.exponent,
        ema_price: message.ema_price,
        publish_time: message.publish_time,
        slot: update.posted_slot,
    })
}

impl OraclePrice {
    /// Positive, fresh in seconds and slots, and tight enough for the guard.
    pub fn check(&self, guard: &OracleGuard, clock: &Clock) -> Result<()> {
        require!(self.price > 0, XmarginError::OracleInvalid);
        let age_secs = clock.unix_timestamp.saturating_sub(self.publish_time);
        let age_slots = clock.slot.saturating_sub(self.slot);
        require!(
            age_secs <= guard.max_age_secs as i64 && age_slots <= guard.max_age_slots as u64,
            XmarginError::OracleStale
        );
        self.check_at_publish(guard)
    }

    /// `check` without the age: whether the price was valid when published (a settlement
    /// price is judged at its publish time, however late it is presented).
    pub fn check_at_publish(&self, guard: &OracleGuard) -> Result<()> {
        require!(self.price > 0, XmarginError::OracleInvalid);
        // Price > 0 (above): both 64 x 64 -> 128-bit products (limbs on SBF).
        let conf_scaled = mul_u64_wide(self.conf, BPS_DENOMINATOR.into());
        let allowed = mul_u64_wide(self.price as u64, guard.max_conf_bps as u64);
        require!(
            conf_scaled <= allowed,
            XmarginError::OracleConfidenceTooWide
        );
        Ok(())
    }

    /// The low end of what the price may be: min(price, ema) - conf, never below zero.
    pub fn low(&self) -> i64 {
        self.price
            .min(self.ema_price.max(0))
            .saturating_sub(self.conf.min(i64::MAX as u64) as i64)
            .max(0)
    }

    /// Relative width of the band the initial check must survive:
    /// max(conf, |price - ema|) / price, rounded up.
    pub fn band(&self) -> Result<Fx> {
        let gap = self.price.abs_diff(self.ema_price).max(self.conf);
        let price = self.price.max(1) as u64;
        // A 64-bit division when the shifted gap fits (always, in practice): a 128-bit one is
        // a long library routine on SBF.
        let bits = if gap < 1 << 31 {
            ((gap << 32).div_ceil(price)) as u128
        } else {
            ((gap as u128) << 32).div_ceil(price as u128)
        };
        let bits = i64::try_from(bits).map_err(|_| error!(XmarginError::MathOverflow))?;
        Ok(Fx::from_bits(bits))
    }
}

/// `mantissa x 10^exponent` as I32F32 bits, rounded down.
pub fn scaled_fx_floor(mantissa: i64, exponent: i32) -> Result<Fx> {
    let bits = scale_pow10_floor((mantissa as i128) << 32, exponent)?;
    Ok(Fx::from_bits(
        i64::try_from(bits).map_err(|_| error!(XmarginError::MathOverflow))?,
    ))
}

/// `value x 10^exponent`, rounded down.
pub fn scale_pow10_floor(value: i128, exponent: i32) -> Result<i128> {
    let power = pow10(exponent.unsigned_abs())?;
    if exponent >= 0 {
        return value
            .checked_mul(power)
            .ok_or_else(|| error!(XmarginError::MathOverflow));
    }
    // Non-negative (prices, in practice): 64-bit divisions, where the signed 128-bit one is a
    // long library routine on SBF. Floor equals truncation here.
    match (u128::try_from(value), u64::try_from(power)) {
        (Ok(value), Ok(power)) => match divide_by_u64(value, power) {
            Some(quotient) => Ok(quotient as i128),
            None => Ok(value as i128 / power as i128),
        },
        _ => Ok(value.div_euclid(power)),
    }
}

/// `value / divisor` rounded down, by long division in 64-bit steps: each step brings in as
/// many bits of `value` as fit beside a remainder (below `divisor`). None when `divisor`
/// leaves fewer than 8 bits per step (above 2^56) or is 0.
fn divide_by_u64(value: u128, divisor: u64) -> Option<u128> {
    if divisor == 0 {
        return None;
    }
    let low = value as u64;
    let high = (value >> 64) as u64;
    if high == 0 {
        return Some((low / divisor) as u128);
    }
    // Bits a remainder (< divisor) can be shifted by without leaving 64 bits.
    let room = divisor.leading_zeros();
    if room < 8 {
        return None;
    }
    let mut remainder = high % divisor;
    let mut quotient_low: u64 = 0;
    let mut left = 64u32;
    while left > 0 {
        let take = room.min(left);
        left -= take;
        let chunk = (low >> left) & ((1u64 << take) - 1);
        let current = (remainder << take) | chunk;
        quotient_low = (quotient_low << take) | (current / divisor);
        remainder = current % divisor;
    }
    Some(((high / divisor) as u128) << 64 | quotient_low as u128)
}

/// 10^k, from a table where it fits 64 bits (no 128-bit multiplies on the hot path).
fn pow10(k: u32) -> Result<i128> {
    const POW10: [u64; 20] = {
        let mut table = [1u64; 20];
        let mut k = 1;
        while k < 20 {
            table[k] = table[k - 1] * 10;
            k += 1;
        }
        table
    };
    match POW10.get(k as usize) {
        Some(power) => Ok(*power as i128),
        None => 10i128
            .checked_pow(k)
            .ok_or_else(|| error!(XmarginError::MathOverflow)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_division_matches_the_128_bit_division() {
        // xorshift: 20,000 values and divisors of every width.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let value = (next() as u128) << 64 | next() as u128;
            let value = value >> (next() % 128);
            let divisor = (next() >> (next() % 64)).max(1);
            let expected = if divisor.leading_zeros() >= 8 || value >> 64 == 0 {
                Some(value / divisor as u128)
            } else {
                None
            };
            assert_eq!(
                divide_by_u64(value, divisor),
                expected,
                "{value} / {divisor}"
            );
        }
    }

    fn oracle(price: i64, conf: u64) -> OraclePrice {
        OraclePrice {
            price,
            conf,
            expo: -8,
            ema_price: price,
            publish_time: 0,
            slot: 0,
        }
    }

    #[test]
    fn the_confidence_bound_is_exact_at_the_full_range() {
        let guard = OracleGuard {
            max_age_secs: 60,
            max_age_slots: 100,
            max_conf_bps: 10_000,
        };
        let clock = Clock::default();
        // conf x 10,000 against price x max_conf_bps, both beyond 64 bits here.
        let price = i64::MAX;
        assert!(oracle(price, price as u64).check(&guard, &clock).is_ok());
        assert!(oracle(price, price as u64 + 1)
            .check(&guard, &clock)
            .is_err());
        assert!(oracle(price, u64::MAX).check(&guard, &clock).is_err());
        let tight = OracleGuard {
            max_conf_bps: 100,
            ..guard
        };
        assert!(oracle(10_000, 100).check(&tight, &clock).is_ok());
        assert!(oracle(10_000, 101).check(&tight, &clock).is_err());
        assert!(oracle(0, 0).check(&tight, &clock).is_err());
        assert!(oracle(-5, 0).check(&tight, &clock).is_err());
    }

    #[test]
    fn a_spot_needs_a_positive_price_and_is_exact_at_the_full_range() {
        use crate::health::spot_per_contract;
        use crate::state::Market;
        let mut market: Market = bytemuck::Zeroable::zeroed();
        // price x contract_size x 10^(expo + 6) = product / 100. A product past 64 bits whose
        // spot fits: 10^17 x 10^4 / 100 = 10^19.
        market.contract_size = 10_000;
        assert_eq!(
            spot_per_contract(&oracle(100_000_000_000_000_000, 0), &market, 6),
            Ok(10_000_000_000_000_000_000)
        );
        // The largest product (2^63 x 2^64) is exact but its spot is past u64.
        market.contract_size = u64::MAX;
        assert_eq!(
            spot_per_contract(&oracle(i64::MAX, 0), &market, 6),
            Err(error!(XmarginError::MathOverflow))
        );
        market.contract_size = 1_000;
        assert_eq!(
            spot_per_contract(&oracle(15_000_000_000, 0), &market, 6),
            Ok(150_000_000_000)
        );
        for price in [0, -1, i64::MIN] {
            assert_eq!(
                spot_per_contract(&oracle(price, 0), &market, 6),
                Err(error!(XmarginError::OracleInvalid))
            );
        }
    }

    #[test]
    fn long_division_edges() {
        assert_eq!(divide_by_u64(u128::MAX, 1), Some(u128::MAX));
        assert_eq!(divide_by_u64(u128::MAX, 1 << 55), Some(u128::MAX >> 55));
        assert_eq!(divide_by_u64(u128::MAX, 1 << 56), None);
        assert_eq!(divide_by_u64(5, 0), None);
        let price = (15_000_000_000i128) << 32;
        assert_eq!(
            scale_pow10_floor(price, -11).unwrap(),
            price / 100_000_000_000
        );
    }

    #[test]
    fn scaling_by_powers_of_ten_rounds_down_on_every_path() {
        for (value, exponent) in [
            (0i128, 0i32),
            (1_234_567_891i128, -3),
            (-1_234_567_891, -3),
            (i64::MAX as i128 * 8, -7),
            (u64::MAX as i128 + 5, -1),
            (-(1i128 << 100), -30),
            (987, 0),
            (-987, 4),
            (5, -25),
        ] {
            let power = 10i128.pow(exponent.unsigned_abs());
            let expected = if exponent >= 0 {
                value * power
            } else {
                value.div_euclid(power)
            };
            assert_eq!(
                scale_pow10_floor(value, exponent).unwrap(),
                expected,
                "{value} {exponent}"
            );
        }
        assert!(scale_pow10_floor(1, 39).is_err());
        assert!(scale_pow10_floor(i128::MAX / 2, 1).is_err());
    }

    #[test]
    fn the_band_is_rounded_up_for_narrow_and_wide_gaps() {
        for (price, ema, conf) in [
            (15_000_000_000i64, 14_900_000_000i64, 5_000_000u64),
            (3, 1, 0),
            (i64::MAX, 0, 1),
            (1_000, 1_000, 0),
        ] {
            let oracle = OraclePrice {
                price,
                conf,
                expo: -8,
                ema_price: ema,
                publish_time: 0,
                slot: 0,
            };
            let gap = price.abs_diff(ema).max(conf) as u128;
            let expected = (gap << 32).div_ceil(price as u128);
            assert_eq!(
                oracle.band().ok().map(|b| b.to_bits() as u128),
                i64::try_from(expected).ok().map(|b| b as u128)
            );
        }
    }
}
