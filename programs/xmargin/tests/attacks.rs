//! Attacks on the clearing house's economics, as two colluding accounts, a delegate key or a
//! liquidator would try them (docs/security.md lists each with the code that refuses it).
//! `cargo test attack_` runs them all. Each first tries the attack as it succeeded on the base
//! commit of issue 20 (fb7215f) and, should it go through, fails with what it extracted; then it
//! checks the named refusal left every account byte for byte unchanged, and what the program
//! still allows moves exactly the value stated.
mod common;

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use common::program_error;
use common::world::*;
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::events::PositionLiquidated;
use xmargin::state::*;
use xmargin_client::instructions as ix;

/// Pyth units (expo -8) per USDC.
const PYTH: i64 = 100_000_000;

fn watched(accounts: &[&Trader]) -> Vec<Pubkey> {
    let mut keys: Vec<Pubkey> = accounts.iter().map(|t| t.account).collect();
    keys.extend([
        registry_address(),
        market_address(SOL_MARKET),
        market_address(BTC_MARKET),
        clearinghouse_address(),
    ]);
    keys
}

/// Sends `ixs`; if the program takes them, the attack worked: fails with `extracted()`'s
/// account of it. Otherwise the refusal must be `error` and nothing may have changed.
async fn assert_attack_refused(
    w: &mut World,
    watched: &[Pubkey],
    ixs: &[Instruction],
    signers: &[&Keypair],
    error: XmarginError,
    extracted: impl FnOnce() -> String,
) {
    let before = w.h.snapshot(watched).await;
    let result = w.h.send(ixs, signers).await;
    assert!(result.is_err(), "attack succeeded: {}", extracted());
    common::assert_error(&result, program_error(error));
    assert_eq!(w.h.snapshot(watched).await, before, "refusal changed state");
}

fn trade_between(
    w: &World,
    (taker_signer, taker_account): (&Keypair, Pubkey),
    (maker_signer, maker_account): (&Keypair, Pubkey),
    series: u8,
    size: i64,
    price: u64,
) -> Instruction {
    w.trade_ix_signed_by(
        taker_signer.pubkey(),
        taker_account,
        maker_signer.pubkey(),
        maker_account,
        SOL_MARKET,
        series,
        size,
        price,
    )
}

/// Issue 20 §1, measured on the base commit: an account long 1,000 perps at 150 with 30,000
/// deposited, SOL at 142 (below initial margin, above maintenance), sold the whole position at
/// 115.40 to a colluding account: the colluder gained about 26,600 against a fair fill, the
/// account was left about 4,700 in debt. Now the fill must lie within the band, and the side
/// that only reduces below initial margin is judged at its adverse band edge.
#[tokio::test]
async fn attack_a_reducing_side_below_initial_margin_cannot_pay_away_its_requirement() {
    let mut w = World::listed().await;
    let target = w.funded_trader(30_000 * USDC).await;
    let colluder = w.funded_trader(1_000_000 * USDC).await;
    w.trade(&target, &colluder, SOL_MARKET, SOL_PERP, 1_000, 150 * USDC)
        .await
        .unwrap();
    w.set_sol_price(142 * PYTH).await;
    let (init_before, maint_before) = w.health(target.account).await;
    assert!(
        init_before < 0 && maint_before > 0,
        "{init_before} {maint_before}"
    );

    let mark = 142 * USDC;
    let off_market = 115_400_000;
    let sell_all =
        |w: &World, price: u64| w.trade_ix(&colluder, &target, SOL_MARKET, SOL_PERP, 1_000, price);
    let signers = [&colluder.key, &target.key];
    let ix = sell_all(&w, off_market);
    assert_attack_refused(
        &mut w,
        &watched(&[&target, &colluder]),
        &[ix],
        &signers,
        XmarginError::FillOutsideBand,
        || {
            format!(
                "the colluder bought 1,000 at 115.40 against a mark of 142: gained {} USDC",
                (mark - off_market) * 1_000 / USDC
            )
        },
    )
    .await;

    // The most the colluder can take: the whole position at the band's low edge.
    let band = w.fill_band(SOL_MARKET, SOL_PERP).await;
    assert_eq!(
        band.low,
        mark - mark / 50 + 1,
        "2 % of spot, rounded inwards"
    );
    let ix = sell_all(&w, band.low - 1);
    w.h.assert_refused(
        &watched(&[&target, &colluder]),
        &[ix],
        &signers,
        program_error(XmarginError::FillOutsideBand),
    )
    .await;
    let quote_before = w.margin_account(target.account).await.quote_balance();
    let ix = sell_all(&w, band.low);
    w.h.send(&[ix], &signers).await.unwrap();
    let account = w.margin_account(target.account).await;
    assert!(account.position(SOL_MARKET, SOL_PERP).is_none());
    let fee = (band.low * 1_000 * 2).div_ceil(10_000) as i64;
    // Realized at the edge: 1,000 x (low - 150), less the maker fee; nothing else moved.
    assert_eq!(
        account.quote_balance() - quote_before,
        1_000 * (band.low as i64 - 150 * USDC as i64) - fee
    );
    // The value given away against a fair fill is the band's width to the mark, and the account
    // ends with no less health than it began with less its fee, and no debt.
    assert_eq!((mark - band.low) * 1_000, 2_839_999_000);
    let (init_after, _) = w.health(target.account).await;
    assert!(
        init_after >= init_before - fee as i128,
        "{init_after} < {init_before}"
    );
    assert!(account.quote_balance() > 0);
    w.assert_books_reconcile().await;
}

