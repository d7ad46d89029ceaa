use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::MarketRiskUpdated;
use crate::state::{Clearinghouse, Market, UnderlyingRisk};

#[derive(Accounts)]
pub struct UpdateMarketRisk<'info> {
    pub risk_authority: Signer<'info>,
    #[account(has_one = risk_authority @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
}

/// Scenario grid, rate, correlation loading and add-on parameters of one underlying, within
/// the ranges the engine accepts.
pub fn handler(ctx: Context<UpdateMarketRisk>, risk: UnderlyingRisk) -> Result<()> {
    let mut market = ctx.accounts.market.load_mut()?;
    market.risk = risk;
    market.validate_risk()?;
    market.refresh_constants()?;
    market.bump_risk_generation()?;
    crate::emit_event!(MarketRiskUpdated {
        market: market.index,
        risk,
    });
    Ok(())
}
