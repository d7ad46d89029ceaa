//! Expiry: the settlement price comes from the oracle inside the settlement window, options and
//! futures cash-settle account by account, and nothing settles twice or early.
mod common;

use anchor_lang::solana_program::instruction::Instruction;
use common::program_error;
use common::world::*;
use xmargin::error::XmarginError;
use xmargin::state::SERIES_SETTLED;

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

#[tokio::test]
async fn options_and_futures_settle_to_the_oracle_price() {
    let (mut w, taker, maker) = traded().await;
    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(w.expiry - now + 10).await;
    // SOL settles at 160: calls pay 10, puts nothing, futures 160.
    w.set_sol_price(160 * 100_000_000).await;
    let ixs: Vec<Instruction> = [SOL_FUTURE, SOL_CALL_150, SOL_PUT_140]
        .iter()
        .map(|series| settle_series_ix(&w, SOL_MARKET, *series))
        .collect();
    w.h.send(&ixs, &[]).await.unwrap();
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

    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(w.expiry - now + 10).await;
    // A price published before expiry is not a settlement price.
    let expiry = w.expiry;
    w.write_sol_oracle(|p| p.publish_time = expiry - 1).await;
    w.h.advance(0).await;
    let before_expiry = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, before_expiry, XmarginError::OutsideSettlementWindow).await;
    // Nor is one from after the window.
    w.h.advance(3_700).await;
    w.refresh_oracles().await;
    let late = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    refused(&mut w, late, XmarginError::OutsideSettlementWindow).await;
    // Another account than the market's oracle.
    let mut foreign = settle_series_ix(&w, SOL_MARKET, SOL_CALL_150);
    foreign.accounts[3].pubkey = w.btc_oracle;
    refused(&mut w, foreign, XmarginError::MissingOracle).await;
}
