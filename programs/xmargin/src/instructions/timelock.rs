//! Changes larger than a step (`governance`): queued by the role that owns the parameter,
//! executed by anyone once `timelock_secs` have passed (within the execution window),
//! cancelable by the proposer or the role's holder until then.
use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::{ChangeCancelled, ChangeExecuted, ChangeQueued, LiquidationParamsUpdated};
use crate::governance::{is_executable, ExecutionRefusal};
use crate::instructions::{
    update_collateral_asset, update_market_risk, update_risk_params, update_vol_surface,
    UpdateCollateralAssetParams, UpdateRiskParamsParams,
};
use crate::state::{
    Clearinghouse, CollateralRegistry, Market, Role, StoredVolSurface, UnderlyingRisk, QUOTE_ASSET,
};

/// The liquidation fee and how far a liquidation goes; changed only through the timelock.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LiquidationParams {
    pub liquidation_fee_bps: u16,
    pub liquidation_end_fraction_bits: i64,
    pub liquidator_fee_share_bps: u16,
}

/// A change waiting in the timelock.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RiskChange {
    MarketRisk {
        market: u8,
        risk: UnderlyingRisk,
    },
    VolSurface {
        market: u8,
        surface: StoredVolSurface,
    },
    RiskParams(UpdateRiskParamsParams),
    CollateralAsset(UpdateCollateralAssetParams),
    Liquidation(LiquidationParams),
    Timelock {
        secs: u32,
    },
}

impl RiskChange {
    /// The role that owns the parameter: it queues and may cancel.
    pub fn role(&self) -> Role {
        match self {
            RiskChange::MarketRisk { .. }
            | RiskChange::VolSurface { .. }
            | RiskChange::RiskParams(_) => Role::RiskAuthority,
            RiskChange::CollateralAsset(_)
            | RiskChange::Liquidation(_)
            | RiskChange::Timelock { .. } => Role::Admin,
        }
    }

    /// What can be checked without the target's accounts (the rest is checked on execution).
    pub fn validate(&self, clearinghouse: &Clearinghouse) -> Result<()> {
        match self {
            RiskChange::MarketRisk { market, .. } | RiskChange::VolSurface { market, .. } => {
                require!(
                    *market < clearinghouse.market_count,
                    XmarginError::InvalidParameter
                );
                Ok(())
            }
            RiskChange::RiskParams(params) => params.validate(),
            RiskChange::CollateralAsset(params) => params.weights.validate(),
            RiskChange::Liquidation(params) => {
                Clearinghouse::validate_fees(
                    clearinghouse.taker_fee_bps,
                    clearinghouse.maker_fee_bps,
                    params.liquidation_fee_bps,
                )?;
                Clearinghouse::validate_liquidation(
                    params.liquidation_end_fraction_bits,
                    params.liquidator_fee_share_bps,
                )
            }
            RiskChange::Timelock { secs } => Clearinghouse::validate_timelock(*secs),
        }
    }
}

/// PDA `["change", id]`: one queued change.
#[account]
#[derive(Debug, PartialEq, Eq)]
pub struct PendingChange {
    pub id: u64,
    pub proposer: Pubkey,
    pub queued_at: i64,
    pub executable_at: i64,
    pub change: RiskChange,
}

impl PendingChange {
    pub const SEED: &'static [u8] = b"change";
    /// Discriminator, fixed fields and the largest change (a market's risk) with room to spare.
    pub const SPACE: usize =
        8 + 8 + 32 + 8 + 8 + 1 + 1 + core::mem::size_of::<UnderlyingRisk>() + 64;
}

#[derive(Accounts)]
pub struct QueueChange<'info> {
    #[account(mut)]
    pub proposer: Signer<'info>,
    #[account(mut)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(
        init,
        payer = proposer,
        space = PendingChange::SPACE,
        seeds = [PendingChange::SEED, &clearinghouse.changes_queued.to_le_bytes()],
        bump
    )]
    pub pending_change: Account<'info, PendingChange>,
    pub system_program: Program<'info, System>,
}

pub fn queue(ctx: Context<QueueChange>, change: RiskChange) -> Result<()> {
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    let proposer = ctx.accounts.proposer.key();
    require_keys_eq!(
        proposer,
        clearinghouse.holder(change.role()),
        XmarginError::Unauthorized
    );
    change.validate(clearinghouse)?;
    let now = Clock::get()?.unix_timestamp;
    let executable_at = now
        .checked_add(clearinghouse.timelock_secs as i64)
        .ok_or_else(|| error!(XmarginError::MathOverflow))?;
    let id = clearinghouse.changes_queued;
    clearinghouse.changes_queued = id
        .checked_add(1)
        .ok_or_else(|| error!(XmarginError::MathOverflow))?;
    ctx.accounts.pending_change.set_inner(PendingChange {
        id,
        proposer,
        queued_at: now,
        executable_at,
        change: change.clone(),
    });
    crate::emit_event!(ChangeQueued {
        id,
        proposer,
        executable_at,
        change,
    });
    Ok(())
}

