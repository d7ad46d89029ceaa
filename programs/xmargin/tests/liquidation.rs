//! Permissionless liquidation of positions, the fee split with the insurance fund, and the
//! insurance fund's own limits.
mod common;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use common::world::*;
use common::{anchor_ix, program_error};
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::events::PositionLiquidated;
use xmargin::instructions::LiquidatePositionParams;
use xmargin::state::MODE_CROSS;

/// A target long 10 SOL perps on 300 USDC, pushed underwater by SOL falling to 130, and a
/// well-funded keeper.
async fn underwater() -> (World, Trader, Trader) {
    let mut w = World::listed().await;
    let target = w.funded_trader(300 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    w.set_sol_price(130 * 100_000_000).await;
    (w, target, keeper)
}

fn watched(target: &Trader, keeper: &Trader) -> Vec<Pubkey> {
    vec![
        target.account,
        keeper.account,
        registry_address(),
        market_address(SOL_MARKET),
        insurance_address(),
    ]
}

async fn refused(
    w: &mut World,
    keeper: &Trader,
    target: &Trader,
    ix: Instruction,
    error: XmarginError,
) {
    let key = keeper.key.insecure_clone();
    w.h.assert_refused(
        &watched(target, keeper),
        &[ix],
        &[&key],
        program_error(error),
    )
    .await;
}

#[tokio::test]
async fn an_underwater_account_is_liquidated_in_partial_steps() {
    let (mut w, target, keeper) = underwater().await;
    let spot = 130 * USDC as u128;
    let mut steps = 0;
    let mut held = 10i64;
    let mut flagged_above_maintenance = false;
    loop {
        let insurance_before = w.h.token_balance(insurance_address()).await;
        let keeper_before = w.margin_account(keeper.account).await.quote_balance();
        let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 2);
        let key = keeper.key.insecure_clone();
        let Ok(events) =
            w.h.send_for_events::<PositionLiquidated>(&[ix], &[&key])
                .await
        else {
            // Once back above the liquidation-end level the account is left alone.
            assert!(
                steps >= 2,
                "several partial steps before the target is healthy"
            );
            let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 2);
            refused(&mut w, &keeper, &target, ix, XmarginError::NotLiquidatable).await;
            break;
        };
        steps += 1;
        assert_eq!(events.len(), 1);
        let event = &events[0];
        let account = w.margin_account(target.account).await;
        let now_held = account.position(SOL_MARKET, SOL_PERP).map_or(0, |p| p.size);
        let moved = held - now_held;
        held = now_held;
        // Capped by the caller's maximum: a partial step, as the event says.
        assert!((1..=2).contains(&moved), "moved {moved}");
        assert_eq!(event.quantity, moved);
        assert_eq!(event.target, target.account);
        assert!(
            event.maint_health_after > event.maint_health_before,
            "each step raises health: {event:?}"
        );
        assert_eq!(account.being_liquidated == 1, event.end_health_after < 0);
        // Hysteresis: a step that starts above maintenance is allowed only while flagged.
        if event.maint_health_before >= 0 {
            flagged_above_maintenance = true;
        }
        assert_eq!(
            w.margin_account(keeper.account)
                .await
                .position(SOL_MARKET, SOL_PERP)
                .unwrap()
                .size,
            10 - held
        );
        // 2.5 % of the moved notional, half to the keeper, half to the insurance fund.
        let fee = (moved as u128 * spot * 250).div_ceil(10_000) as u64;
        assert_eq!(
            (event.fee, event.liquidator_fee, event.insurance_fee),
            (fee, fee / 2, fee - fee / 2)
        );
        assert_eq!(
            w.margin_account(keeper.account).await.quote_balance(),
            keeper_before + (fee / 2) as i64
        );
        assert_eq!(
            w.h.token_balance(insurance_address()).await,
            insurance_before + fee - fee / 2
        );
        w.assert_books_reconcile().await;
        assert!(steps < 10);
    }
    // Flagged while being liquidated, cleared once above the end level.
    assert_eq!(w.margin_account(target.account).await.being_liquidated, 0);
    assert!(
        flagged_above_maintenance,
        "some step ran above maintenance, below the end level"
    );
    assert!(held > 0, "partial: the target keeps part of its position");
}

