//! Oracle validity by action: opening risk needs a fresh, tight, trading, verified price from the
//! registered account; reducing risk tolerates an older or wider one; nothing accepts a bad one.
mod common;

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use common::world::*;
use common::{assert_error, program_error, LegacyPrice};
use pyth_sdk_solana::state::PriceStatus;
use xmargin::error::XmarginError;

/// A taker long 10 SOL perps and short 1 BTC perp against a deep maker.
async fn positioned() -> (World, Trader, Trader) {
    let mut w = World::listed().await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(1_000_000 * USDC).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    w.trade(&taker, &maker, BTC_MARKET, BTC_PERP, -1, 1_000 * USDC)
        .await
        .unwrap();
    (w, taker, maker)
}

fn opening(w: &World, taker: &Trader, maker: &Trader) -> Instruction {
    w.trade_ix(taker, maker, SOL_MARKET, SOL_PERP, 1, 150 * USDC)
}

fn reducing(w: &World, taker: &Trader, maker: &Trader) -> Instruction {
    w.trade_ix(taker, maker, SOL_MARKET, SOL_PERP, -1, 150 * USDC)
}

async fn send(
    w: &mut World,
    taker: &Trader,
    maker: &Trader,
    ix: Instruction,
) -> Result<(), solana_program_test::BanksClientError> {
    let (t, m) = (taker.key.insecure_clone(), maker.key.insecure_clone());
    w.h.send(&[ix], &[&t, &m]).await
}

async fn assert_refused(
    w: &mut World,
    taker: &Trader,
    maker: &Trader,
    ix: Instruction,
    error: XmarginError,
) {
    let watched = [
        taker.account,
        maker.account,
        registry_address(),
        market_address(SOL_MARKET),
    ];
    let signers = [&taker.key, &maker.key];
    w.h.assert_refused(&watched, &[ix], &signers, program_error(error))
        .await;
}

#[tokio::test]
async fn an_old_price_stops_new_risk_but_not_reductions() {
    let (mut w, taker, maker) = positioned().await;
    let now = w.h.clock().await.unix_timestamp;
    // 120 s old: beyond the strict 60 s, within the tolerant 600 s.
    w.write_sol_oracle(|p| p.publish_time = now - 120).await;
    let ix = opening(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleStale).await;
    let ix = reducing(&w, &taker, &maker);
    send(&mut w, &taker, &maker, ix).await.unwrap();
    // Beyond every guard: even a reduction is refused.
    w.write_sol_oracle(|p| p.publish_time = now - 601).await;
    let ix = reducing(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleStale).await;
}

#[tokio::test]
async fn staleness_counts_slots_too() {
    let (mut w, taker, maker) = positioned().await;
    let slot = w.h.clock().await.slot;
    w.h.ctx.warp_to_slot(slot + 400).unwrap();
    // Published "now" in seconds, but 151 slots ago.
    w.write_sol_oracle(|p| p.slot = slot + 400 - 151).await;
    w.write_btc_oracle(|_| {}).await;
    let ix = opening(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleStale).await;
    w.refresh_oracles().await;
    let ix = opening(&w, &taker, &maker);
    send(&mut w, &taker, &maker, ix).await.unwrap();
}

#[tokio::test]
async fn a_wide_confidence_interval_stops_new_risk_but_not_reductions() {
    let (mut w, taker, maker) = positioned().await;
    // 2 % of the price: beyond the strict 1 %, within the tolerant 5 %.
    w.write_sol_oracle(|p| p.conf = (p.price / 50) as u64).await;
    let ix = opening(&w, &taker, &maker);
    assert_refused(
        &mut w,
        &taker,
        &maker,
        ix,
        XmarginError::OracleConfidenceTooWide,
    )
    .await;
    let ix = reducing(&w, &taker, &maker);
    send(&mut w, &taker, &maker, ix).await.unwrap();
    w.write_sol_oracle(|p| p.conf = (p.price / 10) as u64).await;
    let ix = reducing(&w, &taker, &maker);
    assert_refused(
        &mut w,
        &taker,
        &maker,
        ix,
        XmarginError::OracleConfidenceTooWide,
    )
    .await;
}

#[tokio::test]
async fn a_halted_feed_is_never_used() {
    let (mut w, taker, maker) = positioned().await;
    w.write_sol_oracle(|p| p.status = PriceStatus::Halted).await;
    let ix = reducing(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleNotTrading).await;
}

#[tokio::test]
async fn a_non_positive_price_is_invalid() {
    let (mut w, taker, maker) = positioned().await;
    w.write_sol_oracle(|p| p.price = 0).await;
    let ix = reducing(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleInvalid).await;
}

#[tokio::test]
async fn oracle_accounts_must_be_pyth_owned_and_well_formed() {
    let (mut w, taker, maker) = positioned().await;
    let clock = w.h.clock().await;
    let price = LegacyPrice::fresh(SOL_PRICE, &clock);
    // The registered address, rewritten by another program.
    w.h.write_legacy_oracle_owned_by(w.sol_oracle, price, Pubkey::new_unique());
    let ix = reducing(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleWrongOwner).await;
    // Pyth-owned but not a price account.
    w.h.set_account(
        w.sol_oracle,
        xmargin::oracle::PYTH_LEGACY_PROGRAM_ID,
        vec![7; 3312],
    );
    let ix = reducing(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleInvalid).await;
}

