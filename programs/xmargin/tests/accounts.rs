//! Margin accounts: create, close, delegate, deposit and withdraw, with every refusal.
mod common;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use common::world::*;
use common::{anchor_ix, assert_error, program_error};
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::error::XmarginError;
use xmargin::instructions::AddCollateralAssetParams;
use xmargin::state::*;

fn close_ix(owner: Pubkey, account: Pubkey) -> Instruction {
    anchor_ix(
        xmargin::accounts::CloseMarginAccount {
            owner,
            margin_account: account,
        },
        xmargin::instruction::CloseMarginAccount {},
    )
}

fn delegate_ix(owner: Pubkey, account: Pubkey, delegate: Pubkey) -> Instruction {
    anchor_ix(
        xmargin::accounts::SetDelegate {
            owner,
            margin_account: account,
        },
        xmargin::instruction::SetDelegate { delegate },
    )
}

/// Accounts a deposit or withdrawal touches, to show a refusal left them unchanged.
fn watched(w: &World, trader: &Trader) -> Vec<Pubkey> {
    vec![
        trader.account,
        registry_address(),
        vault_address(w.usdc_mint),
        vault_address(w.sol_mint),
        trader.usdc,
        trader.sol,
    ]
}

async fn refused(
    w: &mut World,
    trader: &Trader,
    ix: Instruction,
    signer: &Keypair,
    error: XmarginError,
) {
    assert_refused(w, trader, &[ix], &[signer], program_error(error)).await;
}

async fn assert_refused(
    w: &mut World,
    trader: &Trader,
    ixs: &[Instruction],
    signers: &[&Keypair],
    error: u32,
) {
    let watched = watched(w, trader);
    w.h.assert_refused(&watched, ixs, signers, error).await;
}

#[tokio::test]
async fn accounts_open_cross_or_isolated_to_a_listed_market() {
    let mut w = World::listed().await;
    let cross = w.trader(0, 0).await;
    let account = w.margin_account(cross.account).await;
    assert_eq!(account.owner, cross.key.pubkey());
    assert_eq!((account.mode, account.id), (MODE_CROSS, 0));
    assert_eq!(account.collateral[0].asset, QUOTE);
    assert_eq!(account.collateral[0].in_use, 1);
    assert!(!account.has_positions());

    let isolated = w.trader_with_mode(0, 0, MODE_ISOLATED, BTC_MARKET).await;
    let account = w.margin_account(isolated.account).await;
    assert_eq!(
        (account.mode, account.isolated_market),
        (MODE_ISOLATED, BTC_MARKET)
    );

    let owner = w.stranger().await;
    for (mode, market) in [(MODE_ISOLATED, 2), (MODE_CROSS, 1), (7, 0)] {
        let ix = w.create_account_ix(&owner, 1, mode, market);
        let result = w.h.send(&[ix], &[&owner]).await;
        assert_error(&result, program_error(XmarginError::InvalidParameter));
        assert!(w.h.data(margin_address(owner.pubkey(), 1)).await.is_none());
    }
}

