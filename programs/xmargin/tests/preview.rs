//! The program's margin check, run off chain on fetched accounts through `StateSource`, gives the
//! same verdict as the program: the largest withdrawal it predicts is accepted, one unit more is
//! refused. This is what the SDK's "what-if" preview and the keeper build on.
mod common;

use common::program_error;
use common::world::*;
use xmargin::error::XmarginError;
use xmargin::health::{AccountRisk, RiskContext};
use xmargin::oracle::OracleUse;
use xmargin::state::MarginAccount;
use xmargin_client::{BanksChain, Protocol};
use xmargin_risk::portfolio::UnderlyingResult;

type State = Protocol;

/// Markets, oracles and risk caches fetched through the SDK.
async fn snapshot(w: &mut World) -> State {
    Protocol::fetch(&BanksChain::new(w.h.ctx.banks_client.clone()))
        .await
        .unwrap()
}

/// The check's context for `account`, computed off chain.
fn context<'s>(state: &'s State, account: &MarginAccount) -> RiskContext<'s> {
    state
        .context(&Protocol::needs(&[account], None), OracleUse::OpenRisk)
        .unwrap()
}

/// The largest withdrawal the SDK's off-chain check allows, and one unit more.
fn largest_withdrawal(state: &State, account: &MarginAccount) -> (u64, u64) {
    let ok = state.largest_withdrawal(account, QUOTE).unwrap();
    assert!(ok > 0 && ok < account.quote_balance() as u64);
    (ok, ok + 1)
}

/// The program refuses `too_much` and accepts `ok`, to the unit.
async fn assert_program_agrees(w: &mut World, trader: &Trader, (ok, too_much): (u64, u64)) {
    let before = w.margin_account(trader.account).await.quote_balance();
    let key = trader.key.insecure_clone();
    let refused = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, too_much);
    w.h.assert_refused(
        &[trader.account],
        &[refused],
        &[&key],
        program_error(XmarginError::InsufficientFreeCollateral),
    )
    .await;
    w.withdraw(trader, QUOTE, ok).await.unwrap();
    assert_eq!(
        w.margin_account(trader.account).await.quote_balance(),
        before - ok as i64
    );
}

/// A trader with a perp, a short call and a long put on SOL and a short BTC perp.
async fn hedged_trader(w: &mut World) -> Trader {
    let trader = w.funded_trader(5_000 * USDC).await;
    let maker = w.funded_trader(1_000_000 * USDC).await;
    for (market, series, size, price) in [
        (SOL_MARKET, SOL_PERP, 10, 150 * USDC),
        (SOL_MARKET, SOL_CALL_150, -5, 12 * USDC),
        (SOL_MARKET, SOL_PUT_140, 3, 6 * USDC),
        (BTC_MARKET, BTC_PERP, -1, 1_000 * USDC),
    ] {
        w.trade(&trader, &maker, market, series, size, price)
            .await
            .unwrap();
    }
    trader
}

/// `hedged_trader` with the SOL market's risk cache enabled and fresh.
async fn cached_hedged_trader() -> (World, Trader) {
    let mut w = World::listed().await;
    let trader = hedged_trader(&mut w).await;
    w.enable_risk_cache(SOL_MARKET).await;
    w.refresh_risk_caches().await;
    (w, trader)
}

#[tokio::test]
async fn the_off_chain_check_predicts_the_largest_withdrawal_to_the_unit() {
    let mut w = World::listed().await;
    let trader = hedged_trader(&mut w).await;
    let state = snapshot(&mut w).await;
    let account = w.margin_account(trader.account).await;
    let limits = largest_withdrawal(&state, &account);
    assert_program_agrees(&mut w, &trader, limits).await;
}

/// Inside its window the program margins options from the cache (the off-chain check with the
/// cache predicts it to the unit, and the cache's wider bounds allow less than live ones);
/// once the window has passed it computes them again.
#[tokio::test]
async fn the_program_uses_cached_option_risk_inside_its_window_only() {
    let (mut w, trader) = cached_hedged_trader().await;
    let state = snapshot(&mut w).await;
    let account = w.margin_account(trader.account).await;
    assert_eq!(context(&state, &account).cached_series(), 2, "call and put");
    let cached = largest_withdrawal(&state, &account);
    // Without the cache the check does not run: off chain as on chain, where the cache holds
    // the valuation is the cache's (docs/security.md).
    let uncached = snapshot(&mut w).await.without_risk_caches();
    let refused = uncached
        .context(&Protocol::needs(&[&account], None), OracleUse::OpenRisk)
        .err()
        .map(|e| e.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("RiskCacheRequired")),
        "{refused:?}"
    );
    assert_program_agrees(&mut w, &trader, cached).await;

    // Past the window (300 s): the cache is ignored, off chain and on chain alike.
    w.h.advance(301).await;
    w.refresh_oracles().await;
    let state = snapshot(&mut w).await;
    let account = w.margin_account(trader.account).await;
    assert_eq!(context(&state, &account).cached_series(), 0);
    let limits = largest_withdrawal(&state, &account);
    assert_program_agrees(&mut w, &trader, limits).await;
}