/// An insolvent account (equity below zero at the mark) that only reduces could still hand its
/// counterparty the band's width, which the insurance fund and the other traders would then
/// owe. On the base commit it could close at any price; a reducing side must now end solvent
/// at its adverse edge, so the account is left to liquidation.
#[tokio::test]
async fn attack_an_insolvent_account_cannot_close_to_a_colluder() {
    let mut w = World::listed().await;
    let target = w.funded_trader(300 * USDC).await;
    let colluder = w.funded_trader(100_000 * USDC).await;
    w.trade(&target, &colluder, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    w.set_sol_price(100 * PYTH).await;
    let band = w.fill_band(SOL_MARKET, SOL_PERP).await;
    let before = w.margin_account(colluder.account).await.quote_balance();
    let ix = w.trade_ix(&target, &colluder, SOL_MARKET, SOL_PERP, -10, band.low);
    assert_attack_refused(
        &mut w,
        &watched(&[&target, &colluder]),
        &[ix],
        &[&target.key, &colluder.key],
        XmarginError::TakerBelowInitialMargin,
        || {
            format!(
                "the colluder bought 10 at {} against a mark of 100 from an account 200 in debt",
                band.low
            )
        },
    )
    .await;
    // Even at the mark: the account is already insolvent.
    let ix = w.trade_ix(&target, &colluder, SOL_MARKET, SOL_PERP, -10, 100 * USDC);
    w.h.assert_refused(
        &watched(&[&target, &colluder]),
        &[ix],
        &[&target.key, &colluder.key],
        program_error(XmarginError::TakerBelowInitialMargin),
    )
    .await;
    // Liquidation still closes it.
    let keeper = w.funded_trader(100_000 * USDC).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 10);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();
    assert!(!w.margin_account(target.account).await.has_positions());
    assert_eq!(
        w.margin_account(colluder.account).await.quote_balance(),
        before
    );
    w.assert_books_reconcile().await;
}

