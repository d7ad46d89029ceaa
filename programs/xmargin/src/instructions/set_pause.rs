use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::PauseFlagsSet;
use crate::state::{Clearinghouse, PAUSE_ALL};

#[derive(Accounts)]
pub struct SetPause<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
}

/// Replaces the pause bit set (`PAUSE_*`); 0 unpauses everything.
pub fn handler(ctx: Context<SetPause>, pause_flags: u8) -> Result<()> {
    require!(
        pause_flags & !PAUSE_ALL == 0,
        XmarginError::InvalidParameter
    );
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    let previous = clearinghouse.pause_flags;
    clearinghouse.pause_flags = pause_flags;
    crate::emit_event!(PauseFlagsSet {
        previous,
        pause_flags,
    });
    Ok(())
}
