use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::error::{positive_amount, XmarginError};
use crate::events::InsuranceFunded;
use crate::state::Clearinghouse;

#[derive(Accounts)]
pub struct FundInsurance<'info> {
    /// Anyone may add to the fund (the admin seeding it, a protocol donating fees).
    pub funder: Signer<'info>,
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, address = clearinghouse.insurance_vault @ XmarginError::WrongInsuranceVault)]
    pub insurance_vault: Account<'info, TokenAccount>,
    #[account(mut, token::authority = funder)]
    pub source: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

pub fn handler(ctx: Context<FundInsurance>, amount: u64) -> Result<()> {
    positive_amount(amount)?;
    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.source.to_account_info(),
                to: ctx.accounts.insurance_vault.to_account_info(),
                authority: ctx.accounts.funder.to_account_info(),
            },
        ),
        amount,
    )?;
    ctx.accounts.insurance_vault.reload()?;
    crate::emit_event!(InsuranceFunded {
        funder: ctx.accounts.funder.key(),
        amount,
        balance: ctx.accounts.insurance_vault.amount,
    });
    Ok(())
}
