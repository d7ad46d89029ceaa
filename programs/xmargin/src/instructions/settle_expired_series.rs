use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::SeriesSettled;
use crate::health::spot_per_contract;
use crate::oracle::read_oracle;
use crate::state::{
    Clearinghouse, CollateralRegistry, Market, SeriesKind, QUOTE_ASSET, SERIES_ACTIVE,
    SERIES_SETTLED, SETTLEMENT_WINDOW_SECS,
};

#[derive(Accounts)]
pub struct SettleExpiredSeries<'info> {
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    /// CHECK: must be the market's registered oracle; read by `oracle::read_oracle`.
    pub oracle: UncheckedAccount<'info>,
}

/// Permissionless: records the settlement price of an expired future or option from the first
/// valid oracle price published in [expiry, expiry + window]. Positions then settle one account
/// at a time through `settle_position`.
pub fn handler(ctx: Context<SettleExpiredSeries>, series_index: u8) -> Result<()> {
    let clock = Clock::get()?;
    let quote_decimals = ctx
        .accounts
        .collateral_registry
        .load()?
        .asset(QUOTE_ASSET)?
        .decimals as i32;
    let mut market = ctx.accounts.market.load_mut()?;
    require_keys_eq!(
        ctx.accounts.oracle.key(),
        market.oracle,
        XmarginError::MissingOracle
    );
    let series = *market.series(series_index)?;
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
    let price = read_oracle(
        &ctx.accounts.oracle.to_account_info(),
        market.oracle_kind()?,
        &market.feed_id,
    )?;
    price.check(&ctx.accounts.clearinghouse.strict_oracle, &clock)?;
    let window_end = series.expiry.saturating_add(SETTLEMENT_WINDOW_SECS);
    require!(
        (series.expiry..=window_end).contains(&price.publish_time),
        XmarginError::OutsideSettlementWindow
    );
    let settlement_price = spot_per_contract(&price, &market, quote_decimals)?;
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
