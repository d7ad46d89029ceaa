//! Expiry: the settlement price is the earliest valid oracle price published at or after expiry
//! that anyone presents within a window of the first proposal (a fallback flags one published
//! after that window), settled series are valued at their payoff until each account settles,
//! options and futures cash-settle account by account, and nothing settles twice or early.
mod common;

use anchor_lang::solana_program::instruction::Instruction;
use common::world::*;
use common::{program_error, LegacyPrice, PullPrice};
use xmargin::error::XmarginError;
use xmargin::events::{SeriesSettled, SettlementPriceProposed};
use xmargin::state::{SERIES_SETTLED, SERIES_SETTLING, SETTLEMENT_WINDOW_SECS};

async fn refused(w: &mut World, ix: Instruction, error: XmarginError) {
    let watched = [market_address(SOL_MARKET), registry_address()];
    w.h.assert_refused(&watched, &[ix], &[], program_error(error))
        .await;
}

/// Taker long 10 calls (150) at 12, short 5 puts (140) at 8, long 3 futures at 151.
async fn traded() -> (World, Trader, Trader) {
    let mut w = World::listed().await;
    let taker = w.funded_trader(20_000 * USDC).await;
    let maker = w.funded_trader(50_000 * USDC).await;
    for (series, size, price) in [
        (SOL_CALL_150, 10, 12 * USDC),
        (SOL_PUT_140, -5, 8 * USDC),
        (SOL_FUTURE, 3, 151 * USDC),
    ] {
        w.trade(&taker, &maker, SOL_MARKET, series, size, price)
            .await
            .unwrap();
    }
    (w, taker, maker)
}

/// `settle_expired_series` of the future, the call and the put.
fn settle_all_ixs(w: &World) -> Vec<Instruction> {
    [SOL_FUTURE, SOL_CALL_150, SOL_PUT_140]
        .iter()
        .map(|series| settle_series_ix(w, SOL_MARKET, *series))
        .collect()
}

async fn after_expiry(w: &mut World, secs: i64) {
    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(w.expiry - now + secs).await;
}

#[tokio::test]
async fn options_and_futures_settle_to_the_oracle_price() {
    let (mut w, taker, maker) = traded().await;
    after_expiry(&mut w, 10).await;
    // SOL settles at 160: calls pay 10, puts nothing, futures 160.
    w.set_sol_price(160 * 100_000_000).await;
    let ixs = settle_all_ixs(&w);
    w.h.send(&ixs, &[]).await.unwrap();
    // Proposed, not final: no position settles yet.
    let early = settle_position_ix(SOL_MARKET, SOL_FUTURE, taker.account);
    refused(&mut w, early, XmarginError::SeriesNotSettled).await;
    assert_eq!(
        w.market(SOL_MARKET).await.series[SOL_FUTURE as usize].status,
        SERIES_SETTLING
    );
    w.h.advance(SETTLEMENT_WINDOW_SECS).await;
    w.set_sol_price(170 * 100_000_000).await;
    let ixs = settle_all_ixs(&w);
    let events =
        w.h.send_for_events::<SeriesSettled>(&ixs, &[])
            .await
            .unwrap();
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| !e.fallback && e.settlement_price == 160 * USDC));
    let market = w.market(SOL_MARKET).await;
    for series in [SOL_FUTURE, SOL_CALL_150, SOL_PUT_140] {
        let s = market.series[series as usize];
        assert_eq!((s.status, s.settlement_price), (SERIES_SETTLED, 160 * USDC));
    }
    let before = w.margin_account(taker.account).await.quote_balance();
    let maker_before = w.margin_account(maker.account).await.quote_balance();
    let mut ixs = Vec::new();
    for series in [SOL_FUTURE, SOL_CALL_150, SOL_PUT_140] {
        ixs.push(settle_position_ix(SOL_MARKET, series, taker.account));
        ixs.push(settle_position_ix(SOL_MARKET, series, maker.account));
    }
    w.h.send(&ixs, &[]).await.unwrap();
    // Calls: 10 x (10 - 12) = -20; puts: -5 x (0 - 8) = +40; futures: 3 x (160 - 151) = +27.
    let gain = (-20 + 40 + 27) * USDC as i64;
    let taker_account = w.margin_account(taker.account).await;
    assert_eq!(taker_account.quote_balance(), before + gain);
    assert!(!taker_account.has_positions());
    assert_eq!(
        w.margin_account(maker.account).await.quote_balance(),
        maker_before - gain
    );
    let market = w.market(SOL_MARKET).await;
    for series in [SOL_FUTURE, SOL_CALL_150, SOL_PUT_140] {
        assert_eq!(market.series[series as usize].open_interest_long, 0);
    }
    w.assert_books_reconcile().await;

    // Settled once: a second settlement and trading are refused.
    let again = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, again, XmarginError::SeriesAlreadySettled).await;
    let trade = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_CALL_150, 1, USDC);
    let watched = [taker.account, maker.account];
    w.h.assert_refused(
        &watched,
        &[trade],
        &[&taker.key, &maker.key],
        program_error(XmarginError::SeriesExpired),
    )
    .await;
    let nothing = settle_position_ix(SOL_MARKET, SOL_CALL_150, taker.account);
    refused(&mut w, nothing, XmarginError::NoPosition).await;
}

