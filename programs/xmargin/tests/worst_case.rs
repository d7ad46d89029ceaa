//! The largest account the program margins: 8 collateral assets and 32 positions on 8
//! underlyings, each on its own oracle. Its margin check must fit one transaction.
mod common;

use common::world::*;
use solana_signer::Signer;

#[tokio::test]
async fn a_worst_case_account_is_margined_in_one_transaction() {
    let mut w = World::worst_case_listing().await;
    let taker = w.funded_trader(1_000_000 * USDC).await;
    let maker = w.funded_trader(1_000_000 * USDC).await;
    for (index, mint) in w.extra_mints.clone() {
        let source = w.h.create_token_account(mint, taker.key.pubkey()).await;
        w.h.mint_to(mint, source, 1_000 * USDC).await;
        let mut ix = w.deposit_ix(&taker.key, taker.account, source, index, 1_000 * USDC);
        ix.accounts[4].pubkey = vault_address(mint);
        w.h.send(&[ix], &[&taker.key]).await.unwrap();
    }
    let sol_source =
        w.h.create_token_account(w.sol_mint, taker.key.pubkey())
            .await;
    w.h.mint_to(w.sol_mint, sol_source, 10 * SOL_LAMPORTS).await;
    let ix = w.deposit_ix(
        &taker.key,
        taker.account,
        sol_source,
        SOL_ASSET,
        10 * SOL_LAMPORTS,
    );
    w.h.send(&[ix], &[&taker.key]).await.unwrap();

    let series = w.all_series().await;
    assert_eq!(series.len(), 32);
    for (k, (market, series)) in series.into_iter().enumerate() {
        let size = if k % 2 == 0 { 3 } else { -2 };
        let price = match (market, series) {
            (SOL_MARKET, 0 | 1) => 150 * USDC,
            (BTC_MARKET, 0 | 1) => 1_000 * USDC,
            (_, 0 | 1) => 50 * USDC,
            _ => w.mark(market, series).await,
        };
        w.trade(&taker, &maker, market, series, size, price)
            .await
            .unwrap();
    }
    let account = w.margin_account(taker.account).await;
    assert_eq!(account.open_positions().count(), 32);
    assert_eq!(
        account.collateral.iter().filter(|c| c.in_use == 1).count(),
        8
    );

    // The withdrawal re-margins the whole book: count what the transaction loads (its
    // accounts, the fee payer, and the xmargin and compute-budget programs).
    let ix = w.withdraw_ix(&taker.key, taker.account, taker.usdc, QUOTE, USDC);
    let loaded = common::loaded_accounts(std::slice::from_ref(&ix), w.h.payer().pubkey());
    println!(
        "worst-case margin check (withdraw): {} accounts in the transaction",
        loaded
    );
    assert!(
        loaded <= 64 - 2,
        "room for a compute-budget program and a fee payer"
    );
    w.h.send(&[ix], &[&taker.key]).await.unwrap();
    w.assert_books_reconcile().await;
}
