//! Perpetual funding: the mark is a TWAP of cleared prices, the index the oracle; longs pay
//! shorts while mark > index, at a clamped daily rate accrued per second, settled on touch.
mod common;

use common::program_error;
use common::world::*;
use xmargin::error::XmarginError;
use xmargin::state::MAX_FUNDING_RATE_BPS;

#[tokio::test]
async fn longs_pay_shorts_when_the_mark_is_above_the_index() {
    let mut w = World::listed().await;
    let long = w.funded_trader(10_000 * USDC).await;
    let short = w.funded_trader(10_000 * USDC).await;
    // Cleared at 152.5 against an index of 150: a 1.7 % premium, clamped to 1 % a day.
    w.trade(&long, &short, SOL_MARKET, SOL_PERP, 10, 152_500_000)
        .await
        .unwrap();
    let start_long = w.margin_account(long.account).await.quote_balance();
    let start_short = w.margin_account(short.account).await.quote_balance();
    // The first crank starts the clock; then three cranks an hour apart.
    w.h.send(&[w.crank_funding_ix(SOL_MARKET, SOL_PERP)], &[])
        .await
        .unwrap();
    let mut expected_index = 0i64;
    for _ in 0..3 {
        w.h.advance(3_600).await;
        w.refresh_oracles().await;
        w.h.send(&[w.crank_funding_ix(SOL_MARKET, SOL_PERP)], &[])
            .await
            .unwrap();
        // 150 USDC x 1 % a day x 1/24 day, per contract.
        expected_index += 150 * USDC as i64 * MAX_FUNDING_RATE_BPS * 3_600 / (10_000 * 86_400);
        let series = w.market(SOL_MARKET).await.series[SOL_PERP as usize];
        assert_eq!(series.funding_index, expected_index);
        w.assert_books_reconcile().await;
    }
    assert_eq!(expected_index, 187_500);
    // Balances move when the accounts are touched: 10 contracts x 0.1875 USDC.
    w.withdraw(&long, QUOTE, USDC).await.unwrap();
    w.withdraw(&short, QUOTE, USDC).await.unwrap();
    assert_eq!(
        w.margin_account(long.account).await.quote_balance(),
        start_long - 1_875_000 - USDC as i64
    );
    assert_eq!(
        w.margin_account(short.account).await.quote_balance(),
        start_short + 1_875_000 - USDC as i64
    );
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_new_position_owes_no_past_funding_and_shorts_pay_below_the_index() {
    let mut w = World::listed().await;
    let a = w.funded_trader(10_000 * USDC).await;
    let b = w.funded_trader(10_000 * USDC).await;
    // Cleared at 147.75: a 1.5 % discount, clamped to -1 % a day.
    w.trade(&a, &b, SOL_MARKET, SOL_PERP, 4, 147_750_000)
        .await
        .unwrap();
    w.h.send(&[w.crank_funding_ix(SOL_MARKET, SOL_PERP)], &[])
        .await
        .unwrap();
    w.h.advance(7_200).await;
    w.refresh_oracles().await;
    w.h.send(&[w.crank_funding_ix(SOL_MARKET, SOL_PERP)], &[])
        .await
        .unwrap();
    let index = w.market(SOL_MARKET).await.series[SOL_PERP as usize].funding_index;
    assert_eq!(
        index,
        -(150 * USDC as i64) * 100 * 7_200 / (10_000 * 86_400)
    );
    // A third account joins now: it starts at the current index.
    let c = w.funded_trader(10_000 * USDC).await;
    let before = w.margin_account(c.account).await.quote_balance();
    w.trade(&c, &a, SOL_MARKET, SOL_PERP, 1, 150 * USDC)
        .await
        .unwrap();
    let joined = w.margin_account(c.account).await;
    assert_eq!(
        joined
            .position(SOL_MARKET, SOL_PERP)
            .unwrap()
            .funding_snapshot,
        index
    );
    assert_eq!(joined.quote_balance(), before - 75_000); // the taker fee only
                                                         // The first account was touched as the maker: the long received (index is negative).
    let a_now = w.margin_account(a.account).await;
    assert_eq!(
        a_now
            .position(SOL_MARKET, SOL_PERP)
            .unwrap()
            .funding_snapshot,
        index
    );
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn funding_cranks_only_perps_on_a_fresh_registered_oracle() {
    let mut w = World::listed().await;
    let watched = [market_address(SOL_MARKET)];
    let future = w.crank_funding_ix(SOL_MARKET, SOL_FUTURE);
    w.h.assert_refused(
        &watched,
        &[future],
        &[],
        program_error(XmarginError::InvalidSeries),
    )
    .await;
    let mut foreign = w.crank_funding_ix(SOL_MARKET, SOL_PERP);
    foreign.accounts[3].pubkey = w.btc_oracle;
    w.h.assert_refused(
        &watched,
        &[foreign],
        &[],
        program_error(XmarginError::MissingOracle),
    )
    .await;
    let now = w.h.clock().await.unix_timestamp;
    w.write_sol_oracle(|p| p.publish_time = now - 120).await;
    let stale = w.crank_funding_ix(SOL_MARKET, SOL_PERP);
    w.h.assert_refused(
        &watched,
        &[stale],
        &[],
        program_error(XmarginError::OracleStale),
    )
    .await;
}
