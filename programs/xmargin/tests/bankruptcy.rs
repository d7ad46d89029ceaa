//! Bankruptcy always resolves (src/bankruptcy.rs): the step that empties an account pays its
//! debt from the insurance fund and socializes the rest across the holders of the series just
//! liquidated, in the same instruction; a debt with no such series falls to the protocol's fees,
//! then to recorded unbacked debt; dust (worth less than a quote unit, or on a dead feed)
//! cannot keep an account from resolving or from being liquidated. Every token stays accounted
//! for.
mod common;

use common::world::*;
use common::{events, program_error};
use xmargin::error::XmarginError;
use xmargin::events::{
    BadDebtAbsorbed, BankruptcyInsuranceCovered, DustSwept, LossSocialized, PositionLiquidated,
};
use xmargin::state::NO_MARKET;

/// The target (300 USDC, long 10 SOL perps at 150) after SOL gaps to 100, and the keeper's
/// transaction taking the whole position (not sent). The fund holds `seed`.
async fn gapped(seed: u64) -> (World, Trader, Trader, Trader) {
    let mut w = World::listed().await;
    let funder = w.trader(seed.max(1), 0).await;
    if seed > 0 {
        let ix = w.fund_insurance_ix(&funder, seed);
        w.h.send(&[ix], &[&funder.key]).await.unwrap();
    }
    let target = w.funded_trader(300 * USDC).await;
    let counterparty = w.funded_trader(100_000 * USDC).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    w.set_sol_price(100 * 100_000_000).await;
    (w, target, counterparty, keeper)
}

/// A debt no liquidation produced: the target (330 USDC, long 10 SOL futures at 150) settles
/// its expired futures at 100. No positions, no collateral, last liquidated in no series.
async fn bankrupt_by_settlement() -> (World, Trader, Trader) {
    let mut w = World::listed().await;
    let (target, counterparty) = w.thin_futures_long().await;
    w.settle_future_at(100 * 100_000_000, &[&target, &counterparty])
        .await;
    let account = w.margin_account(target.account).await;
    assert!(account.is_bankrupt());
    assert_eq!(account.last_liquidated_market, NO_MARKET);
    w.assert_books_reconcile().await;
    (w, target, counterparty)
}

async fn debt_of(w: &mut World, trader: &Trader) -> u64 {
    w.margin_account(trader.account)
        .await
        .quote_balance()
        .min(0)
        .unsigned_abs()
}

#[tokio::test]
async fn the_step_that_empties_an_account_resolves_it_against_the_series_holders() {
    let (mut w, target, counterparty, keeper) = gapped(100 * USDC).await;
    let fees_before = w.registry().await.assets[0].fees_accrued;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 10);
    let logs = w.h.send_for_logs(&[ix], &[&keeper.key]).await.unwrap();

    let account = w.margin_account(target.account).await;
    assert!(!account.has_positions());
    assert_eq!(account.quote_balance(), 0, "resolved in the same step");
    assert_eq!(w.h.token_balance(insurance_address()).await, 0);
    let step = &events::<PositionLiquidated>(&logs)[0];
    let covered = events::<BankruptcyInsuranceCovered>(&logs);
    assert_eq!(covered.len(), 1);
    // The fund paid everything it held: its seed and its share of this step's fee.
    assert_eq!(covered[0].amount, 100 * USDC + step.insurance_fee);
    assert_eq!(covered[0].fund_balance_after, 0);
    let socialized = events::<LossSocialized>(&logs);
    assert_eq!(socialized.len(), 1);
    let loss = &socialized[0];
    // 20 contracts are open when the step ends: the counterparty's 10 short and the 10 long
    // the keeper just took. Nobody could close in between.
    let per_contract = loss.amount.div_ceil(20);
    assert_eq!(
        (loss.market, loss.series, loss.per_contract, loss.contracts),
        (SOL_MARKET, SOL_PERP, per_contract, 20)
    );
    assert_eq!(loss.rounding, per_contract * 20 - loss.amount);
    let series = w.market(SOL_MARKET).await.series[SOL_PERP as usize];
    assert_eq!(series.loss_index as u64, per_contract);
    assert_eq!(
        w.registry().await.assets[0].fees_accrued,
        fees_before + loss.rounding
    );
    w.assert_books_reconcile().await;

    // Each holder pays 10 x per_contract when next touched, even to close.
    for trader in [&counterparty, &keeper] {
        let before = w.margin_account(trader.account).await.quote_balance();
        w.withdraw(trader, QUOTE, USDC).await.unwrap();
        assert_eq!(
            w.margin_account(trader.account).await.quote_balance(),
            before - (10 * per_contract + USDC) as i64
        );
        w.assert_books_reconcile().await;
    }
}

