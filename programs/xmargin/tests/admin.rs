//! Listing and risk administration: collateral assets, markets, series, vol surfaces, risk
//! parameters and pause flags. Each refusal asserts its error and that nothing changed.
mod common;

use anchor_lang::error::ErrorCode;
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use common::world::*;
use common::{anchor_error, anchor_ix, program_error, LegacyPrice};
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::instructions::*;
use xmargin::state::*;
use xmargin_risk::portfolio::UnderlyingConstants;

/// The same instruction with another key in the first (authority) position.
fn signed_by(mut ix: Instruction, signer: Pubkey) -> Instruction {
    ix.accounts[0].pubkey = signer;
    ix
}

fn update_collateral_ix(w: &World, params: UpdateCollateralAssetParams) -> Instruction {
    anchor_ix(
        xmargin::accounts::UpdateCollateralAsset {
            admin: w.admin.pubkey(),
            clearinghouse: clearinghouse_address(),
            collateral_registry: registry_address(),
        },
        xmargin::instruction::UpdateCollateralAsset { params },
    )
}

fn risk_params_ix(w: &World, params: UpdateRiskParamsParams) -> Instruction {
    anchor_ix(
        xmargin::accounts::UpdateRiskParams {
            risk_authority: w.risk_authority.pubkey(),
            clearinghouse: clearinghouse_address(),
        },
        xmargin::instruction::UpdateRiskParams { params },
    )
}

fn default_risk_params() -> UpdateRiskParamsParams {
    let p = initialize_params(Pubkey::new_unique(), Pubkey::new_unique());
    UpdateRiskParamsParams {
        risk_params: p.risk_params,
        strict_oracle: p.strict_oracle,
        tolerant_oracle: p.tolerant_oracle,
        max_vol_step_bits: p.max_vol_step_bits,
    }
}

fn admin_state() -> Vec<Pubkey> {
    vec![
        clearinghouse_address(),
        registry_address(),
        market_address(SOL_MARKET),
        market_address(BTC_MARKET),
    ]
}

/// `ix` signed by `signer` fails with `code` and changes nothing.
async fn refused_with_code(w: &mut World, ix: Instruction, signer: &Keypair, code: u32) {
    w.h.assert_refused(&admin_state(), &[ix], &[signer], code)
        .await;
}

async fn refused_by(w: &mut World, ix: Instruction, signer: &Keypair, error: XmarginError) {
    refused_with_code(w, ix, signer, program_error(error)).await;
}

/// Signed by the admin.
async fn refused(w: &mut World, ix: Instruction, error: XmarginError) {
    let admin = w.admin.insecure_clone();
    refused_by(w, ix, &admin, error).await;
}

#[tokio::test]
async fn listing_records_assets_markets_and_series() {
    let mut w = World::listed().await;
    let registry = w.registry().await;
    assert_eq!(registry.asset_count, 2);
    let quote = registry.assets[0];
    assert_eq!((quote.mint, quote.decimals), (w.usdc_mint, 6));
    assert_eq!(quote.weights, AssetWeights::unit());
    let sol = registry.assets[1];
    assert_eq!(
        (sol.mint, sol.oracle, sol.decimals),
        (w.sol_mint, w.sol_oracle, 9)
    );
    assert_eq!(sol.weights, sol_weights());
    assert_eq!(sol.oracle_kind, OracleKind::PythLegacy as u8);
    // The vault is a token account of the mint owned by the clearinghouse PDA.
    let vault = w.h.data(vault_address(w.sol_mint)).await.unwrap();
    assert_eq!(&vault[0..32], w.sol_mint.as_ref());
    assert_eq!(&vault[32..64], clearinghouse_address().as_ref());
    assert_eq!(sol.vault, vault_address(w.sol_mint));

    assert_eq!(w.clearinghouse().await.market_count, 2);
    let sol_market = w.market(SOL_MARKET).await;
    assert_eq!(
        (sol_market.index, sol_market.oracle),
        (SOL_MARKET, w.sol_oracle)
    );
    assert_eq!(sol_market.series_count, 4);
    let call = sol_market.series[SOL_CALL_150 as usize];
    assert_eq!(
        (call.kind, call.strike, call.expiry, call.status),
        (SeriesKind::Call as u8, 150 * USDC, w.expiry, SERIES_ACTIVE)
    );
    // The price-independent risk constants are derived once, at listing.
    let derived = UnderlyingConstants::new(&sol_market.underlying(1_000_000)).unwrap();
    assert_eq!(sol_market.constants().unwrap(), derived);
    let btc_market = w.market(BTC_MARKET).await;
    assert_eq!(
        (
            btc_market.feed_id,
            btc_market.oracle_kind,
            btc_market.contract_decimals
        ),
        (BTC_FEED, OracleKind::PythPull as u8, 2)
    );
}

