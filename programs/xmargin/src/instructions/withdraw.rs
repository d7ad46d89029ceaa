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

/// Settles what the account owes or is owed (funding, socialized losses) first, then debits,
/// then checks initial margin with the same prices: the order every instruction follows.
pub fn handler<'info>(
    ctx: Context<'info, Withdraw<'info>>,
    asset_index: u8,
    amount: u64,
) -> Result<()> {
    ctx.accounts
        .clearinghouse
        .require_not_paused(PAUSE_WITHDRAW, Clock::get()?.unix_timestamp)?;
    let signed_amount = positive_amount(amount)?;
    let risk = settled_context(&ctx)?;
    let balance = {
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
        balance
    };
    // Without positions or debt nothing can be owed: no price is needed.
    let init_health = match risk {
        Some(risk) => {
            let health = risk.health(&*ctx.accounts.margin_account.load()?)?;
            require!(
                health.init_health >= 0,
                XmarginError::InsufficientFreeCollateral
            );
            i64::try_from(health.init_health).unwrap_or(i64::MAX)
        }
        None => 0,
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

/// For an account with positions or a quote debt: its prices (strict, `OracleUse::for_account`)
/// with its accruals settled into its balances. None for one holding collateral alone.
fn settled_context<'a, 'info>(
    ctx: &'a Context<'info, Withdraw<'info>>,
) -> Result<Option<RiskContext<'a>>> {
    let (needs, oracle_use) = {
        let account = ctx.accounts.margin_account.load()?;
        if !account.has_positions() && account.quote_balance() >= 0 {
            return Ok(None);
        }
        let mut needs = Needs::default();
        needs.add_account(&account);
        (needs, OracleUse::for_account(&account))
    };
    let risk = RiskContext::load(
        &ctx.accounts.clearinghouse,
        &*ctx.accounts.collateral_registry.load()?,
        None,
        ctx.remaining_accounts,
        &needs,
        oracle_use,
        &Clock::get()?,
    )?;
    risk.settle_accruals(&mut *ctx.accounts.margin_account.load_mut()?, &[])?;
    Ok(Some(risk))
}