#[tokio::test]
async fn a_large_enough_fund_pays_everything() {
    let (mut w, target, _counterparty, keeper) = gapped(10_000 * USDC).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 10);
    let logs = w.h.send_for_logs(&[ix], &[&keeper.key]).await.unwrap();
    let covered = &events::<BankruptcyInsuranceCovered>(&logs)[0];
    let step = &events::<PositionLiquidated>(&logs)[0];
    assert_eq!(
        w.h.token_balance(insurance_address()).await,
        10_000 * USDC + step.insurance_fee - covered.amount
    );
    assert!(events::<LossSocialized>(&logs).is_empty());
    assert_eq!(w.margin_account(target.account).await.quote_balance(), 0);
    assert_eq!(
        w.market(SOL_MARKET).await.series[SOL_PERP as usize].loss_index,
        0
    );
    w.assert_books_reconcile().await;
    // Resolved: nothing is owed any more.
    let again = w.resolve_bankruptcy_ix(target.account, SOL_MARKET);
    let watched = [target.account, registry_address(), insurance_address()];
    w.h.assert_refused(
        &watched,
        &[again],
        &[],
        program_error(XmarginError::NotBankrupt),
    )
    .await;
}

/// On the base commit this account was stuck: no last liquidated series, so resolution was
/// refused (`NoSeriesToSocialize`) whatever market was named.
#[tokio::test]
async fn a_debt_no_liquidation_produced_falls_to_fees_then_to_unbacked_debt() {
    let (mut w, target, _counterparty) = bankrupt_by_settlement().await;
    let debt = debt_of(&mut w, &target).await;
    let fees = w.registry().await.assets[0].fees_accrued;
    assert!(fees > 0 && fees < debt, "trading fees accrued: {fees}");
    let ix = w.resolve_bankruptcy_ix(target.account, BTC_MARKET);
    let logs = w.h.send_for_logs(&[ix], &[]).await.unwrap();
    let absorbed = &events::<BadDebtAbsorbed>(&logs)[0];
    assert_eq!(
        (
            absorbed.from_fees,
            absorbed.unbacked,
            absorbed.unbacked_debt_after
        ),
        (fees, debt - fees, debt - fees)
    );
    assert!(events::<LossSocialized>(&logs).is_empty());
    let registry = w.registry().await;
    assert_eq!(
        (registry.assets[0].fees_accrued, registry.unbacked_debt),
        (0, debt - fees)
    );
    assert_eq!(w.margin_account(target.account).await.quote_balance(), 0);
    w.assert_books_reconcile().await;
}

