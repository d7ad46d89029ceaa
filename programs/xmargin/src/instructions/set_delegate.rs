use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::DelegateSet;
use crate::state::MarginAccount;

#[derive(Accounts)]
pub struct SetDelegate<'info> {
    pub owner: Signer<'info>,
    #[account(mut, has_one = owner @ XmarginError::NotAccountOwner)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
}

/// The delegate may trade for the owner, never withdraw or close; the default key removes it.
pub fn handler(ctx: Context<SetDelegate>, delegate: Pubkey) -> Result<()> {
    let mut account = ctx.accounts.margin_account.load_mut()?;
    account.delegate = delegate;
    crate::emit_event!(DelegateSet {
        account: ctx.accounts.margin_account.key(),
        delegate,
    });
    Ok(())
}