#[tokio::test]
async fn deposits_credit_the_account_and_the_vault() {
    let mut w = World::listed().await;
    let trader = w.trader(1_000 * USDC, 3 * SOL_LAMPORTS).await;
    w.deposit(&trader, QUOTE, 400 * USDC).await.unwrap();
    w.deposit(&trader, SOL_ASSET, 2 * SOL_LAMPORTS)
        .await
        .unwrap();
    w.deposit(&trader, QUOTE, 100 * USDC).await.unwrap();
    let account = w.margin_account(trader.account).await;
    assert_eq!(account.quote_balance(), 500 * USDC as i64);
    assert_eq!(
        account.balance_of(SOL_ASSET).unwrap().amount,
        2 * SOL_LAMPORTS as i64
    );
    assert_eq!(w.h.token_balance(trader.usdc).await, 500 * USDC);
    assert_eq!(w.h.token_balance(trader.sol).await, SOL_LAMPORTS);
    assert_eq!(
        w.h.token_balance(vault_address(w.sol_mint)).await,
        2 * SOL_LAMPORTS
    );
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn anyone_may_fund_an_account() {
    let mut w = World::listed().await;
    let trader = w.trader(0, 0).await;
    let friend = w.trader(50 * USDC, 0).await;
    let ix = w.deposit_ix(&friend.key, trader.account, friend.usdc, QUOTE, 50 * USDC);
    w.h.send(&[ix], &[&friend.key]).await.unwrap();
    assert_eq!(
        w.margin_account(trader.account).await.quote_balance(),
        50 * USDC as i64
    );
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn deposit_refusals() {
    let mut w = World::listed().await;
    let trader = w.trader(1_000 * USDC, SOL_LAMPORTS).await;
    let key = trader.key.insecure_clone();
    let zero = w.deposit_ix(&key, trader.account, trader.usdc, QUOTE, 0);
    refused(&mut w, &trader, zero, &key, XmarginError::ZeroAmount).await;
    let huge = w.deposit_ix(&key, trader.account, trader.usdc, QUOTE, u64::MAX);
    refused(&mut w, &trader, huge, &key, XmarginError::AmountTooLarge).await;
    let mut unknown = w.deposit_ix(&key, trader.account, trader.usdc, 5, USDC);
    unknown.accounts[4].pubkey = vault_address(w.usdc_mint);
    refused(
        &mut w,
        &trader,
        unknown,
        &key,
        XmarginError::UnknownCollateralAsset,
    )
    .await;
    // The SOL vault passed for the quote asset.
    let mut wrong_vault = w.deposit_ix(&key, trader.account, trader.usdc, QUOTE, USDC);
    wrong_vault.accounts[4].pubkey = vault_address(w.sol_mint);
    refused(&mut w, &trader, wrong_vault, &key, XmarginError::WrongVault).await;
    // SOL tokens deposited as the quote asset.
    let wrong_mint = w.deposit_ix(&key, trader.account, trader.sol, QUOTE, USDC);
    refused(&mut w, &trader, wrong_mint, &key, XmarginError::WrongMint).await;
    // Paying from someone else's token account.
    let other = w.trader(10 * USDC, 0).await;
    let theft = w.deposit_ix(&key, trader.account, other.usdc, QUOTE, USDC);
    let result = w.h.send(&[theft], &[&key]).await;
    assert_error(
        &result,
        anchor_lang::error::ErrorCode::ConstraintTokenOwner as u32,
    );
    assert_eq!(w.h.token_balance(other.usdc).await, 10 * USDC);
}

#[tokio::test]
async fn deposits_stop_at_the_cap() {
    let mut w = World::listed().await;
    let admin = w.admin.insecure_clone();
    let update = anchor_ix(
        xmargin::accounts::UpdateCollateralAsset {
            admin: admin.pubkey(),
            clearinghouse: clearinghouse_address(),
            collateral_registry: registry_address(),
        },
        xmargin::instruction::UpdateCollateralAsset {
            params: xmargin::instructions::UpdateCollateralAssetParams {
                index: SOL_ASSET,
                weights: sol_weights(),
                liquidity_depth: 0,
                deposit_cap: 2 * SOL_LAMPORTS,
            },
        },
    );
    w.h.send(&[update], &[&admin]).await.unwrap();
    let trader = w.trader(0, 3 * SOL_LAMPORTS).await;
    w.deposit(&trader, SOL_ASSET, 2 * SOL_LAMPORTS)
        .await
        .unwrap();
    let key = trader.key.insecure_clone();
    let over = w.deposit_ix(&key, trader.account, trader.sol, SOL_ASSET, 1);
    refused(
        &mut w,
        &trader,
        over,
        &key,
        XmarginError::DepositCapExceeded,
    )
    .await;
}

#[tokio::test]
async fn an_account_holds_at_most_eight_collateral_assets() {
    let mut w = World::listed().await;
    let admin = w.admin.insecure_clone();
    let trader = w.trader(USDC, SOL_LAMPORTS).await;
    w.deposit(&trader, QUOTE, USDC).await.unwrap();
    w.deposit(&trader, SOL_ASSET, SOL_LAMPORTS).await.unwrap();
    // Six more assets fill the eight slots; the seventh does not fit.
    let mut last = None;
    for index in 2..=8u8 {
        let mint = w.h.create_mint(9).await;
        let ix = w.add_collateral_ix(
            mint,
            Some(w.sol_oracle),
            AddCollateralAssetParams {
                ..sol_collateral_params()
            },
        );
        w.h.send(&[ix], &[&admin]).await.unwrap();
        let source = w.h.create_token_account(mint, trader.key.pubkey()).await;
        w.h.mint_to(mint, source, 10).await;
        let mut ix = w.deposit_ix(&trader.key, trader.account, source, index, 10);
        ix.accounts[4].pubkey = vault_address(mint);
        last = Some((ix, source));
        if index < 8 {
            let (ix, _) = last.take().unwrap();
            w.h.send(&[ix], &[&trader.key]).await.unwrap();
        }
    }
    let account = w.margin_account(trader.account).await;
    assert!(account.collateral.iter().all(|slot| slot.in_use == 1));
    let (ix, _) = last.unwrap();
    let key = trader.key.insecure_clone();
    refused(
        &mut w,
        &trader,
        ix,
        &key,
        XmarginError::TooManyCollateralAssets,
    )
    .await;
}

#[tokio::test]
async fn withdrawals_return_tokens_while_initial_margin_holds() {
    let mut w = World::listed().await;
    let trader = w.trader(1_000 * USDC, 2 * SOL_LAMPORTS).await;
    w.deposit(&trader, QUOTE, 1_000 * USDC).await.unwrap();
    w.deposit(&trader, SOL_ASSET, 2 * SOL_LAMPORTS)
        .await
        .unwrap();
    w.withdraw(&trader, QUOTE, 300 * USDC).await.unwrap();
    w.withdraw(&trader, SOL_ASSET, 2 * SOL_LAMPORTS)
        .await
        .unwrap();
    let account = w.margin_account(trader.account).await;
    assert_eq!(account.quote_balance(), 700 * USDC as i64);
    // The emptied SOL slot is released for another asset.
    assert!(account.balance_of(SOL_ASSET).is_none());
    assert_eq!(w.h.token_balance(trader.usdc).await, 300 * USDC);
    assert_eq!(w.h.token_balance(trader.sol).await, 2 * SOL_LAMPORTS);
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn withdraw_refusals() {
    let mut w = World::listed().await;
    let trader = w.trader(1_000 * USDC, SOL_LAMPORTS).await;
    w.deposit(&trader, QUOTE, 1_000 * USDC).await.unwrap();
    let key = trader.key.insecure_clone();
    let zero = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, 0);
    refused(&mut w, &trader, zero, &key, XmarginError::ZeroAmount).await;
    let too_much = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, 1_000 * USDC + 1);
    refused(
        &mut w,
        &trader,
        too_much,
        &key,
        XmarginError::InsufficientBalance,
    )
    .await;
    let huge = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, u64::MAX);
    refused(&mut w, &trader, huge, &key, XmarginError::AmountTooLarge).await;
    let never_deposited = w.withdraw_ix(&key, trader.account, trader.sol, SOL_ASSET, 1);
    refused(
        &mut w,
        &trader,
        never_deposited,
        &key,
        XmarginError::InsufficientBalance,
    )
    .await;
    let mut wrong_vault = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, USDC);
    wrong_vault.accounts[4].pubkey = vault_address(w.sol_mint);
    refused(&mut w, &trader, wrong_vault, &key, XmarginError::WrongVault).await;
    let wrong_mint = w.withdraw_ix(&key, trader.account, trader.sol, QUOTE, USDC);
    refused(&mut w, &trader, wrong_mint, &key, XmarginError::WrongMint).await;
    // The vault as its own destination.
    let mut to_vault = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, USDC);
    to_vault.accounts[5].pubkey = vault_address(w.usdc_mint);
    assert_refused(
        &mut w,
        &trader,
        &[to_vault],
        &[&key],
        // Two mutable roles for one account: Anchor's own check.
        anchor_lang::error::ErrorCode::ConstraintDuplicateMutableAccount as u32,
    )
    .await;
    // Someone else signing for this account.
    let thief = w.trader(0, 0).await;
    let mut theft = w.withdraw_ix(&thief.key, trader.account, thief.usdc, QUOTE, USDC);
    theft.accounts[0].pubkey = thief.key.pubkey();
    assert_refused(
        &mut w,
        &trader,
        &[theft],
        &[&thief.key],
        program_error(XmarginError::NotAccountOwner),
    )
    .await;
}