/// The target keeps SOL collateral through the position step (so it is not resolved then);
/// the keeper closes the contracts it took before the collateral is sold. On the base commit
/// resolution was then refused for ever (`NoSeriesToSocialize`).
#[tokio::test]
async fn a_loss_whose_series_has_no_open_interest_left_still_resolves() {
    let mut w = World::listed().await;
    let target = w.trader(300 * USDC, SOL_LAMPORTS).await;
    w.deposit(&target, QUOTE, 300 * USDC).await.unwrap();
    w.deposit(&target, SOL_ASSET, SOL_LAMPORTS).await.unwrap();
    let counterparty = w.funded_trader(100_000 * USDC).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    w.set_sol_price(100 * 100_000_000).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 10);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();
    let account = w.margin_account(target.account).await;
    assert!(!account.has_positions() && !account.is_bankrupt());
    w.trade(
        &keeper,
        &counterparty,
        SOL_MARKET,
        SOL_PERP,
        -10,
        100 * USDC,
    )
    .await
    .unwrap();
    assert_eq!(
        w.market(SOL_MARKET).await.series[SOL_PERP as usize].open_interest_long,
        0
    );
    let ix = w.liquidate_collateral_ix(&keeper, target.account, SOL_ASSET, SOL_LAMPORTS);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();
    assert!(w.margin_account(target.account).await.is_bankrupt());
    let debt = debt_of(&mut w, &target).await;
    let ix = w.resolve_bankruptcy_ix(target.account, SOL_MARKET);
    let logs = w.h.send_for_logs(&[ix], &[]).await.unwrap();
    let absorbed = &events::<BadDebtAbsorbed>(&logs)[0];
    let covered = &events::<BankruptcyInsuranceCovered>(&logs)[0];
    assert_eq!(covered.fund_balance_after, 0);
    assert_eq!(
        covered.amount + absorbed.from_fees + absorbed.unbacked,
        debt
    );
    assert_eq!(w.margin_account(target.account).await.quote_balance(), 0);
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn naming_another_market_cannot_steer_a_loss_away_from_the_series_holders() {
    let mut w = World::listed().await;
    let target = w.trader(300 * USDC, SOL_LAMPORTS).await;
    w.deposit(&target, QUOTE, 300 * USDC).await.unwrap();
    w.deposit(&target, SOL_ASSET, SOL_LAMPORTS).await.unwrap();
    let counterparty = w.funded_trader(100_000 * USDC).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    w.set_sol_price(100 * 100_000_000).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 10);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();
    let ix = w.liquidate_collateral_ix(&keeper, target.account, SOL_ASSET, SOL_LAMPORTS);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();
    let watched = [
        target.account,
        registry_address(),
        market_address(BTC_MARKET),
        insurance_address(),
    ];
    let ix = w.resolve_bankruptcy_ix(target.account, BTC_MARKET);
    w.h.assert_refused(
        &watched,
        &[ix],
        &[],
        program_error(XmarginError::NoSeriesToSocialize),
    )
    .await;
    let ix = w.resolve_bankruptcy_ix(target.account, SOL_MARKET);
    let logs = w.h.send_for_logs(&[ix], &[]).await.unwrap();
    assert_eq!(events::<LossSocialized>(&logs)[0].contracts, 20);
    w.assert_books_reconcile().await;
}

/// Anyone may deposit into any account. On the base commit one lamport of SOL made a bankrupt
/// account not bankrupt (`NotBankrupt`) and no liquidation could take it.
#[tokio::test]
async fn dust_deposited_into_a_bankrupt_account_is_swept_by_the_resolution() {
    let (mut w, target, _counterparty) = bankrupt_by_settlement().await;
    let griefer = w.trader(0, SOL_LAMPORTS).await;
    let ix = w.deposit_ix(&griefer.key, target.account, griefer.sol, SOL_ASSET, 1);
    w.h.send(&[ix], &[&griefer.key]).await.unwrap();
    let sol_fees = w.registry().await.assets[SOL_ASSET as usize].fees_accrued;
    let ix = w.resolve_bankruptcy_ix(target.account, SOL_MARKET);
    let logs = w.h.send_for_logs(&[ix], &[]).await.unwrap();
    let swept = &events::<DustSwept>(&logs)[0];
    assert_eq!((swept.asset, swept.amount), (SOL_ASSET, 1));
    assert_eq!(
        w.registry().await.assets[SOL_ASSET as usize].fees_accrued,
        sol_fees + 1
    );
    let account = w.margin_account(target.account).await;
    assert!(account.is_empty());
    w.assert_books_reconcile().await;
}

/// Collateral a liquidator would pay for is not dust: it is sold first.
#[tokio::test]
async fn collateral_worth_a_quote_unit_is_liquidated_before_resolution() {
    let (mut w, target, _counterparty) = bankrupt_by_settlement().await;
    let griefer = w.trader(0, SOL_LAMPORTS).await;
    let ix = w.deposit_ix(
        &griefer.key,
        target.account,
        griefer.sol,
        SOL_ASSET,
        100_000,
    );
    w.h.send(&[ix], &[&griefer.key]).await.unwrap();
    let watched = [target.account, registry_address(), insurance_address()];
    let ix = w.resolve_bankruptcy_ix(target.account, SOL_MARKET);
    w.h.assert_refused(
        &watched,
        &[ix],
        &[],
        program_error(XmarginError::NotBankrupt),
    )
    .await;
    let keeper = w.funded_trader(1_000 * USDC).await;
    let ix = w.liquidate_collateral_ix(&keeper, target.account, SOL_ASSET, 100_000);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();
    let ix = w.resolve_bankruptcy_ix(target.account, SOL_MARKET);
    w.h.send(&[ix], &[]).await.unwrap();
    assert!(w.margin_account(target.account).await.is_empty());
    w.assert_books_reconcile().await;
}

