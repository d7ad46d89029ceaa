use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::error::{positive_amount, XmarginError};
use crate::events::FeesWithdrawn;
use crate::state::{Clearinghouse, CollateralRegistry, QUOTE_ASSET};

/// At most a tenth of the free fees per withdrawal, and one withdrawal a day.
pub const MAX_FEE_WITHDRAWAL_FRACTION: u64 = 10;
pub const FEE_WITHDRAWAL_INTERVAL_SECS: i64 = 86_400;

#[derive(Accounts)]
pub struct WithdrawFees<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ XmarginError::Unauthorized)]
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

/// Pays trade fees the quote vault holds to a treasury: what the vault owes accounts is
/// untouched. Fees are the first buffer against bad debt, so at most a tenth of the fees not
/// already spent on unbacked debt, once a day (docs/security.md, "Roles and bounds").
pub fn handler(ctx: Context<WithdrawFees>, amount: u64) -> Result<()> {
    positive_amount(amount)?;
    let now = Clock::get()?.unix_timestamp;
    require!(
        now.saturating_sub(ctx.accounts.clearinghouse.last_fee_withdrawal)
            >= FEE_WITHDRAWAL_INTERVAL_SECS,
        XmarginError::FeesExceeded
    );
    let accrued = {
        let mut registry = ctx.accounts.collateral_registry.load_mut()?;
        let unbacked_debt = registry.unbacked_debt;
        let quote = registry.asset_mut(QUOTE_ASSET)?;
        quote.check_token_accounts(&ctx.accounts.vault.key(), &ctx.accounts.treasury.mint)?;
        let free = quote.fees_accrued.saturating_sub(unbacked_debt);
        require!(
            amount <= free / MAX_FEE_WITHDRAWAL_FRACTION,
            XmarginError::FeesExceeded
        );
        quote.fees_accrued -= amount;
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
    ctx.accounts.clearinghouse.last_fee_withdrawal = now;
    crate::emit_event!(FeesWithdrawn {
        amount,
        fees_accrued: accrued,
        treasury: ctx.accounts.treasury.key(),
    });
    Ok(())
}
