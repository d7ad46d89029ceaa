use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::FundingUpdated;
use crate::market_oracle::MarketOracle;
use crate::state::SeriesKind;

/// Permissionless: accrues a perp's funding since the last crank into its cumulative index,
/// from the premium of the traded mark (TWAP) over the oracle index, clamped. Positions pay or
/// receive it when next touched.
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
    let (rate_bps, per_contract) = series.accrue_funding(index_price, clock.unix_timestamp)?;
    crate::emit_event!(FundingUpdated {
        market: market_index,
        series: series_index,
        mark_twap: series.mark_twap,
        index_price,
        rate_bps_per_day: rate_bps,
        per_contract,
        funding_index: series.funding_index,
    });
    Ok(())
}