/// Issue 20 §1, measured on the base commit: a delegate moved 9,993 of its owner's 10,000 to
/// its own account in two fills (buy one perp at 10,117, sell it back at 121.9), then withdrew
/// it. Now each fill is banded: a round trip moves at most the band's width per contract plus
/// fees (docs/security.md, "What a delegate can cost its owner").
#[tokio::test]
async fn attack_a_delegate_moves_at_most_the_band_per_contract() {
    let mut w = World::listed().await;
    let owner = w.funded_trader(10_000 * USDC).await;
    let delegate = w.funded_trader(10_000 * USDC).await;
    let set = ix::set_delegate(owner.key.pubkey(), owner.account, delegate.key.pubkey());
    w.h.send(&[set], &[&owner.key]).await.unwrap();
    let signers = [&delegate.key];
    let owner_side = (&delegate.key, owner.account);
    let delegate_side = (&delegate.key, delegate.account);
    let ix = trade_between(&w, owner_side, delegate_side, SOL_PERP, 1, 10_117 * USDC);
    assert_attack_refused(
        &mut w,
        &watched(&[&owner, &delegate]),
        &[ix],
        &signers,
        XmarginError::FillOutsideBand,
        || "the owner bought one perp at 10,117 from the delegate's account".into(),
    )
    .await;

    let band = w.fill_band(SOL_MARKET, SOL_PERP).await;
    let owner_before = w.margin_account(owner.account).await.quote_balance();
    let buy = trade_between(&w, owner_side, delegate_side, SOL_PERP, 1, band.high);
    w.h.send(&[buy], &signers).await.unwrap();
    let ix = trade_between(&w, owner_side, delegate_side, SOL_PERP, -1, band.low - 1);
    w.h.assert_refused(
        &watched(&[&owner, &delegate]),
        &[ix],
        &signers,
        program_error(XmarginError::FillOutsideBand),
    )
    .await;
    let sell = trade_between(&w, owner_side, delegate_side, SOL_PERP, -1, band.low);
    w.h.send(&[sell], &signers).await.unwrap();
    let lost = owner_before - w.margin_account(owner.account).await.quote_balance();
    let taker_fee = |price: u64| (price * 5).div_ceil(10_000) as i64;
    assert_eq!(
        lost,
        (band.high - band.low) as i64 + taker_fee(band.high) + taker_fee(band.low)
    );
    // 2 x 2 % of 150 per contract round trip, plus fees: 6 USDC of 10,000.
    assert!(lost < 6_200_000, "{lost}");
    w.assert_books_reconcile().await;
}

/// The band's edges are inclusive: a perp and an option at exactly each edge clear, one unit
/// past either is refused with nothing changed.
#[tokio::test]
async fn attack_a_fill_at_the_band_edge_clears_and_one_unit_past_is_refused() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(100_000 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    for series in [SOL_PERP, SOL_FUTURE, SOL_CALL_150, SOL_PUT_140] {
        let band = w.fill_band(SOL_MARKET, series).await;
        let mark = w.mark(SOL_MARKET, series).await;
        assert!(band.low < mark && mark < band.high, "{band:?} {mark}");
        for (size, past) in [(1, band.high + 1), (-1, band.low - 1)] {
            let ix = w.trade_ix(&taker, &maker, SOL_MARKET, series, size, past);
            w.h.assert_refused(
                &watched(&[&taker, &maker]),
                &[ix],
                &[&taker.key, &maker.key],
                program_error(XmarginError::FillOutsideBand),
            )
            .await;
        }
        for (size, edge) in [(1, band.high), (-1, band.low)] {
            w.trade(&taker, &maker, SOL_MARKET, series, size, edge)
                .await
                .unwrap();
        }
    }
    w.assert_books_reconcile().await;
}

/// The band follows the program's valuation, not a stale one: after a 10 % move the old price
/// is refused.
#[tokio::test]
async fn attack_a_fill_at_a_stale_price_is_refused_after_the_oracle_moves() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(100_000 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    w.trade(&taker, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    w.set_sol_price(135 * PYTH).await;
    let ix = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_PERP, -10, 150 * USDC);
    w.h.assert_refused(
        &watched(&[&taker, &maker]),
        &[ix],
        &[&taker.key, &maker.key],
        program_error(XmarginError::FillOutsideBand),
    )
    .await;
}

