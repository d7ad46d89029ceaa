//! Perpetual funding: the premium is recent banded cleared volume over the oracle index,
//! weighted by size and anchored at the index by the open interest; longs pay shorts while it is
//! positive, at a clamped daily rate accrued per second up to every fill, liquidation and crank,
//! settled on touch. Open interest and positions are capped.
mod common;

use common::program_error;
use common::world::*;
use xmargin::error::XmarginError;
use xmargin::events::FundingUpdated;
use xmargin::state::{UnderlyingRisk, MAX_OPEN_INTEREST_CAP};

/// Funding per contract for `secs` at a mean rate of `twice_rate_ppm` / 2 a day on an index of
/// 150 USDC, toward zero.
fn per_contract(twice_rate_ppm: i64, secs: i64) -> i64 {
    (150 * USDC as i128 * twice_rate_ppm as i128 * secs as i128 / (2 * 1_000_000 * 86_400)) as i64
}

async fn crank(w: &mut World) -> FundingUpdated {
    let ix = w.crank_funding_ix(SOL_MARKET, SOL_PERP);
    let mut events =
        w.h.send_for_events::<FundingUpdated>(&[ix], &[])
            .await
            .unwrap();
    events.remove(0)
}

async fn funding_index(w: &mut World) -> i64 {
    w.market(SOL_MARKET).await.series[SOL_PERP as usize].funding_index
}

