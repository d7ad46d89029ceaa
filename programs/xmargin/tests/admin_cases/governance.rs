//! Governance bounds (docs/security.md, "Roles and bounds"): a step applies at once, anything
//! larger waits in the timelock; pauses lapse and never block reducing actions; listings are
//! checked against the fee, the oracle and the mint. Each refusal asserts its error and that
//! nothing changed.
use super::*;
use common::assert_error;
use xmargin_client::instructions as ix;
use xmargin_client::pda as ix_pda;
use xmargin_sandbox::params::TIMELOCK_SECS;

const HOUR: i64 = 3_600;

/// Two accounts holding 10 SOL perps against each other, an hour after listing (a listing
/// counts as the first step): the SOL market has open interest and SOL is held as collateral.
async fn with_open_interest() -> World {
    let mut w = World::listed().await;
    let long = w.funded_trader(100_000 * USDC).await;
    let short = w.trader(100_000 * USDC, 10 * SOL_LAMPORTS).await;
    w.deposit(&short, QUOTE, 100_000 * USDC).await.unwrap();
    w.deposit(&short, SOL_ASSET, 10 * SOL_LAMPORTS)
        .await
        .unwrap();
    let price = w.mark(SOL_MARKET, SOL_PERP).await;
    w.trade(&long, &short, SOL_MARKET, SOL_PERP, 10, price)
        .await
        .unwrap();
    assert!(w.market(SOL_MARKET).await.has_open_interest());
    w.h.advance(HOUR).await;
    w.refresh_oracles().await;
    w
}

async fn next_change_id(w: &mut World) -> u64 {
    w.clearinghouse().await.changes_queued
}

/// Queues `change` signed by `proposer`; returns its id.
async fn queue(w: &mut World, proposer: &Keypair, change: RiskChange) -> u64 {
    let id = next_change_id(w).await;
    let ix = ix::queue_change(proposer.pubkey(), id, change);
    w.h.send(&[ix], &[proposer]).await.unwrap();
    id
}

async fn pending(w: &mut World, id: u64) -> Option<PendingChange> {
    w.h.anchor_account(ix_pda::pending_change(id)).await
}

fn sol_asset_update(weights: AssetWeights) -> UpdateCollateralAssetParams {
    let listed = sol_collateral_params();
    UpdateCollateralAssetParams {
        index: SOL_ASSET,
        weights,
        liquidity_depth: listed.liquidity_depth,
        deposit_cap: listed.deposit_cap,
    }
}

#[tokio::test]
async fn a_market_risk_step_applies_at_once_and_a_larger_change_only_through_the_timelock() {
    let mut w = with_open_interest().await;
    let authority = w.risk_authority.insecure_clone();
    let listed = w.market(SOL_MARKET).await.risk;

    // Over the bound, field by field: 5 % of the price range plus one unit, a 26 bps rate, a
    // new correlation group.
    let mut too_wide = listed;
    too_wide.grid.price_range += listed.grid.price_range / 20 + 1;
    let mut rate = listed;
    rate.rate += fx(26, 10_000);
    let mut regroup = listed;
    regroup.correlation_group += 1;
    let mut weight = listed;
    weight.grid.extended_weight = fx(1, 1);
    for risk in [too_wide, rate, regroup, weight] {
        let ix = market_risk_ix(&w, SOL_MARKET, risk);
        refused_by(&mut w, ix, &authority, XmarginError::StepTooLarge).await;
    }

    // A step within every bound applies at once; a second one within the hour does not.
    let mut step = listed;
    step.grid.price_range += listed.grid.price_range / 20;
    step.rate += fx(25, 10_000);
    step.beta -= listed.beta / 20;
    w.as_risk_authority(&[market_risk_ix(&w, SOL_MARKET, step)])
        .await
        .unwrap();
    assert_eq!(w.market(SOL_MARKET).await.risk, step);
    let ix = market_risk_ix(&w, SOL_MARKET, listed);
    refused_by(&mut w, ix, &authority, XmarginError::StepTooSoon).await;
    let mut second = step;
    second.grid.price_range += step.grid.price_range / 40;
    // An hour later steps still do not compound: `second` is 7.6 % from the period's
    // reference (the listing). Moving back within the bound is a step.
    w.h.advance(HOUR).await;
    let ix = market_risk_ix(&w, SOL_MARKET, second);
    refused_by(&mut w, ix, &authority, XmarginError::StepTooLarge).await;
    w.as_risk_authority(&[market_risk_ix(&w, SOL_MARKET, listed)])
        .await
        .unwrap();
    // A timelock after the reference was taken, the current value is the new reference.
    w.h.advance(TIMELOCK_SECS as i64).await;
    w.as_risk_authority(&[market_risk_ix(&w, SOL_MARKET, step)])
        .await
        .unwrap();
    assert_eq!(w.market(SOL_MARKET).await.risk, step);

    // The BTC market has no open interest: any valid change applies at once.
    let mut btc = w.market(BTC_MARKET).await.risk;
    btc.grid.extended_weight = fx(1, 1);
    btc.rate = fx(5, 100);
    w.as_risk_authority(&[market_risk_ix(&w, BTC_MARKET, btc)])
        .await
        .unwrap();
    assert_eq!(w.market(BTC_MARKET).await.risk, btc);
}