#[tokio::test]
async fn admin_instructions_refuse_anyone_but_the_admin() {
    let mut w = World::listed().await;
    let stranger = w.stranger().await;
    let other_mint = w.h.create_mint(6).await;
    let cases = vec![
        w.add_collateral_ix(other_mint, Some(w.sol_oracle), sol_collateral_params()),
        update_collateral_ix(
            &w,
            UpdateCollateralAssetParams {
                index: SOL_ASSET,
                weights: sol_weights(),
                liquidity_depth: 1,
                deposit_cap: 1,
            },
        ),
        w.add_listed_market_ix(2, 1, underlying_risk(1, 50)),
        w.add_series_ix(
            SOL_MARKET,
            AddSeriesParams {
                kind: SeriesKind::Put,
                strike: 120 * USDC,
                expiry: w.expiry,
            },
        ),
        w.pause_ix(PAUSE_ALL),
    ];
    for ix in cases {
        let ix = signed_by(ix, stranger.pubkey());
        refused_by(&mut w, ix, &stranger, XmarginError::Unauthorized).await;
    }
}

#[tokio::test]
async fn risk_instructions_refuse_anyone_but_the_risk_authority() {
    let mut w = World::listed().await;
    let admin = w.admin.insecure_clone();
    let cases = vec![
        vol_surface_ix(&w, SOL_MARKET, flat_surface(85)),
        market_risk_ix(&w, SOL_MARKET, underlying_risk(0, 50)),
        risk_params_ix(&w, default_risk_params()),
    ];
    // Not even the admin may move risk parameters.
    for ix in cases {
        let ix = signed_by(ix, admin.pubkey());
        refused_by(&mut w, ix, &admin, XmarginError::Unauthorized).await;
    }
}

#[tokio::test]
async fn the_quote_asset_must_be_listed_first() {
    let mut w = World::bare().await;
    let ix = w.add_collateral_ix(w.sol_mint, Some(w.sol_oracle), sol_collateral_params());
    refused(&mut w, ix, XmarginError::QuoteAssetMustComeFirst).await;
}

#[tokio::test]
async fn token_2022_mints_are_refused() {
    let mut w = World::initialized().await;
    let mint =
        w.h.create_mint_owned_by(6, anchor_spl::token_2022::ID)
            .await;
    let ix = w.add_collateral_ix(mint, Some(w.sol_oracle), sol_collateral_params());
    // Refused when the mint is read, before the vault is created.
    let admin = w.admin.insecure_clone();
    refused_with_code(
        &mut w,
        ix,
        &admin,
        anchor_error(ErrorCode::AccountOwnedByWrongProgram),
    )
    .await;
}

#[tokio::test]
async fn a_collateral_asset_needs_a_valid_oracle_and_weights() {
    let mut w = World::initialized().await;
    let foreign = Pubkey::new_unique();
    let clock = w.h.clock().await;
    w.h.write_legacy_oracle_owned_by(
        foreign,
        LegacyPrice::fresh(SOL_PRICE, &clock),
        Pubkey::new_unique(),
    );
    let wrong_owner = w.add_collateral_ix(w.sol_mint, Some(foreign), sol_collateral_params());
    refused(&mut w, wrong_owner, XmarginError::OracleWrongOwner).await;

    let missing = w.add_collateral_ix(w.sol_mint, None, sol_collateral_params());
    refused(&mut w, missing, XmarginError::MissingOracle).await;

    let mut bad_weights = sol_collateral_params();
    bad_weights.weights.init_asset = fx(95, 100); // above maintenance
    let ix = w.add_collateral_ix(w.sol_mint, Some(w.sol_oracle), bad_weights);
    refused(&mut w, ix, XmarginError::InvalidParameter).await;
}

#[tokio::test]
async fn the_registry_holds_sixteen_assets() {
    let mut w = World::initialized().await;
    for _ in 1..MAX_REGISTRY_ASSETS {
        let mint = w.h.create_mint(9).await;
        let ix = w.add_collateral_ix(mint, Some(w.sol_oracle), sol_collateral_params());
        w.as_admin(&[ix]).await.unwrap();
    }
    assert_eq!(w.registry().await.asset_count as usize, MAX_REGISTRY_ASSETS);
    let mint = w.h.create_mint(9).await;
    let ix = w.add_collateral_ix(mint, Some(w.sol_oracle), sol_collateral_params());
    refused(&mut w, ix, XmarginError::CollateralRegistryFull).await;
}