#[tokio::test]
async fn longs_pay_shorts_at_the_premium_of_banded_volume_anchored_at_the_index() {
    let mut w = World::listed().await;
    let long = w.funded_trader(10_000 * USDC).await;
    let short = w.funded_trader(10_000 * USDC).await;
    w.align_to_premium_window().await;
    // 10 cleared at 152.5 against an index of 150: a premium of 16,666 ppm on 10 contracts,
    // anchored by the 10 open: 8,333 ppm (0.83 % a day, inside the 1 % clamp).
    w.trade(&long, &short, SOL_MARKET, SOL_PERP, 10, 152_500_000)
        .await
        .unwrap();
    let start_long = w.margin_account(long.account).await.quote_balance();
    let start_short = w.margin_account(short.account).await.quote_balance();
    let first = crank(&mut w).await;
    assert_eq!((first.premium_ppm, first.per_contract), (8_333, 0));
    // The fill's window: the whole hour at 8,333 ppm a day.
    w.h.advance(3_600).await;
    w.refresh_oracles().await;
    let hour = crank(&mut w).await;
    assert_eq!(hour.rate_ppm_per_day, 8_333);
    assert_eq!(hour.per_contract, per_contract(2 * 8_333, 3_600));
    assert_eq!(hour.per_contract, 52_081);
    assert_eq!(hour.premium_ppm, 8_333);
    // The next window: the fill's weight fades against the open interest, the premium with
    // it; then nothing.
    w.h.advance(3_600).await;
    w.refresh_oracles().await;
    let fading = crank(&mut w).await;
    assert!(fading.rate_ppm_per_day < 8_333 / 2 + 1_000 && fading.rate_ppm_per_day > 0);
    assert_eq!(fading.per_contract, 31_982);
    assert_eq!(fading.premium_ppm, 0);
    w.h.advance(3_600).await;
    w.refresh_oracles().await;
    assert_eq!(crank(&mut w).await.per_contract, 0);
    w.assert_books_reconcile().await;
    assert_eq!(funding_index(&mut w).await, 84_063);
    // Balances move when the accounts are touched: 10 contracts x 0.084063 USDC.
    w.withdraw(&long, QUOTE, USDC).await.unwrap();
    w.withdraw(&short, QUOTE, USDC).await.unwrap();
    assert_eq!(
        w.margin_account(long.account).await.quote_balance(),
        start_long - 840_630 - USDC as i64
    );
    assert_eq!(
        w.margin_account(short.account).await.quote_balance(),
        start_short + 840_630 - USDC as i64
    );
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_new_position_owes_no_past_funding_and_shorts_pay_below_the_index() {
    let mut w = World::listed().await;
    let a = w.funded_trader(10_000 * USDC).await;
    let b = w.funded_trader(10_000 * USDC).await;
    w.align_to_premium_window().await;
    // Cleared at 147.75: a 15,000 ppm discount on 4 contracts, anchored by the 4 open.
    w.trade(&a, &b, SOL_MARKET, SOL_PERP, 4, 147_750_000)
        .await
        .unwrap();
    crank(&mut w).await;
    w.h.advance(7_200).await;
    w.refresh_oracles().await;
    crank(&mut w).await;
    // An hour at -7,500 ppm a day, then the hour it fades out in.
    let index = funding_index(&mut w).await;
    assert!(index < per_contract(-2 * 7_500, 3_600) && index > per_contract(-2 * 7_500, 7_200));
    assert_eq!(index, -75_660);
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
    // The taker fee only.
    assert_eq!(joined.quote_balance(), before - 75_000);
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

/// Funding accrues for the time each position is held: the index is brought up to date at
/// every fill, so a position opened half an hour before a crank owes that half hour at the
/// rate in force then, not the hour since the last crank; and every payment is matched, to the
/// unit.
#[tokio::test]
async fn a_position_opened_before_a_crank_owes_only_for_the_time_it_held_and_funding_is_zero_sum() {
    let mut w = World::listed().await;
    let a = w.funded_trader(100_000 * USDC).await;
    let b = w.funded_trader(100_000 * USDC).await;
    let c = w.funded_trader(100_000 * USDC).await;
    let d = w.funded_trader(100_000 * USDC).await;
    w.align_to_premium_window().await;
    // A premium at the 1 % clamp: 1,000 at the band's top edge (19,999 ppm, anchored: 9,999).
    let band = w.fill_band(SOL_MARKET, SOL_PERP).await;
    w.trade(&a, &b, SOL_MARKET, SOL_PERP, 1_000, band.high)
        .await
        .unwrap();
    crank(&mut w).await;
    w.h.advance(1_800).await;
    w.refresh_oracles().await;
    // C opens 1,000 long from D half an hour before the next crank, at the index.
    w.trade(&c, &d, SOL_MARKET, SOL_PERP, 1_000, 150 * USDC)
        .await
        .unwrap();
    // 1,800 s at 9,999 ppm a day.
    let at_open = funding_index(&mut w).await;
    assert_eq!(at_open, per_contract(2 * 9_999, 1_800));
    assert_eq!(at_open, 31_246);
    w.h.advance(1_800).await;
    w.refresh_oracles().await;
    crank(&mut w).await;
    let at_crank = funding_index(&mut w).await;
    let mut paid = Vec::new();
    for trader in [&a, &b, &c, &d] {
        let before = w.margin_account(trader.account).await.quote_balance();
        w.withdraw(trader, QUOTE, 1).await.unwrap();
        let after = w.margin_account(trader.account).await.quote_balance();
        paid.push(before - after - 1);
    }
    // C owes its half hour at the rate after its fill: 4,999 ppm (the premium diluted by C's
    // volume at the index and the larger open interest), never the whole hour.
    // (The unit more is the remainder carried from the first half hour.)
    let second = at_crank - at_open;
    assert_eq!(second, per_contract(2 * 4_999, 1_800) + 1);
    assert_eq!(second, 15_622);
    assert_eq!(paid[2], 1_000 * second);
    assert_eq!(paid[0], 1_000 * at_crank);
    assert_eq!(paid.iter().sum::<i64>(), 0, "{paid:?}");
    w.assert_books_reconcile().await;
}

/// Open interest per series and each account's position per series are capped (set by the
/// risk authority, bounded); fills that reduce pass whatever the caps.
#[tokio::test]
async fn open_interest_and_positions_are_capped() {
    let mut w = World::listed().await;
    let a = w.funded_trader(100_000 * USDC).await;
    let b = w.funded_trader(100_000 * USDC).await;
    let c = w.funded_trader(100_000 * USDC).await;
    let risk = w.market(SOL_MARKET).await.risk;
    let capped = UnderlyingRisk {
        max_open_interest: 100,
        max_position: 60,
        ..risk
    };
    for (bad, what) in [
        (
            UnderlyingRisk {
                max_position: 0,
                ..capped
            },
            "no position",
        ),
        (
            UnderlyingRisk {
                max_position: 101,
                ..capped
            },
            "position above open interest",
        ),
        (
            UnderlyingRisk {
                max_open_interest: MAX_OPEN_INTEREST_CAP + 1,
                max_position: 1,
                ..capped
            },
            "open interest past its bound",
        ),
    ] {
        let update = market_risk_ix(&w, SOL_MARKET, bad);
        let authority = w.risk_authority.insecure_clone();
        w.h.assert_refused(
            &[market_address(SOL_MARKET)],
            &[update],
            &[&authority],
            program_error(XmarginError::InvalidParameter),
        )
        .await;
        let _ = what; // names the case in the listing above
    }
    let update = market_risk_ix(&w, SOL_MARKET, capped);
    w.as_risk_authority(&[update]).await.unwrap();
    let watched = [a.account, b.account, c.account, market_address(SOL_MARKET)];
    w.trade(&a, &b, SOL_MARKET, SOL_PERP, 60, 150 * USDC)
        .await
        .unwrap();
    for (taker, maker, size, error) in [
        (&a, &c, 1, XmarginError::PositionCapExceeded),
        (&c, &b, 1, XmarginError::PositionCapExceeded),
    ] {
        let ix = w.trade_ix(taker, maker, SOL_MARKET, SOL_PERP, size, 150 * USDC);
        w.h.assert_refused(
            &watched,
            &[ix],
            &[&taker.key, &maker.key],
            program_error(error),
        )
        .await;
    }
    w.trade(&c, &a, SOL_MARKET, SOL_PERP, 40, 150 * USDC)
        .await
        .unwrap();
    // a: 20, b: -60, c: 40; open interest 60. Opening 41 more would pass 100.
    let d = w.funded_trader(100_000 * USDC).await;
    let e = w.funded_trader(100_000 * USDC).await;
    let watched = [
        a.account,
        b.account,
        d.account,
        e.account,
        market_address(SOL_MARKET),
    ];
    let ix = w.trade_ix(&d, &e, SOL_MARKET, SOL_PERP, 41, 150 * USDC);
    w.h.assert_refused(
        &watched,
        &[ix],
        &[&d.key, &e.key],
        program_error(XmarginError::OpenInterestCapExceeded),
    )
    .await;
    w.trade(&d, &e, SOL_MARKET, SOL_PERP, 40, 150 * USDC)
        .await
        .unwrap();
    assert_eq!(
        w.market(SOL_MARKET).await.series[SOL_PERP as usize].open_interest_long,
        100
    );
    // Caps lowered below what is held: reducing still passes, adding does not.
    let lowered = UnderlyingRisk {
        max_open_interest: 10,
        max_position: 10,
        ..risk
    };
    w.set_market_risk(SOL_MARKET, lowered).await;
    w.trade(&b, &d, SOL_MARKET, SOL_PERP, 5, 150 * USDC)
        .await
        .unwrap();
    // a adds (20 -> 21) against d reducing: open interest unchanged, a's position capped.
    let ix = w.trade_ix(&a, &d, SOL_MARKET, SOL_PERP, 1, 150 * USDC);
    w.h.assert_refused(
        &watched,
        &[ix],
        &[&a.key, &d.key],
        program_error(XmarginError::PositionCapExceeded),
    )
    .await;
    // d flips from long 35 to short 11 while b covers: a new position past the cap, though
    // smaller than the old one and open interest falls.
    let ix = w.trade_ix(&b, &d, SOL_MARKET, SOL_PERP, 46, 150 * USDC);
    w.h.assert_refused(
        &watched,
        &[ix],
        &[&b.key, &d.key],
        program_error(XmarginError::PositionCapExceeded),
    )
    .await;
    w.trade(&b, &d, SOL_MARKET, SOL_PERP, 45, 150 * USDC)
        .await
        .unwrap();
    assert_eq!(
        w.margin_account(d.account)
            .await
            .position(SOL_MARKET, SOL_PERP)
            .unwrap()
            .size,
        -10
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