/// Taking away the hedge leg of an underwater book raises its requirement more than it
/// frees: such a step would lower the account's health, and is refused. A step on the larger
/// leg takes the part that helps, not all a liquidator asks for.
#[tokio::test]
async fn a_step_that_would_lower_health_is_refused() {
    let mut w = World::listed().await;
    let target = w.funded_trader(3_000 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    w.trade(
        &target,
        &counterparty,
        SOL_MARKET,
        SOL_PERP,
        100,
        150 * USDC,
    )
    .await
    .unwrap();
    w.trade(
        &target,
        &counterparty,
        BTC_MARKET,
        BTC_PERP,
        -15,
        1_000 * USDC,
    )
    .await
    .unwrap();
    // SOL down 10 %, BTC up 2 %: both legs lose.
    w.sol_price = 135 * 100_000_000;
    w.btc_price = 102_000 * 100_000_000;
    w.refresh_oracles().await;
    let keeper = w.funded_trader(1_000_000 * USDC).await;
    // Any part of the smaller leg (13,500 USDC long SOL against 15,300 short BTC) unbalances
    // the hedge further.
    for quantity in [100, 10, 1] {
        let hedge = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, quantity);
        refused(
            &mut w,
            &keeper,
            &target,
            hedge,
            XmarginError::LiquidationDidNotImproveHealth,
        )
        .await;
    }
    // Asked for all of the larger leg, the step takes the part after which health is
    // highest: all of it would leave the SOL leg naked.
    let (_, before) = w.health(target.account).await;
    let ix = w.liquidate_ix(&keeper, target.account, BTC_MARKET, BTC_PERP, 15);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();
    let left = w.margin_account(target.account).await;
    let btc = left.position(BTC_MARKET, BTC_PERP).map_or(0, |p| p.size);
    assert!(-15 < btc && btc < 0, "{btc}");
    assert!(w.health(target.account).await.1 > before);
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_healthy_account_cannot_be_liquidated() {
    let mut w = World::listed().await;
    let target = w.funded_trader(10_000 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 5);
    refused(&mut w, &keeper, &target, ix, XmarginError::NotLiquidatable).await;
}

#[tokio::test]
async fn liquidation_refusals() {
    let (mut w, target, keeper) = underwater().await;
    let zero = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 0);
    refused(&mut w, &keeper, &target, zero, XmarginError::ZeroAmount).await;
    let not_held = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_FUTURE, 5);
    refused(&mut w, &keeper, &target, not_held, XmarginError::NoPosition).await;
    let keeper_account = keeper.account;
    let itself = w.liquidate_ix(&keeper, keeper_account, SOL_MARKET, SOL_PERP, 5);
    refused(
        &mut w,
        &keeper,
        &target,
        itself,
        XmarginError::DuplicateAccount,
    )
    .await;
    let mut wrong_fund = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 5);
    wrong_fund.accounts[6].pubkey = vault_address(w.sol_mint);
    refused(
        &mut w,
        &keeper,
        &target,
        wrong_fund,
        XmarginError::WrongInsuranceVault,
    )
    .await;
    let mut wrong_quote_vault = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 5);
    wrong_quote_vault.accounts[5].pubkey = vault_address(w.sol_mint);
    refused(
        &mut w,
        &keeper,
        &target,
        wrong_quote_vault,
        XmarginError::WrongVault,
    )
    .await;
    // A stale price may not move positions between accounts.
    let now = w.h.clock().await.unix_timestamp;
    w.write_sol_oracle(|p| p.publish_time = now - 120).await;
    let stale = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 5);
    refused(&mut w, &keeper, &target, stale, XmarginError::OracleStale).await;
}

#[tokio::test]
async fn an_owner_cannot_liquidate_their_own_account() {
    let (mut w, target, _keeper) = underwater().await;
    // The target's owner opens a second, funded account and tries to take the position.
    let second = margin_address(target.key.pubkey(), 1);
    let ix = w.create_account_ix(&target.key, 1, MODE_CROSS, 0);
    w.h.send(&[ix], &[&target.key]).await.unwrap();
    w.accounts.push(second);
    let own = Trader {
        key: target.key.insecure_clone(),
        account: second,
        usdc: target.usdc,
        sol: target.sol,
    };
    let ix = w.liquidate_ix(&own, target.account, SOL_MARKET, SOL_PERP, 5);
    refused(&mut w, &own, &target, ix, XmarginError::SelfLiquidation).await;
}