#[tokio::test]
async fn a_foreign_price_account_does_not_stand_in_for_the_registered_one() {
    let (mut w, taker, maker) = positioned().await;
    let foreign = Pubkey::new_unique();
    let clock = w.h.clock().await;
    w.h.write_legacy_oracle(foreign, LegacyPrice::fresh(10 * SOL_PRICE, &clock));
    let mut ix = opening(&w, &taker, &maker);
    for meta in ix.accounts.iter_mut() {
        if meta.pubkey == w.sol_oracle {
            *meta = AccountMeta::new_readonly(foreign, false);
        }
    }
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::MissingOracle).await;
}

#[tokio::test]
async fn pull_updates_must_be_fully_verified_fresh_and_of_the_registered_feed() {
    let (mut w, taker, maker) = positioned().await;
    w.write_btc_oracle(|p| p.fully_verified = false).await;
    let ix = opening(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleNotVerified).await;
    w.write_btc_oracle(|p| p.feed_id = [8; 32]).await;
    let ix = opening(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleFeedMismatch).await;
    let now = w.h.clock().await.unix_timestamp;
    w.write_btc_oracle(|p| p.publish_time = now - 61).await;
    let ix = opening(&w, &taker, &maker);
    assert_refused(&mut w, &taker, &maker, ix, XmarginError::OracleStale).await;
    w.write_btc_oracle(|_| {}).await;
    let ix = opening(&w, &taker, &maker);
    send(&mut w, &taker, &maker, ix).await.unwrap();
}

#[tokio::test]
async fn collateral_without_positions_or_debt_withdraws_without_any_price() {
    let mut w = World::listed().await;
    let trader = w.trader(100 * USDC, SOL_LAMPORTS).await;
    w.deposit(&trader, QUOTE, 100 * USDC).await.unwrap();
    w.deposit(&trader, SOL_ASSET, SOL_LAMPORTS).await.unwrap();
    w.write_sol_oracle(|p| p.status = PriceStatus::Halted).await;
    w.withdraw(&trader, QUOTE, 60 * USDC).await.unwrap();
    w.withdraw(&trader, SOL_ASSET, SOL_LAMPORTS / 2)
        .await
        .unwrap();
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn an_account_with_positions_withdraws_only_against_fresh_prices() {
    let (mut w, taker, _maker) = positioned().await;
    let now = w.h.clock().await.unix_timestamp;
    w.write_sol_oracle(|p| p.publish_time = now - 120).await;
    let key = taker.key.insecure_clone();
    let ix = w.withdraw_ix(&key, taker.account, taker.usdc, QUOTE, USDC);
    let before = w.h.snapshot(&[taker.account, registry_address()]).await;
    let result = w.h.send(&[ix], &[&key]).await;
    assert_error(&result, program_error(XmarginError::OracleStale));
    assert_eq!(
        w.h.snapshot(&[taker.account, registry_address()]).await,
        before
    );
    w.refresh_oracles().await;
    w.withdraw(&taker, QUOTE, USDC).await.unwrap();
}

/// Initial margin values collateral at the low end of the price band and charges net delta for
/// the band's width: a slow average far below the price makes the same trade fail.
#[tokio::test]
async fn opening_risk_must_survive_the_whole_price_band() {
    let mut w = World::listed().await;
    let maker = w.funded_trader(1_000_000 * USDC).await;
    let trade =
        |w: &World, taker: &Trader| w.trade_ix(taker, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC);
    // 10 SOL of collateral (1,500 USDC at spot, 1,200 at the 80 % initial weight) against a
    // long of 10 SOL perps needing about 282 USDC of initial margin.
    let calm = w.trader(0, 10 * SOL_LAMPORTS).await;
    w.deposit(&calm, SOL_ASSET, 10 * SOL_LAMPORTS)
        .await
        .unwrap();
    let ix = trade(&w, &calm);
    let m = maker.key.insecure_clone();
    w.h.send(&[ix], &[&calm.key, &m]).await.unwrap();

    // The average lags at 90: collateral counts at 90 (720 USDC weighted instead of 1,200)
    // and the 40 % band costs 600 more on 1,500 of delta: the same trade no longer fits.
    w.write_sol_oracle(|p| p.ema = 90 * 100_000_000).await;
    let lagging = w.trader(0, 10 * SOL_LAMPORTS).await;
    w.deposit(&lagging, SOL_ASSET, 10 * SOL_LAMPORTS)
        .await
        .unwrap();
    let ix = trade(&w, &lagging);
    let watched = [lagging.account, maker.account];
    let before = w.h.snapshot(&watched).await;
    let result = w.h.send(&[ix], &[&lagging.key, &m]).await;
    assert_error(
        &result,
        program_error(XmarginError::TakerBelowInitialMargin),
    );
    assert_eq!(w.h.snapshot(&watched).await, before);
}

#[tokio::test]
async fn an_account_behind_a_halted_oracle_can_still_be_funded() {
    let (mut w, taker, _maker) = positioned().await;
    w.write_sol_oracle(|p| p.status = PriceStatus::Halted).await;
    let before = w.margin_account(taker.account).await.quote_balance();
    let friend = w.trader(500 * USDC, 0).await;
    let ix = w.deposit_ix(&friend.key, taker.account, friend.usdc, QUOTE, 500 * USDC);
    w.h.send(&[ix], &[&friend.key]).await.unwrap();
    assert_eq!(
        w.margin_account(taker.account).await.quote_balance(),
        before + 500 * USDC as i64
    );
    w.assert_books_reconcile().await;
}
