mod common;

use common::world::*;
use common::{assert_error, program_error};
use xmargin::error::XmarginError;

#[tokio::test]
async fn a_perp_trade_moves_positions_fees_and_open_interest() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
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
    assert_eq!(w.registry().await.assets[0].fees_accrued, 1_050_000);
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_trade_beyond_initial_margin_is_refused() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(100 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    let result = w
        .trade(&taker, &maker, SOL_MARKET, SOL_PERP, 100, 150 * USDC)
        .await;
    assert_error(
        &result,
        program_error(XmarginError::TakerBelowInitialMargin),
    );
}
