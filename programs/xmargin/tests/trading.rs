//! clear_trade: positions, cost basis and realized PnL, fees, open interest, margin checks on
//! both sides, and every refusal.
mod common;

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use common::program_error;
use common::world::*;
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::events::TradeCleared;
use xmargin::instructions::AddSeriesParams;
use xmargin::state::*;

fn watched(taker: &Trader, maker: &Trader) -> Vec<Pubkey> {
    vec![
        taker.account,
        maker.account,
        registry_address(),
        market_address(SOL_MARKET),
        market_address(BTC_MARKET),
    ]
}

async fn assert_refused(
    w: &mut World,
    taker: &Trader,
    maker: &Trader,
    ixs: &[Instruction],
    signers: &[&Keypair],
    error: u32,
) {
    w.h.assert_refused(&watched(taker, maker), ixs, signers, error)
        .await;
}

/// (market, series, size, price) refused with `error`, nothing changed.
async fn refused_trade(
    w: &mut World,
    taker: &Trader,
    maker: &Trader,
    (market, series, size, price): (u8, u8, i64, u64),
    error: XmarginError,
) {
    let ix = w.trade_ix(taker, maker, market, series, size, price);
    let (t, m) = (taker.key.insecure_clone(), maker.key.insecure_clone());
    assert_refused(w, taker, maker, &[ix], &[&t, &m], program_error(error)).await;
}

#[tokio::test]
async fn a_perp_trade_moves_positions_fees_and_open_interest() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    let ix = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC);
    let events =
        w.h.send_for_events::<TradeCleared>(&[ix], &[&taker.key, &maker.key])
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(
        (event.size, event.price, event.taker_fee, event.maker_fee),
        (10, 150 * USDC, 750_000, 300_000)
    );
    assert_eq!((event.taker_position, event.maker_position), (10, -10));
    let t = w.margin_account(taker.account).await;
    let m = w.margin_account(maker.account).await;
    let tp = t.position(SOL_MARKET, SOL_PERP).unwrap();
    let mp = m.position(SOL_MARKET, SOL_PERP).unwrap();
    assert_eq!((tp.size, tp.cost_basis), (10, 1_500 * USDC as i64));
    assert_eq!((mp.size, mp.cost_basis), (-10, -1_500 * USDC as i64));
    // 5 bps and 2 bps of 1,500 USDC
    assert_eq!(t.quote_balance(), (10_000 * USDC - 750_000) as i64);
    assert_eq!(m.quote_balance(), (10_000 * USDC - 300_000) as i64);
    let market = w.market(SOL_MARKET).await;
    assert_eq!(market.series[SOL_PERP as usize].open_interest_long, 10);
    assert_eq!(market.series[SOL_PERP as usize].open_interest_short, 10);
    assert_eq!(w.registry().await.assets[0].fees_accrued, 1_050_000);
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn closing_realizes_pnl_and_frees_the_slot() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    let fees_open = (750_000, 300_000);
    // SOL at 160: the taker sells 4 back at 160: +40 USDC realized; the maker covers 4: -40.
    w.set_sol_price(160 * 100_000_000).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, -4, 160 * USDC)
        .await
        .unwrap();
    let fees_reduce = (320_000, 128_000);
    let t = w.margin_account(taker.account).await;
    let m = w.margin_account(maker.account).await;
    assert_eq!(
        t.quote_balance(),
        (10_040 * USDC - fees_open.0 - fees_reduce.0) as i64
    );
    assert_eq!(
        m.quote_balance(),
        (9_960 * USDC - fees_open.1 - fees_reduce.1) as i64
    );
    let tp = t.position(SOL_MARKET, SOL_PERP).unwrap();
    assert_eq!((tp.size, tp.cost_basis), (6, 900 * USDC as i64));
    w.assert_books_reconcile().await;

    // Closing the rest empties the slot; open interest returns to zero.
    w.set_sol_price(SOL_PRICE).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, -6, 150 * USDC)
        .await
        .unwrap();
    let t = w.margin_account(taker.account).await;
    assert!(t.position(SOL_MARKET, SOL_PERP).is_none());
    assert!(!t.has_positions());
    let series = w.market(SOL_MARKET).await.series[SOL_PERP as usize];
    assert_eq!(
        (series.open_interest_long, series.open_interest_short),
        (0, 0)
    );
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn option_trades_across_markets_reconcile() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(20_000 * USDC).await;
    let maker = w.funded_trader(50_000 * USDC).await;
    // Buy calls, sell puts, buy the future, short BTC, then flip the call position.
    let trades = [
        (SOL_MARKET, SOL_CALL_150, 10, 12 * USDC),
        (SOL_MARKET, SOL_PUT_140, -5, 8 * USDC),
        (SOL_MARKET, SOL_FUTURE, 3, 151 * USDC),
        (BTC_MARKET, BTC_PERP, -2, 1_000 * USDC),
        (SOL_MARKET, SOL_CALL_150, -15, 13 * USDC),
    ];
    for (market, series, size, price) in trades {
        w.trade(&taker, &maker, market, series, size, price)
            .await
            .unwrap();
    }
    let t = w.margin_account(taker.account).await;
    let call = t.position(SOL_MARKET, SOL_CALL_150).unwrap();
    assert_eq!((call.size, call.cost_basis), (-5, -65 * USDC as i64));
    assert_eq!(t.position(SOL_MARKET, SOL_PUT_140).unwrap().size, -5);
    assert_eq!(t.position(BTC_MARKET, BTC_PERP).unwrap().size, -2);
    assert_eq!(t.open_positions().count(), 4);
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn the_maker_is_margin_checked_too() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(100_000 * USDC).await;
    let maker = w.funded_trader(100 * USDC).await;
    refused_trade(
        &mut w,
        &taker,
        &maker,
        (SOL_MARKET, SOL_PERP, 100, 150 * USDC),
        XmarginError::MakerBelowInitialMargin,
    )
    .await;
    refused_trade(
        &mut w,
        &maker,
        &taker,
        (SOL_MARKET, SOL_PERP, -100, 150 * USDC),
        XmarginError::TakerBelowInitialMargin,
    )
    .await;
}

