use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::{SeriesSettled, SettlementPriceProposed};
use crate::market_oracle::MarketOracle;
use crate::state::{
    SeriesKind, SERIES_ACTIVE, SERIES_SETTLED, SERIES_SETTLING, SETTLEMENT_WINDOW_SECS,
};

/// Permissionless, for an expired future or option. The first call proposes the presented
/// price (the market's oracle, or on a pull market any verified update of its feed; valid when
/// published, at or after expiry, however late it is presented: a pull update keeps its
/// publish time) and opens a window of `SETTLEMENT_WINDOW_SECS`; within it,
/// any valid price published earlier (still at or after expiry) replaces the proposal; after
/// it, any call makes the proposal final. A price published more than a window after expiry
/// settles too (nobody proposed one in time), flagged `fallback`. Positions then settle one
/// account at a time through `settle_position`.
pub fn handler(ctx: Context<MarketOracle>, series_index: u8) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let series = *ctx.accounts.market.load()?.series(series_index)?;
    require!(
        series.status != SERIES_SETTLED,
        XmarginError::SeriesAlreadySettled
    );
    require!(
        (series.status == SERIES_ACTIVE || series.status == SERIES_SETTLING)
            && series.kind != SeriesKind::Perpetual as u8
            && series.is_expired(now),
        XmarginError::SeriesNotExpired
    );
    let proposed = series.status == SERIES_SETTLING;
    if proposed && now >= series.settlement_final_at {
        let mut market = ctx.accounts.market.load_mut()?;
        let index = market.index;
        let stored = market.series_mut(series_index)?;
        stored.status = SERIES_SETTLED;
        crate::emit_event!(SeriesSettled {
            market: index,
            series: series_index,
            settlement_price: stored.settlement_price,
            publish_time: stored.settlement_publish_time,
            fallback: stored.settlement_fallback != 0,
        });
        return Ok(());
    }
    let (price, settlement_price) = ctx.accounts.settlement_price()?;
    price.check_at_publish(&ctx.accounts.clearinghouse.strict_oracle)?;
    require!(
        price.publish_time >= series.expiry,
        XmarginError::OutsideSettlementWindow
    );
    require!(
        !proposed || price.publish_time < series.settlement_publish_time,
        XmarginError::SettlementPriceNotEarlier
    );
    let fallback = price.publish_time > series.expiry.saturating_add(SETTLEMENT_WINDOW_SECS);
    let mut market = ctx.accounts.market.load_mut()?;
    let index = market.index;
    let stored = market.series_mut(series_index)?;
    stored.settlement_price = settlement_price;
    stored.settlement_publish_time = price.publish_time;
    stored.settlement_fallback = u8::from(fallback);
    if !proposed {
        stored.status = SERIES_SETTLING;
        stored.settlement_final_at = now.saturating_add(SETTLEMENT_WINDOW_SECS);
    }
    crate::emit_event!(SettlementPriceProposed {
        market: index,
        series: series_index,
        settlement_price,
        publish_time: price.publish_time,
        final_at: stored.settlement_final_at,
        fallback,
    });
    Ok(())
}