/// Issue 20 §1 and §3, measured on the base commit: after a quiet hour one contract cleared
/// at 5 % above the oracle (0.11 of fees) set the funding rate to its 1 %/day cap; a holder of
/// 1,000 contracts paid 1,500 USDC over the day. Now the fill must be in the band, and the
/// premium weighs it by its share of the volume, anchored by the open interest at the index.
#[tokio::test]
async fn attack_one_contract_cannot_steer_funding() {
    let mut w = World::listed().await;
    let holder = w.funded_trader(100_000 * USDC).await;
    let other = w.funded_trader(100_000 * USDC).await;
    let c = w.funded_trader(10_000 * USDC).await;
    let d = w.funded_trader(10_000 * USDC).await;
    w.align_to_premium_window().await;
    w.trade(&holder, &other, SOL_MARKET, SOL_PERP, 1_000, 150 * USDC)
        .await
        .unwrap();
    w.h.send(&[w.crank_funding_ix(SOL_MARKET, SOL_PERP)], &[])
        .await
        .unwrap();
    w.h.advance(3_600).await;
    w.refresh_oracles().await;
    w.h.send(&[w.crank_funding_ix(SOL_MARKET, SOL_PERP)], &[])
        .await
        .unwrap();
    let ix = w.trade_ix(&c, &d, SOL_MARKET, SOL_PERP, 1, 157_500_000);
    assert_attack_refused(
        &mut w,
        &watched(&[&c, &d]),
        &[ix],
        &[&c.key, &d.key],
        XmarginError::FillOutsideBand,
        || "one contract at 5 % above the oracle".into(),
    )
    .await;
    // At the band's top edge (19,999 ppm) the one contract weighs against the 1,001 open and
    // the last window's 1,000 cleared at the index: the premium is 9 ppm (19 at most, once the
    // last window's weight is gone), and over the day the holder of 1,000 pays 0.142 USDC, not
    // 1,500.
    let band = w.fill_band(SOL_MARKET, SOL_PERP).await;
    w.trade(&c, &d, SOL_MARKET, SOL_PERP, 1, band.high)
        .await
        .unwrap();
    let series = w.market(SOL_MARKET).await.series[SOL_PERP as usize];
    let now = w.h.clock().await.unix_timestamp;
    assert_eq!(series.premium_ppm_at(now), 19_999 / (1 + 1_001 + 1_000));
    assert_eq!(series.premium_ppm_at(now + 3_599), 19_999 / (1 + 1_001));
    let before = w.margin_account(holder.account).await.quote_balance();
    w.h.advance(86_400).await;
    w.refresh_oracles().await;
    w.h.send(&[w.crank_funding_ix(SOL_MARKET, SOL_PERP)], &[])
        .await
        .unwrap();
    w.withdraw(&holder, QUOTE, 1).await.unwrap();
    let paid = before - 1 - w.margin_account(holder.account).await.quote_balance();
    assert_eq!(paid, 142_000);
    w.assert_books_reconcile().await;
}

