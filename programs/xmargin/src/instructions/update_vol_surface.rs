use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::VolSurfaceUpdated;
use crate::state::{Clearinghouse, Market, StoredVolSurface};

#[derive(Accounts)]
pub struct UpdateVolSurface<'info> {
    pub risk_authority: Signer<'info>,
    #[account(has_one = risk_authority @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
}

/// Moves the smile by at most `max_vol_step_bits` per parameter: a compromised or mistaken risk
/// authority cannot reprice every option at once.
pub fn handler(ctx: Context<UpdateVolSurface>, surface: StoredVolSurface) -> Result<()> {
    let max_step = ctx.accounts.clearinghouse.max_vol_step_bits.unsigned_abs();
    let mut market = ctx.accounts.market.load_mut()?;
    let previous = market.surface;
    require!(
        previous.largest_step(&surface) <= max_step,
        XmarginError::VolStepTooLarge
    );
    market.surface = surface;
    market.validate_risk()?;
    market.surface_updated_at = Clock::get()?.unix_timestamp;
    market.bump_risk_generation()?;
    crate::emit_event!(VolSurfaceUpdated {
        market: market.index,
        previous,
        surface,
    });
    Ok(())
}
