use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::PauseFlagsSet;
use crate::governance::MAX_PAUSE_SECS;
use crate::state::{Clearinghouse, PAUSE_ALL};

#[derive(Accounts)]
pub struct SetPause<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
}

/// Replaces the pause bit set (`PAUSE_*`) for `duration_secs` (at most `MAX_PAUSE_SECS`; the
/// same call renews it); 0 unpauses everything. A pause never blocks a fill that reduces both
/// sides, a deposit into an account with exposure, or settlement.
pub fn handler(ctx: Context<SetPause>, pause_flags: u8, duration_secs: u32) -> Result<()> {
    require!(
        pause_flags & !PAUSE_ALL == 0,
        XmarginError::InvalidParameter
    );
    require!(
        duration_secs as i64 <= MAX_PAUSE_SECS,
        XmarginError::PauseTooLong
    );
    require!(
        (pause_flags == 0) == (duration_secs == 0),
        XmarginError::InvalidParameter
    );
    let now = Clock::get()?.unix_timestamp;
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    let previous = clearinghouse.pause_flags;
    let expires_at = now.saturating_add(duration_secs as i64);
    clearinghouse.pause_flags = pause_flags;
    clearinghouse.pause_expires_at = expires_at;
    crate::emit_event!(PauseFlagsSet {
        previous,
        pause_flags,
        expires_at,
    });
    Ok(())
}
