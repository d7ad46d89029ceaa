//! The main job is a test too: the demo's story must end the way it tells it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_its_story() {
    let outcome = xmargin_cli::demo::run().await.expect("demo runs");
    assert!(
        outcome.hedged_cross * 2 < outcome.hedged_isolated,
        "the hedged book needs less than half of leg-by-leg margin: {outcome:?}"
    );
    assert!(outcome.counters.position_liquidations >= 2, "{outcome:?}");
    assert!(outcome.counters.bankruptcies_resolved >= 1, "{outcome:?}");
    assert!(
        outcome.insurance_after < outcome.insurance_before,
        "the insurance fund paid a shortfall: {outcome:?}"
    );
    assert_eq!(outcome.leveraged_positions_left, 0);
    assert!(outcome.counters.series_settled > 0 && outcome.counters.positions_settled > 0);
    assert_eq!(outcome.open_positions_after_expiry, 0);
    assert_eq!(
        outcome.counters.refused, 0,
        "the keeper never sent a refused transaction"
    );
}
