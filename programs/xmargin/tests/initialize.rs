mod common;

use anchor_lang::error::ErrorCode;
use anchor_lang::prelude::Pubkey;
use common::world::{clearinghouse_address, fx, initialize_params, registry_address};
use common::{anchor_error, assert_error, program_error, Harness};
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::instructions::InitializeParams;
use xmargin::state::{Clearinghouse, CollateralRegistry};

fn valid_params() -> InitializeParams {
    initialize_params(Pubkey::new_unique(), Pubkey::new_unique())
}

use xmargin_client::instructions::initialize as initialize_ix;

/// A bank where `deployer` deployed the program (its upgrade authority).
async fn deployed_by(deployer: Pubkey) -> Harness {
    let mut h = Harness::start().await;
    xmargin_sandbox::set_upgrade_authority(&mut h.ctx, Some(deployer));
    h
}

/// A bank deployed by its payer.
async fn deployed() -> Harness {
    let mut h = Harness::start().await;
    let payer = h.payer().pubkey();
    xmargin_sandbox::set_upgrade_authority(&mut h.ctx, Some(payer));
    h
}

#[tokio::test]
async fn attack_initialize_by_anyone_but_the_upgrade_authority_is_refused() {
    let deployer = solana_keypair::Keypair::new();
    let mut h = deployed_by(deployer.pubkey()).await;
    let attacker = solana_keypair::Keypair::new();
    h.fund(attacker.pubkey(), 1_000_000_000).await;
    h.fund(deployer.pubkey(), 1_000_000_000).await;
    let created = [clearinghouse_address(), registry_address()];

    // A front-runner between deployment and initialization, with the real program data.
    let front_run = h
        .send(
            &[initialize_ix(attacker.pubkey(), valid_params())],
            &[&attacker],
        )
        .await;
    assert_error(&front_run, program_error(XmarginError::NotUpgradeAuthority));

    // Presenting the program data of another program, one the attacker deployed.
    let theirs = Pubkey::new_unique();
    xmargin_sandbox::write_account(
        &mut h.ctx,
        theirs,
        anchor_lang::solana_program::bpf_loader_upgradeable::ID,
        xmargin_sandbox::program_data_header(Some(attacker.pubkey())),
    );
    let mut forged = initialize_ix(attacker.pubkey(), valid_params());
    forged.accounts[3].pubkey = theirs;
    let result = h.send(&[forged], &[&attacker]).await;
    assert_error(&result, anchor_error(ErrorCode::ConstraintSeeds));
    for address in created {
        assert!(h.data(address).await.is_none(), "{address} created");
    }

    // The deployer initializes, once.
    h.send(
        &[initialize_ix(deployer.pubkey(), valid_params())],
        &[&deployer],
    )
    .await
    .unwrap();
    let stored: Clearinghouse = h.anchor_account(clearinghouse_address()).await.unwrap();
    assert_eq!(stored.admin, deployer.pubkey());
}

#[tokio::test]
async fn an_immutable_program_cannot_be_initialized() {
    let mut h = Harness::start().await;
    xmargin_sandbox::set_upgrade_authority(&mut h.ctx, None);
    let payer = h.payer().pubkey();
    let result = h.send(&[initialize_ix(payer, valid_params())], &[]).await;
    assert_error(&result, program_error(XmarginError::NotUpgradeAuthority));
    assert!(h.data(clearinghouse_address()).await.is_none());
}

#[tokio::test]
async fn initialize_records_the_configuration_and_an_empty_registry() {
    let admin = solana_keypair::Keypair::new();
    let mut h = deployed_by(admin.pubkey()).await;
    h.fund(admin.pubkey(), 1_000_000_000).await;
    let params = valid_params();
    h.send(&[initialize_ix(admin.pubkey(), params.clone())], &[&admin])
        .await
        .unwrap();

    let stored: Clearinghouse = h.anchor_account(clearinghouse_address()).await.unwrap();
    assert_eq!(stored.admin, admin.pubkey());
    assert_eq!(stored.risk_authority, params.risk_authority);
    assert_eq!(stored.quote_mint, params.quote_mint);
    assert_eq!(
        (
            stored.taker_fee_bps,
            stored.maker_fee_bps,
            stored.liquidation_fee_bps
        ),
        (5, 2, 250)
    );
    assert_eq!(stored.pause_flags, 0);
    assert_eq!(stored.market_count, 0);
    assert_eq!(stored.risk_params, params.risk_params);
    assert_eq!(stored.strict_oracle, params.strict_oracle);
    assert_eq!(stored.tolerant_oracle, params.tolerant_oracle);
    let (_, bump) = Pubkey::find_program_address(&[Clearinghouse::SEED], &xmargin::ID);
    assert_eq!(stored.bump, bump);
    let registry: CollateralRegistry = h.zero_copy(registry_address()).await;
    assert_eq!(registry.asset_count, 0);
}

#[tokio::test]
async fn initialize_twice_is_refused_and_keeps_the_first_configuration() {
    let mut h = deployed().await;
    let payer = h.payer().pubkey();
    let first = valid_params();
    h.send(&[initialize_ix(payer, first.clone())], &[])
        .await
        .unwrap();

    let mut second = valid_params();
    second.taker_fee_bps = 7;
    let before = h
        .snapshot(&[clearinghouse_address(), registry_address()])
        .await;
    let result = h.send(&[initialize_ix(payer, second)], &[]).await;
    assert!(result.is_err(), "second initialize must fail");
    assert_eq!(
        h.snapshot(&[clearinghouse_address(), registry_address()])
            .await,
        before
    );
}

#[tokio::test]
async fn initialize_refuses_out_of_range_parameters() {
    let mut h = deployed().await;
    let payer = h.payer().pubkey();
    let cases: [fn(&mut InitializeParams); 9] = [
        |p| p.taker_fee_bps = 501,
        |p| p.maker_fee_bps = 501,
        |p| p.liquidation_fee_bps = 1_001,
        |p| p.risk_params.initial_factor_bits = fx(9, 10),
        |p| p.risk_params.theta_horizon_secs = 365 * 86_400,
        |p| p.strict_oracle.max_conf_bps = 0,
        // strict must be at least as strict as tolerant
        |p| p.strict_oracle.max_age_secs = p.tolerant_oracle.max_age_secs + 1,
        |p| p.max_vol_step_bits = 0,
        |p| p.max_vol_step_bits = fx(2, 1),
    ];
    for mutate in cases {
        let mut params = valid_params();
        mutate(&mut params);
        let result = h.send(&[initialize_ix(payer, params)], &[]).await;
        assert_error(&result, program_error(XmarginError::InvalidParameter));
    }
    assert!(h.data(clearinghouse_address()).await.is_none());
    assert!(h.data(registry_address()).await.is_none());
}

#[tokio::test]
async fn initialize_refuses_a_default_risk_authority() {
    let mut h = deployed().await;
    let payer = h.payer().pubkey();
    let mut params = valid_params();
    params.risk_authority = Pubkey::default();
    let result = h.send(&[initialize_ix(payer, params)], &[]).await;
    assert_error(&result, program_error(XmarginError::InvalidAuthority));
    assert!(h.data(clearinghouse_address()).await.is_none());
}
