//! Collateral valuation with haircuts. Assets are rounded down, liabilities up.
use crate::error::{RiskError, RiskResult};
use crate::fx::{money_mul_ceil, money_mul_floor, Fx};
use crate::model::Collateral;

/// Which weights to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Initial,
    Maintenance,
}

/// Unweighted value in quote-native units (floor for assets, ceil for liabilities).
pub fn market_value(c: &Collateral) -> RiskResult<i128> {
    let amount = c.amount as i128;
    if amount >= 0 {
        money_mul_floor(amount, c.price)
    } else {
        money_mul_ceil(amount, c.price)
    }
}

/// Weighted value: the asset weight applies in full up to `liquidity_depth`; above it the
/// weighted value grows like sqrt(value x depth), so each extra unit of a large deposit counts
/// for less (continuous, increasing, concave). Liabilities are scaled up by the liability weight.
pub fn weighted_value(c: &Collateral, level: Level) -> RiskResult<i128> {
    let [maintenance, initial] = weighted_values(c)?;
    Ok(match level {
        Level::Maintenance => maintenance,
        Level::Initial => initial,
    })
}

/// [maintenance, initial] weighted values, sharing the validation and the liquidity square root.
pub fn weighted_values(c: &Collateral) -> RiskResult<[i128; 2]> {
    c.validate()?;
    let value = market_value(c)?;
    if value < 0 {
        return Ok([
            money_mul_floor(value, c.maint_liab_weight)?,
            money_mul_floor(value, c.init_liab_weight)?,
        ]);
    }
    let depth = c.liquidity_depth as i128;
    let effective = if depth == 0 || value <= depth {
        value
    } else {
        liquidity_capped(value, depth)?
    };
    Ok([
        money_mul_floor(effective, c.maint_asset_weight)?,
        money_mul_floor(effective, c.init_asset_weight)?,
    ])
}

fn liquidity_capped(value: i128, depth: i128) -> RiskResult<i128> {
    let product = u128::try_from(value)
        .ok()
        .and_then(|v| v.checked_mul(depth as u128))
        .ok_or(RiskError::Overflow)?;
    i128::try_from(crate::math::isqrt_u128(product)).map_err(|_| RiskError::Overflow)
}

/// Weight actually applied to a balance of this size (for display): weighted / value.
pub fn effective_weight(c: &Collateral, level: Level) -> RiskResult<Fx> {
    let value = market_value(c)?;
    if value == 0 {
        return Ok(match level {
            Level::Initial => c.init_asset_weight,
            Level::Maintenance => c.maint_asset_weight,
        });
    }
    let weighted = weighted_value(c, level)?;
    let bits = weighted
        .checked_mul(1 << crate::fx::FRAC_BITS)
        .and_then(|scaled| scaled.checked_div(value))
        .ok_or(RiskError::Overflow)?;
    i64::try_from(bits)
        .map(Fx::from_bits)
        .map_err(|_| RiskError::Overflow)
}