#[tokio::test]
async fn collateral_parameters_update_within_bounds() {
    let mut w = World::listed().await;
    let weights = AssetWeights {
        init_asset: fx(70, 100),
        maint_asset: fx(85, 100),
        init_liab: fx(130, 100),
        maint_liab: fx(115, 100),
    };
    let ix = update_collateral_ix(
        &w,
        UpdateCollateralAssetParams {
            index: SOL_ASSET,
            weights,
            liquidity_depth: 5 * USDC,
            deposit_cap: 7,
        },
    );
    w.as_admin(&[ix]).await.unwrap();
    let sol = w.registry().await.assets[SOL_ASSET as usize];
    assert_eq!(
        (sol.weights, sol.liquidity_depth, sol.deposit_cap),
        (weights, 5 * USDC, 7)
    );

    let quote_haircut = update_collateral_ix(
        &w,
        UpdateCollateralAssetParams {
            index: QUOTE,
            weights,
            liquidity_depth: 0,
            deposit_cap: 1,
        },
    );
    refused(&mut w, quote_haircut, XmarginError::InvalidParameter).await;
    let unknown = update_collateral_ix(
        &w,
        UpdateCollateralAssetParams {
            index: 9,
            weights,
            liquidity_depth: 0,
            deposit_cap: 1,
        },
    );
    refused(&mut w, unknown, XmarginError::UnknownCollateralAsset).await;
}

#[tokio::test]
async fn a_market_needs_a_matching_oracle_and_valid_risk() {
    let mut w = World::listed().await;
    let wrong_feed = w.add_market_ix(
        2,
        w.btc_oracle,
        OracleKind::PythPull,
        [9; 32],
        1,
        0,
        underlying_risk(1, 50),
    );
    refused(&mut w, wrong_feed, XmarginError::OracleFeedMismatch).await;
    // A legacy account read as a pull update is not one.
    let wrong_kind = w.add_market_ix(
        2,
        w.sol_oracle,
        OracleKind::PythPull,
        [0; 32],
        1,
        0,
        underlying_risk(1, 50),
    );
    refused(&mut w, wrong_kind, XmarginError::OracleWrongOwner).await;
    let mut risk = underlying_risk(1, 50);
    risk.beta = fx(3, 2);
    let bad_beta = w.add_listed_market_ix(2, 1, risk);
    refused(&mut w, bad_beta, XmarginError::InvalidParameter).await;
    let zero_contract = w.add_listed_market_ix(2, 0, underlying_risk(1, 50));
    refused(&mut w, zero_contract, XmarginError::InvalidParameter).await;
}

#[tokio::test]
async fn market_count_is_bounded() {
    let mut w = World::listed().await;
    for index in 2..MAX_MARKETS {
        let ix = w.add_listed_market_ix(index, 1, underlying_risk(1, 50));
        w.as_admin(&[ix]).await.unwrap();
    }
    assert_eq!(w.clearinghouse().await.market_count, MAX_MARKETS);
    let ix = w.add_listed_market_ix(MAX_MARKETS, 1, underlying_risk(1, 50));
    refused(&mut w, ix, XmarginError::TooManyMarkets).await;
}

#[tokio::test]
async fn series_definitions_are_validated() {
    let mut w = World::listed().await;
    let expiry = w.expiry;
    let now = w.h.clock().await.unix_timestamp;
    let invalid = [
        (SeriesKind::Perpetual, 1, 0),
        (SeriesKind::Perpetual, 0, expiry),
        (SeriesKind::Future, 0, now - 1),
        (SeriesKind::Future, 5, expiry),
        (SeriesKind::Call, 0, expiry),
        (SeriesKind::Put, 100 * USDC, now),
        // already listed
        (SeriesKind::Call, 150 * USDC, expiry),
    ];
    for (kind, strike, expiry) in invalid {
        let ix = w.add_series_ix(
            SOL_MARKET,
            AddSeriesParams {
                kind,
                strike,
                expiry,
            },
        );
        refused(&mut w, ix, XmarginError::InvalidSeries).await;
    }
}

