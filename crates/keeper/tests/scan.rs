//! The keeper's shared-context scan gives every account the verdict a context of its own (what
//! the program builds) gives, and the keeper works an unhealthy account out through the program.
use xmargin_keeper::scan::{evaluate, evaluate_alone};
use xmargin_keeper::Keeper;
use xmargin_sandbox::exchange::{Exchange, HEDGED_BOOK, SOL};
use xmargin_sandbox::params::USDC;

#[tokio::test]
async fn shared_scan_matches_per_account_verdicts_and_the_keeper_liquidates() {
    let mut e = Exchange::open().await.unwrap();
    let maker = e.market_maker().await.unwrap();
    let hedged = e.trader("hedged", &[(0, 50_000 * USDC)]).await.unwrap();
    let levered = e.trader("levered", &[(0, 12_000 * USDC)]).await.unwrap();
    let keeper_owner = e.trader("keeper", &[(0, 500_000 * USDC)]).await.unwrap();
    e.trades((&hedged, &maker), &HEDGED_BOOK).await.unwrap();
    e.trades((&levered, &maker), &[(SOL, 0, 250, 150 * USDC)])
        .await
        .unwrap();

    let check = |protocol: &xmargin_client::Protocol, accounts: &[(_, _)]| {
        let shared = evaluate(protocol, accounts);
        assert_eq!(shared.len(), accounts.len());
        for ((address, account), verdict) in accounts.iter().zip(&shared) {
            assert_eq!(
                *verdict,
                evaluate_alone(protocol, *address, account).unwrap()
            );
        }
        shared
    };
    let chain = e.sandbox.chain.clone();
    let keeper = Keeper::new(
        &chain,
        keeper_owner.key.insecure_clone(),
        keeper_owner.account,
        Box::new(|_| {}),
    );
    let accounts = keeper.margin_accounts().await.unwrap();
    assert_eq!(accounts.len(), 4);
    let verdicts = check(&e.protocol().await.unwrap(), &accounts);
    assert!(verdicts.iter().all(|v| !v.liquidatable));

    e.advance(10).await.unwrap();
    e.set_price(SOL, 110).await.unwrap();
    let accounts = keeper.margin_accounts().await.unwrap();
    let verdicts = check(&e.protocol().await.unwrap(), &accounts);
    let unhealthy: Vec<_> = verdicts
        .iter()
        .filter(|v| v.liquidatable)
        .map(|v| v.address)
        .collect();
    assert_eq!(unhealthy, vec![levered.account]);

    let mut keeper = keeper;
    keeper.run_pass().await.unwrap();
    assert!(keeper.counters.position_liquidations >= 1);
    assert_eq!(keeper.counters.refused, 0);
    let after = evaluate_alone(
        &e.protocol().await.unwrap(),
        levered.account,
        &e.margin_account(&levered.account).await.unwrap(),
    )
    .unwrap();
    assert!(!after.liquidatable, "{after:?}");
    // A second pass finds nothing to do and sends nothing.
    let sent_before = keeper.counters.clone();
    keeper.run_pass().await.unwrap();
    assert_eq!(
        keeper.counters.position_liquidations,
        sent_before.position_liquidations
    );
    assert_eq!(keeper.counters.refused, 0);
}

/// A pass refreshes every option whose cached bounds do not hold (never filled, then expired
/// with time), in runs the program accepts, and leaves fresh entries alone.
#[tokio::test]
async fn the_keeper_refreshes_stale_option_risk_caches() {
    let mut e = Exchange::open().await.unwrap();
    let market = e.underlyings[SOL].market;
    let options: Vec<u8> = e.underlyings[SOL]
        .series
        .iter()
        .filter(|s| {
            matches!(
                s.kind,
                xmargin::state::SeriesKind::Call | xmargin::state::SeriesKind::Put
            )
        })
        .map(|s| s.index)
        .collect();
    assert!(!options.is_empty());
    e.enable_risk_cache(market).await.unwrap();
    let keeper_owner = e.trader("keeper", &[(0, 1_000 * USDC)]).await.unwrap();
    let chain = e.sandbox.chain.clone();
    let mut keeper = Keeper::new(
        &chain,
        keeper_owner.key.insecure_clone(),
        keeper_owner.account,
        Box::new(|_| {}),
    );
    let cached = |protocol: &xmargin_client::Protocol| {
        options
            .iter()
            .filter(|s| protocol.is_cached(market, **s))
            .count()
    };
    assert_eq!(cached(&e.protocol().await.unwrap()), 0);

    keeper.run_pass().await.unwrap();
    assert_eq!(cached(&e.protocol().await.unwrap()), options.len());
    let refreshes = keeper.counters.cache_refreshes;
    assert!(refreshes >= 1);

    // Fresh entries: nothing to do.
    keeper.run_pass().await.unwrap();
    assert_eq!(keeper.counters.cache_refreshes, refreshes);

    // Past the window's age every entry is stale again, and refreshed again.
    e.advance(600).await.unwrap();
    assert_eq!(cached(&e.protocol().await.unwrap()), 0);
    keeper.run_pass().await.unwrap();
    assert_eq!(cached(&e.protocol().await.unwrap()), options.len());
    assert!(keeper.counters.cache_refreshes > refreshes);
}
