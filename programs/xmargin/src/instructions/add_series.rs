use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::SeriesAdded;
use crate::state::{
    step_start, Clearinghouse, Market, Series, SeriesKind, PREMIUM_WINDOW_SECS, SERIES_ACTIVE,
    SERIES_SETTLED,
};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddSeriesParams {
    pub kind: SeriesKind,
    /// Quote-native per contract (options only).
    pub strike: u64,
    /// Unix seconds (futures and options only).
    pub expiry: i64,
}

#[derive(Accounts)]
pub struct AddSeries<'info> {
    pub admin: Signer<'info>,
    #[account(has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
}

pub fn handler(ctx: Context<AddSeries>, params: AddSeriesParams) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    validate(&params, now)?;
    let mut market = ctx.accounts.market.load_mut()?;
    let count = market.series_count as usize;
    let kind = params.kind as u8;
    let duplicate = market.series[..count].iter().any(|s| {
        s.status != SERIES_SETTLED
            && s.kind == kind
            && s.strike == params.strike
            && s.expiry == params.expiry
    });
    require!(!duplicate, XmarginError::InvalidSeries);
    let slot = market
        .free_series_slot()
        .ok_or_else(|| error!(XmarginError::MarketFull))?;
    if slot < count {
        // A reused slot: option risk cached for the old series must not apply to the new one.
        market.bump_risk_generation()?;
    } else {
        market.series_count += 1;
    }
    market.series[slot] = Series {
        strike: params.strike,
        expiry: params.expiry,
        open_interest_long: 0,
        open_interest_short: 0,
        settlement_price: 0,
        funding_index: 0,
        premium_volume: 0,
        volume: 0,
        prior_premium_volume: 0,
        prior_volume: 0,
        premium_window: step_start(now, PREMIUM_WINDOW_SECS),
        funding_carry: 0,
        last_funding_time: now,
        loss_index: 0,
        kind,
        status: SERIES_ACTIVE,
        settlement_fallback: 0,
        _padding: [0; 5],
        settlement_publish_time: 0,
        settlement_final_at: 0,
    };
    crate::emit_event!(SeriesAdded {
        market: market.index,
        series: slot as u8,
        kind,
        strike: params.strike,
        expiry: params.expiry,
    });
    Ok(())
}

/// Perps have neither strike nor expiry; futures an expiry in the future; options both.
fn validate(params: &AddSeriesParams, now: i64) -> Result<()> {
    let ok = match params.kind {
        SeriesKind::Perpetual => params.strike == 0 && params.expiry == 0,
        SeriesKind::Future => params.strike == 0 && params.expiry > now,
        SeriesKind::Call | SeriesKind::Put => params.strike > 0 && params.expiry > now,
    };
    require!(ok, XmarginError::InvalidSeries);
    Ok(())
}