#[tokio::test]
async fn a_liquidator_must_stay_above_initial_margin() {
    let (mut w, target, _keeper) = underwater().await;
    let poor = w.funded_trader(10 * USDC).await;
    let ix = w.liquidate_ix(&poor, target.account, SOL_MARKET, SOL_PERP, 10);
    refused(
        &mut w,
        &poor,
        &target,
        ix,
        XmarginError::LiquidatorBelowInitialMargin,
    )
    .await;
}

fn withdraw_insurance_ix(admin: Pubkey, destination: Pubkey, amount: u64) -> Instruction {
    anchor_ix(
        xmargin::accounts::WithdrawInsurance {
            admin,
            clearinghouse: clearinghouse_address(),
            insurance_vault: insurance_address(),
            destination,
            token_program: anchor_spl::token::ID,
        },
        xmargin::instruction::WithdrawInsurance { amount },
    )
}

#[tokio::test]
async fn the_insurance_fund_takes_deposits_and_releases_at_most_a_tenth_a_day() {
    let mut w = World::listed().await;
    let funder = w.trader(10_000 * USDC, 0).await;
    let ix = w.fund_insurance_ix(&funder, 10_000 * USDC);
    w.h.send(&[ix], &[&funder.key]).await.unwrap();
    assert_eq!(w.h.token_balance(insurance_address()).await, 10_000 * USDC);
    let admin = w.admin.insecure_clone();
    let destination = w.h.create_token_account(w.usdc_mint, admin.pubkey()).await;
    let watched = [insurance_address(), clearinghouse_address(), destination];
    let code = program_error(XmarginError::InsuranceWithdrawalLimited);
    let too_much = withdraw_insurance_ix(admin.pubkey(), destination, 1_000 * USDC + 1);
    w.h.assert_refused(&watched, &[too_much], &[&admin], code)
        .await;
    let stranger = w.stranger().await;
    let not_admin = withdraw_insurance_ix(stranger.pubkey(), destination, USDC);
    w.h.assert_refused(
        &watched,
        &[not_admin],
        &[&stranger],
        program_error(XmarginError::Unauthorized),
    )
    .await;
    let ok = withdraw_insurance_ix(admin.pubkey(), destination, 1_000 * USDC);
    w.h.send(&[ok], &[&admin]).await.unwrap();
    assert_eq!(w.h.token_balance(destination).await, 1_000 * USDC);
    let again = withdraw_insurance_ix(admin.pubkey(), destination, USDC);
    w.h.assert_refused(&watched, std::slice::from_ref(&again), &[&admin], code)
        .await;
    w.h.advance(86_400).await;
    w.h.send(&[again], &[&admin]).await.unwrap();
    assert_eq!(w.h.token_balance(insurance_address()).await, 8_999 * USDC);
}

/// A target holding only SOL collateral, long 30 SOL perps after realizing a loss at 130: it
/// owes quote and is below maintenance.
async fn indebted() -> (World, Trader, Trader) {
    let mut w = World::listed().await;
    let target = w.sol_funded_trader(10 * SOL_LAMPORTS).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 40, 150 * USDC)
        .await
        .unwrap();
    w.set_sol_price(130 * 100_000_000).await;
    w.trade(
        &target,
        &counterparty,
        SOL_MARKET,
        SOL_PERP,
        -10,
        130 * USDC,
    )
    .await
    .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    (w, target, keeper)
}