#[derive(Accounts)]
pub struct ExecuteChange<'info> {
    #[account(mut)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, close = proposer, has_one = proposer @ XmarginError::ChangeTargetMismatch)]
    pub pending_change: Account<'info, PendingChange>,
    /// CHECK: only receives the pending change's rent back (`has_one` above).
    #[account(mut)]
    pub proposer: UncheckedAccount<'info>,
    /// The market of a market-risk or surface change.
    #[account(mut)]
    pub market: Option<AccountLoader<'info, Market>>,
    /// The registry, for a collateral or liquidation change.
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: Option<AccountLoader<'info, CollateralRegistry>>,
}

/// Anyone applies a queued change once its delay has passed.
pub fn execute(ctx: Context<ExecuteChange>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let pending = &ctx.accounts.pending_change;
    is_executable(pending.executable_at, now).map_err(|refusal| match refusal {
        ExecutionRefusal::TooEarly => error!(XmarginError::ChangeNotYetExecutable),
        ExecutionRefusal::Expired => error!(XmarginError::ChangeExpired),
    })?;
    let change = pending.change.clone();
    let id = pending.id;
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    match &change {
        RiskChange::MarketRisk { market, risk } => {
            let mut market = load_market(&ctx.accounts.market, *market)?;
            update_market_risk::apply(&mut market, *risk, now)?;
            market.rebase_risk(now);
        }
        RiskChange::VolSurface { market, surface } => {
            let mut market = load_market(&ctx.accounts.market, *market)?;
            update_vol_surface::apply(&mut market, *surface, now)?;
            market.rebase_surface(now);
        }
        RiskChange::RiskParams(params) => {
            update_risk_params::apply(clearinghouse, *params, now)?;
            update_risk_params::rebase(clearinghouse, now);
        }
        RiskChange::CollateralAsset(params) => {
            let mut registry = load_registry(&ctx.accounts.collateral_registry)?;
            let asset = registry.asset_mut(params.index)?;
            update_collateral_asset::apply(asset, params, clearinghouse.liquidation_fee_bps, now)?;
            asset.rebase(now);
        }
        RiskChange::Liquidation(params) => {
            change.validate(clearinghouse)?;
            let registry = load_registry(&ctx.accounts.collateral_registry)?;
            for (index, asset) in registry.assets[..registry.asset_count as usize]
                .iter()
                .enumerate()
            {
                if index != QUOTE_ASSET as usize {
                    asset
                        .weights
                        .check_liquidatable(params.liquidation_fee_bps)?;
                }
            }
            clearinghouse.liquidation_fee_bps = params.liquidation_fee_bps;
            clearinghouse.liquidation_end_fraction_bits = params.liquidation_end_fraction_bits;
            clearinghouse.liquidator_fee_share_bps = params.liquidator_fee_share_bps;
            crate::emit_event!(LiquidationParamsUpdated { params: *params });
        }
        RiskChange::Timelock { secs } => {
            Clearinghouse::validate_timelock(*secs)?;
            clearinghouse.timelock_secs = *secs;
        }
    }
    crate::emit_event!(ChangeExecuted { id });
    Ok(())
}

fn load_market<'a>(
    market: &'a Option<AccountLoader<'_, Market>>,
    index: u8,
) -> Result<std::cell::RefMut<'a, Market>> {
    let market = market
        .as_ref()
        .ok_or_else(|| error!(XmarginError::ChangeTargetMismatch))?
        .load_mut()?;
    require!(market.index == index, XmarginError::ChangeTargetMismatch);
    Ok(market)
}

fn load_registry<'a>(
    registry: &'a Option<AccountLoader<'_, CollateralRegistry>>,
) -> Result<std::cell::RefMut<'a, CollateralRegistry>> {
    registry
        .as_ref()
        .ok_or_else(|| error!(XmarginError::ChangeTargetMismatch))?
        .load_mut()
}

#[derive(Accounts)]
pub struct CancelChange<'info> {
    pub signer: Signer<'info>,
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, close = proposer, has_one = proposer @ XmarginError::ChangeTargetMismatch)]
    pub pending_change: Account<'info, PendingChange>,
    /// CHECK: only receives the pending change's rent back (`has_one` above).
    #[account(mut)]
    pub proposer: UncheckedAccount<'info>,
}

/// The proposer, whoever holds the role now, or the admin (a compromised risk authority's
/// changes can be stopped without waiting for a hand-over) withdraws a queued change.
pub fn cancel(ctx: Context<CancelChange>) -> Result<()> {
    let signer = ctx.accounts.signer.key();
    let pending = &ctx.accounts.pending_change;
    let clearinghouse = &ctx.accounts.clearinghouse;
    require!(
        signer == pending.proposer
            || signer == clearinghouse.holder(pending.change.role())
            || signer == clearinghouse.admin,
        XmarginError::Unauthorized
    );
    crate::emit_event!(ChangeCancelled {
        id: pending.id,
        by: signer,
    });
    Ok(())
}