#[tokio::test]
async fn trade_input_refusals() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    let cases = [
        (
            (SOL_MARKET, SOL_PERP, 0, 150 * USDC),
            XmarginError::ZeroAmount,
        ),
        ((SOL_MARKET, SOL_PERP, 1, 0), XmarginError::InvalidPrice),
        (
            (SOL_MARKET, SOL_PERP, i64::MAX, 2),
            XmarginError::AmountTooLarge,
        ),
        (
            (SOL_MARKET, SOL_PERP, i64::MIN, 1),
            XmarginError::AmountTooLarge,
        ),
        // The trade value fits in i64, but size x spot is past the engine's 2^58 notional.
        (
            (SOL_MARKET, SOL_PERP, 10_000_000_000, 150 * USDC),
            XmarginError::MathOverflow,
        ),
        // Far outside the band around the 150 mark.
        ((SOL_MARKET, SOL_PERP, 1, 2), XmarginError::FillOutsideBand),
        ((SOL_MARKET, 9, 1, USDC), XmarginError::UnknownSeries),
    ];
    for (trade, error) in cases {
        refused_trade(&mut w, &taker, &maker, trade, error).await;
    }
}

#[tokio::test]
async fn signers_must_own_or_be_delegated_the_accounts() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    let stranger = w.stranger().await;
    let (t, m) = (taker.key.insecure_clone(), maker.key.insecure_clone());
    // (taker signer, maker signer, maker account, error)
    let cases = [
        (&stranger, &m, maker.account, XmarginError::NotAccountOwner),
        (&t, &stranger, maker.account, XmarginError::NotAccountOwner),
        // One account as both sides: two mutable roles for one account.
        (&t, &t, taker.account, XmarginError::DuplicateAccount),
    ];
    for (taker_signer, maker_signer, maker_account, error) in cases {
        let ix = w.trade_ix_signed_by(
            taker_signer.pubkey(),
            taker.account,
            maker_signer.pubkey(),
            maker_account,
            SOL_MARKET,
            SOL_PERP,
            1,
            150 * USDC,
        );
        let signers: Vec<&Keypair> = if taker_signer.pubkey() == maker_signer.pubkey() {
            vec![taker_signer]
        } else {
            vec![taker_signer, maker_signer]
        };
        assert_refused(
            &mut w,
            &taker,
            &maker,
            &[ix],
            &signers,
            program_error(error),
        )
        .await;
    }
}

