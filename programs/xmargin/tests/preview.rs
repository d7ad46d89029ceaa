//! The program's margin check, run off chain on fetched accounts through `StateSource`, gives the
//! same verdict as the program: the largest withdrawal it predicts is accepted, one unit more is
//! refused. This is what the SDK's "what-if" preview and the keeper build on.
mod common;

use core::cell::{Ref, RefCell};

use anchor_lang::prelude::{Clock, Pubkey, Result};
use common::program_error;
use common::world::*;
use xmargin::error::XmarginError;
use xmargin::health::{Needs, RiskContext, StateSource};
use xmargin::oracle::{parse_oracle, OraclePrice, OracleUse};
use xmargin::state::{
    Clearinghouse, CollateralRegistry, MarginAccount, Market, OracleKind, RiskCache,
};

/// Markets, oracle and risk cache accounts fetched from the bank.
struct Snapshot {
    markets: Vec<RefCell<Market>>,
    oracles: Vec<(Pubkey, Pubkey, Vec<u8>)>,
    caches: Vec<(Pubkey, RefCell<RiskCache>)>,
}

impl StateSource for Snapshot {
    fn market(&self, index: u8) -> Result<Ref<'_, Market>> {
        self.markets
            .iter()
            .map(|m| m.borrow())
            .find(|m| m.index == index)
            .ok_or_else(|| anchor_lang::error!(XmarginError::UnknownMarket))
    }

    fn oracle(&self, key: &Pubkey, kind: OracleKind, feed_id: &[u8; 32]) -> Result<OraclePrice> {
        let (_, owner, data) = self
            .oracles
            .iter()
            .find(|(address, _, _)| address == key)
            .ok_or_else(|| anchor_lang::error!(XmarginError::MissingOracle))?;
        parse_oracle(owner, data, kind, feed_id)
    }

    fn risk_cache(&self, key: &Pubkey) -> Option<Ref<'_, RiskCache>> {
        self.caches
            .iter()
            .find(|(address, _)| address == key)
            .map(|(_, cache)| cache.borrow())
    }
}

type State = (Clearinghouse, CollateralRegistry, Snapshot, Clock);

async fn snapshot(w: &mut World) -> State {
    let mut markets = Vec::new();
    for index in [SOL_MARKET, BTC_MARKET] {
        markets.push(RefCell::new(w.market(index).await));
    }
    let mut oracles = Vec::new();
    for key in [w.sol_oracle, w.btc_oracle] {
        let account = w.h.account(key).await.unwrap();
        oracles.push((key, account.owner, account.data));
    }
    let mut caches = Vec::new();
    for (market, key) in w.risk_caches.clone() {
        caches.push((key, RefCell::new(w.risk_cache(market).await)));
    }
    (
        w.clearinghouse().await,
        w.registry().await,
        Snapshot {
            markets,
            oracles,
            caches,
        },
        w.h.clock().await,
    )
}

/// The check's context for `account`, computed off chain.
fn context(state: &State, account: &MarginAccount) -> RiskContext {
    let (clearinghouse, registry, source, clock) = state;
    let mut needs = Needs::default();
    needs.add_account(account);
    RiskContext::from_source(
        clearinghouse,
        registry,
        source,
        &needs,
        OracleUse::OpenRisk,
        clock,
    )
    .unwrap()
}

/// Initial health of `account` after withdrawing `amount` quote, computed off chain.
fn health_after_withdrawal(state: &State, account: &MarginAccount, amount: u64) -> i128 {
    let mut after = *account;
    after.collateral[0].amount -= amount as i64;
    context(state, &after).health(&after).unwrap().init_health
}

/// The largest withdrawal the off-chain check allows (bisection), and one unit more.
fn largest_withdrawal(state: &State, account: &MarginAccount) -> (u64, u64) {
    let (mut ok, mut too_much) = (0u64, account.quote_balance() as u64 + 1);
    while too_much - ok > 1 {
        let mid = ok + (too_much - ok) / 2;
        if health_after_withdrawal(state, account, mid) >= 0 {
            ok = mid;
        } else {
            too_much = mid;
        }
    }
    assert!(ok > 0 && too_much < account.quote_balance() as u64);
    (ok, too_much)
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
    let mut w = World::listed().await;
    let trader = hedged_trader(&mut w).await;
    w.enable_risk_cache(SOL_MARKET).await;
    w.refresh_risk_caches().await;
    let state = snapshot(&mut w).await;
    let account = w.margin_account(trader.account).await;
    assert_eq!(context(&state, &account).cached_series(), 2, "call and put");
    let cached = largest_withdrawal(&state, &account);
    let live_state = (
        state.0.clone(),
        state.1,
        Snapshot {
            caches: Vec::new(),
            markets: state.2.markets.clone(),
            oracles: state.2.oracles.clone(),
        },
        state.3.clone(),
    );
    assert_eq!(context(&live_state, &account).cached_series(), 0);
    let live = largest_withdrawal(&live_state, &account);
    assert!(cached.0 < live.0, "cached {cached:?} live {live:?}");
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
    let mut w = World::listed().await;
    let trader = hedged_trader(&mut w).await;
    w.enable_risk_cache(SOL_MARKET).await;
    w.refresh_risk_caches().await;
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
    let update = vol_surface_ix(&w, SOL_MARKET, surface);
    w.as_risk_authority(&[update]).await.unwrap();
    assert_eq!(cached(&snapshot(&mut w).await), 0);
    w.refresh_risk_caches().await;
    assert_eq!(cached(&snapshot(&mut w).await), 2);
}
