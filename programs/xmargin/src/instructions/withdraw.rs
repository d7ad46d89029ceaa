use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::error::{positive_amount, XmarginError};
use crate::events::Withdrawn;
use crate::health::{Needs, RiskContext};
use crate::oracle::OracleUse;
use crate::state::{Clearinghouse, CollateralRegistry, MarginAccount, PAUSE_WITHDRAW};

#[derive(Accounts)]
pub struct Withdraw<'info> {
    /// Only the owner: a delegate may trade but never move funds out.
    pub owner: Signer<'info>,
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut, has_one = owner @ XmarginError::NotAccountOwner)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
    #[account(mut)]
    pub vault: Account<'info, TokenAccount>,
    /// Anchor refuses the vault as its own destination (duplicate mutable `Account`s).
    #[account(mut)]
    pub destination: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    // remaining: the markets and oracles of the account's positions and collateral.
}

pub fn handler<'info>(
    ctx: Context<'info, Withdraw<'info>>,
    asset_index: u8,
    amount: u64,
) -> Result<()> {
    ctx.accounts
        .clearinghouse
        .require_not_paused(PAUSE_WITHDRAW)?;
    let signed_amount = positive_amount(amount)?;
    let (balance, needs_check) = {
        let mut registry = ctx.accounts.collateral_registry.load_mut()?;
        let asset = registry.asset_mut(asset_index)?;
        asset.check_token_accounts(&ctx.accounts.vault.key(), &ctx.accounts.destination.mint)?;
        asset.withdraw_from_vault(amount)?;
        let mut account = ctx.accounts.margin_account.load_mut()?;
        let slot = account
            .balance_of(asset_index)
            .copied()
            .ok_or_else(|| error!(XmarginError::InsufficientBalance))?;
        require!(
            slot.amount >= signed_amount,
            XmarginError::InsufficientBalance
        );
        let slot = account.balance_slot_mut(asset_index)?;
        slot.amount -= signed_amount;
        let balance = slot.amount;
        account.release_empty_balances();
        // Without positions or debt nothing can be owed: no price is needed.
        let needs_check = account.has_positions() || account.quote_balance() < 0;
        (balance, needs_check)
    };
    let init_health = if needs_check {
        check_initial_margin(&ctx)?
    } else {
        0
    };
    crate::vault::pay_from_vault(
        &ctx.accounts.token_program,
        &ctx.accounts.vault,
        &ctx.accounts.destination.to_account_info(),
        &ctx.accounts.clearinghouse,
        amount,
    )?;
    crate::emit_event!(Withdrawn {
        account: ctx.accounts.margin_account.key(),
        asset: asset_index,
        amount,
        balance,
        init_health,
    });
    Ok(())
}

/// Initial health after the withdrawal; an account with positions needs strict oracles, one
/// holding only collateral and quote debt the tolerant ones.
fn check_initial_margin<'info>(ctx: &Context<'info, Withdraw<'info>>) -> Result<i64> {
    let (needs, oracle_use) = {
        let account = ctx.accounts.margin_account.load()?;
        let mut needs = Needs::default();
        needs.add_account(&account);
        (needs, OracleUse::for_account(&account))
    };
    let registry = ctx.accounts.collateral_registry.load()?;
    let risk = RiskContext::load(
        &ctx.accounts.clearinghouse,
        &registry,
        None,
        ctx.remaining_accounts,
        &needs,
        oracle_use,
        &Clock::get()?,
    )?;
    let mut account = ctx.accounts.margin_account.load_mut()?;
    risk.settle_accruals(&mut account, None)?;
    let health = risk.health(&account)?;
    require!(
        health.init_health >= 0,
        XmarginError::InsufficientFreeCollateral
    );
    Ok(i64::try_from(health.init_health).unwrap_or(i64::MAX))
}
