use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::SeriesSettled;
use crate::market_oracle::MarketOracle;
use crate::state::{SeriesKind, SERIES_ACTIVE, SERIES_SETTLED, SETTLEMENT_WINDOW_SECS};

/// Permissionless: records the settlement price of an expired future or option from the first
/// valid oracle price published in [expiry, expiry + window]. Positions then settle one account
/// at a time through `settle_position`.
pub fn handler(ctx: Context<MarketOracle>, series_index: u8) -> Result<()> {
    let clock = Clock::get()?;
    let series = *ctx.accounts.market.load()?.series(series_index)?;
    require!(
        series.status != SERIES_SETTLED,
        XmarginError::SeriesAlreadySettled
    );
    require!(
        series.status == SERIES_ACTIVE
            && series.kind != SeriesKind::Perpetual as u8
            && series.is_expired(clock.unix_timestamp),
        XmarginError::SeriesNotExpired
    );
    let (price, settlement_price) = ctx.accounts.contract_price(&clock)?;
    let window_end = series.expiry.saturating_add(SETTLEMENT_WINDOW_SECS);
    require!(
        (series.expiry..=window_end).contains(&price.publish_time),
        XmarginError::OutsideSettlementWindow
    );
    let mut market = ctx.accounts.market.load_mut()?;
    let index = market.index;
    let stored = market.series_mut(series_index)?;
    stored.settlement_price = settlement_price;
    stored.status = SERIES_SETTLED;
    crate::emit_event!(SeriesSettled {
        market: index,
        series: series_index,
        settlement_price,
        publish_time: price.publish_time,
    });
    Ok(())
}
