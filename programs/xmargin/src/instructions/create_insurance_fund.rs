use anchor_lang::prelude::*;
use anchor_spl::token::{Mint, Token, TokenAccount};

use crate::error::XmarginError;
use crate::events::InsuranceFundCreated;
use crate::state::Clearinghouse;

#[derive(Accounts)]
pub struct CreateInsuranceFund<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(
        mut,
        has_one = admin @ XmarginError::Unauthorized,
        has_one = quote_mint @ XmarginError::WrongMint
    )]
    pub clearinghouse: Account<'info, Clearinghouse>,
    pub quote_mint: Account<'info, Mint>,
    #[account(
        init,
        payer = admin,
        seeds = [Clearinghouse::INSURANCE_SEED],
        bump,
        token::mint = quote_mint,
        token::authority = clearinghouse,
        token::token_program = token_program,
    )]
    pub insurance_vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

/// The insurance fund: a quote vault owned by the clearinghouse that receives its share of
/// liquidation fees and pays bankruptcies first.
pub fn handler(ctx: Context<CreateInsuranceFund>) -> Result<()> {
    let vault = ctx.accounts.insurance_vault.key();
    ctx.accounts.clearinghouse.insurance_vault = vault;
    crate::emit_event!(InsuranceFundCreated { vault });
    Ok(())
}