/// An entry holds only for its window's spots and its market generation: a price move past the
/// tolerance or a surface update sends the check back to computing the bounds.
#[tokio::test]
async fn cached_option_risk_is_ignored_outside_its_spot_range_or_after_a_risk_update() {
    let (mut w, trader) = cached_hedged_trader().await;
    let account = w.margin_account(trader.account).await;
    let cached = |state: &State| context(state, &account).cached_series();
    // 0.4 % up stays inside the 0.5 % tolerance; 0.6 % does not.
    w.set_sol_price(SOL_PRICE + SOL_PRICE * 4 / 1_000).await;
    assert_eq!(cached(&snapshot(&mut w).await), 2);
    w.set_sol_price(SOL_PRICE + SOL_PRICE * 6 / 1_000).await;
    assert_eq!(cached(&snapshot(&mut w).await), 0);
    w.set_sol_price(SOL_PRICE).await;
    assert_eq!(cached(&snapshot(&mut w).await), 2);
    let surface = w.market(SOL_MARKET).await.surface;
    w.apply_after_timelock(xmargin::instructions::RiskChange::VolSurface {
        market: SOL_MARKET,
        surface,
    })
    .await;
    assert_eq!(cached(&snapshot(&mut w).await), 0);
    w.refresh_risk_caches().await;
    assert_eq!(cached(&snapshot(&mut w).await), 2);
}

/// A liquidation step re-margins its target by swapping only what changed (`reevaluate`):
/// a resized position, a closed one, a new one and a new quote balance give the same report
/// as margining the changed account afresh.
/// The results of the underlyings held (each names its underlying).
fn held_results(evaluated: &AccountRisk) -> Vec<UnderlyingResult> {
    evaluated.results.iter().flatten().copied().collect()
}

#[tokio::test]
async fn re_margining_what_changed_equals_margining_afresh() {
    let mut w = World::listed().await;
    let trader = hedged_trader(&mut w).await;
    let state = snapshot(&mut w).await;
    let account = w.margin_account(trader.account).await;
    let needs = Protocol::needs(&[&account], Some((SOL_MARKET, SOL_FUTURE)));
    let context = state.context(&needs, OracleUse::OpenRisk).unwrap();
    let mut evaluated = context.evaluate(&account).unwrap();
    let fresh_before = context.evaluate(&account).unwrap().report;
    assert_eq!(evaluated.report, fresh_before);

    let mut changed = account;
    changed
        .apply_fill(SOL_MARKET, SOL_PERP, -4, 140 * USDC)
        .unwrap();
    changed
        .apply_fill(BTC_MARKET, BTC_PERP, 1, 1_010 * USDC)
        .unwrap();
    changed
        .apply_fill(SOL_MARKET, SOL_FUTURE, 2, 151 * USDC)
        .unwrap();
    changed.add_quote(-1_234_567).unwrap();
    assert!(changed.position(BTC_MARKET, BTC_PERP).is_none());
    context.reevaluate(&mut evaluated, &changed).unwrap();
    let fresh = context.evaluate(&changed).unwrap();
    let fresh_after = fresh.report.clone();
    assert_ne!(fresh_after, fresh_before);
    assert_eq!(evaluated.report, fresh_after);
    // The per-underlying results too (BTC, now flat, has none either way).
    assert_eq!(held_results(&evaluated), held_results(&fresh));
    assert_eq!(evaluated.held.len(), changed.open_positions().count());

    // Nothing changed: the same report again.
    context.reevaluate(&mut evaluated, &changed).unwrap();
    assert_eq!(evaluated.report, fresh_after);

    // And back: BTC reopens past the last underlying the evaluation held (its results grow).
    let mut back = context.evaluate(&changed).unwrap();
    context.reevaluate(&mut back, &account).unwrap();
    let fresh = context.evaluate(&account).unwrap();
    assert_eq!(back.report, fresh.report);
    assert_eq!(held_results(&back), held_results(&fresh));
    assert_eq!(back.held.len(), account.open_positions().count());

    // A one-shot check (`health`: one underlying at a time in one exposure) margins the same,
    // one account after another in the same memory, whatever the order of the slots.
    assert_eq!(context.health(&changed).unwrap().report, fresh_after);
    assert_eq!(context.health(&account).unwrap().report, fresh.report);
    let mut reordered = account;
    let btc = reordered
        .positions
        .iter()
        .position(|slot| slot.in_use != 0 && slot.market == BTC_MARKET)
        .unwrap();
    reordered.positions.swap(0, btc);
    assert_eq!(reordered.positions[0].market, BTC_MARKET);
    assert_eq!(context.health(&reordered).unwrap().report, fresh.report);

    // In the memory of an evaluation done with (a liquidation's target, then its liquidator).
    let context = state.context(&needs, OracleUse::OpenRisk).unwrap();
    context.recycle(back);
    assert_eq!(context.health(&changed).unwrap().report, fresh_after);
    assert_eq!(context.health(&reordered).unwrap().report, fresh.report);
}

/// With option risk from the cache, the check's equity sits at the window's corners and its
/// maintenance may be below the true worst loss: only health is a bound. The SDK's summary
/// (what the CLI and the dashboard show) keeps the check's health and shows equity and the
/// requirements at live marks, never the cached requirement on its own.
#[tokio::test]
async fn the_summary_never_shows_a_cached_requirement_on_its_own() {
    let (mut w, trader) = cached_hedged_trader().await;
    let state = snapshot(&mut w).await;
    let account = w.margin_account(trader.account).await;
    let (check, settled) = state.settled(&account).unwrap();
    assert_eq!(check.cached_series(), 2);
    let cached = check.health(&settled).unwrap().report;
    let shown = state.summary(&account).unwrap();
    let live = snapshot(&mut w)
        .await
        .with_caches_detached()
        .summary(&account)
        .unwrap();
    // The window understates equity: the figures shown are moved by that much.
    let gap = live.equity - cached.equity_maint;
    assert!(gap > 0, "{gap}");
    assert_eq!(shown.maint_health, cached.maint_health());
    assert_eq!(shown.equity, live.equity);
    assert_eq!(shown.maintenance, cached.maintenance + gap);
    assert_eq!(shown.equity - shown.maintenance, shown.maint_health);
    assert!(shown.maintenance >= live.maintenance);
    assert!(shown.initial >= live.initial);
}