#[tokio::test]
async fn collateral_repays_quote_debt_at_a_discount() {
    let (mut w, target, keeper) = indebted().await;
    let before = w.margin_account(target.account).await;
    let debt = -before.quote_balance();
    assert!(debt > 200 * USDC as i64, "realized loss and fees: {debt}");
    let target_sol = before.balance_of(SOL_ASSET).unwrap().amount;
    let keeper_quote = w.margin_account(keeper.account).await.quote_balance();
    let insurance = w.h.token_balance(insurance_address()).await;
    let ix = w.liquidate_collateral_ix(&keeper, target.account, SOL_ASSET, 10 * SOL_LAMPORTS);
    w.h.send(&[ix], &[&keeper.key]).await.unwrap();

    let after = w.margin_account(target.account).await;
    let taken = target_sol - after.balance_of(SOL_ASSET).unwrap().amount;
    let paid = after.quote_balance() - before.quote_balance();
    // Capped by the debt: the payment repays it to within one lamport's worth.
    assert!(paid <= debt && debt - paid < 1_000, "paid {paid} of {debt}");
    // 130 USDC a SOL less 2.5 %: 126.75 USDC (0.12675 quote units per lamport).
    assert!((paid as f64 - taken as f64 * 0.12675).abs() < 2.0);
    assert_eq!(
        w.margin_account(keeper.account)
            .await
            .balance_of(SOL_ASSET)
            .unwrap()
            .amount,
        taken
    );
    let fee = (taken as f64 * 0.13 * 0.025) as i64;
    let insurance_fee = w.h.token_balance(insurance_address()).await - insurance;
    assert!(
        (insurance_fee as i64 - fee / 2).abs() <= 2,
        "{insurance_fee} vs {fee}"
    );
    assert_eq!(
        w.margin_account(keeper.account).await.quote_balance(),
        keeper_quote - paid - insurance_fee as i64
    );
    assert_eq!(after.being_liquidated, 1, "still below the end level");
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn collateral_liquidation_refusals() {
    let (mut w, target, keeper) = indebted().await;
    let quote = w.liquidate_collateral_ix(&keeper, target.account, QUOTE, 1);
    refused(
        &mut w,
        &keeper,
        &target,
        quote,
        XmarginError::InvalidParameter,
    )
    .await;
    let zero = w.liquidate_collateral_ix(&keeper, target.account, SOL_ASSET, 0);
    refused(&mut w, &keeper, &target, zero, XmarginError::ZeroAmount).await;
    // An asset the target does not hold.
    let absent = w.liquidate_collateral_ix(&keeper, target.account, 5, 1);
    refused(
        &mut w,
        &keeper,
        &target,
        absent,
        XmarginError::InsufficientBalance,
    )
    .await;
    // Underwater, but its quote balance is positive: nothing to repay.
    let (mut w2, target2, keeper2) = underwater().await;
    let no_debt = w2.liquidate_collateral_ix(&keeper2, target2.account, SOL_ASSET, 1);
    refused(
        &mut w2,
        &keeper2,
        &target2,
        no_debt,
        XmarginError::NoQuoteDebt,
    )
    .await;
    let solvent = w.funded_trader(1_000 * USDC).await;
    let healthy = w.liquidate_collateral_ix(&keeper, solvent.account, SOL_ASSET, 1);
    refused(
        &mut w,
        &keeper,
        &solvent,
        healthy,
        XmarginError::NotLiquidatable,
    )
    .await;
}

/// A target holding the most positions an account can, all on one market (a perp, futures on
/// seven expiries, and calls), is liquidated step by step: each
/// step re-margins the book in place, briefly one position over a full book on that
/// underlying.
#[tokio::test]
async fn a_full_book_on_one_market_is_liquidated_in_place() {
    use xmargin::instructions::AddSeriesParams;
    use xmargin::state::{SeriesKind, MAX_ACCOUNT_POSITIONS};
    let mut w = World::listed().await;
    // SOL already lists a perp (0), a future (1), a call (2) and a put (3); the perp and seven
    // futures' expiries make eight tenors (`xmargin_risk::portfolio::MAX_TENORS` is ten).
    let expiry = w.expiry;
    let futures = (1..=6i64).map(|k| AddSeriesParams {
        kind: SeriesKind::Future,
        strike: 0,
        expiry: expiry + k * 86_400,
    });
    let calls = MAX_ACCOUNT_POSITIONS - 8;
    let strikes = (0..calls as u64).map(|k| AddSeriesParams {
        kind: SeriesKind::Call,
        strike: (160 + 5 * k) * USDC,
        expiry,
    });
    w.list_series(SOL_MARKET, futures.chain(strikes)).await;
    let held: Vec<u8> = [SOL_PERP, SOL_FUTURE]
        .into_iter()
        .chain(4..4 + 6 + calls as u8)
        .collect();
    let target = w.funded_trader(4_000 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    for series in &held {
        let price = w.mark(SOL_MARKET, *series).await;
        w.trade(&target, &counterparty, SOL_MARKET, *series, 2, price)
            .await
            .unwrap();
    }
    assert_eq!(
        w.margin_account(target.account)
            .await
            .open_positions()
            .count(),
        MAX_ACCOUNT_POSITIONS
    );
    // Down to its initial margin, then SOL falls to 130.
    let (init_health, _) = w.health(target.account).await;
    w.withdraw(&target, QUOTE, init_health as u64 - USDC)
        .await
        .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    w.set_sol_price(130 * 100_000_000).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, 1);
    let key = keeper.key.insecure_clone();
    let events =
        w.h.send_for_events::<PositionLiquidated>(&[ix], &[&key])
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].quantity, 1);
    assert!(events[0].maint_health_after > events[0].maint_health_before);
    let account = w.margin_account(target.account).await;
    assert_eq!(account.position(SOL_MARKET, SOL_PERP).unwrap().size, 1);
    assert_eq!(account.open_positions().count(), MAX_ACCOUNT_POSITIONS);
    w.assert_books_reconcile().await;
}

