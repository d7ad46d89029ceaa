use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};
use xmargin_risk::fx::{fx_ratio, money_mul_ceil};
use xmargin_risk::liquidation::{health_at_end_level, position_for_end_level};
use xmargin_risk::portfolio::position_value;
use xmargin_risk::Fx;

use crate::error::{risk_error, XmarginError};
use crate::events::PositionLiquidated;
use crate::health::{Needs, RiskContext};
use crate::oracle::OracleUse;
use crate::state::{
    Clearinghouse, CollateralRegistry, MarginAccount, Market, BPS_DENOMINATOR, PAUSE_LIQUIDATE,
    QUOTE_ASSET,
};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidatePositionParams {
    pub series: u8,
    /// Most contracts the liquidator is willing to take in this step.
    pub max_quantity: u64,
}

#[derive(Accounts)]
pub struct LiquidatePosition<'info> {
    /// Owner or delegate of `liquidator_account`; anyone with a healthy account.
    pub liquidator: Signer<'info>,
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    #[account(mut)]
    pub liquidator_account: AccountLoader<'info, MarginAccount>,
    #[account(
        mut,
        constraint = target_account.key() != liquidator_account.key() @ XmarginError::DuplicateAccount
    )]
    pub target_account: AccountLoader<'info, MarginAccount>,
    #[account(mut)]
    pub quote_vault: Account<'info, TokenAccount>,
    #[account(mut, address = clearinghouse.insurance_vault @ XmarginError::WrongInsuranceVault)]
    pub insurance_vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    // remaining: the other markets and every oracle both accounts' checks need.
}

/// What one liquidation step moves, decided before any account changes.
struct Step {
    /// Contracts, signed as the target holds them.
    moved: i64,
    /// Their value at the target-adverse mark (signed like `moved`).
    value: i128,
    fee: u64,
    liquidator_fee: u64,
    insurance_fee: u64,
    maint_health_before: i64,
}

pub fn handler<'info>(
    ctx: Context<'info, LiquidatePosition<'info>>,
    params: LiquidatePositionParams,
) -> Result<()> {
    let clearinghouse = &ctx.accounts.clearinghouse;
    clearinghouse.require_not_paused(PAUSE_LIQUIDATE)?;
    require!(params.max_quantity > 0, XmarginError::ZeroAmount);
    let market_index = {
        let market = ctx.accounts.market.load()?;
        market.series(params.series)?;
        market.index
    };
    let needs = {
        let liquidator = ctx.accounts.liquidator_account.load()?;
        let target = ctx.accounts.target_account.load()?;
        require!(
            liquidator.is_owner_or_delegate(ctx.accounts.liquidator.key),
            XmarginError::NotAccountOwner
        );
        require_keys_neq!(
            liquidator.owner,
            target.owner,
            XmarginError::SelfLiquidation
        );
        require!(
            liquidator.allows_market(market_index),
            XmarginError::MarketNotAllowedInIsolatedMode
        );
        let mut needs = Needs::default();
        needs.add_account(&liquidator);
        needs.add_account(&target);
        needs.add_series(market_index, params.series);
        needs
    };
    let mut accounts = Vec::with_capacity(ctx.remaining_accounts.len() + 1);
    accounts.push(ctx.accounts.market.to_account_info());
    accounts.extend(ctx.remaining_accounts.iter().cloned());
    let risk = {
        let registry = ctx.accounts.collateral_registry.load()?;
        require_keys_eq!(
            ctx.accounts.quote_vault.key(),
            registry.asset(QUOTE_ASSET)?.vault,
            XmarginError::WrongVault
        );
        RiskContext::load(
            clearinghouse,
            &registry,
            &accounts,
            &needs,
            OracleUse::OpenRisk,
            &Clock::get()?,
        )?
    };
    {
        let mut target = ctx.accounts.target_account.load_mut()?;
        risk.settle_funding(&mut target, None)?;
        let mut liquidator = ctx.accounts.liquidator_account.load_mut()?;
        risk.settle_funding(&mut liquidator, Some((market_index, params.series)))?;
    }
    let end_fraction = Fx::from_bits(clearinghouse.liquidation_end_fraction_bits);
    let step = plan_step(
        &risk,
        &*ctx.accounts.target_account.load()?,
        clearinghouse,
        (market_index, params.series),
        params.max_quantity,
    )?;

    {
        let mut target = ctx.accounts.target_account.load_mut()?;
        let mut liquidator = ctx.accounts.liquidator_account.load_mut()?;
        let target_fill =
            target.apply_value_fill(market_index, params.series, -step.moved, -step.value)?;
        target.add_quote(-(step.fee as i64))?;
        let liquidator_fill =
            liquidator.apply_value_fill(market_index, params.series, step.moved, step.value)?;
        liquidator.add_quote(step.liquidator_fee as i64)?;
        let mut market = ctx.accounts.market.load_mut()?;
        let series = market.series_mut(params.series)?;
        series.record_fill(&target_fill, -step.moved)?;
        series.record_fill(&liquidator_fill, step.moved)?;
        series.check_open_interest()?;
        let mut registry = ctx.accounts.collateral_registry.load_mut()?;
        let quote = registry.asset_mut(QUOTE_ASSET)?;
        quote.deposited = quote
            .deposited
            .checked_sub(step.insurance_fee)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
    }
    crate::vault::pay_from_vault(
        &ctx.accounts.token_program,
        &ctx.accounts.quote_vault,
        &ctx.accounts.insurance_vault.to_account_info(),
        &ctx.accounts.clearinghouse,
        step.insurance_fee,
    )?;

    let after = risk.health(&*ctx.accounts.target_account.load()?)?;
    let maint_health_after = after.maint_health();
    require!(
        maint_health_after > step.maint_health_before,
        XmarginError::LiquidationDidNotImproveHealth
    );
    let end_health_after = health_at_end_level(&after.report, end_fraction).map_err(risk_error)?;
    ctx.accounts.target_account.load_mut()?.being_liquidated = u8::from(end_health_after < 0);
    let liquidator_health = risk
        .health(&*ctx.accounts.liquidator_account.load()?)?
        .init_health;
    require!(
        liquidator_health >= 0,
        XmarginError::LiquidatorBelowInitialMargin
    );
    emit!(PositionLiquidated {
        target: ctx.accounts.target_account.key(),
        liquidator: ctx.accounts.liquidator_account.key(),
        market: market_index,
        series: params.series,
        quantity: step.moved,
        value: i64::try_from(step.value).map_err(|_| error!(XmarginError::MathOverflow))?,
        fee: step.fee,
        liquidator_fee: step.liquidator_fee,
        insurance_fee: step.insurance_fee,
        maint_health_before: step.maint_health_before,
        maint_health_after,
        end_health_after: i64::try_from(end_health_after).unwrap_or(i64::MIN),
    });
    Ok(())
}