#[tokio::test]
async fn a_market_holds_sixty_four_series() {
    let mut w = World::listed().await;
    let existing = w.market(SOL_MARKET).await.series_count as u64;
    let expiry = w.expiry;
    let ixs: Vec<Instruction> = (existing..MAX_SERIES as u64)
        .map(|k| {
            w.add_series_ix(
                SOL_MARKET,
                AddSeriesParams {
                    kind: SeriesKind::Call,
                    strike: (100 + k) * USDC,
                    expiry: expiry + 86_400,
                },
            )
        })
        .collect();
    for chunk in ixs.chunks(10) {
        w.as_admin(chunk).await.unwrap();
    }
    assert_eq!(w.market(SOL_MARKET).await.series_count as usize, MAX_SERIES);
    let ix = w.add_series_ix(
        SOL_MARKET,
        AddSeriesParams {
            kind: SeriesKind::Put,
            strike: 99 * USDC,
            expiry,
        },
    );
    refused(&mut w, ix, XmarginError::MarketFull).await;
}

#[tokio::test]
async fn a_surface_nobody_holds_moves_freely_within_the_engines_range() {
    let mut w = World::listed().await;
    // 80 % -> 100 %, then the engine's minimum vol: no open interest, no step bound.
    for surface in [flat_surface(100), {
        let mut lower = flat_surface(89);
        lower.min = fx(2, 100);
        lower
    }] {
        w.as_risk_authority(&[vol_surface_ix(&w, SOL_MARKET, surface)])
            .await
            .unwrap();
        assert_eq!(w.market(SOL_MARKET).await.surface, surface);
    }
    let authority = w.risk_authority.insecure_clone();
    let mut below_minimum = flat_surface(89);
    below_minimum.min = 0;
    let ix = vol_surface_ix(&w, SOL_MARKET, below_minimum);
    refused_by(&mut w, ix, &authority, XmarginError::InvalidParameter).await;
}

#[tokio::test]
async fn market_risk_and_global_risk_parameters_update_within_bounds() {
    let mut w = World::listed().await;
    let risk = underlying_risk(3, 40);
    w.as_risk_authority(&[market_risk_ix(&w, BTC_MARKET, risk)])
        .await
        .unwrap();
    let market = w.market(BTC_MARKET).await;
    assert_eq!(market.risk, risk);
    // The stored constants follow the new grid and beta.
    let derived = UnderlyingConstants::new(&market.underlying(1_000_000)).unwrap();
    assert_eq!(market.constants().unwrap(), derived);
    let mut params = default_risk_params();
    params.risk_params.initial_factor_bits += params.risk_params.initial_factor_bits / 20;
    w.as_risk_authority(&[risk_params_ix(&w, params)])
        .await
        .unwrap();
    assert_eq!(w.clearinghouse().await.risk_params, params.risk_params);

    let authority = w.risk_authority.insecure_clone();
    let mut bad_grid = underlying_risk(3, 40);
    bad_grid.grid.price_range = fx(3, 4);
    let ix = market_risk_ix(&w, BTC_MARKET, bad_grid);
    refused_by(&mut w, ix, &authority, XmarginError::InvalidParameter).await;
    let mut loose = default_risk_params();
    loose.tolerant_oracle.max_conf_bps = 50; // tolerant stricter than strict
    let ix = risk_params_ix(&w, loose);
    refused_by(&mut w, ix, &authority, XmarginError::InvalidParameter).await;
}

#[tokio::test]
async fn pause_flags_are_set_by_the_admin_within_the_known_bits() {
    let mut w = World::listed().await;
    w.as_admin(&[w.pause_ix(PAUSE_TRADE | PAUSE_WITHDRAW)])
        .await
        .unwrap();
    assert_eq!(
        w.clearinghouse().await.pause_flags,
        PAUSE_TRADE | PAUSE_WITHDRAW
    );
    let ix = w.pause_ix(1 << 7);
    refused(&mut w, ix, XmarginError::InvalidParameter).await;
    w.as_admin(&[w.pause_ix(0)]).await.unwrap();
    assert_eq!(w.clearinghouse().await.pause_flags, 0);
}

/// (admin, risk authority, pending admin, pending risk authority) as stored.
async fn roles(w: &mut World) -> [Pubkey; 4] {
    let c = w.clearinghouse().await;
    [
        c.admin,
        c.risk_authority,
        c.pending_admin,
        c.pending_risk_authority,
    ]
}