/// A dust asset on a feed that stopped publishing (past even the tolerant guard) is worth
/// zero to a liquidation. On the base commit it blocked every liquidation of the account
/// (`OracleStale`: a strict price for every asset held).
#[tokio::test]
async fn a_dust_asset_on_a_dead_feed_does_not_block_liquidation() {
    let mut w = World::listed().await;
    let target = w.funded_trader(25_000 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    w.trade(
        &target,
        &counterparty,
        BTC_MARKET,
        BTC_PERP,
        100,
        1_000 * USDC,
    )
    .await
    .unwrap();
    let griefer = w.trader(0, SOL_LAMPORTS).await;
    let ix = w.deposit_ix(&griefer.key, target.account, griefer.sol, SOL_ASSET, 1);
    w.h.send(&[ix], &[&griefer.key]).await.unwrap();
    let keeper = w.funded_trader(1_000_000 * USDC).await;
    w.btc_price = 70_000 * 100_000_000;
    w.refresh_oracles().await;
    w.write_sol_oracle(|p| p.publish_time -= 3_600).await;
    let ix = w.liquidate_ix(&keeper, target.account, BTC_MARKET, BTC_PERP, 100);
    let logs = w.h.send_for_logs(&[ix], &[&keeper.key]).await.unwrap();
    assert_eq!(events::<PositionLiquidated>(&logs)[0].quantity, 100);
    // A dead feed cannot call a balance dust (that would let anyone confiscate real
    // collateral): the account resolves once the feed publishes again.
    assert!(events::<DustSwept>(&logs).is_empty());
    let ix = w.resolve_bankruptcy_ix(target.account, BTC_MARKET);
    let watched = [target.account, registry_address(), insurance_address()];
    w.h.assert_refused(
        &watched,
        &[ix],
        &[],
        program_error(XmarginError::NotBankrupt),
    )
    .await;
    w.refresh_oracles().await;
    let ix = w.resolve_bankruptcy_ix(target.account, BTC_MARKET);
    let logs = w.h.send_for_logs(&[ix], &[]).await.unwrap();
    assert_eq!(events::<DustSwept>(&logs)[0].amount, 1);
    assert!(w.margin_account(target.account).await.is_empty());
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn only_an_emptied_account_in_debt_is_bankrupt() {
    let mut w = World::listed().await;
    let trader = w.funded_trader(10_000 * USDC).await;
    let counterparty = w.funded_trader(100_000 * USDC).await;
    let watched = [trader.account, registry_address(), insurance_address()];
    let code = program_error(XmarginError::NotBankrupt);
    // Owes nothing.
    let ix = w.resolve_bankruptcy_ix(trader.account, SOL_MARKET);
    w.h.assert_refused(&watched, &[ix], &[], code).await;
    // Holds a position.
    w.trade(&trader, &counterparty, SOL_MARKET, SOL_PERP, 1, 150 * USDC)
        .await
        .unwrap();
    let ix = w.resolve_bankruptcy_ix(trader.account, SOL_MARKET);
    w.h.assert_refused(&watched, &[ix], &[], code).await;
    // Holds collateral against a debt.
    let (mut w, target, _keeper) = {
        let mut w = World::listed().await;
        let target = w.sol_funded_trader(10 * SOL_LAMPORTS).await;
        let counterparty = w.funded_trader(1_000_000 * USDC).await;
        w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
            .await
            .unwrap();
        w.set_sol_price(140 * 100_000_000).await;
        w.trade(
            &target,
            &counterparty,
            SOL_MARKET,
            SOL_PERP,
            -10,
            140 * USDC,
        )
        .await
        .unwrap();
        (w, target, counterparty)
    };
    assert!(w.margin_account(target.account).await.quote_balance() < 0);
    let watched = [target.account, registry_address(), insurance_address()];
    let ix = w.resolve_bankruptcy_ix(target.account, SOL_MARKET);
    w.h.assert_refused(&watched, &[ix], &[], code).await;
}