/// A target holding only SOL collateral that realized a loss on perps: flat, in quote debt.
async fn flat_in_debt(w: &mut World) -> Trader {
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
    let account = w.margin_account(target.account).await;
    assert!(!account.has_positions() && account.quote_balance() < -100 * USDC as i64);
    target
}

/// Listed at a maintenance weight of 0.98, above 1 - the 2.5 % fee: on the base commit a sale
/// at the full fee lowered the seller's health, so the account could never be liquidated
/// (`RiskEngine`, no liquidation solution). The discount is capped at half the haircut (1 %).
/// Listings now refuse such weights (`AssetNotLiquidatable`, `admin_cases/governance.rs`); the
/// cap stays as a second line, so the weights are written straight into the registry here.
#[tokio::test]
async fn collateral_weighted_above_one_minus_the_fee_can_still_be_sold() {
    use xmargin::state::AssetWeights;
    let mut w = World::listed().await;
    let weights = AssetWeights {
        init_asset: ratio(97, 100).to_bits(),
        maint_asset: ratio(98, 100).to_bits(),
        ..sol_collateral_params().weights
    };
    let mut data = w.h.data(registry_address()).await.unwrap();
    let mut registry = w.registry().await;
    registry.assets[SOL_ASSET as usize].weights = weights;
    data[8..8 + std::mem::size_of_val(&registry)].copy_from_slice(bytemuck::bytes_of(&registry));
    w.h.set_account(registry_address(), xmargin::ID, data);
    let target = flat_in_debt(&mut w).await;
    // 10 SOL at 10 USDC count 98 against a debt above 100.
    w.set_sol_price(10 * 100_000_000).await;
    let keeper = w.funded_trader(100_000 * USDC).await;
    let before = w.margin_account(target.account).await.quote_balance();
    let ix = w.liquidate_collateral_ix(&keeper, target.account, SOL_ASSET, 10 * SOL_LAMPORTS);
    let events =
        w.h.send_for_events::<xmargin::events::CollateralLiquidated>(&[ix], &[&keeper.key])
            .await
            .unwrap();
    let sold = &events[0];
    assert!(sold.maint_health_after > sold.maint_health_before);
    // 10 USDC a SOL less 1 %: 9.9 USDC (0.0099 quote units per lamport).
    let paid = (w.margin_account(target.account).await.quote_balance() - before) as f64;
    // Within the per-unit price's fixed-point rounding (2^-32 a lamport).
    assert!((paid - sold.amount as f64 * 0.0099).abs() < 10.0, "{paid}");
    w.assert_books_reconcile().await;
}

