//! A snapshot file (what the dashboard opens) gives the same protocol as reading the chain: the
//! same summary of the same account, through JSON and back; incomplete or corrupt files are
//! refused with the SDK's errors.
use xmargin_client::snapshot::{example_json, Snapshot};
use xmargin_client::{ClientError, Protocol};
use xmargin_sandbox::exchange::{Exchange, HEDGED_BOOK};
use xmargin_sandbox::params::USDC;

#[tokio::test]
async fn a_snapshot_opens_to_what_a_fetch_reads() {
    let e = Exchange::open().await.unwrap();
    let maker = e.market_maker().await.unwrap();
    let trader = e
        .trader("trader", &[(0, 50_000 * USDC), (1, 20 * 1_000_000_000)])
        .await
        .unwrap();
    e.trades((&trader, &maker), &HEDGED_BOOK).await.unwrap();

    let snapshot = Snapshot::take(&e.sandbox.chain, &trader.account)
        .await
        .unwrap();
    let text = serde_json::to_string(&snapshot).unwrap();
    let reread = Snapshot::from_json(&text).unwrap();
    assert_eq!(reread, snapshot);
    let (from_file, account) = reread.open().unwrap();
    let fetched = Protocol::fetch(&e.sandbox.chain).await.unwrap();
    let on_chain = e.margin_account(&trader.account).await.unwrap();
    assert_eq!(
        from_file.summary(&account).unwrap(),
        fetched.summary(&on_chain).unwrap()
    );
    let picture = from_file.picture(&account).unwrap();
    assert_eq!(picture.summary, fetched.summary(&on_chain).unwrap());
    assert_eq!(picture.positions.len(), HEDGED_BOOK.len());
    assert_eq!(picture.grids.len(), 3);
    assert_eq!(picture.collateral.len(), 2);
    assert!(example_json(&snapshot).unwrap().contains("\"expected\""));

    // Without the margin account, an oracle, or with corrupt data: refused, not guessed.
    let mut without = snapshot.clone();
    without
        .accounts
        .retain(|a| a.address != snapshot.margin_account);
    assert!(matches!(
        without.open(),
        Err(ClientError::AccountNotFound(_))
    ));
    let mut corrupt = snapshot.clone();
    corrupt.accounts[0].data = "not base64!".into();
    assert!(matches!(corrupt.open(), Err(ClientError::Input(_))));
    let market_oracle = fetched.market(0).unwrap().oracle.to_string();
    let mut no_oracle = snapshot.clone();
    no_oracle.accounts.retain(|a| a.address != market_oracle);
    let (protocol, account) = no_oracle.open().unwrap();
    assert!(protocol.summary(&account).is_err());
    assert!(Snapshot::from_json("{}").is_err());
}
