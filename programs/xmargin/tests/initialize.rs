mod common;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use common::world::{clearinghouse_address, fx, initialize_params, registry_address};
use common::{anchor_ix, assert_error, program_error, Harness};
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::instructions::InitializeParams;
use xmargin::state::{Clearinghouse, CollateralRegistry};

fn valid_params() -> InitializeParams {
    initialize_params(Pubkey::new_unique(), Pubkey::new_unique())
}

fn initialize_ix(admin: Pubkey, params: InitializeParams) -> Instruction {
    anchor_ix(
        xmargin::accounts::Initialize {
            admin,
            clearinghouse: clearinghouse_address(),
            collateral_registry: registry_address(),
            system_program: anchor_lang::system_program::ID,
        },
        xmargin::instruction::Initialize { params },
    )
}

#[tokio::test]
async fn initialize_records_the_configuration_and_an_empty_registry() {
    let mut h = Harness::start().await;
    let admin = solana_keypair::Keypair::new();
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
    let mut h = Harness::start().await;
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
    let mut h = Harness::start().await;
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
    let mut h = Harness::start().await;
    let payer = h.payer().pubkey();
    let mut params = valid_params();
    params.risk_authority = Pubkey::default();
    let result = h.send(&[initialize_ix(payer, params)], &[]).await;
    assert_error(&result, program_error(XmarginError::InvalidAuthority));
    assert!(h.data(clearinghouse_address()).await.is_none());
}
