use anchor_lang::prelude::*;
use xmargin_risk::window::{cacheable, windowed_series_risk, RiskWindow};
use xmargin_risk::Instrument;

use crate::error::{risk_error, XmarginError};
use crate::events::RiskCacheRefreshed;
use crate::market_oracle::*;
use crate::state::{Market, RiskCache, Series, SERIES_ACTIVE};

#[derive(Accounts)]
pub struct RefreshRiskCache<'info> {
    pub market_oracle: MarketOracle<'info>,
    #[account(mut)]
    pub risk_cache: AccountLoader<'info, RiskCache>,
}

/// Permissionless: recomputes the windowed risk of options `first .. first + count` at the
/// current strict oracle price (perps, futures, settled series and options whose value is not
/// monotone in time at the market's rate are skipped). Margin checks inside the window then
/// read these bounds instead of computing them.
pub fn handler(ctx: Context<RefreshRiskCache>, first: u8, count: u8) -> Result<()> {
    let clock = Clock::get()?;
    let accounts = &ctx.accounts.market_oracle;
    require_keys_eq!(
        ctx.accounts.risk_cache.key(),
        accounts.market.load()?.risk_cache,
        XmarginError::WrongRiskCache
    );
    let (_, spot) = accounts.contract_price(&clock)?;
    let market = accounts.market.load()?;
    let (tolerance, max_age) = (
        market.risk.cache_spot_tolerance_bps,
        market.risk.cache_max_age_secs,
    );
    require!(
        tolerance > 0 && max_age > 0,
        XmarginError::RiskCacheDisabled
    );
    let end = first
        .checked_add(count)
        .filter(|end| *end <= market.series_count)
        .ok_or_else(|| error!(XmarginError::UnknownSeries))?;
    let window =
        RiskWindow::around(spot, tolerance, clock.unix_timestamp, max_age).map_err(risk_error)?;
    let mut cache = ctx.accounts.risk_cache.load_mut()?;
    let mut refreshed: u8 = 0;
    for index in first..end {
        let series = market.series(index)?;
        if refresh_one(&market, series, spot, &window, cache.entry_mut(index)?)? {
            refreshed += 1;
        }
    }
    crate::emit_event!(RiskCacheRefreshed {
        market: market.index,
        first,
        count,
        refreshed,
        spot_low: window.spot_low,
        spot_high: window.spot_high,
        valid_until: window.until,
    });
    Ok(())
}

/// Whether `refresh_risk_cache` caches `series` of `market`: an active option whose value is
/// monotone in time at the market's rate (`xmargin_risk::window::cacheable`). Keepers refresh
/// exactly these.
pub fn is_refreshed(market: &Market, series: &Series) -> bool {
    let rate = xmargin_risk::Fx::from_bits(market.risk.rate);
    series.status == SERIES_ACTIVE
        && matches!(series.instrument(), Ok(Instrument::Option { kind, .. }) if cacheable(kind, rate))
}

/// One series' entry; false when the series is not a cacheable active option. Out of line: the
/// bounds' locals would otherwise share the handler's 4 KB SBF frame.
#[inline(never)]
fn refresh_one(
    market: &Market,
    series: &Series,
    spot: u64,
    window: &RiskWindow,
    entry: &mut crate::state::CachedSeries,
) -> Result<bool> {
    if !is_refreshed(market, series) {
        return Ok(false);
    }
    let instrument = series.instrument()?;
    let underlying = market.underlying(spot);
    let constants = market.constants()?;
    let risk = windowed_series_risk(&underlying, &constants.grid, &instrument, window)
        .map_err(risk_error)?;
    entry.store(series, window, market.risk_generation, &risk);
    Ok(true)
}