/// The target is long 100 SOL perps and 20 calls struck at 150; SOL falls to 110. The fee
/// charged on the calls' underlying notional (2.5 % of 110 per contract) would exceed what the
/// calls are worth, so on the base commit taking them lowered the target's health; the fee is
/// now the discount on the value the step moves. (The target stays solvent: an insolvent one
/// is closed out without a fee.)
#[tokio::test]
async fn a_long_option_worth_less_than_the_fee_on_its_notional_can_be_taken() {
    let mut w = World::listed().await;
    let target = w.funded_trader(5_800 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    w.trade(
        &target,
        &counterparty,
        SOL_MARKET,
        SOL_PERP,
        100,
        150 * USDC,
    )
    .await
    .unwrap();
    let premium = w.mark(SOL_MARKET, SOL_CALL_150).await;
    w.trade(
        &target,
        &counterparty,
        SOL_MARKET,
        SOL_CALL_150,
        20,
        premium,
    )
    .await
    .unwrap();
    w.set_sol_price(110 * 100_000_000).await;
    let keeper = w.funded_trader(1_000_000 * USDC).await;
    let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_CALL_150, 20);
    let events =
        w.h.send_for_events::<PositionLiquidated>(&[ix], &[&keeper.key])
            .await
            .unwrap();
    let step = &events[0];
    assert_eq!(step.quantity, 20);
    let fee_on_notional = 20 * 110 * USDC / 40;
    assert!(
        (step.value as u64) < fee_on_notional,
        "the calls ({}) are worth less than the old fee ({fee_on_notional})",
        step.value
    );
    assert_eq!(step.fee, (step.value as u64 * 250).div_ceil(10_000));
    assert!(step.maint_health_after > step.maint_health_before);
    w.assert_books_reconcile().await;
}

/// An account owing quote withdraws collateral at strict prices only: on the base commit a
/// price ten minutes old (within the tolerant guard) let it withdraw against a stale value.
#[tokio::test]
async fn an_account_in_debt_withdraws_only_at_strict_prices() {
    let mut w = World::listed().await;
    let target = flat_in_debt(&mut w).await;
    w.write_sol_oracle(|p| p.publish_time -= 300).await;
    let watched = [target.account, registry_address()];
    let ix = w.withdraw_ix(
        &target.key,
        target.account,
        target.sol,
        SOL_ASSET,
        SOL_LAMPORTS,
    );
    let key = target.key.insecure_clone();
    w.h.assert_refused(
        &watched,
        &[ix],
        &[&key],
        program_error(XmarginError::OracleStale),
    )
    .await;
    w.refresh_oracles().await;
    w.withdraw(&target, SOL_ASSET, SOL_LAMPORTS).await.unwrap();
    w.assert_books_reconcile().await;
}

