use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::VolSurfaceUpdated;
use crate::governance::{is_vol_surface_step, judge_step, reference};
use crate::state::{Clearinghouse, Market, StoredVolSurface};

#[derive(Accounts)]
pub struct UpdateVolSurface<'info> {
    pub risk_authority: Signer<'info>,
    #[account(has_one = risk_authority @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
}

/// Moves the smile by at most `max_vol_step_bits` per parameter from the period's reference,
/// once per window: a
/// compromised or mistaken risk authority cannot reprice every option at once. Larger moves
/// go through `queue_change`; a market nobody holds a position in moves freely.
pub fn handler(ctx: Context<UpdateVolSurface>, surface: StoredVolSurface) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let clearinghouse = &ctx.accounts.clearinghouse;
    let max_step = clearinghouse.max_vol_step_bits.unsigned_abs();
    let period = clearinghouse.timelock_secs as i64;
    let mut market = ctx.accounts.market.load_mut()?;
    let (previous, previous_at) = (market.surface, market.surface_updated_at);
    // Range errors first; a refused step below reverts the whole instruction.
    apply(&mut market, surface, now)?;
    if !market.has_open_interest() {
        market.rebase_surface(now);
        return Ok(());
    }
    let (base, base_at) = reference(
        market.surface_reference,
        market.surface_reference_at,
        previous,
        now,
        period,
    );
    judge_step(
        is_vol_surface_step(&base, &surface, max_step),
        previous_at,
        now,
        XmarginError::VolStepTooLarge,
    )
    .map_err(|e| error!(e))?;
    (market.surface_reference, market.surface_reference_at) = (base, base_at);
    Ok(())
}

/// Replaces the surface (a step or an executed queued change).
pub fn apply(market: &mut Market, surface: StoredVolSurface, now: i64) -> Result<()> {
    let previous = market.surface;
    market.surface = surface;
    market.validate_risk()?;
    market.surface_updated_at = now;
    market.bump_risk_generation()?;
    crate::emit_event!(VolSurfaceUpdated {
        market: market.index,
        previous,
        surface,
    });
    Ok(())
}