#[tokio::test]
async fn nothing_settles_early_late_or_without_an_expiry() {
    let (mut w, taker, _maker) = traded().await;
    let early = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, early, XmarginError::SeriesNotExpired).await;
    let perp = settle_series_ix(&w, SOL_MARKET, SOL_PERP);
    refused(&mut w, perp, XmarginError::SeriesNotExpired).await;
    let unsettled = settle_position_ix(SOL_MARKET, SOL_CALL_150, taker.account);
    refused(&mut w, unsettled, XmarginError::SeriesNotSettled).await;

    after_expiry(&mut w, 10).await;
    // A price published before expiry is not a settlement price.
    let expiry = w.expiry;
    w.write_sol_oracle(|p| p.publish_time = expiry - 1).await;
    w.h.advance(0).await;
    let before_expiry = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, before_expiry, XmarginError::OutsideSettlementWindow).await;
    // Another account than the market's oracle.
    let mut foreign = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    foreign.accounts[3].pubkey = w.btc_oracle;
    refused(&mut w, foreign, XmarginError::MissingOracle).await;
}

/// The settlement price is the earliest valid price published at or after expiry that anyone
/// presents before the proposal is final, not whatever is current when someone cranks (the
/// base took the current price, and only within the hour after expiry).
#[tokio::test]
async fn the_earliest_price_presented_before_the_proposal_is_final_settles() {
    let (mut w, taker, maker) = traded().await;
    after_expiry(&mut w, 600).await;
    let expiry = w.expiry;
    // A keeper proposes the price of 10 minutes after expiry: 170.
    w.sol_price = 170 * 100_000_000;
    w.write_sol_oracle(|p| p.publish_time = expiry + 600).await;
    let propose = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    let events =
        w.h.send_for_events::<SettlementPriceProposed>(&[propose], &[])
            .await
            .unwrap();
    assert_eq!(events[0].settlement_price, 170 * USDC);
    assert!(!events[0].fallback);
    let final_at = events[0].final_at;
    // A later price cannot replace it...
    w.h.advance(60).await;
    w.sol_price = 120 * 100_000_000;
    w.write_sol_oracle(|p| p.publish_time = expiry + 660).await;
    let later = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, later, XmarginError::SettlementPriceNotEarlier).await;
    // ...an earlier one, presented late (as a pull update keeps its publish time), does.
    w.sol_price = 160 * 100_000_000;
    w.write_sol_oracle(|p| p.publish_time = expiry + 5).await;
    let earlier = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    w.h.send(&[earlier], &[]).await.unwrap();
    // One invalid when published (confidence too wide) is no settlement price.
    w.write_sol_oracle(|p| {
        p.publish_time = expiry + 1;
        p.conf = p.price as u64;
    })
    .await;
    let wide = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, wide, XmarginError::OracleConfidenceTooWide).await;
    // Final a window after the first proposal, at the earliest price presented.
    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(final_at - now).await;
    w.set_sol_price(200 * 100_000_000).await;
    let finalize = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    let settled =
        w.h.send_for_events::<SeriesSettled>(&[finalize], &[])
            .await
            .unwrap();
    assert_eq!(
        (settled[0].settlement_price, settled[0].publish_time),
        (160 * USDC, expiry + 5)
    );
    let again = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, again, XmarginError::SeriesAlreadySettled).await;
    let ixs = [
        settle_position_ix(SOL_MARKET, SOL_CALL_150, taker.account),
        settle_position_ix(SOL_MARKET, SOL_CALL_150, maker.account),
    ];
    w.h.send(&ixs, &[]).await.unwrap();
    w.assert_books_reconcile().await;
}

