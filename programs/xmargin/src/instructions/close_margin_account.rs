use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::MarginAccountClosed;
use crate::state::MarginAccount;

#[derive(Accounts)]
pub struct CloseMarginAccount<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    #[account(mut, has_one = owner @ XmarginError::NotAccountOwner, close = owner)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
}

/// Only an account without positions and with every balance at zero can close; its rent
/// returns to the owner.
pub fn handler(ctx: Context<CloseMarginAccount>) -> Result<()> {
    let account = ctx.accounts.margin_account.load()?;
    require!(account.is_empty(), XmarginError::AccountNotEmpty);
    crate::emit_event!(MarginAccountClosed {
        account: ctx.accounts.margin_account.key(),
        owner: account.owner,
    });
    Ok(())
}