#[tokio::test]
async fn a_delegate_trades_but_never_withdraws_or_closes() {
    let mut w = World::listed().await;
    let trader = w.funded_trader(5_000 * USDC).await;
    let maker = w.funded_trader(5_000 * USDC).await;
    let delegate = w.stranger().await;
    let ix = delegate_ix(trader.key.pubkey(), trader.account, delegate.pubkey());
    w.h.send(&[ix], &[&trader.key]).await.unwrap();
    assert_eq!(
        w.margin_account(trader.account).await.delegate,
        delegate.pubkey()
    );

    let trade = w.trade_ix_signed_by(
        delegate.pubkey(),
        trader.account,
        maker.key.pubkey(),
        maker.account,
        SOL_MARKET,
        SOL_PERP,
        1,
        150 * USDC,
    );
    w.h.send(&[trade], &[&delegate, &maker.key]).await.unwrap();
    assert_eq!(
        w.margin_account(trader.account)
            .await
            .position(SOL_MARKET, SOL_PERP)
            .unwrap()
            .size,
        1
    );

    let destination =
        w.h.create_token_account(w.usdc_mint, delegate.pubkey())
            .await;
    let withdraw = w.withdraw_ix(&delegate, trader.account, destination, QUOTE, USDC);
    refused(
        &mut w,
        &trader,
        withdraw,
        &delegate,
        XmarginError::NotAccountOwner,
    )
    .await;
    let close = close_ix(delegate.pubkey(), trader.account);
    refused(
        &mut w,
        &trader,
        close,
        &delegate,
        XmarginError::NotAccountOwner,
    )
    .await;
    let redelegate = delegate_ix(delegate.pubkey(), trader.account, delegate.pubkey());
    refused(
        &mut w,
        &trader,
        redelegate,
        &delegate,
        XmarginError::NotAccountOwner,
    )
    .await;

    // Removing the delegate ends its rights.
    let ix = delegate_ix(trader.key.pubkey(), trader.account, Pubkey::default());
    w.h.send(&[ix], &[&trader.key]).await.unwrap();
    let trade = w.trade_ix_signed_by(
        delegate.pubkey(),
        trader.account,
        maker.key.pubkey(),
        maker.account,
        SOL_MARKET,
        SOL_PERP,
        1,
        150 * USDC,
    );
    let key = maker.key.insecure_clone();
    assert_refused(
        &mut w,
        &trader,
        &[trade],
        &[&delegate, &key],
        program_error(XmarginError::NotAccountOwner),
    )
    .await;
}

