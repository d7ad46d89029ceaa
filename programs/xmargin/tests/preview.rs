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
use xmargin::state::{Clearinghouse, CollateralRegistry, MarginAccount, Market, OracleKind};

/// Markets and oracle accounts fetched from the bank.
struct Snapshot {
    markets: Vec<RefCell<Market>>,
    oracles: Vec<(Pubkey, Pubkey, Vec<u8>)>,
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
}

async fn snapshot(w: &mut World) -> (Clearinghouse, CollateralRegistry, Snapshot, Clock) {
    let mut markets = Vec::new();
    for index in [SOL_MARKET, BTC_MARKET] {
        markets.push(RefCell::new(w.market(index).await));
    }
    let mut oracles = Vec::new();
    for key in [w.sol_oracle, w.btc_oracle] {
        let account = w.h.account(key).await.unwrap();
        oracles.push((key, account.owner, account.data));
    }
    (
        w.clearinghouse().await,
        w.registry().await,
        Snapshot { markets, oracles },
        w.h.clock().await,
    )
}

/// Initial health of `account` after withdrawing `amount` quote, computed off chain.
fn health_after_withdrawal(
    state: &(Clearinghouse, CollateralRegistry, Snapshot, Clock),
    account: &MarginAccount,
    amount: u64,
) -> i128 {
    let (clearinghouse, registry, source, clock) = state;
    let mut after = *account;
    after.collateral[0].amount -= amount as i64;
    let mut needs = Needs::default();
    needs.add_account(&after);
    let risk = RiskContext::from_source(
        clearinghouse,
        registry,
        source,
        &needs,
        OracleUse::OpenRisk,
        clock,
    )
    .unwrap();
    risk.health(&after).unwrap().init_health
}

#[tokio::test]
async fn the_off_chain_check_predicts_the_largest_withdrawal_to_the_unit() {
    let mut w = World::listed().await;
    let trader = w.funded_trader(5_000 * USDC).await;
    let maker = w.funded_trader(1_000_000 * USDC).await;
    for (market, series, size, price) in [
        (SOL_MARKET, SOL_PERP, 10, 150 * USDC),
        (SOL_MARKET, SOL_CALL_150, -5, 12 * USDC),
        (BTC_MARKET, BTC_PERP, -1, 1_000 * USDC),
    ] {
        w.trade(&trader, &maker, market, series, size, price)
            .await
            .unwrap();
    }
    let state = snapshot(&mut w).await;
    let account = w.margin_account(trader.account).await;
    // Largest amount with initial health >= 0, by bisection on the off-chain check.
    let (mut ok, mut too_much) = (0u64, account.quote_balance() as u64 + 1);
    while too_much - ok > 1 {
        let mid = ok + (too_much - ok) / 2;
        if health_after_withdrawal(&state, &account, mid) >= 0 {
            ok = mid;
        } else {
            too_much = mid;
        }
    }
    assert!(ok > 0 && too_much < account.quote_balance() as u64);
    let key = trader.key.insecure_clone();
    let refused = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, too_much);
    w.h.assert_refused(
        &[trader.account],
        &[refused],
        &[&key],
        program_error(XmarginError::InsufficientFreeCollateral),
    )
    .await;
    w.withdraw(&trader, QUOTE, ok).await.unwrap();
    assert_eq!(
        w.margin_account(trader.account).await.quote_balance(),
        account.quote_balance() - ok as i64
    );
}
