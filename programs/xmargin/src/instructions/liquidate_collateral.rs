use anchor_lang::prelude::*;
use xmargin_risk::fx::{money_mul_floor, mul, sub};
use xmargin_risk::liquidation::{collateral_discount, collateral_for_deficit};
use xmargin_risk::{Collateral, Fx};

use crate::error::{risk_error, XmarginError};
use crate::events::CollateralLiquidated;
use crate::health::CollateralView;
use crate::liquidation::*;
use crate::oracle::CollateralPricing;
use crate::state::{Clearinghouse, MarginAccount, QUOTE_ASSET};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidateCollateralParams {
    /// Registry index of the (non-quote) asset to take.
    pub asset: u8,
    /// Most native units the liquidator is willing to take in this step.
    pub max_amount: u64,
}

#[derive(Accounts)]
pub struct LiquidateCollateral<'info> {
    pub common: LiquidationAccounts<'info>,
    // remaining: every market and oracle both accounts' checks need.
}

/// What the step moves, decided before any account changes.
struct Step {
    amount: u64,
    /// Quote the liquidator pays into the target's debt.
    paid: u64,
    liquidator_fee: u64,
    insurance_fee: u64,
}

/// The liquidator takes a target's collateral at the oracle price minus the liquidation discount
/// (capped at half the asset's haircut: `collateral_discount`) and pays for it in quote, which
/// repays the target's quote debt. The discount is the fee: the liquidator keeps its share and
/// pays the insurance fund the rest.
pub fn handler<'info>(
    ctx: Context<'info, LiquidateCollateral<'info>>,
    params: LiquidateCollateralParams,
) -> Result<()> {
    require!(params.max_amount > 0, XmarginError::ZeroAmount);
    require!(params.asset != QUOTE_ASSET, XmarginError::InvalidParameter);
    let common = &ctx.accounts.common;
    let parties = common.parties(None, ctx.remaining_accounts)?;
    let (risk, before, evaluated) = parties.begin(&[], &[])?;
    // Valued low or at zero while its feed is stale (so the account can still be liquidated),
    // but sold only at a strict price.
    require!(
        risk.collateral_pricing(params.asset) == CollateralPricing::Valid,
        XmarginError::CollateralUnpriced
    );
    let step = plan_step(
        &evaluated.collateral,
        &*common.target_account.load()?,
        &common.clearinghouse,
        &params,
        -before.end_health,
    )?;
    {
        let amount = i64::try_from(step.amount).map_err(|_| error!(XmarginError::MathOverflow))?;
        let mut target = common.target_account.load_mut()?;
        let slot = target.balance_slot_mut(params.asset)?;
        slot.amount = slot
            .amount
            .checked_sub(amount)
            .ok_or_else(|| error!(XmarginError::InsufficientBalance))?;
        target.add_quote(step.paid as i64)?;
        target.release_empty_balances();
        let mut liquidator = common.liquidator_account.load_mut()?;
        let slot = liquidator.balance_slot_mut(params.asset)?;
        slot.amount = slot
            .amount
            .checked_add(amount)
            .ok_or_else(|| error!(XmarginError::AmountTooLarge))?;
        liquidator.add_quote(-((step.paid + step.insurance_fee) as i64))?;
    }
    common.pay_insurance(step.insurance_fee)?;
    let (maint_health_after, end_health_after) = parties.finish(&risk, &before, evaluated)?;
    crate::emit_event!(CollateralLiquidated {
        target: common.target_account.key(),
        liquidator: common.liquidator_account.key(),
        asset: params.asset,
        amount: step.amount,
        paid: step.paid,
        liquidator_fee: step.liquidator_fee,
        insurance_fee: step.insurance_fee,
        maint_health_before: before.maint_health,
        maint_health_after,
        end_health_after,
    });
    Ok(())
}

/// The smallest amount that brings the target to the liquidation-end level (closed form, then
/// bounded search in the engine), capped by what repays its debt and by the caller's maximum.
fn plan_step(
    collateral: &CollateralView,
    target: &MarginAccount,
    clearinghouse: &Clearinghouse,
    params: &LiquidateCollateralParams,
    deficit: i128,
) -> Result<Step> {
    let debt = target.quote_balance().min(0).unsigned_abs();
    require!(debt > 0, XmarginError::NoQuoteDebt);
    let position = collateral
        .assets
        .iter()
        .position(|asset| *asset == params.asset)
        .ok_or_else(|| error!(XmarginError::InsufficientBalance))?;
    let asset: Collateral = collateral.values[position];
    let held =
        u64::try_from(asset.amount).map_err(|_| error!(XmarginError::InsufficientBalance))?;
    require!(held > 0, XmarginError::InsufficientBalance);
    let discount = collateral_discount(discount(clearinghouse), asset.maint_asset_weight)
        .map_err(risk_error)?;
    let needed = collateral_for_deficit(&asset, deficit, discount).map_err(risk_error)?;
    let paid_per_unit =
        mul(asset.price, sub(Fx::ONE, discount).map_err(risk_error)?).map_err(risk_error)?;
    // Units whose payment repays at most the debt: floor(debt / paid_per_unit).
    let by_debt = ((debt as u128) << 32) / (paid_per_unit.to_bits().max(1) as u128);
    let amount = needed
        .unwrap_or(held)
        .min(held)
        .min(params.max_amount)
        .min(u64::try_from(by_debt).unwrap_or(u64::MAX));
    require!(amount > 0, XmarginError::ZeroAmount);
    let paid = money_mul_floor(amount as i128, paid_per_unit).map_err(risk_error)?;
    let value = money_mul_floor(amount as i128, asset.price).map_err(risk_error)?;
    let fee = u64::try_from(value - paid).map_err(|_| error!(XmarginError::MathOverflow))?;
    let (liquidator_fee, insurance_fee) = split_fee(clearinghouse, fee);
    Ok(Step {
        amount,
        paid: u64::try_from(paid).map_err(|_| error!(XmarginError::MathOverflow))?,
        liquidator_fee,
        insurance_fee,
    })
}