#[tokio::test]
async fn only_an_empty_account_closes_and_its_rent_returns_to_the_owner() {
    let mut w = World::listed().await;
    let trader = w.trader(100 * USDC, 0).await;
    w.deposit(&trader, QUOTE, 100 * USDC).await.unwrap();
    let key = trader.key.insecure_clone();
    let close = close_ix(key.pubkey(), trader.account);
    assert_refused(
        &mut w,
        &trader,
        std::slice::from_ref(&close),
        &[&key],
        program_error(XmarginError::AccountNotEmpty),
    )
    .await;
    let stranger = w.stranger().await;
    let foreign = close_ix(stranger.pubkey(), trader.account);
    refused(
        &mut w,
        &trader,
        foreign,
        &stranger,
        XmarginError::NotAccountOwner,
    )
    .await;

    w.withdraw(&trader, QUOTE, 100 * USDC).await.unwrap();
    let rent = w.h.lamports(trader.account).await;
    let owner_before = w.h.lamports(key.pubkey()).await;
    w.h.send(&[close], &[&key]).await.unwrap();
    assert!(w.h.data(trader.account).await.is_none());
    assert_eq!(w.h.lamports(key.pubkey()).await, owner_before + rent);
}

#[tokio::test]
async fn paused_deposits_and_withdrawals_are_refused_until_unpaused() {
    let mut w = World::listed().await;
    let trader = w.trader(100 * USDC, 0).await;
    w.deposit(&trader, QUOTE, 50 * USDC).await.unwrap();
    let admin = w.admin.insecure_clone();
    w.h.send(&[w.pause_ix(PAUSE_DEPOSIT | PAUSE_WITHDRAW)], &[&admin])
        .await
        .unwrap();
    let key = trader.key.insecure_clone();
    let deposit = w.deposit_ix(&key, trader.account, trader.usdc, QUOTE, USDC);
    assert_refused(
        &mut w,
        &trader,
        std::slice::from_ref(&deposit),
        &[&key],
        program_error(XmarginError::Paused),
    )
    .await;
    let withdraw = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, USDC);
    assert_refused(
        &mut w,
        &trader,
        std::slice::from_ref(&withdraw),
        &[&key],
        program_error(XmarginError::Paused),
    )
    .await;
    w.h.send(&[w.pause_ix(0)], &[&admin]).await.unwrap();
    w.h.send(&[deposit, withdraw], &[&key]).await.unwrap();
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn withdrawals_stop_where_initial_margin_would_break() {
    let mut w = World::listed().await;
    let trader = w.funded_trader(1_000 * USDC).await;
    let maker = w.funded_trader(100_000 * USDC).await;
    // Long 10 SOL perps needs about 282 USDC of initial margin.
    w.trade(&trader, &maker, SOL_MARKET, SOL_PERP, 10, 150 * USDC)
        .await
        .unwrap();
    let key = trader.key.insecure_clone();
    let too_much = w.withdraw_ix(&key, trader.account, trader.usdc, QUOTE, 900 * USDC);
    refused(
        &mut w,
        &trader,
        too_much,
        &key,
        XmarginError::InsufficientFreeCollateral,
    )
    .await;
    w.withdraw(&trader, QUOTE, 600 * USDC).await.unwrap();
    w.assert_books_reconcile().await;
}

#[tokio::test]
async fn a_look_alike_account_of_another_program_is_refused() {
    let mut w = World::listed().await;
    let trader = w.trader(100 * USDC, 0).await;
    // A byte-for-byte copy of the margin account, owned by some other program.
    let data = w.h.data(trader.account).await.unwrap();
    let fake = Pubkey::new_unique();
    w.h.set_account(fake, Pubkey::new_unique(), data);
    let key = trader.key.insecure_clone();
    let ix = w.deposit_ix(&key, fake, trader.usdc, QUOTE, USDC);
    assert_refused(
        &mut w,
        &trader,
        &[ix],
        &[&key],
        anchor_lang::error::ErrorCode::AccountOwnedByWrongProgram as u32,
    )
    .await;
}
