//! Margin of the worst-case account (8 collateral balances, 32 positions on 8 underlyings):
//! (a) from scratch, (b) with per-series risk already computed (a keeper scanning thousands of
//! accounts computes each series once per price update and reuses it, and margins the accounts
//! one after another in the same buffers), and one option's series risk.
//! Run: cargo bench -p xmargin-risk --bench margin
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xmargin_risk::portfolio::margin;
use xmargin_risk::{Instrument, MarginScratch, Market};
use xmargin_risk_reference::fixtures::{
    eight_underlyings, standard_params, worst_case_account, NOW,
};

fn bench_margin(c: &mut Criterion) {
    let underlyings = eight_underlyings();
    let market = Market::new(&underlyings, standard_params(), NOW).expect("market");
    let (collateral, positions) = worst_case_account(&underlyings);
    let priced = market.price_positions(&positions).expect("series risk");
    let option = positions
        .iter()
        .find(|p| matches!(p.instrument, Instrument::Option { .. }))
        .copied()
        .expect("an option");

    let mut group = c.benchmark_group("worst_case_account");
    group.throughput(Throughput::Elements(1));
    group.bench_function("a_full_margin_from_scratch", |b| {
        b.iter(|| {
            margin(
                black_box(&market),
                black_box(&collateral),
                black_box(&positions),
            )
        })
    });
    // A keeper margins account after account in the same buffers (`MarginScratch`).
    let mut scratch = MarginScratch::new(&market);
    group.bench_function("b_margin_with_cached_series_risk", |b| {
        b.iter(|| {
            scratch.margin_priced(
                black_box(&market),
                black_box(&collateral),
                black_box(&priced),
            )
        })
    });
    group.finish();
    c.bench_function("one_option_series_risk", |b| {
        b.iter(|| market.series_risk(black_box(&option)))
    });
}

criterion_group!(benches, bench_margin);
criterion_main!(benches);