/// Nobody proposed a price within the window after expiry: the base could never settle such a
/// series. The first valid price presented settles it, flagged as the fallback.
#[tokio::test]
async fn a_series_nobody_settled_in_time_settles_by_the_flagged_fallback() {
    let (mut w, taker, maker) = traded().await;
    after_expiry(&mut w, 3 * SETTLEMENT_WINDOW_SECS).await;
    w.set_sol_price(160 * 100_000_000).await;
    let propose = settle_series_ix(&w, SOL_MARKET, SOL_FUTURE);
    let proposed =
        w.h.send_for_events::<SettlementPriceProposed>(&[propose], &[])
            .await
            .unwrap();
    assert!(proposed[0].fallback);
    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(proposed[0].final_at - now).await;
    w.refresh_oracles().await;
    let finalize = settle_series_ix(&w, SOL_MARKET, SOL_FUTURE);
    let settled =
        w.h.send_for_events::<SeriesSettled>(&[finalize], &[])
            .await
            .unwrap();
    assert!(settled[0].fallback);
    assert_eq!(settled[0].settlement_price, 160 * USDC);
    let ixs = [
        settle_position_ix(SOL_MARKET, SOL_FUTURE, taker.account),
        settle_position_ix(SOL_MARKET, SOL_FUTURE, maker.account),
    ];
    w.h.send(&ixs, &[]).await.unwrap();
    w.assert_books_reconcile().await;
}

/// Once a settlement price is proposed, an expired series is a fixed claim worth its proposed
/// payoff, whatever spot does, until each account settles it: the base valued it at live spot,
/// so a holder could withdraw profit the settlement then took back, and an expired future
/// still "hedged" a new perp (the review's attack: two colluders opening perps against expired
/// futures needed almost no margin).
#[tokio::test]
async fn expired_positions_are_valued_at_the_proposed_then_settled_payoff_not_live_spot() {
    let (mut w, taker, maker) = traded().await;
    after_expiry(&mut w, 10).await;
    w.set_sol_price(160 * 100_000_000).await;
    let ixs = settle_all_ixs(&w);
    w.h.send(&ixs, &[]).await.unwrap();
    // Proposed at 160; SOL then rallies to 220: the long calls and futures do not gain.
    let at_proposal = w.health(taker.account).await;
    w.set_sol_price(220 * 100_000_000).await;
    assert_eq!(w.health(taker.account).await, at_proposal);
    // Short perps against the expired long futures are naked: they need a naked perp's
    // margin (at least 15 % of the notional, the core move), not the hedge's.
    let (_, before) = w.health(taker.account).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, -3, 220 * USDC)
        .await
        .unwrap();
    let (_, after) = w.health(taker.account).await;
    let naked = (3 * 220 * USDC as i64) * 15 / 100;
    assert!(before - after >= naked, "{before} - {after} < {naked}");
    let close = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_PERP, 3, 220 * USDC);
    w.h.send(&[close], &[&taker.key, &maker.key]).await.unwrap();
    // Final: the payoff, whatever spot does.
    w.h.advance(SETTLEMENT_WINDOW_SECS).await;
    w.refresh_oracles().await;
    let ixs = settle_all_ixs(&w);
    w.h.send(&ixs, &[]).await.unwrap();
    let settled = w.health(taker.account).await;
    w.set_sol_price(100 * 100_000_000).await;
    assert_eq!(w.health(taker.account).await, settled);
    // What the account could withdraw is exactly what settling pays it.
    let ixs: Vec<Instruction> = [SOL_FUTURE, SOL_CALL_150, SOL_PUT_140]
        .iter()
        .map(|series| settle_position_ix(SOL_MARKET, *series, taker.account))
        .collect();
    w.h.send(&ixs, &[]).await.unwrap();
    let (init, maint) = w.health(taker.account).await;
    // Maintenance exactly; initial health at most one unit lower before (its band rounds
    // against the holder).
    assert_eq!(maint, settled.1);
    assert!(
        (0..=1).contains(&(init - settled.0)),
        "{init} vs {settled:?}"
    );
}

