use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::FundingUpdated;
use crate::market_oracle::MarketOracle;
use crate::state::SeriesKind;

/// Permissionless: accrues a perp's funding since it was last accrued (by a crank, a fill or a
/// liquidation) into its cumulative index, at the premium of recent banded volume over the
/// oracle index, clamped (`Series::accrue_funding`). Positions pay or receive it when next
/// touched.
pub fn handler(ctx: Context<MarketOracle>, series_index: u8) -> Result<()> {
    let clock = Clock::get()?;
    require!(
        ctx.accounts.market.load()?.series(series_index)?.kind == SeriesKind::Perpetual as u8,
        XmarginError::InvalidSeries
    );
    let (_, index_price) = ctx.accounts.contract_price(&clock)?;
    let mut market = ctx.accounts.market.load_mut()?;
    let market_index = market.index;
    let series = market.series_mut(series_index)?;
    let (rate_ppm, per_contract) = series.accrue_funding(index_price, clock.unix_timestamp)?;
    crate::emit_event!(FundingUpdated {
        market: market_index,
        series: series_index,
        premium_ppm: series.premium_ppm_at(clock.unix_timestamp),
        index_price,
        rate_ppm_per_day: rate_ppm,
        per_contract,
        funding_index: series.funding_index,
    });
    Ok(())
}