/// The basis trade: long 2,000 SOL perps against short 2,000 30-day futures. On the base
/// commit (rate 0, no basis charge) it needed no margin at all and, once in deficit, every
/// single-leg step was refused: nobody could ever liquidate it. Now it needs the basis charge,
/// and when its requirement outgrows its equity (here the calendar-spread minimum raised from
/// 0.5 % to 2 %) the pair is taken in one step, while each leg alone is still refused.
#[tokio::test]
async fn a_hedged_basis_trade_no_single_leg_can_reduce_is_liquidated_as_a_pair() {
    let mut w = World::listed().await;
    let target = w.funded_trader(100_000 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    let future_price = w.mark(SOL_MARKET, SOL_FUTURE).await;
    w.trade(
        &target,
        &counterparty,
        SOL_MARKET,
        SOL_PERP,
        2_000,
        150 * USDC,
    )
    .await
    .unwrap();
    w.trade(
        &target,
        &counterparty,
        SOL_MARKET,
        SOL_FUTURE,
        -2_000,
        future_price,
    )
    .await
    .unwrap();
    // The pair now has a requirement (~5,400 USDC initial): the owner withdraws down to it,
    // and not a unit more.
    let (init_health, maint_health) = w.health(target.account).await;
    assert!(maint_health < 96_000 * USDC as i64, "{maint_health}");
    let spare = init_health as u64 - USDC;
    w.withdraw(&target, QUOTE, spare).await.unwrap();
    let over = w.withdraw_ix(&target.key, target.account, target.usdc, QUOTE, 2 * USDC);
    let owner = target.key.insecure_clone();
    w.h.assert_refused(
        &[target.account],
        &[over],
        &[&owner],
        program_error(XmarginError::InsufficientFreeCollateral),
    )
    .await;
    // The risk authority raises the calendar-spread minimum: the hedge falls below maintenance.
    let mut risk = w.market(SOL_MARKET).await.risk;
    risk.calendar_spread_minimum = xmargin_risk::fx::fx_ratio(2, 100).to_bits();
    w.set_market_risk(SOL_MARKET, risk).await;
    let (_, maint_health) = w.health(target.account).await;
    assert!(maint_health < 0, "{maint_health}");
    let keeper = w.funded_trader(1_000_000 * USDC).await;
    // Cherry-picking either leg, whole or in part, would leave a naked position: refused.
    for series in [SOL_PERP, SOL_FUTURE] {
        for quantity in [2_000, 1_000, 1] {
            let ix = w.liquidate_ix(&keeper, target.account, SOL_MARKET, series, quantity);
            refused(
                &mut w,
                &keeper,
                &target,
                ix,
                XmarginError::LiquidationDidNotImproveHealth,
            )
            .await;
        }
    }
    // Not a pair: one series twice, or a series the target does not hold.
    for (paired, error) in [
        (SOL_PERP, XmarginError::NotAnOffsettingPair),
        (SOL_CALL_150, XmarginError::NoPosition),
    ] {
        let ix = w.liquidate_pair_ix(
            &keeper,
            target.account,
            SOL_MARKET,
            (SOL_PERP, Some(paired)),
            2_000,
        );
        refused(&mut w, &keeper, &target, ix, error).await;
    }
    let ix = w.liquidate_pair_ix(
        &keeper,
        target.account,
        SOL_MARKET,
        (SOL_PERP, Some(SOL_FUTURE)),
        2_000,
    );
    let key = keeper.key.insecure_clone();
    let events =
        w.h.send_for_events::<PositionLiquidated>(&[ix], &[&key])
            .await
            .unwrap();
    let event = &events[0];
    assert_eq!(event.paired_series, Some(SOL_FUTURE));
    assert_eq!(event.paired_quantity, -event.quantity);
    assert!(event.quantity > 0 && event.quantity < 2_000, "{event:?}");
    assert!(event.maint_health_after > event.maint_health_before);
    assert!(event.end_health_after >= 0, "{event:?}");
    // The fee is on the requirement the pair released, far below 2.5 % of its notional.
    assert!(
        event.fee > 0 && (event.fee as i64) < event.value / 100,
        "{event:?}"
    );
    let account = w.margin_account(target.account).await;
    let held = |series| account.position(SOL_MARKET, series).map_or(0, |p| p.size);
    assert_eq!(held(SOL_PERP), 2_000 - event.quantity);
    assert_eq!(held(SOL_FUTURE), -2_000 + event.quantity);
    let taken = w.margin_account(keeper.account).await;
    assert_eq!(
        taken.position(SOL_MARKET, SOL_PERP).unwrap().size,
        event.quantity
    );
    assert_eq!(
        taken.position(SOL_MARKET, SOL_FUTURE).unwrap().size,
        -event.quantity
    );
    w.assert_books_reconcile().await;
    // Back above the liquidation-end level: left alone.
    let again = w.liquidate_pair_ix(
        &keeper,
        target.account,
        SOL_MARKET,
        (SOL_PERP, Some(SOL_FUTURE)),
        2_000,
    );
    refused(
        &mut w,
        &keeper,
        &target,
        again,
        XmarginError::NotLiquidatable,
    )
    .await;
}

/// A SOL leg hedged by a BTC leg (one correlation group, beta 0.9 each): long 200 SOL perps
/// against short 30 BTC perps, $30,000 a side. Once the risk authority doubles the grid the
/// hedge is below maintenance, and any part of either leg taken alone leaves the rest
/// unbalanced: every single step is refused. The pair across the two markets (the same
/// fraction of each, the BTC market written) restores it.
#[tokio::test]
async fn a_hedge_across_two_markets_is_liquidated_as_a_pair() {
    let mut w = World::listed().await;
    let target = w.cross_market_hedge().await;
    for market in [SOL_MARKET, BTC_MARKET] {
        let mut risk = w.market(market).await.risk;
        risk.grid.price_range *= 2;
        w.set_market_risk(market, risk).await;
    }
    let (_, maint_health) = w.health(target.account).await;
    assert!(maint_health < 0, "{maint_health}");
    let keeper = w.funded_trader(1_000_000 * USDC).await;
    for (market, series, held) in [(SOL_MARKET, SOL_PERP, 200), (BTC_MARKET, BTC_PERP, 30)] {
        for quantity in [u64::MAX, held / 2, 1] {
            let ix = w.liquidate_ix(&keeper, target.account, market, series, quantity);
            refused(
                &mut w,
                &keeper,
                &target,
                ix,
                XmarginError::LiquidationDidNotImproveHealth,
            )
            .await;
        }
    }
    let legs = |w: &World| {
        w.liquidate_legs_ix(
            &keeper,
            target.account,
            (SOL_MARKET, SOL_PERP),
            Some((BTC_MARKET, BTC_PERP)),
            u64::MAX,
        )
    };
    // The other market must be passed writable...
    let mut read_only = legs(&w);
    for meta in read_only.accounts.iter_mut() {
        if meta.pubkey == market_address(BTC_MARKET) {
            meta.is_writable = false;
        }
    }
    refused(
        &mut w,
        &keeper,
        &target,
        read_only,
        XmarginError::UnknownMarket,
    )
    .await;

    // ...and a market without a series is no pair.
    let no_series = xmargin_client::instructions::liquidate_position(
        w.liquidation(&keeper, target.account),
        SOL_MARKET,
        LiquidatePositionParams {
            series: SOL_PERP,
            max_quantity: u64::MAX,
            paired_series: None,
            paired_market: Some(BTC_MARKET),
        },
        &w.risk_accounts()
            .into_iter()
            .filter(|meta| meta.pubkey != market_address(SOL_MARKET))
            .collect::<Vec<_>>(),
    );
    refused(
        &mut w,
        &keeper,
        &target,
        no_series,
        XmarginError::NotAnOffsettingPair,
    )
    .await;
    let key = keeper.key.insecure_clone();
    let events =
        w.h.send_for_events::<PositionLiquidated>(&[legs(&w)], &[&key])
            .await
            .unwrap();
    let event = &events[0];
    assert_eq!(
        (event.paired_market, event.paired_series),
        (Some(BTC_MARKET), Some(BTC_PERP))
    );
    // The same fraction of each leg: 30 BTC contracts for every 200 SOL, rounded up.
    let sol = event.quantity.unsigned_abs();
    assert_eq!(event.paired_quantity, -((sol * 30).div_ceil(200) as i64));
    // The fee: on the requirement released, never above the legs' single-step fees.
    let single = |value: i64| (value.unsigned_abs() * 250).div_ceil(10_000);
    assert!(
        event.fee <= single(event.value) + single(event.paired_value),
        "{event:?}"
    );
    assert!(event.quantity > 0 && event.maint_health_after > event.maint_health_before);
    assert!(event.maint_health_after >= 0, "{event:?}");
    let account = w.margin_account(target.account).await;
    assert_eq!(
        account.position(BTC_MARKET, BTC_PERP).map_or(0, |p| p.size),
        -30 - event.paired_quantity
    );
    w.assert_books_reconcile().await;
}

/// Two legs on one side (long perps and a long future) hedge nothing: each can be reduced
/// alone, so they are no pair, whatever markets they sit in.
#[tokio::test]
async fn legs_on_one_side_are_no_pair() {
    let mut w = World::listed().await;
    let target = w.funded_trader(400 * USDC).await;
    let counterparty = w.funded_trader(1_000_000 * USDC).await;
    let future = w.mark(SOL_MARKET, SOL_FUTURE).await;
    w.trade(&target, &counterparty, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    w.trade(&target, &counterparty, SOL_MARKET, SOL_FUTURE, 1, future)
        .await
        .unwrap();
    let keeper = w.funded_trader(100_000 * USDC).await;
    w.set_sol_price(130 * 100_000_000).await;
    assert!(w.health(target.account).await.1 < 0);
    let pair = w.liquidate_pair_ix(
        &keeper,
        target.account,
        SOL_MARKET,
        (SOL_PERP, Some(SOL_FUTURE)),
        u64::MAX,
    );
    refused(
        &mut w,
        &keeper,
        &target,
        pair,
        XmarginError::NotAnOffsettingPair,
    )
    .await;
    let single = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_PERP, u64::MAX);
    let key = keeper.key.insecure_clone();
    w.h.send(&[single], &[&key]).await.unwrap();
    w.assert_books_reconcile().await;
}