/// A sponsored pull feed only moves forward, so the registered account cannot show an earlier
/// price once a later one is posted (the review's finding: the first proposer picked among the
/// prices since expiry). On a pull market any verified update of the market's feed is a
/// settlement price: an update posted late keeps the publish time it was signed with.
#[tokio::test]
async fn on_a_pull_market_any_verified_update_of_its_feed_presents_the_earliest_price() {
    let mut w = World::listed().await;
    let expiry = w.expiry;
    let future = w.market(BTC_MARKET).await.series_count;
    let list = w.add_series_ix(
        BTC_MARKET,
        xmargin::instructions::AddSeriesParams {
            kind: xmargin::state::SeriesKind::Future,
            strike: 0,
            expiry,
        },
    );
    w.as_admin(&[list]).await.unwrap();
    after_expiry(&mut w, 900).await;
    // The sponsored feed already shows the price of 10 minutes after expiry.
    w.btc_price = 110_000 * 100_000_000;
    w.write_btc_oracle(|p| p.publish_time = expiry + 600).await;
    let propose = settle_series_ix(&w, BTC_MARKET, future);
    w.h.send(&[propose], &[]).await.unwrap();
    // The update of 5 s after expiry, posted to an account of its own.
    let clock = w.h.clock().await;
    let update = |feed_id, fully_verified| PullPrice {
        feed_id,
        price: 95_000 * 100_000_000,
        conf: 2_000_000_000,
        expo: -8,
        ema: 95_000 * 100_000_000,
        publish_time: expiry + 5,
        slot: clock.slot,
        fully_verified,
    };
    let present = |w: &mut World, price: PullPrice| {
        let account = anchor_lang::prelude::Pubkey::new_unique();
        w.h.write_pull_oracle(account, price);
        xmargin_client::instructions::settle_expired_series(BTC_MARKET, account, future)
    };
    let watched = [market_address(BTC_MARKET)];
    let other_feed = present(&mut w, update([8; 32], true));
    w.h.assert_refused(
        &watched,
        &[other_feed],
        &[],
        program_error(XmarginError::OracleFeedMismatch),
    )
    .await;
    let unverified = present(&mut w, update(BTC_FEED, false));
    w.h.assert_refused(
        &watched,
        &[unverified],
        &[],
        program_error(XmarginError::OracleNotVerified),
    )
    .await;
    // A legacy market still takes its registered oracle only.
    let foreign = anchor_lang::prelude::Pubkey::new_unique();
    w.h.write_legacy_oracle(foreign, LegacyPrice::fresh(w.sol_price, &clock));
    let on_legacy =
        xmargin_client::instructions::settle_expired_series(SOL_MARKET, foreign, SOL_FUTURE);
    w.h.assert_refused(
        &[market_address(SOL_MARKET)],
        &[on_legacy],
        &[],
        program_error(XmarginError::MissingOracle),
    )
    .await;
    let earliest = present(&mut w, update(BTC_FEED, true));
    let replaced =
        w.h.send_for_events::<SettlementPriceProposed>(&[earliest], &[])
            .await
            .unwrap();
    assert_eq!(replaced[0].publish_time, expiry + 5);
    // One contract is 0.01 BTC.
    assert_eq!(replaced[0].settlement_price, 950 * USDC);
    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(replaced[0].final_at - now).await;
    w.refresh_oracles().await;
    let finalize = settle_series_ix(&w, BTC_MARKET, future);
    let settled =
        w.h.send_for_events::<SeriesSettled>(&[finalize], &[])
            .await
            .unwrap();
    assert_eq!(settled[0].settlement_price, 950 * USDC);
}