/// The risk authority sets the widening within bounds: past 10 % it is refused.
#[tokio::test]
async fn attack_the_band_cannot_be_widened_past_its_bound() {
    let mut w = World::listed().await;
    let market = w.market(SOL_MARKET).await;
    let too_wide = UnderlyingRisk {
        fill_band_bps: MAX_FILL_BAND_BPS + 1,
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
    let widest = UnderlyingRisk {
        fill_band_bps: MAX_FILL_BAND_BPS,
        ..market.risk
    };
    let update = market_risk_ix(&w, SOL_MARKET, widest);
    w.as_risk_authority(&[update]).await.unwrap();
    let band = w.fill_band(SOL_MARKET, SOL_PERP).await;
    assert_eq!((band.low, band.high), (135 * USDC + 1, 165 * USDC - 1));
}

/// A cached option's marks are its window's corners, as far apart as the window is wide (up to
/// 10 % of spot each way); anyone may refresh the cache. The band is taken around the live
/// model value instead, so a wide cache window does not widen it.
#[tokio::test]
async fn attack_a_wide_cache_window_does_not_widen_an_option_band() {
    let mut w = World::listed().await;
    let taker = w.funded_trader(100_000 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    let live = w.fill_band(SOL_MARKET, SOL_CALL_150).await;
    let risk = w.market(SOL_MARKET).await.risk;
    let widest = UnderlyingRisk {
        cache_spot_tolerance_bps: xmargin_risk::window::MAX_SPOT_TOLERANCE_BPS,
        ..risk
    };
    let update = market_risk_ix(&w, SOL_MARKET, widest);
    w.as_risk_authority(&[update]).await.unwrap();
    w.enable_risk_cache(SOL_MARKET).await;
    w.refresh_risk_caches().await;
    let protocol = w.protocol().await;
    assert!(protocol.is_cached(SOL_MARKET, SOL_CALL_150));
    // The cached long mark sits at the window's low corner, far below the live value.
    let cached_mark = protocol.mark(SOL_MARKET, SOL_CALL_150).unwrap();
    assert!(cached_mark + 3 * USDC < live.low, "{cached_mark} {live:?}");
    assert_eq!(w.fill_band(SOL_MARKET, SOL_CALL_150).await, live);
    for (size, past) in [(1, live.high + 1), (-1, live.low - 1)] {
        let ix = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_CALL_150, size, past);
        w.h.assert_refused(
            &watched(&[&taker, &maker]),
            &[ix],
            &[&taker.key, &maker.key],
            program_error(XmarginError::FillOutsideBand),
        )
        .await;
    }
    w.trade(&taker, &maker, SOL_MARKET, SOL_CALL_150, 1, live.high)
        .await
        .unwrap();
}

fn without_caches(w: &World, mut ix: Instruction) -> Instruction {
    let caches: Vec<Pubkey> = w.risk_caches.iter().map(|(_, key)| *key).collect();
    ix.accounts
        .retain(|meta: &AccountMeta| !caches.contains(&meta.pubkey));
    ix
}

/// A short-call book on a market with a fresh risk cache, and its counterparty.
async fn short_call_book() -> (World, Trader, Trader) {
    let mut w = World::listed().await;
    w.enable_risk_cache(SOL_MARKET).await;
    w.refresh_risk_caches().await;
    let writer = w.funded_trader(10_000 * USDC).await;
    let buyer = w.funded_trader(100_000 * USDC).await;
    let mark = w.mark(SOL_MARKET, SOL_CALL_150).await;
    w.trade(&buyer, &writer, SOL_MARKET, SOL_CALL_150, 100, mark)
        .await
        .unwrap();
    (w, writer, buyer)
}

/// Issue 20 §2, measured on the base commit: a withdrawal refused with the market's risk cache
/// was accepted without it (the live valuation is tighter than the cache window's corners).
/// Now a check reading a cached market's options refuses to run without its cache.
#[tokio::test]
async fn attack_omitting_the_risk_cache_to_choose_the_valuation_is_refused() {
    let (mut w, writer, buyer) = short_call_book().await;
    let protocol = w.protocol().await;
    let account = w.margin_account(writer.account).await;
    let limit = protocol.largest_withdrawal(&account, QUOTE).unwrap();
    let over = limit + 1;
    let with_cache = w.withdraw_ix(&writer.key, writer.account, writer.usdc, QUOTE, over);
    w.h.assert_refused(
        &watched(&[&writer]),
        std::slice::from_ref(&with_cache),
        &[&writer.key],
        program_error(XmarginError::InsufficientFreeCollateral),
    )
    .await;
    let live = without_caches(&w, with_cache);
    assert_attack_refused(
        &mut w,
        &watched(&[&writer]),
        &[live],
        &[&writer.key],
        XmarginError::RiskCacheRequired,
        || format!("withdrew {over} (the cached limit is {limit}) by leaving the cache out"),
    )
    .await;
    // The same for a trade and a liquidation's check.
    let mark = w.mark(SOL_MARKET, SOL_CALL_150).await;
    let trade = w.trade_ix(&buyer, &writer, SOL_MARKET, SOL_CALL_150, -1, mark);
    let trade = without_caches(&w, trade);
    w.h.assert_refused(
        &watched(&[&writer, &buyer]),
        &[trade],
        &[&buyer.key, &writer.key],
        program_error(XmarginError::RiskCacheRequired),
    )
    .await;
    let liquidate = w.liquidate_ix(&buyer, writer.account, SOL_MARKET, SOL_CALL_150, 10);
    let liquidate = without_caches(&w, liquidate);
    w.h.assert_refused(
        &watched(&[&writer, &buyer]),
        &[liquidate],
        &[&buyer.key],
        program_error(XmarginError::RiskCacheRequired),
    )
    .await;
    // With the cache, the limit is the program's verdict to the unit.
    w.withdraw(&writer, QUOTE, limit).await.unwrap();
    w.assert_books_reconcile().await;
}

/// A market without options in the check needs no cache: a perp-only account withdraws and
/// trades on a cached market without passing it.
#[tokio::test]
async fn attack_a_perp_only_check_on_a_cached_market_needs_no_cache() {
    let mut w = World::listed().await;
    w.enable_risk_cache(SOL_MARKET).await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    let trade = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_PERP, 1, 150 * USDC);
    let trade = without_caches(&w, trade);
    w.h.send(&[trade], &[&taker.key, &maker.key]).await.unwrap();
    let withdraw = w.withdraw_ix(&taker.key, taker.account, taker.usdc, QUOTE, USDC);
    let withdraw = without_caches(&w, withdraw);
    w.h.send(&[withdraw], &[&taker.key]).await.unwrap();
    w.assert_books_reconcile().await;
}

