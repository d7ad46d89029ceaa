//! Property tests of the margin engine against the f64 full-revaluation reference.
//!
//! Rounding tolerance: the engine may sit below the reference by at most 1e-8 x gross notional
//! plus 2 quote-native units per position (fixed-point Greeks carry ~1e-9 relative error; the
//! bounds themselves are exact inequalities).
mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use xmargin_risk::portfolio::UnderlyingSweep;
use xmargin_risk::{margin, MarginReport, MarginScratch, Position, PricedPosition};
use xmargin_risk_reference::portfolio as reference;

fn tolerance(underlyings: &[xmargin_risk::Underlying], positions: &[Position]) -> f64 {
    1e-8 * gross_notional(underlyings, positions) + 2.0 * positions.len() as f64
}

fn sorted_by_underlying(priced: &[PricedPosition]) -> Vec<PricedPosition> {
    let mut sorted = priced.to_vec();
    sorted.sort_by_key(|p| p.position.underlying);
    sorted
}

#[test]
fn requirement_never_below_full_revaluation_on_10000_books() {
    let mut runner = TestRunner::new(Config {
        cases: 10_000,
        failure_persistence: None,
        ..Config::default()
    });
    let ratios = std::cell::RefCell::new(Vec::with_capacity(10_000));
    let zero_reference = std::cell::Cell::new(0usize);
    runner
        .run(&book_strategy(), |(underlyings, positions)| {
            let market = market(&underlyings);
            let report = margin(&market, &[], &positions).expect("engine");
            let engine = report.scenario_requirement as f64;
            let exact = reference::requirement(&market, &positions);
            let slack = tolerance(&underlyings, &positions);
            prop_assert!(
                engine >= exact - slack,
                "engine {engine} < reference {exact} - {slack}"
            );
            prop_assert!(report.maintenance >= report.scenario_requirement);
            prop_assert!(report.initial >= report.maintenance);
            if exact > 1e-6 * gross_notional(&underlyings, &positions) {
                ratios.borrow_mut().push(engine / exact);
            } else {
                zero_reference.set(zero_reference.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let mut ratios = ratios.into_inner();
    let zero_reference = zero_reference.get();
    ratios.sort_by(f64::total_cmp);
    let pick = |q: f64| ratios[((ratios.len() - 1) as f64 * q) as usize];
    println!(
        "engine / reference over {} books (+{} with a zero reference): min {:.4} p10 {:.4} median {:.4} p90 {:.4} max {:.4}",
        ratios.len(),
        zero_reference,
        pick(0.0),
        pick(0.1),
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
    assert!(ratios.len() > 5_000);
}

/// The basis dimension: the requirement (scenario part + basis charges) is never below full
/// revaluation over price x volatility x carry shocks, the dated futures' carry moved by
/// -s, 0 or +s at every core node.
#[test]
fn requirement_with_the_basis_charge_never_below_full_revaluation_with_carry_shocks() {
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(book_strategy(), 0.0f64..0.5, 0.0f64..0.01),
            |((mut underlyings, positions), shock, spread)| {
                for u in underlyings.iter_mut() {
                    u.basis_shock = fx(shock);
                    u.calendar_spread_minimum = fx(spread);
                }
                let market = market(&underlyings);
                let report = margin(&market, &[], &positions).expect("engine");
                let basis: i64 = report.breakdown.iter().map(|b| b.basis_charge).sum();
                let engine = (report.scenario_requirement + basis) as f64;
                let exact = reference::requirement_with_basis(&market, &positions);
                let slack = tolerance(&underlyings, &positions);
                prop_assert!(
                    engine >= exact - slack,
                    "engine {engine} < reference {exact} - {slack}"
                );
                prop_assert!(report.maintenance >= report.scenario_requirement + basis);
                Ok(())
            },
        )
        .unwrap();
}

proptest! {
    #![proptest_config(Config { cases: 10_000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn report_is_invariant_to_position_order(
        (underlyings, positions) in book_strategy(),
        seed in any::<u64>(),
    ) {
        let market = market(&underlyings);
        let collateral = [usdc(5_000_000_000), volatile_collateral(3_000_000_000, 0.15, 100_000_000)];
        let forward = margin(&market, &collateral, &positions).unwrap();
        let mut shuffled = positions.clone();
        // Deterministic Fisher–Yates from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let backward = margin(&market, &collateral, &shuffled).unwrap();
        prop_assert_eq!(&forward, &backward);
        // Buffers reused from another account's margin (a keeper's scan): the same report.
        let mut scratch = MarginScratch::new(&market);
        let mut other = positions.clone();
        other.truncate(other.len().div_ceil(2));
        other.iter_mut().for_each(|p| p.size = -p.size);
        let other_alone = margin(&market, &collateral[..1], &other).unwrap();
        let other_priced = market.price_positions(&other).unwrap();
        prop_assert_eq!(scratch.margin_priced(&market, &collateral[..1], &other_priced).unwrap(), other_alone);
        let priced = market.price_positions(&shuffled).unwrap();
        prop_assert_eq!(&scratch.margin_priced(&market, &collateral, &priced).unwrap(), &forward);
        // What the program margins with: the same report without the breakdown.
        let mut book = xmargin_risk::portfolio::Book::new(underlyings.len());
        for p in &market.price_positions(&positions).unwrap() {
            book.add(&market, p).unwrap();
        }
        let results = book.results(&market).unwrap();
        let totals = xmargin_risk::portfolio::margin_totals(&market, results.iter().flatten(), book.unrealized, &collateral).unwrap();
        prop_assert!(totals.breakdown.is_empty());
        prop_assert_eq!(MarginReport { breakdown: Vec::new(), ..forward }, totals);
        // Swept one underlying at a time in one exposure (the program's one-shot check), after
        // sweeping another account in the same memory: the book's results.
        let mut sweep = UnderlyingSweep::default();
        sweep.begin(underlyings.len());
        for p in &sorted_by_underlying(&other_priced) {
            sweep.add_position(&market, &p.position, &p.risk).unwrap();
        }
        sweep.results(&market).unwrap();
        sweep.begin(underlyings.len());
        for p in &sorted_by_underlying(&priced) {
            sweep.add_position(&market, &p.position, &p.risk).unwrap();
        }
        prop_assert_eq!(sweep.results(&market).unwrap(), &results[..]);
        prop_assert_eq!(sweep.unrealized, book.unrealized);
    }

    /// A book updated in place (one position removed, a resized copy added, another closed)
    /// equals the book of the new positions built afresh: what lets a liquidation re-margin an
    /// account by swapping one position.
    #[test]
    fn swapping_positions_in_a_book_equals_building_it_afresh(
        (underlyings, positions) in book_strategy(),
        pick in 0usize..10,
        close in 0usize..10,
        new_size in -1_000i64..1_000,
    ) {
        use xmargin_risk::portfolio::Book;
        let market = market(&underlyings);
        let priced = market.price_positions(&positions).unwrap();
        let mut book = Book::new(underlyings.len());
        for p in &priced {
            book.add(&market, p).unwrap();
        }
        let pick = pick % priced.len();
        let close = close % priced.len();
        let mut after = priced.clone();
        after[pick].position.size = new_size;
        book.remove_position(&market, &priced[pick].position, &priced[pick].risk).unwrap();
        book.add(&market, &after[pick]).unwrap();
        if close != pick {
            book.remove_position(&market, &after[close].position, &after[close].risk).unwrap();
            after.remove(close);
        }
        let mut fresh = Book::new(underlyings.len());
        for p in &after {
            fresh.add(&market, p).unwrap();
        }
        // An underlying whose positions were all removed keeps an all-zero exposure.
        let of = |b: &Book, u: usize| b.exposure(u).copied().unwrap_or_default();
        for u in 0..underlyings.len() {
            prop_assert_eq!(of(&book, u), of(&fresh, u));
        }
        prop_assert_eq!(book.unrealized, fresh.unrealized);
        // Cleared and refilled (what the program does to reuse a book's memory): the same.
        let mut reused = book.clone();
        reused.clear();
        prop_assert_eq!(reused.unrealized, 0);
        prop_assert!(reused.results(&market).unwrap().iter().all(Option::is_none));
        for p in &after {
            reused.add(&market, p).unwrap();
        }
        for u in 0..underlyings.len() {
            prop_assert_eq!(of(&reused, u), of(&fresh, u));
        }
        prop_assert_eq!(reused.unrealized, fresh.unrealized);
        let results = |b: &Book| {
            let r = b.results(&market).unwrap();
            xmargin_risk::portfolio::finish(&market, &r, b.unrealized, &[usdc(1_000_000)]).unwrap()
        };
        prop_assert_eq!(results(&book), results(&fresh));
    }

    /// The heat map a frontend draws (every scenario's loss) has, at each node, the worst loss
    /// the requirement uses, and the worst cell is the worst scenario.
    #[test]
    fn scenario_losses_are_the_terms_node_losses_takes_the_worst_of(
        (underlyings, positions) in book_strategy(),
    ) {
        use xmargin_risk::grid::{CORE_NODES, EXTENDED_DOWN_NODE, EXTENDED_UP_NODE, VOL_SHOCK_ORDER};
        use xmargin_risk::portfolio::Book;
        let market = market(&underlyings);
        let mut book = Book::new(underlyings.len());
        for p in &market.price_positions(&positions).unwrap() {
            book.add(&market, p).unwrap();
        }
        for (u, exposure) in book.exposures() {
            let grid = &market.grids[u];
            let (worst, scenario) = exposure.node_losses(grid).unwrap();
            let (core, extended) = exposure.scenario_losses(grid).unwrap();
            for node in 0..CORE_NODES {
                prop_assert_eq!(worst[node], *core[node].iter().max().unwrap());
            }
            prop_assert_eq!(worst[EXTENDED_DOWN_NODE], extended[0]);
            prop_assert_eq!(worst[EXTENDED_UP_NODE], extended[1]);
            let shock = VOL_SHOCK_ORDER.iter().position(|v| *v == scenario.vol).unwrap();
            let at_worst = if scenario.node < CORE_NODES {
                core[scenario.node][shock]
            } else {
                extended[scenario.node - CORE_NODES]
            };
            prop_assert_eq!(at_worst, *worst.iter().max().unwrap());
        }
    }

    #[test]
    fn equity_is_rounded_against_the_holder(
        (underlyings, positions) in book_strategy(),
        amounts in prop::collection::vec(-1_000_000_000i64..10_000_000_000, 1..4),
    ) {
        let market = market(&underlyings);
        let collateral: Vec<_> = amounts
            .iter()
            .enumerate()
            .map(|(i, a)| if i == 0 { usdc(*a) } else { volatile_collateral(a.abs(), 0.37, 500_000_000) })
            .collect();
        let report = margin(&market, &collateral, &positions).unwrap();
        let exact = reference::equity(&market, &collateral, &positions);
        // f64 itself carries ~1e-16 relative error on these sums.
        let f64_noise = 1e-12 * (gross_notional(&underlyings, &positions) + 1e10);
        prop_assert!(report.equity_maint as f64 <= exact + f64_noise,
            "engine equity {} above exact {}", report.equity_maint, exact);
        // ... but not by more than the mark error band and one unit per entry.
        let band = 3e-8 * gross_notional(&underlyings, &positions) + (positions.len() + collateral.len()) as f64 + 1.0;
        prop_assert!(report.equity_maint as f64 >= exact - band - f64_noise);
    }
}

#[test]
fn empty_book_requires_nothing() {
    let underlyings = vec![xmargin_risk::Underlying {
        spot: 150_000_000,
        surface: xmargin_risk::VolSurface::flat(fx(0.6)),
        rate: fx(0.0),
        grid: standard_grid(),
        correlation_group: 0,
        beta: fx(0.8),
        concentration_threshold: 0,
        short_option_minimum: xmargin_risk::Fx::ZERO,
        basis_shock: xmargin_risk::Fx::ZERO,
        calendar_spread_minimum: xmargin_risk::Fx::ZERO,
    }];
    let market = market(&underlyings);
    let report = margin(&market, &[usdc(1_000_000)], &[]).unwrap();
    assert_eq!(report.maintenance, 0);
    assert_eq!(report.initial, 0);
    assert_eq!(report.equity_maint, 1_000_000);
    assert!(report.breakdown.is_empty());
    let bare = margin(&market, &[], &[]).unwrap();
    assert_eq!(
        (bare.maintenance, bare.initial, bare.equity_maint),
        (0, 0, 0)
    );
}