/// A role changes hands in two steps: the holder proposes, the proposed key accepts. The old
/// key keeps its power until then, nobody else can accept, a proposal can be withdrawn, and
/// the risk authority cannot touch the admin role.
#[tokio::test]
async fn a_role_changes_hands_only_when_the_proposed_key_accepts() {
    use xmargin::events::{RoleAccepted, RoleProposed};
    use xmargin_client::instructions::{accept_role, propose_role};
    let mut w = World::listed().await;
    let admin = w.admin.insecure_clone();
    let risk = w.risk_authority.insecure_clone();
    let successor = w.stranger().await;
    let stranger = w.stranger().await;
    let before = roles(&mut w).await;
    // Only the holder proposes (the admin may also propose a risk authority).
    for (ix, signer) in [
        (
            propose_role(stranger.pubkey(), Role::Admin, stranger.pubkey()),
            &stranger,
        ),
        (
            propose_role(risk.pubkey(), Role::Admin, risk.pubkey()),
            &risk,
        ),
        (
            propose_role(stranger.pubkey(), Role::RiskAuthority, stranger.pubkey()),
            &stranger,
        ),
    ] {
        refused_by(&mut w, ix, signer, XmarginError::Unauthorized).await;
    }
    // Nothing proposed: nobody can accept, not even the holder.
    let ix = accept_role(admin.pubkey(), Role::Admin);
    refused_by(&mut w, ix, &admin, XmarginError::NotProposedForRole).await;

    let propose = propose_role(admin.pubkey(), Role::Admin, successor.pubkey());
    let events =
        w.h.send_for_events::<RoleProposed>(&[propose], &[&admin])
            .await
            .unwrap();
    assert_eq!(
        (events[0].role, events[0].holder, events[0].proposed),
        (Role::Admin, admin.pubkey(), successor.pubkey())
    );
    assert_eq!(
        roles(&mut w).await,
        [before[0], before[1], successor.pubkey(), Pubkey::default()]
    );
    // Proposed is not accepted: the old admin still acts, the successor does not yet.
    w.as_admin(&[w.pause_ix(0)]).await.unwrap();
    let pause = signed_by(w.pause_ix(PAUSE_ALL), successor.pubkey());
    refused_by(&mut w, pause, &successor, XmarginError::Unauthorized).await;
    // A third party cannot accept, nor the successor accept another role.
    for (ix, signer) in [
        (accept_role(stranger.pubkey(), Role::Admin), &stranger),
        (
            accept_role(successor.pubkey(), Role::RiskAuthority),
            &successor,
        ),
    ] {
        refused_by(&mut w, ix, signer, XmarginError::NotProposedForRole).await;
    }
    let accept = accept_role(successor.pubkey(), Role::Admin);
    let events =
        w.h.send_for_events::<RoleAccepted>(&[accept], &[&successor])
            .await
            .unwrap();
    assert_eq!(
        (events[0].previous, events[0].holder),
        (admin.pubkey(), successor.pubkey())
    );
    assert_eq!(
        roles(&mut w).await,
        [
            successor.pubkey(),
            before[1],
            Pubkey::default(),
            Pubkey::default()
        ]
    );
    // The old key lost its power; the new one has it; an acceptance cannot be replayed.
    let pause = w.pause_ix(PAUSE_ALL);
    refused_by(&mut w, pause, &admin, XmarginError::Unauthorized).await;
    let pause = signed_by(w.pause_ix(PAUSE_ALL), successor.pubkey());
    w.h.send(&[pause], &[&successor]).await.unwrap();
    let again = accept_role(successor.pubkey(), Role::Admin);
    refused_by(&mut w, again, &successor, XmarginError::NotProposedForRole).await;

    // The new admin replaces a lost risk key; a withdrawn proposal cannot be accepted.
    let propose = propose_role(successor.pubkey(), Role::RiskAuthority, stranger.pubkey());
    w.h.send(&[propose], &[&successor]).await.unwrap();
    let withdraw = propose_role(risk.pubkey(), Role::RiskAuthority, Pubkey::default());
    w.h.send(&[withdraw], &[&risk]).await.unwrap();
    let ix = accept_role(stranger.pubkey(), Role::RiskAuthority);
    refused_by(&mut w, ix, &stranger, XmarginError::NotProposedForRole).await;
    let propose = propose_role(successor.pubkey(), Role::RiskAuthority, stranger.pubkey());
    w.h.send(&[propose], &[&successor]).await.unwrap();
    let accept = accept_role(stranger.pubkey(), Role::RiskAuthority);
    w.h.send(&[accept], &[&stranger]).await.unwrap();
    assert_eq!(roles(&mut w).await[1], stranger.pubkey());
    let surface = vol_surface_ix(&w, SOL_MARKET, flat_surface(85));
    refused_by(&mut w, surface, &risk, XmarginError::Unauthorized).await;
}

#[path = "admin_cases/governance.rs"]
mod governance;