/// Issue 20 §4: a program-owned account of another type where a market is read, and the
/// reverse. The named accounts are checked by Anchor's discriminator; remaining accounts are
/// recognised as markets only by owner, size and discriminator, so a margin account or a risk
/// cache in a market's place leaves that market missing.
#[tokio::test]
async fn attack_an_account_of_another_type_never_stands_in_for_a_market() {
    let mut w = World::listed().await;
    let cache = w.enable_risk_cache(SOL_MARKET).await;
    let taker = w.funded_trader(10_000 * USDC).await;
    let maker = w.funded_trader(10_000 * USDC).await;
    w.trade(&taker, &maker, BTC_MARKET, BTC_PERP, 1, 1_000 * USDC)
        .await
        .unwrap();
    let full = w.trade_ix(&taker, &maker, SOL_MARKET, SOL_PERP, 1, 150 * USDC);
    let signers = [&taker.key, &maker.key];
    let watched = watched(&[&taker, &maker]);
    for stand_in in [maker.account, cache] {
        // In the BTC market's place among the remaining accounts.
        let mut ix = full.clone();
        for meta in ix.accounts.iter_mut() {
            if meta.pubkey == market_address(BTC_MARKET) {
                meta.pubkey = stand_in;
            }
        }
        w.h.assert_refused(
            &watched,
            &[ix],
            &signers,
            program_error(XmarginError::UnknownMarket),
        )
        .await;
        // As the market the trade names.
        let mut ix = full.clone();
        for meta in ix.accounts.iter_mut() {
            if meta.pubkey == market_address(SOL_MARKET) {
                meta.pubkey = stand_in;
            }
        }
        let code =
            common::anchor_error(anchor_lang::error::ErrorCode::AccountDiscriminatorMismatch);
        w.h.assert_refused(&watched, &[ix], &signers, code).await;
    }
    // The reverse: a market where a margin account is read.
    let mut ix = full.clone();
    for meta in ix.accounts.iter_mut() {
        if meta.pubkey == maker.account {
            meta.pubkey = market_address(BTC_MARKET);
        }
    }
    let code = common::anchor_error(anchor_lang::error::ErrorCode::AccountDiscriminatorMismatch);
    w.h.assert_refused(&watched, &[ix], &signers, code).await;
}

