use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::MarketRiskUpdated;
use crate::governance::{is_market_risk_step, judge_step, reference};
use crate::state::{Clearinghouse, Market, UnderlyingRisk};

#[derive(Accounts)]
pub struct UpdateMarketRisk<'info> {
    pub risk_authority: Signer<'info>,
    #[account(has_one = risk_authority @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
}

/// A step of the market's risk (`governance`: within one bound of the period's reference, one an
/// hour), or any change while nobody holds a position in it; larger changes go through
/// `queue_change`.
pub fn handler(ctx: Context<UpdateMarketRisk>, risk: UnderlyingRisk) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let period = ctx.accounts.clearinghouse.timelock_secs as i64;
    let mut market = ctx.accounts.market.load_mut()?;
    let (previous, previous_at) = (market.risk, market.risk_updated_at);
    // Range errors first; a refused step below reverts the whole instruction.
    apply(&mut market, risk, now)?;
    if !market.has_open_interest() {
        market.rebase_risk(now);
        return Ok(());
    }
    let (base, base_at) = reference(
        market.risk_reference,
        market.risk_reference_at,
        previous,
        now,
        period,
    );
    judge_step(
        is_market_risk_step(&base, &risk),
        previous_at,
        now,
        XmarginError::StepTooLarge,
    )
    .map_err(|e| error!(e))?;
    (market.risk_reference, market.risk_reference_at) = (base, base_at);
    Ok(())
}

/// Scenario grid, rate, correlation loading and add-on parameters of one underlying, within
/// the ranges the engine accepts (a step or an executed queued change).
pub fn apply(market: &mut Market, risk: UnderlyingRisk, now: i64) -> Result<()> {
    market.risk = risk;
    market.validate_risk()?;
    market.refresh_constants()?;
    market.bump_risk_generation()?;
    market.risk_updated_at = now;
    crate::emit_event!(MarketRiskUpdated {
        market: market.index,
        risk,
    });
    Ok(())
}
