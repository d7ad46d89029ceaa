mod common;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use common::{anchor_ix, custom_error_code, program_error, Harness};
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::instructions::InitializeParams;
use xmargin::state::Clearinghouse;

fn clearinghouse_address() -> Pubkey {
    Pubkey::find_program_address(&[Clearinghouse::SEED], &xmargin::ID).0
}

fn valid_params() -> InitializeParams {
    InitializeParams {
        risk_authority: Pubkey::new_unique(),
        quote_mint: Pubkey::new_unique(),
        taker_fee_bps: 5,
        maker_fee_bps: 2,
        liquidation_fee_bps: 250,
    }
}

fn initialize_ix(admin: Pubkey, params: InitializeParams) -> Instruction {
    anchor_ix(
        xmargin::accounts::Initialize {
            admin,
            clearinghouse: clearinghouse_address(),
            system_program: anchor_lang::system_program::ID,
        },
        xmargin::instruction::Initialize { params },
    )
}

#[tokio::test]
async fn initialize_records_the_configuration() {
    let mut h = Harness::start().await;
    let admin = Keypair::new();
    let params = valid_params();
    let ix = initialize_ix(admin.pubkey(), params.clone());
    // The admin pays rent for the clearinghouse, so fund it from the test payer first.
    let fund = anchor_lang::solana_program::system_instruction::transfer(
        &h.payer.pubkey(),
        &admin.pubkey(),
        1_000_000_000,
    );
    h.send(&[fund, ix], &[&admin]).await.unwrap();

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
    let (_, bump) = Pubkey::find_program_address(&[Clearinghouse::SEED], &xmargin::ID);
    assert_eq!(stored.bump, bump);
}

#[tokio::test]
async fn initialize_twice_is_refused_and_keeps_the_first_configuration() {
    let mut h = Harness::start().await;
    let payer = h.payer.pubkey();
    let first = valid_params();
    h.send(&[initialize_ix(payer, first.clone())], &[])
        .await
        .unwrap();

    let mut second = valid_params();
    second.taker_fee_bps = 7;
    let result = h.send(&[initialize_ix(payer, second)], &[]).await;
    assert!(result.is_err(), "second initialize must fail");

    let stored: Clearinghouse = h.anchor_account(clearinghouse_address()).await.unwrap();
    assert_eq!(stored.quote_mint, first.quote_mint);
    assert_eq!(stored.taker_fee_bps, first.taker_fee_bps);
}

#[tokio::test]
async fn initialize_refuses_out_of_range_fees() {
    let mut h = Harness::start().await;
    let payer = h.payer.pubkey();
    for mutate in [
        |p: &mut InitializeParams| p.taker_fee_bps = 501,
        |p: &mut InitializeParams| p.maker_fee_bps = 501,
        |p: &mut InitializeParams| p.liquidation_fee_bps = 1_001,
    ] {
        let mut params = valid_params();
        mutate(&mut params);
        let result = h.send(&[initialize_ix(payer, params)], &[]).await;
        assert_eq!(
            custom_error_code(&result),
            Some(program_error(XmarginError::InvalidParameter))
        );
    }
    assert!(h
        .anchor_account::<Clearinghouse>(clearinghouse_address())
        .await
        .is_none());
}

#[tokio::test]
async fn initialize_refuses_a_default_risk_authority() {
    let mut h = Harness::start().await;
    let payer = h.payer.pubkey();
    let mut params = valid_params();
    params.risk_authority = Pubkey::default();
    let result = h.send(&[initialize_ix(payer, params)], &[]).await;
    assert_eq!(
        custom_error_code(&result),
        Some(program_error(XmarginError::InvalidAuthority))
    );
}