/// Remaining accounts are found by address and type, not position: reordered and duplicated,
/// the check reads the same state and reaches the same verdict, to the unit.
#[tokio::test]
async fn attack_reordered_and_duplicated_remaining_accounts_change_no_verdict() {
    let mut w = World::listed().await;
    let trader = w.funded_trader(3_000 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    w.trade(&trader, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    w.trade(&trader, &maker, BTC_MARKET, BTC_PERP, -1, 1_000 * USDC)
        .await
        .unwrap();
    let account = w.margin_account(trader.account).await;
    let limit = w
        .protocol()
        .await
        .largest_withdrawal(&account, QUOTE)
        .unwrap();
    let shuffled = |w: &World, amount: u64| {
        let mut ix = w.withdraw_ix(&trader.key, trader.account, trader.usdc, QUOTE, amount);
        // The named accounts stay; the remaining ones (markets, oracles) are reversed and
        // each passed twice.
        let named = ix.accounts.len() - w.risk_accounts().len();
        let mut rest = ix.accounts.split_off(named);
        rest.reverse();
        let twice = rest.clone();
        ix.accounts.extend(rest);
        ix.accounts.extend(twice);
        ix
    };
    let over = shuffled(&w, limit + 1);
    w.h.assert_refused(
        &watched(&[&trader]),
        &[over],
        &[&trader.key],
        program_error(XmarginError::InsufficientFreeCollateral),
    )
    .await;
    let exact = shuffled(&w, limit);
    w.h.send(&[exact], &[&trader.key]).await.unwrap();
    w.assert_books_reconcile().await;
}

/// A series listed on a market after an account opened positions there changes nothing the
/// account holds or owes.
#[tokio::test]
async fn attack_a_series_listed_after_positions_opened_changes_no_account() {
    let mut w = World::listed().await;
    let trader = w.funded_trader(3_000 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    let mark = w.mark(SOL_MARKET, SOL_CALL_150).await;
    w.trade(&trader, &maker, SOL_MARKET, SOL_CALL_150, -5, mark)
        .await
        .unwrap();
    w.trade(&trader, &maker, SOL_MARKET, SOL_PERP, 3, 150 * USDC)
        .await
        .unwrap();
    let before = w.h.data(trader.account).await;
    let health = w.health(trader.account).await;
    let expiry = w.expiry;
    w.list_series(
        SOL_MARKET,
        [xmargin::instructions::AddSeriesParams {
            kind: SeriesKind::Call,
            strike: 150 * USDC,
            expiry: expiry + 86_400,
        }],
    )
    .await;
    assert_eq!(w.h.data(trader.account).await, before);
    assert_eq!(w.health(trader.account).await, health);
    w.assert_books_reconcile().await;
}

/// A closed account re-created at the same address starts empty: nothing of the old one
/// (balances, positions, delegate, liquidation flag) comes back.
#[tokio::test]
async fn attack_a_closed_account_re_created_starts_empty() {
    let mut w = World::listed().await;
    let trader = w.funded_trader(100 * USDC).await;
    let delegate = w.stranger().await;
    let set = ix::set_delegate(trader.key.pubkey(), trader.account, delegate.pubkey());
    w.h.send(&[set], &[&trader.key]).await.unwrap();
    w.withdraw(&trader, QUOTE, 100 * USDC).await.unwrap();
    let close = ix::close_margin_account(trader.key.pubkey(), trader.account);
    w.h.send(&[close], &[&trader.key]).await.unwrap();
    let create = w.create_account_ix(&trader.key, 0, MODE_CROSS, 0);
    w.h.send(&[create], &[&trader.key]).await.unwrap();
    let account = w.margin_account(trader.account).await;
    assert_eq!(account.delegate, Pubkey::default());
    assert_eq!(account.owner, trader.key.pubkey());
    assert_eq!(account.open_positions().count(), 0);
    assert_eq!(account.quote_balance(), 0);
    assert_eq!(account.being_liquidated, 0);
    // The old delegate cannot trade it.
    let maker = w.funded_trader(100_000 * USDC).await;
    let ix = w.trade_ix_signed_by(
        delegate.pubkey(),
        trader.account,
        maker.key.pubkey(),
        maker.account,
        SOL_MARKET,
        SOL_PERP,
        1,
        150 * USDC,
    );
    w.h.assert_refused(
        &watched(&[&trader, &maker]),
        &[ix],
        &[&delegate, &maker.key],
        program_error(XmarginError::NotAccountOwner),
    )
    .await;
}

/// The insurance fund exists once: a second `create_insurance_fund` is refused and the fund
/// keeps its tokens. The refusal is the runtime's, not a program error: Anchor's `init` creates
/// the vault before any constraint of the instruction is read, and the system program refuses
/// an account that exists (its error differs between the native and SBF runtimes).
#[tokio::test]
async fn attack_a_second_insurance_fund_is_refused() {
    let mut w = World::listed().await;
    let funder = w.trader(1_000 * USDC, 0).await;
    let fund = w.fund_insurance_ix(&funder, 1_000 * USDC);
    w.h.send(&[fund], &[&funder.key]).await.unwrap();
    let again = ix::create_insurance_fund(w.admin.pubkey(), w.usdc_mint);
    let admin = w.admin.insecure_clone();
    let watched = [clearinghouse_address(), insurance_address()];
    let before = w.h.snapshot(&watched).await;
    let result = w.h.send(&[again], &[&admin]).await;
    assert!(result.is_err(), "a second fund was created");
    assert_eq!(
        w.h.snapshot(&watched).await,
        before,
        "refusal changed state"
    );
    assert_eq!(w.h.token_balance(insurance_address()).await, 1_000 * USDC);
}

/// Attack: a liquidator pairing the legs of an insolvent account to earn a fee the insurance
/// fund would pay. Long 200 SOL perps against short 30 BTC perps, withdrawn to initial margin;
/// SOL then falls 40 %, more than the account holds. An insolvent account's positions close
/// out at its own valuation (`Parties::finish`), a pair as much as a single position: no fee,
/// its equity unchanged, the fund untouched.
#[tokio::test]
async fn attack_a_pair_step_on_an_insolvent_account_earns_no_fee() {
    let mut w = World::listed().await;
    let target = w.cross_market_hedge().await;
    w.set_sol_price(90 * 100_000_000).await;
    let equity = w.maint_equity(target.account).await;
    assert!(equity < 0, "{equity}");
    let keeper = w.funded_trader(1_000_000 * USDC).await;
    let insurance = w.h.token_balance(insurance_address()).await;
    let pair = w.liquidate_legs_ix(
        &keeper,
        target.account,
        (SOL_MARKET, SOL_PERP),
        Some((BTC_MARKET, BTC_PERP)),
        u64::MAX,
    );
    let key = keeper.key.insecure_clone();
    let events =
        w.h.send_for_events::<PositionLiquidated>(&[pair], &[&key])
            .await
            .unwrap();
    let event = &events[0];
    assert!(event.quantity > 0 && event.paired_quantity < 0, "{event:?}");
    assert_eq!(event.fee, 0, "{event:?}");
    assert!(w.maint_equity(target.account).await >= equity);
    assert_eq!(w.h.token_balance(insurance_address()).await, insurance);
    w.assert_books_reconcile().await;
}

/// Attack: a liquidation fee larger than what the target still owns, paid by the insurance
/// fund once the target is emptied (two colluding accounts could repeat it). Long 10 SOL perps
/// on 300 USDC; SOL falls to 121, leaving a few USDC of equity against a 2.5 % fee of ~30 on
/// the position. The fee is capped at the target's equity before the step: the target ends
/// solvent and the fund pays nothing.
#[tokio::test]
async fn attack_a_liquidation_fee_never_exceeds_the_targets_equity() {
    let mut w = World::listed().await;
    let target = w.funded_trader(300 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    w.set_sol_price(121 * PYTH).await;
    let equity = w.maint_equity(target.account).await;
    assert!(equity > 0 && equity < 30 * USDC as i64, "{equity}");
    let keeper = w.funded_trader(100_000 * USDC).await;
    let insurance = w.h.token_balance(insurance_address()).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, u64::MAX);
    let key = keeper.key.insecure_clone();
    let events =
        w.h.send_for_events::<PositionLiquidated>(&[ix], &[&key])
            .await
            .unwrap();
    let event = &events[0];
    assert_eq!(event.quantity, 10, "{event:?}");
    assert_eq!(event.fee, equity as u64, "{event:?}");
    assert!(w.maint_equity(target.account).await >= 0);
    assert!(w.h.token_balance(insurance_address()).await >= insurance);
    w.assert_books_reconcile().await;
}
