//! xmargin: one margin account, every kind of collateral, perps/futures/options on several
//! underlyings, margined as a portfolio by `xmargin-risk`.
//!
//! This module only routes instructions; each handler lives in `instructions/` with its accounts.
use anchor_lang::prelude::*;

pub mod bankruptcy;
pub mod error;
pub mod events;
pub mod governance;
pub mod health;
pub mod heap;
pub mod instructions;
pub mod liquidation;
pub mod market_oracle;
pub mod oracle;
pub mod state;
pub mod vault;

use instructions::*;
use market_oracle::*;
use state::{Role, StoredVolSurface, UnderlyingRisk};

declare_id!("CRNc2G47w4AqXa8ay95P97eH3sFQruNMypCsjkGTmjzQ");

#[program]
pub mod xmargin {
    use super::*;

    pub fn initialize(ctx: Context<Initialize>, params: InitializeParams) -> Result<()> {
        heap::reported(instructions::initialize::handler(ctx, params))
    }

    pub fn add_collateral_asset(
        ctx: Context<AddCollateralAsset>,
        params: AddCollateralAssetParams,
    ) -> Result<()> {
        heap::reported(instructions::add_collateral_asset::handler(ctx, params))
    }

    pub fn update_collateral_asset(
        ctx: Context<UpdateCollateralAsset>,
        params: UpdateCollateralAssetParams,
    ) -> Result<()> {
        heap::reported(instructions::update_collateral_asset::handler(ctx, params))
    }

    pub fn add_market(ctx: Context<AddMarket>, params: AddMarketParams) -> Result<()> {
        heap::reported(instructions::add_market::handler(ctx, params))
    }

    pub fn add_series(ctx: Context<AddSeries>, params: AddSeriesParams) -> Result<()> {
        heap::reported(instructions::add_series::handler(ctx, params))
    }

    pub fn update_vol_surface(
        ctx: Context<UpdateVolSurface>,
        surface: StoredVolSurface,
    ) -> Result<()> {
        heap::reported(instructions::update_vol_surface::handler(ctx, surface))
    }

    pub fn update_market_risk(ctx: Context<UpdateMarketRisk>, risk: UnderlyingRisk) -> Result<()> {
        heap::reported(instructions::update_market_risk::handler(ctx, risk))
    }

    pub fn update_risk_params(
        ctx: Context<UpdateRiskParams>,
        params: UpdateRiskParamsParams,
    ) -> Result<()> {
        heap::reported(instructions::update_risk_params::handler(ctx, params))
    }

    pub fn set_pause(ctx: Context<SetPause>, pause_flags: u8, duration_secs: u32) -> Result<()> {
        heap::reported(instructions::set_pause::handler(
            ctx,
            pause_flags,
            duration_secs,
        ))
    }

    pub fn queue_change(ctx: Context<QueueChange>, change: RiskChange) -> Result<()> {
        heap::reported(instructions::timelock::queue(ctx, change))
    }

    pub fn execute_change(ctx: Context<ExecuteChange>) -> Result<()> {
        heap::reported(instructions::timelock::execute(ctx))
    }

    pub fn cancel_change(ctx: Context<CancelChange>) -> Result<()> {
        heap::reported(instructions::timelock::cancel(ctx))
    }

    pub fn propose_role(ctx: Context<ProposeRole>, role: Role, proposed: Pubkey) -> Result<()> {
        heap::reported(instructions::transfer_role::propose(ctx, role, proposed))
    }

    pub fn accept_role(ctx: Context<AcceptRole>, role: Role) -> Result<()> {
        heap::reported(instructions::transfer_role::accept(ctx, role))
    }

    pub fn create_margin_account(
        ctx: Context<CreateMarginAccount>,
        id: u16,
        mode: u8,
        isolated_market: u8,
    ) -> Result<()> {
        heap::reported(instructions::create_margin_account::handler(
            ctx,
            id,
            mode,
            isolated_market,
        ))
    }

    pub fn close_margin_account(ctx: Context<CloseMarginAccount>) -> Result<()> {
        heap::reported(instructions::close_margin_account::handler(ctx))
    }

    pub fn set_delegate(ctx: Context<SetDelegate>, delegate: Pubkey) -> Result<()> {
        heap::reported(instructions::set_delegate::handler(ctx, delegate))
    }

    pub fn deposit(ctx: Context<Deposit>, asset_index: u8, amount: u64) -> Result<()> {
        heap::reported(instructions::deposit::handler(ctx, asset_index, amount))
    }

    pub fn withdraw<'info>(
        ctx: Context<'info, Withdraw<'info>>,
        asset_index: u8,
        amount: u64,
    ) -> Result<()> {
        heap::reported(instructions::withdraw::handler(ctx, asset_index, amount))
    }

    pub fn withdraw_fees(ctx: Context<WithdrawFees>, amount: u64) -> Result<()> {
        heap::reported(instructions::withdraw_fees::handler(ctx, amount))
    }

    pub fn create_insurance_fund(ctx: Context<CreateInsuranceFund>) -> Result<()> {
        heap::reported(instructions::create_insurance_fund::handler(ctx))
    }

    pub fn fund_insurance(ctx: Context<FundInsurance>, amount: u64) -> Result<()> {
        heap::reported(instructions::fund_insurance::handler(ctx, amount))
    }

    pub fn withdraw_insurance(ctx: Context<WithdrawInsurance>, amount: u64) -> Result<()> {
        heap::reported(instructions::withdraw_insurance::handler(ctx, amount))
    }

    pub fn liquidate_position<'info>(
        ctx: Context<'info, LiquidatePosition<'info>>,
        params: LiquidatePositionParams,
    ) -> Result<()> {
        heap::reported(instructions::liquidate_position::handler(ctx, params))
    }

    pub fn settle_expired_series(ctx: Context<MarketOracle>, series: u8) -> Result<()> {
        heap::reported(instructions::settle_expired_series::handler(ctx, series))
    }

    pub fn settle_position(ctx: Context<SettlePosition>, series: u8) -> Result<()> {
        heap::reported(instructions::settle_position::handler(ctx, series))
    }

    pub fn crank_funding(ctx: Context<MarketOracle>, series: u8) -> Result<()> {
        heap::reported(instructions::crank_funding::handler(ctx, series))
    }

    pub fn create_risk_cache(ctx: Context<CreateRiskCache>) -> Result<()> {
        heap::reported(instructions::create_risk_cache::handler(ctx))
    }

    pub fn refresh_risk_cache(ctx: Context<RefreshRiskCache>, first: u8, count: u8) -> Result<()> {
        heap::reported(instructions::refresh_risk_cache::handler(ctx, first, count))
    }

    pub fn liquidate_collateral<'info>(
        ctx: Context<'info, LiquidateCollateral<'info>>,
        params: LiquidateCollateralParams,
    ) -> Result<()> {
        heap::reported(instructions::liquidate_collateral::handler(ctx, params))
    }

    pub fn resolve_bankruptcy<'info>(ctx: Context<'info, ResolveBankruptcy<'info>>) -> Result<()> {
        heap::reported(instructions::resolve_bankruptcy::handler(ctx))
    }

    pub fn clear_trade<'info>(
        ctx: Context<'info, ClearTrade<'info>>,
        params: ClearTradeParams,
    ) -> Result<()> {
        heap::reported(instructions::clear_trade::handler(ctx, params))
    }
}
