//! Tokens leave a clearinghouse-owned vault only through here, signed by the clearinghouse PDA.
use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::state::Clearinghouse;

pub fn pay_from_vault<'info>(
    token_program: &Program<'info, Token>,
    vault: &Account<'info, TokenAccount>,
    to: &AccountInfo<'info>,
    clearinghouse: &Account<'info, Clearinghouse>,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let bump = clearinghouse.bump;
    token::transfer(
        CpiContext::new_with_signer(
            token_program.key(),
            Transfer {
                from: vault.to_account_info(),
                to: to.clone(),
                authority: clearinghouse.to_account_info(),
            },
            &[&[Clearinghouse::SEED, &[bump]]],
        ),
        amount,
    )
}
