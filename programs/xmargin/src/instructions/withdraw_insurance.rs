use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::error::{positive_amount, XmarginError};
use crate::events::InsuranceWithdrawn;
use crate::state::{Clearinghouse, BPS_DENOMINATOR};

/// At most this share of the fund per withdrawal...
pub const MAX_INSURANCE_WITHDRAWAL_BPS: u64 = 1_000;
/// ...and at most one withdrawal per this many seconds: draining the fund takes weeks, in public.
pub const INSURANCE_WITHDRAWAL_INTERVAL_SECS: i64 = 86_400;

#[derive(Accounts)]
pub struct WithdrawInsurance<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, address = clearinghouse.insurance_vault @ XmarginError::WrongInsuranceVault)]
    pub insurance_vault: Account<'info, TokenAccount>,
    #[account(mut)]
    pub destination: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

pub fn handler(ctx: Context<WithdrawInsurance>, amount: u64) -> Result<()> {
    positive_amount(amount)?;
    let now = Clock::get()?.unix_timestamp;
    let clearinghouse = &ctx.accounts.clearinghouse;
    let balance = ctx.accounts.insurance_vault.amount;
    let cap =
        (balance as u128 * MAX_INSURANCE_WITHDRAWAL_BPS as u128 / BPS_DENOMINATOR as u128) as u64;
    let rested = now.saturating_sub(clearinghouse.last_insurance_withdrawal)
        >= INSURANCE_WITHDRAWAL_INTERVAL_SECS;
    require!(
        amount <= cap && rested,
        XmarginError::InsuranceWithdrawalLimited
    );
    crate::vault::pay_from_vault(
        &ctx.accounts.token_program,
        &ctx.accounts.insurance_vault,
        &ctx.accounts.destination.to_account_info(),
        &ctx.accounts.clearinghouse,
        amount,
    )?;
    ctx.accounts.clearinghouse.last_insurance_withdrawal = now;
    crate::emit_event!(InsuranceWithdrawn {
        amount,
        balance: balance - amount,
        destination: ctx.accounts.destination.key(),
    });
    Ok(())
}