#[tokio::test]
async fn expired_series_do_not_trade() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(w.expiry - now).await;
    w.refresh_oracles().await;
    for series in [SOL_FUTURE, SOL_CALL_150, SOL_PUT_140] {
        refused_trade(
            &mut w,
            &taker,
            &maker,
            (SOL_MARKET, series, 1, USDC),
            XmarginError::SeriesExpired,
        )
        .await;
    }
    // Perps never expire.
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, 1, 150 * USDC)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_isolated_account_trades_only_its_market() {
    let mut w = World::listed().await;
    let isolated = w
        .trader_with_mode(10_000 * USDC, 0, MODE_ISOLATED, BTC_MARKET)
        .await;
    w.deposit(&isolated, QUOTE, 10_000 * USDC).await.unwrap();
    let maker = w.funded_trader(10_000 * USDC).await;
    refused_trade(
        &mut w,
        &isolated,
        &maker,
        (SOL_MARKET, SOL_PERP, 1, 150 * USDC),
        XmarginError::MarketNotAllowedInIsolatedMode,
    )
    .await;
    refused_trade(
        &mut w,
        &maker,
        &isolated,
        (SOL_MARKET, SOL_PERP, 1, 150 * USDC),
        XmarginError::MarketNotAllowedInIsolatedMode,
    )
    .await;
    w.trade(&isolated, &maker, BTC_MARKET, BTC_PERP, 1, 1_000 * USDC)
        .await
        .unwrap();
}

#[tokio::test]
async fn trading_is_refused_while_paused() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    let pause = w.pause_ix(PAUSE_TRADE);
    w.as_admin(&[pause]).await.unwrap();
    refused_trade(
        &mut w,
        &taker,
        &maker,
        (SOL_MARKET, SOL_PERP, 1, 150 * USDC),
        XmarginError::Paused,
    )
    .await;
}

#[tokio::test]
async fn every_market_and_oracle_of_both_books_must_be_passed() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    w.trade(&taker, &maker, BTC_MARKET, BTC_PERP, 1, 1_000 * USDC)
        .await
        .unwrap();
    let full = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_PERP, 1, 150 * USDC);
    let without = |key: Pubkey| {
        let mut ix = full.clone();
        ix.accounts.retain(|meta: &AccountMeta| meta.pubkey != key);
        ix
    };
    let (t, m) = (taker.key.insecure_clone(), maker.key.insecure_clone());
    let no_btc_market = without(market_address(BTC_MARKET));
    assert_refused(
        &mut w,
        &taker,
        &maker,
        &[no_btc_market],
        &[&t, &m],
        program_error(XmarginError::UnknownMarket),
    )
    .await;
    let no_btc_oracle = without(w.btc_oracle);
    assert_refused(
        &mut w,
        &taker,
        &maker,
        &[no_btc_oracle],
        &[&t, &m],
        program_error(XmarginError::MissingOracle),
    )
    .await;
    // A market account of another index does not stand in for the missing one.
    let mut swapped = no_btc_market_ix(&full);
    swapped
        .accounts
        .push(AccountMeta::new_readonly(market_address(SOL_MARKET), false));
    assert_refused(
        &mut w,
        &taker,
        &maker,
        &[swapped],
        &[&t, &m],
        program_error(XmarginError::UnknownMarket),
    )
    .await;
}

fn no_btc_market_ix(full: &Instruction) -> Instruction {
    let mut ix = full.clone();
    ix.accounts
        .retain(|meta| meta.pubkey != market_address(BTC_MARKET));
    ix
}

#[tokio::test]
async fn options_outside_the_engine_domain_are_refused() {
    let mut w = World::listed().await;
    let expiry = w.expiry;
    let ix = w.add_series_ix(
        SOL_MARKET,
        AddSeriesParams {
            kind: SeriesKind::Call,
            strike: 1,
            expiry,
        },
    );
    w.as_admin(&[ix]).await.unwrap();
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    refused_trade(
        &mut w,
        &taker,
        &maker,
        (SOL_MARKET, 4, 1, 150 * USDC),
        XmarginError::RiskEngine,
    )
    .await;
}