/// Checks the target is liquidatable and sizes the step: the contracts that bring it to the
/// liquidation-end level (engine bisection), capped by the liquidator's maximum.
fn plan_step(
    risk: &RiskContext,
    target: &MarginAccount,
    clearinghouse: &Clearinghouse,
    key: (u8, u8),
    max_quantity: u64,
) -> Result<Step> {
    let end_fraction = Fx::from_bits(clearinghouse.liquidation_end_fraction_bits);
    let discount = fx_ratio(
        clearinghouse.liquidation_fee_bps as i64,
        BPS_DENOMINATOR as i64,
    );
    let before = risk.health(target)?;
    let maint_health_before = before.maint_health();
    let end_before = health_at_end_level(&before.report, end_fraction).map_err(risk_error)?;
    require!(
        maint_health_before < 0 || (target.being_liquidated != 0 && end_before < 0),
        XmarginError::NotLiquidatable
    );
    let view = risk.view(target)?;
    let index = view
        .keys
        .iter()
        .position(|k| *k == key)
        .ok_or_else(|| error!(XmarginError::NoPosition))?;
    let priced = &view.positions[index];
    let held = priced.position.size.unsigned_abs();
    let needed = position_for_end_level(
        risk.engine(),
        &view.collateral,
        &view.positions,
        0,
        index,
        discount,
        end_fraction,
    )
    .map_err(risk_error)?;
    let quantity = needed.unwrap_or(held).min(max_quantity);
    let moved = i64::try_from(quantity).map_err(|_| error!(XmarginError::MathOverflow))?;
    let moved = if priced.position.size > 0 {
        moved
    } else {
        -moved
    };
    let (_, notional) = risk
        .engine()
        .notional(&xmargin_risk::Position {
            size: moved,
            ..priced.position
        })
        .map_err(risk_error)?;
    let value = position_value(notional, &priced.risk).map_err(risk_error)?;
    let fee = money_mul_ceil(notional.abs(), discount).map_err(risk_error)?;
    let fee = u64::try_from(fee).map_err(|_| error!(XmarginError::MathOverflow))?;
    let liquidator_fee = (fee as u128 * clearinghouse.liquidator_fee_share_bps as u128
        / BPS_DENOMINATOR as u128) as u64;
    Ok(Step {
        moved,
        value,
        fee,
        liquidator_fee,
        insurance_fee: fee - liquidator_fee,
        maint_health_before,
    })
}
