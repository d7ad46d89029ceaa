//! The option risk cache: adopted once per market by the admin, refreshed by anyone at strict
//! prices; its entries only hold for their series, window and market generation.
mod common;

use anchor_lang::prelude::Pubkey;
use common::world::*;
use common::{anchor_error, anchor_ix, program_error};
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::events::RiskCacheRefreshed;
use xmargin::state::RiskCache;

#[tokio::test]
async fn only_the_admin_adopts_one_cache_per_market() {
    let mut w = World::listed().await;
    let watched = [market_address(SOL_MARKET)];
    let stranger = w.stranger().await;
    let (cache, mut ixs) = w.create_risk_cache_ixs(SOL_MARKET).await;
    ixs[1].accounts[0].pubkey = stranger.pubkey();
    w.h.assert_refused(
        &watched,
        &ixs,
        &[&stranger, &cache],
        program_error(XmarginError::Unauthorized),
    )
    .await;

    // Smaller or larger than the layout: refused.
    for space in [RiskCache::SPACE - 8, RiskCache::SPACE + 8] {
        let code = program_error(XmarginError::RiskCacheWrongSize);
        let (account, create) = w.h.create_account_ix(space, xmargin::ID).await;
        let adopt = adopt_ix(&w, SOL_MARKET, account.pubkey());
        let admin = w.admin.insecure_clone();
        w.h.assert_refused(&watched, &[create, adopt], &[&admin, &account], code)
            .await;
    }

    let key = w.enable_risk_cache(SOL_MARKET).await;
    assert_eq!(w.market(SOL_MARKET).await.risk_cache, key);
    let cache = w.risk_cache(SOL_MARKET).await;
    assert_eq!(
        (cache.market, cache.market_index),
        (market_address(SOL_MARKET), SOL_MARKET)
    );
    assert!(cache.entries.iter().all(|e| e.filled == 0));

    // A second cache for the market, or the adopted account for another market: refused.
    let (second, ixs) = w.create_risk_cache_ixs(SOL_MARKET).await;
    let admin = w.admin.insecure_clone();
    w.h.assert_refused(
        &watched,
        &ixs,
        &[&admin, &second],
        program_error(XmarginError::RiskCacheExists),
    )
    .await;
    let reuse = adopt_ix(&w, BTC_MARKET, key);
    w.h.assert_refused(
        &[market_address(BTC_MARKET), key],
        &[reuse],
        &[&admin],
        anchor_error(anchor_lang::error::ErrorCode::ConstraintZero),
    )
    .await;
}

fn adopt_ix(
    w: &World,
    market: u8,
    cache: Pubkey,
) -> anchor_lang::solana_program::instruction::Instruction {
    anchor_ix(
        xmargin::accounts::CreateRiskCache {
            admin: w.admin.pubkey(),
            clearinghouse: clearinghouse_address(),
            market: market_address(market),
            risk_cache: cache,
        },
        xmargin::instruction::CreateRiskCache {},
    )
}

#[tokio::test]
async fn anyone_refreshes_the_options_of_a_market_at_strict_prices() {
    let mut w = World::listed().await;
    let sol_cache = w.enable_risk_cache(SOL_MARKET).await;
    let btc_cache = w.enable_risk_cache(BTC_MARKET).await;
    let market = w.market(SOL_MARKET).await;
    let count = market.series_count;
    let ix = w.refresh_risk_cache_ix(SOL_MARKET, 0, count);
    let events =
        w.h.send_for_events::<RiskCacheRefreshed>(&[ix], &[])
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].count, events[0].refreshed), (count, 2));
    let now = w.h.clock().await.unix_timestamp;
    let cache = w.risk_cache(SOL_MARKET).await;
    for (index, series) in market.series[..count as usize].iter().enumerate() {
        let entry = &cache.entries[index];
        let option = index == SOL_CALL_150 as usize || index == SOL_PUT_140 as usize;
        assert_eq!(entry.filled == 1, option, "series {index}");
        if option {
            assert_eq!(
                (entry.strike, entry.expiry, entry.kind),
                (series.strike, series.expiry, series.kind)
            );
            assert_eq!((entry.valid_from, entry.valid_until), (now, now + 300));
            assert_eq!(entry.generation, market.risk_generation);
            // 50 bps each way around the spot.
            let width = entry.spot_high - entry.spot_low;
            let spot = (entry.spot_high + entry.spot_low) / 2;
            assert!(width.abs_diff(spot / 100) <= 2, "{entry:?}");
        }
    }

    // Someone else's cache, a range past the series, a stale oracle, a disabled cache.
    let mut wrong = w.refresh_risk_cache_ix(SOL_MARKET, 0, 1);
    let cache_meta = wrong
        .accounts
        .iter()
        .position(|m| m.pubkey == sol_cache)
        .unwrap();
    wrong.accounts[cache_meta].pubkey = btc_cache;
    let watched = [sol_cache, btc_cache];
    w.h.assert_refused(
        &watched,
        &[wrong],
        &[],
        program_error(XmarginError::WrongRiskCache),
    )
    .await;
    let past = w.refresh_risk_cache_ix(SOL_MARKET, count - 1, 2);
    w.h.assert_refused(
        &watched,
        &[past],
        &[],
        program_error(XmarginError::UnknownSeries),
    )
    .await;
    w.h.advance(3_600).await;
    let stale = w.refresh_risk_cache_ix(SOL_MARKET, 0, 1);
    w.h.assert_refused(
        &watched,
        &[stale],
        &[],
        program_error(XmarginError::OracleStale),
    )
    .await;
    w.refresh_oracles().await;
    let disabled = xmargin::state::UnderlyingRisk {
        cache_spot_tolerance_bps: 0,
        ..market.risk
    };
    let update = market_risk_ix(&w, SOL_MARKET, disabled);
    w.as_risk_authority(&[update]).await.unwrap();
    assert_eq!(
        w.market(SOL_MARKET).await.risk_generation,
        market.risk_generation + 1,
        "risk updates outdate cached entries"
    );
    let refused = w.refresh_risk_cache_ix(SOL_MARKET, 0, 1);
    w.h.assert_refused(
        &watched,
        &[refused],
        &[],
        program_error(XmarginError::RiskCacheDisabled),
    )
    .await;
    // Tolerances beyond the engine's limit are refused at the update.
    let too_wide = xmargin::state::UnderlyingRisk {
        cache_spot_tolerance_bps: xmargin_risk::window::MAX_SPOT_TOLERANCE_BPS + 1,
        ..market.risk
    };
    let update = market_risk_ix(&w, SOL_MARKET, too_wide);
    let authority = w.risk_authority.insecure_clone();
    w.h.assert_refused(
        &[market_address(SOL_MARKET)],
        &[update],
        &[&authority],
        program_error(XmarginError::InvalidParameter),
    )
    .await;
}