#[tokio::test]
async fn an_account_holds_at_most_thirty_two_positions() {
    let mut w = World::listed().await;
    let expiry = w.expiry;
    let calls = (0..28u64).map(|k| AddSeriesParams {
        kind: SeriesKind::Call,
        strike: (151 + k) * USDC,
        expiry,
    });
    w.list_series(SOL_MARKET, calls).await;
    // Thirty options on one underlying: computing all their bounds in one check exceeds the
    // 1.4M CU limit on SBF, so the market runs its option risk cache, as a listing this deep
    // must.
    w.enable_risk_cache(SOL_MARKET).await;
    w.refresh_risk_caches().await;
    let taker = w.funded_trader(1_000_000 * USDC).await;
    let maker = w.funded_trader(1_000_000 * USDC).await;
    for series in 0..32u8 {
        let price = w.mark(SOL_MARKET, series).await;
        w.trade(&taker, &maker, SOL_MARKET, series, 1, price)
            .await
            .unwrap();
    }
    assert_eq!(
        w.margin_account(taker.account)
            .await
            .open_positions()
            .count(),
        32
    );
    refused_trade(
        &mut w,
        &taker,
        &maker,
        (BTC_MARKET, BTC_PERP, 1, 1_000 * USDC),
        XmarginError::TooManyPositions,
    )
    .await;
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_reducing_trade_is_allowed_below_initial_margin_but_adding_is_not() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(300 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    // SOL falls 10 %: the long loses 150 USDC and ends below initial margin.
    w.set_sol_price(135 * 100_000_000).await;
    refused_trade(
        &mut w,
        &taker,
        &maker,
        (SOL_MARKET, SOL_PERP, 1, 135 * USDC),
        XmarginError::TakerBelowInitialMargin,
    )
    .await;
    // Selling one at the mark reduces risk: allowed although still below initial margin.
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, -1, 135 * USDC)
        .await
        .unwrap();
    assert_eq!(
        w.margin_account(taker.account)
            .await
            .position(SOL_MARKET, SOL_PERP)
            .unwrap()
            .size,
        9
    );
    // Reducing at a price far below the mark is outside the fill band (tests/attacks.rs).
    refused_trade(
        &mut w,
        &taker,
        &maker,
        (SOL_MARKET, SOL_PERP, -1, 100 * USDC),
        XmarginError::FillOutsideBand,
    )
    .await;
    w.assert_books_reconcile().await;
}

/// The point of the product: the same two hedged legs with the same total collateral pass in one
/// cross-margined account, and fail as two isolated accounts.
#[tokio::test]
async fn a_hedge_is_accepted_cross_margined_but_not_leg_by_leg() {
    let mut w = World::listed().await;
    let maker = w.funded_trader(1_000_000 * USDC).await;
    let total = 3_000 * USDC;
    // Long 100 SOL perps (15,000 USDC) against short 15 BTC perps (15,000 USDC).
    let legs = [
        (SOL_MARKET, SOL_PERP, 100, 150 * USDC),
        (BTC_MARKET, BTC_PERP, -15, 1_000 * USDC),
    ];
    let cross = w.funded_trader(total).await;
    for (market, series, size, price) in legs {
        w.trade(&cross, &maker, market, series, size, price)
            .await
            .unwrap();
    }
    let sol_only = w
        .trader_with_mode(total / 2, 0, MODE_ISOLATED, SOL_MARKET)
        .await;
    w.deposit(&sol_only, QUOTE, total / 2).await.unwrap();
    let btc_only = w
        .trader_with_mode(total / 2, 0, MODE_ISOLATED, BTC_MARKET)
        .await;
    w.deposit(&btc_only, QUOTE, total / 2).await.unwrap();
    refused_trade(
        &mut w,
        &sol_only,
        &maker,
        legs[0],
        XmarginError::TakerBelowInitialMargin,
    )
    .await;
    refused_trade(
        &mut w,
        &btc_only,
        &maker,
        legs[1],
        XmarginError::TakerBelowInitialMargin,
    )
    .await;
    w.assert_books_reconcile().await;
}
