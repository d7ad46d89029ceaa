use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::error::{positive_amount, XmarginError};
use crate::events::FeesWithdrawn;
use crate::state::{Clearinghouse, CollateralRegistry, QUOTE_ASSET};

#[derive(Accounts)]
pub struct WithdrawFees<'info> {
    pub admin: Signer<'info>,
    #[account(has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    /// The quote vault (checked against the registry).
    #[account(mut)]
    pub vault: Account<'info, TokenAccount>,
    /// Any quote token account: the treasury.
    #[account(mut)]
    pub treasury: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Pays trade fees the quote vault holds to a treasury, never more than accrued: what the
/// vault owes accounts is untouched (docs/security.md, "Roles and bounds").
pub fn handler(ctx: Context<WithdrawFees>, amount: u64) -> Result<()> {
    positive_amount(amount)?;
    let accrued = {
        let mut registry = ctx.accounts.collateral_registry.load_mut()?;
        let quote = registry.asset_mut(QUOTE_ASSET)?;
        quote.check_token_accounts(&ctx.accounts.vault.key(), &ctx.accounts.treasury.mint)?;
        quote.fees_accrued = quote
            .fees_accrued
            .checked_sub(amount)
            .ok_or_else(|| error!(XmarginError::FeesExceeded))?;
        // The fees are part of what the vault holds.
        quote.withdraw_from_vault(amount)?;
        quote.fees_accrued
    };
    crate::vault::pay_from_vault(
        &ctx.accounts.token_program,
        &ctx.accounts.vault,
        &ctx.accounts.treasury.to_account_info(),
        &ctx.accounts.clearinghouse,
        amount,
    )?;
    crate::emit_event!(FeesWithdrawn {
        amount,
        fees_accrued: accrued,
        treasury: ctx.accounts.treasury.key(),
    });
    Ok(())
}
