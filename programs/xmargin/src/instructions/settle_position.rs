use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::PositionSettled;
use crate::state::{MarginAccount, Market};

#[derive(Accounts)]
pub struct SettlePosition<'info> {
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    #[account(mut)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
}

/// Permissionless: cash-settles an account's position in a settled series. The account receives
/// size x payoff against its cost basis; summed over a series this is zero, because sizes are.
pub fn handler(ctx: Context<SettlePosition>, series_index: u8) -> Result<()> {
    let mut market = ctx.accounts.market.load_mut()?;
    let market_index = market.index;
    let stored = market.series(series_index)?;
    let payoff = stored.settlement_payoff()?;
    let loss_index = stored.loss_index;
    let mut account = ctx.accounts.margin_account.load_mut()?;
    let size = account
        .position(market_index, series_index)
        .map(|slot| slot.size)
        .ok_or_else(|| error!(XmarginError::NoPosition))?;
    // Losses socialized on the series while the position was open are paid before it closes.
    account.settle_loss(market_index, series_index, loss_index)?;
    // Closing at the payoff is a fill of -size at that price.
    let fill = account.apply_fill(market_index, series_index, -size, payoff)?;
    let series = market.series_mut(series_index)?;
    series.record_fill(&fill, -size)?;
    crate::emit_event!(PositionSettled {
        account: ctx.accounts.margin_account.key(),
        market: market_index,
        series: series_index,
        size,
        payoff,
        realized: fill.realized,
    });
    Ok(())
}