#[tokio::test]
async fn a_queued_change_waits_for_its_delay_then_anyone_executes_it() {
    let mut w = with_open_interest().await;
    let authority = w.risk_authority.insecure_clone();
    let mut risk = w.market(SOL_MARKET).await.risk;
    risk.rate = fx(5, 100);
    risk.grid.extended_weight = fx(1, 1);
    let change = RiskChange::MarketRisk {
        market: SOL_MARKET,
        risk,
    };

    // Only the role that owns the parameter queues it.
    let admin = w.admin.insecure_clone();
    let id = next_change_id(&mut w).await;
    let by_admin = ix::queue_change(admin.pubkey(), id, change.clone());
    refused_by(&mut w, by_admin, &admin, XmarginError::Unauthorized).await;
    assert!(pending(&mut w, id).await.is_none());

    let lamports_before = w.h.lamports(authority.pubkey()).await;
    let queued_at = w.h.clock().await.unix_timestamp;
    let id = queue(&mut w, &authority, change.clone()).await;
    let stored = pending(&mut w, id).await.unwrap();
    assert_eq!(
        (stored.proposer, stored.executable_at, stored.change.clone()),
        (
            authority.pubkey(),
            queued_at + TIMELOCK_SECS as i64,
            change.clone()
        )
    );
    assert_eq!(w.clearinghouse().await.changes_queued, id + 1);

    // Not before the delay, by anyone (the payer, a third party, sends every execution here).
    let execute = ix::execute_change(id, authority.pubkey(), &change);
    let mut state = admin_state();
    state.push(ix_pda::pending_change(id));
    w.h.assert_refused(
        &state,
        std::slice::from_ref(&execute),
        &[],
        program_error(XmarginError::ChangeNotYetExecutable),
    )
    .await;
    w.h.advance(TIMELOCK_SECS as i64 - 10).await;
    w.h.assert_refused(
        &state,
        std::slice::from_ref(&execute),
        &[],
        program_error(XmarginError::ChangeNotYetExecutable),
    )
    .await;

    // Against the wrong market: refused.
    let wrong_market = ix::execute_change(
        id,
        authority.pubkey(),
        &RiskChange::MarketRisk {
            market: BTC_MARKET,
            risk,
        },
    );
    w.h.advance(10).await;
    w.h.assert_refused(
        &state,
        &[wrong_market],
        &[],
        program_error(XmarginError::ChangeTargetMismatch),
    )
    .await;

    // After it, a third party executes; the rent goes back to the proposer.
    w.h.send(std::slice::from_ref(&execute), &[]).await.unwrap();
    assert_eq!(w.market(SOL_MARKET).await.risk, risk);
    assert!(pending(&mut w, id).await.is_none());
    assert_eq!(w.h.lamports(authority.pubkey()).await, lamports_before);
    // Once only.
    let again = w.h.send(&[execute], &[]).await;
    assert_error(&again, anchor_error(ErrorCode::AccountNotInitialized));
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_queued_change_expires_and_can_be_cancelled_by_its_proposer_or_the_role() {
    let mut w = with_open_interest().await;
    let authority = w.risk_authority.insecure_clone();
    let surface = flat_surface(150);
    let change = RiskChange::VolSurface {
        market: SOL_MARKET,
        surface,
    };

    // Expired: not executed within the window after its delay.
    let id = queue(&mut w, &authority, change.clone()).await;
    w.h.advance(TIMELOCK_SECS as i64 + xmargin::governance::EXECUTION_WINDOW_SECS + 1)
        .await;
    let stranger = w.stranger().await;
    let execute = ix::execute_change(id, authority.pubkey(), &change);
    let mut state = admin_state();
    state.push(ix_pda::pending_change(id));
    w.h.assert_refused(
        &state,
        &[execute],
        &[],
        program_error(XmarginError::ChangeExpired),
    )
    .await;

    // A stranger cannot cancel; the proposer can, and the change is gone.
    let cancel = ix::cancel_change(stranger.pubkey(), id, authority.pubkey());
    w.h.assert_refused(
        &state,
        &[cancel],
        &[&stranger],
        program_error(XmarginError::Unauthorized),
    )
    .await;
    let cancel = ix::cancel_change(authority.pubkey(), id, authority.pubkey());
    w.h.send(&[cancel], &[&authority]).await.unwrap();
    assert!(pending(&mut w, id).await.is_none());

    // After the role changed hands, the new holder cancels the old holder's change.
    let id = queue(&mut w, &authority, change.clone()).await;
    let successor = w.stranger().await;
    let propose = ix::propose_role(authority.pubkey(), Role::RiskAuthority, successor.pubkey());
    w.h.send(&[propose], &[&authority]).await.unwrap();
    let accept = ix::accept_role(successor.pubkey(), Role::RiskAuthority);
    w.h.send(&[accept], &[&successor]).await.unwrap();
    let cancel = ix::cancel_change(successor.pubkey(), id, authority.pubkey());
    w.h.send(&[cancel], &[&successor]).await.unwrap();
    assert!(pending(&mut w, id).await.is_none());

    // The admin stops the risk authority's change without waiting for a hand-over.
    let id = queue(&mut w, &successor, change.clone()).await;
    let admin = w.admin.insecure_clone();
    let cancel = ix::cancel_change(admin.pubkey(), id, successor.pubkey());
    w.h.send(&[cancel], &[&admin]).await.unwrap();
    assert!(pending(&mut w, id).await.is_none());
    assert_ne!(w.market(SOL_MARKET).await.surface, surface);
}

#[tokio::test]
async fn the_vol_surface_takes_one_bounded_step_an_hour_while_positions_are_open() {
    let mut w = with_open_interest().await;
    let authority = w.risk_authority.insecure_clone();
    let start = w.market(SOL_MARKET).await.surface;
    let mut step = start;
    step.atm += fx(10, 100);
    w.as_risk_authority(&[vol_surface_ix(&w, SOL_MARKET, step)])
        .await
        .unwrap();
    // A second step within the hour: the window, not the step, refuses it.
    let mut back = step;
    back.atm -= fx(1, 100);
    let ix = vol_surface_ix(&w, SOL_MARKET, back);
    refused_by(&mut w, ix, &authority, XmarginError::StepTooSoon).await;
    w.h.advance(HOUR).await;
    let mut too_far = step;
    too_far.atm += fx(10, 100) + 1;
    let ix = vol_surface_ix(&w, SOL_MARKET, too_far);
    refused_by(&mut w, ix, &authority, XmarginError::VolStepTooLarge).await;
    w.as_risk_authority(&[vol_surface_ix(&w, SOL_MARKET, back)])
        .await
        .unwrap();
    assert_eq!(w.market(SOL_MARKET).await.surface, back);
}

#[tokio::test]
async fn collateral_weights_of_a_held_asset_move_two_points_an_hour() {
    let mut w = with_open_interest().await;
    let admin = w.admin.insecure_clone();
    let listed = sol_collateral_params().weights;
    // Two points plus one unit: refused.
    let mut too_far = listed;
    too_far.maint_asset -= fx(2, 100) + 1;
    too_far.init_asset -= fx(2, 100);
    let ix = update_collateral_ix(&w, sol_asset_update(too_far));
    refused_by(&mut w, ix, &admin, XmarginError::StepTooLarge).await;
    let mut step = listed;
    step.maint_asset -= fx(2, 100);
    step.init_asset -= fx(2, 100);
    w.as_admin(&[update_collateral_ix(&w, sol_asset_update(step))])
        .await
        .unwrap();
    let ix = update_collateral_ix(&w, sol_asset_update(listed));
    refused_by(&mut w, ix, &admin, XmarginError::StepTooSoon).await;
    // An hour later, one more point down is three from the period's reference.
    w.h.advance(HOUR).await;
    let mut second = step;
    second.init_asset -= fx(1, 100);
    let ix = update_collateral_ix(&w, sol_asset_update(second));
    refused_by(&mut w, ix, &admin, XmarginError::StepTooLarge).await;

    // Through the timelock, any valid weights; never one that cannot be liquidated.
    let mut unliquidatable = listed;
    unliquidatable.maint_asset = fx(98, 100); // fee 2.5 %: 0.98 >= 0.975
    unliquidatable.init_asset = fx(95, 100);
    let change = RiskChange::CollateralAsset(sol_asset_update(unliquidatable));
    let id = queue(&mut w, &admin, change.clone()).await;
    w.h.advance(TIMELOCK_SECS as i64).await;
    let execute = ix::execute_change(id, admin.pubkey(), &change);
    let mut state = admin_state();
    state.push(ix_pda::pending_change(id));
    w.h.assert_refused(
        &state,
        &[execute],
        &[],
        program_error(XmarginError::AssetNotLiquidatable),
    )
    .await;
    let mut halved = listed;
    halved.maint_asset = fx(45, 100);
    halved.init_asset = fx(40, 100);
    let change = RiskChange::CollateralAsset(sol_asset_update(halved));
    let id = queue(&mut w, &admin, change.clone()).await;
    w.h.advance(TIMELOCK_SECS as i64).await;
    w.h.send(&[ix::execute_change(id, admin.pubkey(), &change)], &[])
        .await
        .unwrap();
    assert_eq!(
        w.registry().await.assets[SOL_ASSET as usize].weights,
        halved
    );
}

#[tokio::test]
async fn global_risk_parameters_step_five_percent_an_hour() {
    let mut w = World::listed().await;
    let authority = w.risk_authority.insecure_clone();
    let mut too_far = default_risk_params();
    too_far.risk_params.initial_factor_bits += too_far.risk_params.initial_factor_bits / 20 + 1;
    let ix = risk_params_ix(&w, too_far);
    refused_by(&mut w, ix, &authority, XmarginError::StepTooLarge).await;
    let mut step = default_risk_params();
    step.risk_params.initial_factor_bits += step.risk_params.initial_factor_bits / 20;
    step.strict_oracle.max_age_secs -= step.strict_oracle.max_age_secs / 20;
    w.as_risk_authority(&[risk_params_ix(&w, step)])
        .await
        .unwrap();
    assert_eq!(w.clearinghouse().await.risk_params, step.risk_params);
    let ix = risk_params_ix(&w, step);
    refused_by(&mut w, ix, &authority, XmarginError::StepTooSoon).await;

    // The liquidation fee and the timelock itself change only through the timelock.
    let admin = w.admin.insecure_clone();
    let params = LiquidationParams {
        liquidation_fee_bps: 300,
        liquidation_end_fraction_bits: fx(1, 4),
        liquidator_fee_share_bps: 4_000,
    };
    let liquidation = RiskChange::Liquidation(params);
    let timelock = RiskChange::Timelock { secs: 2 * 86_400 };
    let first = queue(&mut w, &admin, liquidation.clone()).await;
    let second = queue(&mut w, &admin, timelock.clone()).await;
    let out_of_range = ix::queue_change(
        admin.pubkey(),
        second + 1,
        RiskChange::Timelock { secs: 60 },
    );
    refused_by(&mut w, out_of_range, &admin, XmarginError::InvalidParameter).await;
    w.h.advance(TIMELOCK_SECS as i64).await;
    w.h.send(
        &[
            ix::execute_change(first, admin.pubkey(), &liquidation),
            ix::execute_change(second, admin.pubkey(), &timelock),
        ],
        &[],
    )
    .await
    .unwrap();
    let c = w.clearinghouse().await;
    assert_eq!(
        (
            c.liquidation_fee_bps,
            c.liquidation_end_fraction_bits,
            c.liquidator_fee_share_bps,
            c.timelock_secs
        ),
        (300, fx(1, 4), 4_000, 2 * 86_400)
    );
}

#[tokio::test]
async fn a_pause_lapses_and_never_blocks_a_reducing_fill_or_a_rescuing_deposit() {
    let mut w = World::listed().await;
    let long = w.trader(200_000 * USDC, SOL_LAMPORTS).await;
    w.deposit(&long, QUOTE, 100_000 * USDC).await.unwrap();
    let short = w.funded_trader(100_000 * USDC).await;
    let price = w.mark(SOL_MARKET, SOL_PERP).await;
    w.trade(&long, &short, SOL_MARKET, SOL_PERP, 10, price)
        .await
        .unwrap();
    let admin = w.admin.insecure_clone();
    let too_long = w.pause_for_ix(PAUSE_ALL, xmargin::governance::MAX_PAUSE_SECS as u32 + 1);
    refused_by(&mut w, too_long, &admin, XmarginError::PauseTooLong).await;
    let no_duration = w.pause_for_ix(PAUSE_ALL, 0);
    refused_by(&mut w, no_duration, &admin, XmarginError::InvalidParameter).await;
    w.as_admin(&[w.pause_for_ix(PAUSE_ALL, 2 * HOUR as u32)])
        .await
        .unwrap();

    // Opening risk is refused; a fill that reduces both sides clears.
    let opening = w.trade(&long, &short, SOL_MARKET, SOL_PERP, 1, price).await;
    assert_error(&opening, program_error(XmarginError::Paused));
    w.trade(&short, &long, SOL_MARKET, SOL_PERP, 4, price)
        .await
        .unwrap();
    // A quote deposit into an account with positions goes through; another asset (it may be
    // the broken one) or a fresh account does not.
    w.deposit(&long, QUOTE, 10 * USDC).await.unwrap();
    let other_asset = w.deposit(&long, SOL_ASSET, SOL_LAMPORTS).await;
    assert_error(&other_asset, program_error(XmarginError::Paused));
    let fresh = w.trader(10 * USDC, 0).await;
    let refused_deposit = w.deposit(&fresh, QUOTE, 10 * USDC).await;
    assert_error(&refused_deposit, program_error(XmarginError::Paused));
    let withdraw = w.withdraw(&long, QUOTE, USDC).await;
    assert_error(&withdraw, program_error(XmarginError::Paused));

    // Two hours later the pause has lapsed without anybody acting.
    w.h.advance(2 * HOUR).await;
    w.refresh_oracles().await;
    w.withdraw(&long, QUOTE, USDC).await.unwrap();
    w.trade(&long, &short, SOL_MARKET, SOL_PERP, 1, price)
        .await
        .unwrap();
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_listing_is_checked_against_the_fee_the_oracle_and_the_mint() {
    let mut w = World::initialized().await;
    let admin = w.admin.insecure_clone();
    let mut unliquidatable = sol_collateral_params();
    unliquidatable.weights.maint_asset = fx(975, 1_000); // exactly 1 - 2.5 % fee
    unliquidatable.weights.init_asset = fx(95, 100);
    let cases = [
        (
            AddCollateralAssetParams {
                decimals: 6,
                ..sol_collateral_params()
            },
            XmarginError::MintDecimalsMismatch,
        ),
        (
            AddCollateralAssetParams {
                exponent: -6,
                ..sol_collateral_params()
            },
            XmarginError::OracleExponentMismatch,
        ),
        (unliquidatable, XmarginError::AssetNotLiquidatable),
    ];
    for (params, error) in cases {
        let ix = w.add_collateral_ix(w.sol_mint, Some(w.sol_oracle), params);
        refused_by(&mut w, ix, &admin, error).await;
    }
    let mut just_liquidatable = sol_collateral_params();
    just_liquidatable.weights.maint_asset = fx(975, 1_000) - 1;
    just_liquidatable.weights.init_asset = fx(95, 100);
    let ix = w.add_collateral_ix(w.sol_mint, Some(w.sol_oracle), just_liquidatable);
    w.as_admin(&[ix]).await.unwrap();
}

#[tokio::test]
async fn fees_go_to_a_treasury_never_more_than_accrued() {
    let mut w = with_open_interest().await;
    let accrued = w.registry().await.assets[QUOTE as usize].fees_accrued;
    assert!(accrued > 0);
    let admin = w.admin.insecure_clone();
    let treasury_owner = Keypair::new();
    let treasury =
        w.h.create_token_account(w.usdc_mint, treasury_owner.pubkey())
            .await;
    let sol_treasury =
        w.h.create_token_account(w.sol_mint, treasury_owner.pubkey())
            .await;
    let vault = ix_pda::vault(&w.usdc_mint);
    let state = [registry_address(), vault, treasury];
    let cases = [
        (
            ix::withdraw_fees(admin.pubkey(), w.usdc_mint, treasury, accrued + 1),
            XmarginError::FeesExceeded,
        ),
        (
            ix::withdraw_fees(admin.pubkey(), w.usdc_mint, sol_treasury, 1),
            XmarginError::WrongMint,
        ),
        (
            ix::withdraw_fees(admin.pubkey(), w.usdc_mint, treasury, 0),
            XmarginError::ZeroAmount,
        ),
    ];
    for (withdraw, error) in cases {
        w.h.assert_refused(&state, &[withdraw], &[&admin], program_error(error))
            .await;
    }
    let stranger = w.stranger().await;
    let by_stranger = ix::withdraw_fees(stranger.pubkey(), w.usdc_mint, treasury, 1);
    w.h.assert_refused(
        &state,
        &[by_stranger],
        &[&stranger],
        program_error(XmarginError::Unauthorized),
    )
    .await;
    // The quote vault of another mint: the SOL vault is not the registry's quote vault.
    let mut wrong_vault = ix::withdraw_fees(admin.pubkey(), w.usdc_mint, treasury, 1);
    wrong_vault.accounts[3].pubkey = ix_pda::vault(&w.sol_mint);
    w.h.assert_refused(
        &state,
        &[wrong_vault],
        &[&admin],
        program_error(XmarginError::WrongVault),
    )
    .await;

    // Fees back bad debt first: a tenth of them a day.
    let tenth = accrued / 10;
    let too_much = ix::withdraw_fees(admin.pubkey(), w.usdc_mint, treasury, tenth + 1);
    w.h.assert_refused(
        &state,
        &[too_much],
        &[&admin],
        program_error(XmarginError::FeesExceeded),
    )
    .await;
    let withdraw = ix::withdraw_fees(admin.pubkey(), w.usdc_mint, treasury, tenth);
    w.h.send(&[withdraw], &[&admin]).await.unwrap();
    assert_eq!(w.h.token_balance(treasury).await, tenth);
    assert_eq!(
        w.registry().await.assets[QUOTE as usize].fees_accrued,
        accrued - tenth
    );
    let again = ix::withdraw_fees(admin.pubkey(), w.usdc_mint, treasury, 1);
    w.h.assert_refused(
        &state,
        &[again],
        &[&admin],
        program_error(XmarginError::FeesExceeded),
    )
    .await;
    w.h.advance(86_400).await;
    let next_day = ix::withdraw_fees(admin.pubkey(), w.usdc_mint, treasury, 1);
    w.h.send(&[next_day], &[&admin]).await.unwrap();
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_settled_series_slot_is_reused_only_once_nobody_holds_it() {
    let mut w = World::listed().await;
    let long = w.funded_trader(100_000 * USDC).await;
    let short = w.funded_trader(100_000 * USDC).await;
    w.trade(&long, &short, SOL_MARKET, SOL_FUTURE, 10, 150 * USDC)
        .await
        .unwrap();
    w.settle_future_at(SOL_PRICE, &[&long]).await;
    let settled = w.market(SOL_MARKET).await;
    assert_eq!(settled.series[SOL_FUTURE as usize].status, SERIES_SETTLED);

    // One side still holds the settled series: a new series takes a fresh slot.
    let expiry = w.h.clock().await.unix_timestamp + 30 * 86_400;
    let future = AddSeriesParams {
        kind: SeriesKind::Future,
        strike: 0,
        expiry,
    };
    w.as_admin(&[w.add_series_ix(SOL_MARKET, future)])
        .await
        .unwrap();
    let market = w.market(SOL_MARKET).await;
    assert_eq!(market.series_count, settled.series_count + 1);
    assert_eq!(
        market.series[SOL_FUTURE as usize],
        settled.series[SOL_FUTURE as usize]
    );

    // Once the other side settles, the slot is reused, fresh, and the cached risk outdated.
    w.h.send(
        &[settle_position_ix(SOL_MARKET, SOL_FUTURE, short.account)],
        &[],
    )
    .await
    .unwrap();
    let before = w.market(SOL_MARKET).await;
    let call = AddSeriesParams {
        kind: SeriesKind::Call,
        strike: 160 * USDC,
        expiry,
    };
    w.as_admin(&[w.add_series_ix(SOL_MARKET, call)])
        .await
        .unwrap();
    let market = w.market(SOL_MARKET).await;
    let reused = market.series[SOL_FUTURE as usize];
    assert_eq!(market.series_count, before.series_count);
    assert_eq!(market.risk_generation, before.risk_generation + 1);
    assert_eq!(
        (reused.kind, reused.strike, reused.expiry, reused.status),
        (SeriesKind::Call as u8, 160 * USDC, expiry, SERIES_ACTIVE)
    );
    assert_eq!(
        (
            reused.open_interest_long,
            reused.open_interest_short,
            reused.settlement_price,
            reused.loss_index
        ),
        (0, 0, 0, 0)
    );
    // Neither former holder has anything in the reused slot.
    for trader in [&long, &short] {
        let account = w.margin_account(trader.account).await;
        assert!(account
            .open_positions()
            .all(|p| (p.market, p.series) != (SOL_MARKET, SOL_FUTURE)));
    }
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn every_age_and_window_is_bounded() {
    let mut w = World::listed().await;
    let authority = w.risk_authority.insecure_clone();
    let mut risk = w.market(BTC_MARKET).await.risk;
    risk.cache_max_age_secs = MAX_CACHE_AGE_SECS + 1;
    let ix = market_risk_ix(&w, BTC_MARKET, risk);
    refused_by(&mut w, ix, &authority, XmarginError::InvalidParameter).await;
    let mut guards = default_risk_params();
    guards.tolerant_oracle.max_age_slots = MAX_ORACLE_AGE_SLOTS + 1;
    let ix = risk_params_ix(&w, guards);
    refused_by(&mut w, ix, &authority, XmarginError::InvalidParameter).await;
    let admin = w.admin.insecure_clone();
    for secs in [
        xmargin::governance::MIN_TIMELOCK_SECS - 1,
        xmargin::governance::MAX_TIMELOCK_SECS + 1,
    ] {
        let id = next_change_id(&mut w).await;
        let ix = ix::queue_change(admin.pubkey(), id, RiskChange::Timelock { secs });
        refused_by(&mut w, ix, &admin, XmarginError::InvalidParameter).await;
    }
    risk.cache_max_age_secs = MAX_CACHE_AGE_SECS;
    w.as_risk_authority(&[market_risk_ix(&w, BTC_MARKET, risk)])
        .await
        .unwrap();
}

/// An account liquidated in a dated series, left with a debt after that series settled; the
/// slot is then reused for a new series that others trade. Resolving the old debt must not
/// socialize it onto the new series' holders (it pointed at the slot, not at the series).
#[tokio::test]
async fn attack_an_old_bad_debt_is_not_socialized_onto_a_reused_series_slot() {
    let mut w = World::listed().await;
    let (target, counterparty) = w.thin_futures_long().await;
    w.set_sol_price(120 * 100_000_000).await;
    let keeper = w.funded_trader(100_000 * USDC).await;
    let liquidate = w.liquidate_ix(&keeper, target.account, SOL_MARKET, SOL_FUTURE, 1);
    w.h.send(&[liquidate], &[&keeper.key]).await.unwrap();
    let account = w.margin_account(target.account).await;
    assert_eq!(
        (
            account.last_liquidated_market,
            account.last_liquidated_series
        ),
        (SOL_MARKET, SOL_FUTURE)
    );

    // Expiry at 100: the rest of the target's futures settle at a loss beyond its equity.
    w.settle_future_at(100 * 100_000_000, &[&target, &counterparty, &keeper])
        .await;
    assert!(w.margin_account(target.account).await.is_bankrupt());

    // The slot is reused and traded.
    let expiry = w.h.clock().await.unix_timestamp + 30 * 86_400;
    let future = AddSeriesParams {
        kind: SeriesKind::Future,
        strike: 0,
        expiry,
    };
    w.as_admin(&[w.add_series_ix(SOL_MARKET, future)])
        .await
        .unwrap();
    assert_eq!(
        w.market(SOL_MARKET).await.series[SOL_FUTURE as usize].expiry,
        expiry
    );
    let long = w.funded_trader(100_000 * USDC).await;
    let short = w.funded_trader(100_000 * USDC).await;
    let price = w.mark(SOL_MARKET, SOL_FUTURE).await;
    w.trade(&long, &short, SOL_MARKET, SOL_FUTURE, 5, price)
        .await
        .unwrap();

    w.h.send(&[w.resolve_bankruptcy_ix(target.account, SOL_MARKET)], &[])
        .await
        .unwrap();
    let series = w.market(SOL_MARKET).await.series[SOL_FUTURE as usize];
    assert_eq!(series.loss_index, 0, "socialized onto the new series");
    assert_eq!(w.margin_account(target.account).await.quote_balance(), 0);
    w.assert_books_reconcile().await;
}
