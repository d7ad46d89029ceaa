//! Rule-level tests: domain errors, the grid and factor masks, the per-series bounds against exact
//! repricing, collateral haircuts, correlation netting, theta and concentration charges.
mod common;

use common::*;
use proptest::prelude::*;
use xmargin_risk::bs::{greeks, log_moneyness, OptionInputs, OptionKind, SECONDS_PER_YEAR};
use xmargin_risk::collateral::{weighted_value, Level};
use xmargin_risk::grid::{
    factor_masks, level_spans, span, GridConstants, LevelSpan, NodeLosses, CORE_NODES,
    EXTENDED_DOWN_NODE, EXTENDED_UP_NODE, FACTOR_LEVELS, NODES, POSITION_ORDER, SEGMENTS,
};
use xmargin_risk::model::{MAX_NOTIONAL, MAX_POSITIONS};
use xmargin_risk::portfolio::Exposure;
use xmargin_risk::portfolio::{Book, UnderlyingSweep, MAX_EXPOSURE_POSITIONS, MAX_TENORS};
use xmargin_risk::series::{effective_vol_shocks, option_vol, SeriesRisk};
use xmargin_risk::{
    margin, Collateral, Fx, Instrument, Market, Position, RiskError, Underlying, VolSurface,
};
use xmargin_risk_reference::bs::value;

fn underlying(spot: u64, vol: f64, beta: f64, group: u8) -> Underlying {
    Underlying {
        spot,
        surface: VolSurface::flat(fx(vol)),
        rate: fx(0.0),
        grid: standard_grid(),
        correlation_group: group,
        beta: fx(beta),
        concentration_threshold: u64::MAX / 4,
        short_option_minimum: Fx::ZERO,
        basis_shock: Fx::ZERO,
        calendar_spread_minimum: Fx::ZERO,
    }
}

fn inputs(log_m: f64, secs: u64, vol: f64, rate: f64) -> OptionInputs {
    OptionInputs {
        kind: OptionKind::Call,
        log_moneyness: fx(log_m),
        secs,
        vol: fx(vol),
        rate: fx(rate),
    }
}

#[test]
fn out_of_domain_inputs_are_named_errors() {
    let cases = [
        ((0.0, 3600, 0.001, 0.0), RiskError::VolatilityOutOfRange),
        ((0.0, 3600, 6.0, 0.0), RiskError::VolatilityOutOfRange),
        (
            (0.0, 11 * SECONDS_PER_YEAR, 0.5, 0.0),
            RiskError::ExpiryOutOfRange,
        ),
        ((0.0, 3600, 0.5, 0.6), RiskError::RateOutOfRange),
        ((5.0, 3600, 0.5, 0.0), RiskError::MoneynessOutOfRange),
    ];
    for ((log_m, secs, vol, rate), expected) in cases {
        assert_eq!(greeks(&inputs(log_m, secs, vol, rate)), Err(expected));
    }
    assert_eq!(log_moneyness(0, 100), Err(RiskError::SpotOutOfRange));
    assert_eq!(log_moneyness(100, 0), Err(RiskError::MoneynessOutOfRange));
    assert_eq!(
        log_moneyness(100, 100 * 65),
        Err(RiskError::MoneynessOutOfRange)
    );
}

#[test]
fn invalid_market_and_account_inputs_are_named_errors() {
    let good = underlying(100_000_000, 0.5, 0.5, 0);
    let params = standard_params();
    let with = |f: fn(&mut Underlying)| {
        let mut u = good;
        f(&mut u);
        Market::new(&[u], params, NOW).err()
    };
    assert_eq!(
        with(|u| u.grid.price_range = Fx::ZERO),
        Some(RiskError::InvalidParameter)
    );
    assert_eq!(
        with(|u| u.grid.price_range = fx(0.6)),
        Some(RiskError::InvalidParameter)
    );
    assert_eq!(
        with(|u| u.grid.extended_weight = fx(1.5)),
        Some(RiskError::InvalidParameter)
    );
    assert_eq!(
        with(|u| u.beta = fx(1.5)),
        Some(RiskError::InvalidParameter)
    );
    assert_eq!(
        with(|u| u.surface.min = fx(0.9)),
        Some(RiskError::InvalidParameter)
    );
    assert_eq!(with(|u| u.spot = 0), Some(RiskError::SpotOutOfRange));
    assert_eq!(with(|u| u.rate = fx(0.9)), Some(RiskError::RateOutOfRange));
    assert_eq!(
        Market::new(&[good; 9], params, NOW).err(),
        Some(RiskError::CapacityExceeded)
    );
    let mut bad_params = params;
    bad_params.initial_factor = fx(0.9);
    assert_eq!(
        Market::new(&[good], bad_params, NOW).err(),
        Some(RiskError::InvalidParameter)
    );

    let market = market(&[good]);
    let perp = Position {
        underlying: 0,
        instrument: Instrument::Perpetual,
        size: 1,
        cost_basis: 0,
    };
    assert_eq!(
        margin(&market, &[], &[perp; 33]).err(),
        Some(RiskError::CapacityExceeded)
    );
    let foreign = Position {
        underlying: 3,
        ..perp
    };
    assert_eq!(
        margin(&market, &[], &[foreign]).err(),
        Some(RiskError::UnknownUnderlying)
    );
    let huge = Position {
        size: i64::MAX,
        ..perp
    };
    assert_eq!(
        margin(&market, &[], &[huge]).err(),
        Some(RiskError::NotionalOutOfRange)
    );
    let mut collateral = usdc(1_000);
    collateral.maint_asset_weight = fx(1.2);
    assert_eq!(
        margin(&market, &[collateral], &[]).err(),
        Some(RiskError::InvalidParameter)
    );
}

/// An exposure's sums skip the overflow check per product: they hold at most
/// `MAX_EXPOSURE_POSITIONS` products of a notional within `MAX_NOTIONAL` and a bound within i64
/// bits, so even the largest sums are exact; a position beyond either limit is refused and
/// changes nothing.
#[test]
fn an_exposure_sums_the_largest_book_exactly_and_refuses_past_its_limits() {
    let extreme = SeriesRisk {
        is_option: true,
        delta: Fx::MIN,
        price_low: [Fx::MIN; CORE_NODES],
        price_high: [Fx::MIN; CORE_NODES],
        vol_pnl_min: [[Fx::MIN; 2]; CORE_NODES],
        vol_pnl_max: [[Fx::MIN; 2]; CORE_NODES],
        ..SeriesRisk::default()
    };
    let largest = 1i128 << 121; // MAX_NOTIONAL x 2^63
    for (notional, sum) in [(MAX_NOTIONAL, -largest), (-MAX_NOTIONAL, largest)] {
        let mut exposure = Exposure::default();
        for _ in 0..MAX_EXPOSURE_POSITIONS {
            exposure.add(notional, 0, &extreme).unwrap();
        }
        let full = MAX_EXPOSURE_POSITIONS as i128 * sum;
        let (price, vol) = if notional > 0 {
            (exposure.long_option_price, exposure.long_option_vol)
        } else {
            (exposure.other_price, exposure.other_vol)
        };
        assert_eq!(exposure.net_delta, full);
        assert!(price.iter().all(|p| *p == full), "{price:?}");
        assert!(vol.iter().flatten().all(|v| *v == full), "{vol:?}");
        let before = exposure;
        assert_eq!(
            exposure.add(notional, 0, &extreme),
            Err(RiskError::CapacityExceeded)
        );
        assert_eq!(exposure, before);
        for _ in 0..MAX_EXPOSURE_POSITIONS {
            exposure.remove(notional, 0, &extreme).unwrap();
        }
        assert_eq!(exposure, Exposure::default());
    }
    let mut exposure = Exposure::default();
    assert_eq!(
        exposure.add(MAX_NOTIONAL + 1, 0, &extreme),
        Err(RiskError::NotionalOutOfRange)
    );
    assert_eq!(
        exposure.add(-MAX_NOTIONAL - 1, 0, &extreme),
        Err(RiskError::NotionalOutOfRange)
    );
    assert_eq!(exposure, Exposure::default());
}

/// A full book on one underlying updated in place the way the program re-margins an account
/// (the position's new version added before the old one is removed): the same as built afresh.
#[test]
fn a_full_book_on_one_underlying_swaps_a_position_in_place() {
    let market = Market::new(
        &[underlying(100_000_000, 0.5, 0.5, 0)],
        standard_params(),
        NOW,
    )
    .unwrap();
    let positions: Vec<Position> = (0..MAX_POSITIONS as i64)
        .map(|k| Position {
            underlying: 0,
            instrument: Instrument::Future {
                // Four series per tenor: MAX_TENORS of them.
                expiry: NOW + 86_400 * (k % MAX_TENORS as i64 + 1),
            },
            size: 1_000 + k,
            cost_basis: 0,
        })
        .collect();
    let priced = market.price_positions(&positions).unwrap();
    let mut book = Book::new(1);
    for p in &priced {
        book.add(&market, p).unwrap();
    }
    let mut resized = priced[7];
    resized.position.size = -3;
    book.add(&market, &resized).unwrap();
    book.remove_position(&market, &priced[7].position, &priced[7].risk)
        .unwrap();
    let mut after = priced.clone();
    after[7] = resized;
    let mut fresh = Book::new(1);
    for p in &after {
        fresh.add(&market, p).unwrap();
    }
    assert_eq!(book.exposure(0), fresh.exposure(0));
    assert_eq!(book.unrealized, fresh.unrealized);
}

/// A sweep sums one underlying at a time: a position of an underlying it already closed is
/// refused, where skipping underlyings is fine.
#[test]
fn a_sweep_refuses_positions_out_of_underlying_order() {
    let market = Market::new(
        &[
            underlying(100_000_000, 0.5, 0.5, 0),
            underlying(50_000_000, 0.6, 0.5, 1),
            underlying(20_000_000, 0.7, 0.5, 2),
        ],
        standard_params(),
        NOW,
    )
    .unwrap();
    let perp = |underlying: u8| Position {
        underlying,
        instrument: Instrument::Perpetual,
        size: 10,
        cost_basis: 0,
    };
    let priced = market
        .price_positions(&[perp(0), perp(2), perp(0)])
        .unwrap();
    let mut sweep = UnderlyingSweep::default();
    sweep.begin(3);
    sweep
        .add_position(&market, &priced[0].position, &priced[0].risk)
        .unwrap();
    sweep
        .add_position(&market, &priced[1].position, &priced[1].risk)
        .unwrap();
    assert_eq!(
        sweep.add_position(&market, &priced[2].position, &priced[2].risk),
        Err(RiskError::InvalidParameter)
    );
    let results = sweep.results(&market).unwrap();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_some() && results[1].is_none() && results[2].is_some());
    // Closed: nothing more may be added, not even to the last underlying.
    assert_eq!(
        sweep.add_position(&market, &priced[1].position, &priced[1].risk),
        Err(RiskError::InvalidParameter)
    );
}

#[test]
fn factor_masks_span_independent_to_fully_correlated() {
    let grid = GridConstants::new(&standard_grid()).unwrap();
    let all = (1u16 << NODES) - 1;
    let independent = factor_masks(Fx::ZERO, &grid).unwrap();
    // With beta = 0 the largest extended level (+100 % = 6.7 R) lets every node through, so an
    // independent group is charged the sum of its members' worst losses; core levels reach +-R.
    assert_eq!(independent[EXTENDED_UP_NODE], all);
    assert_eq!(
        independent[EXTENDED_DOWN_NODE],
        all & !(1 << EXTENDED_UP_NODE)
    );
    assert_eq!(independent[4], (1u16 << CORE_NODES) - 1);
    let pinned = factor_masks(Fx::ONE, &grid).unwrap();
    for (level, mask) in pinned.iter().enumerate() {
        assert_eq!(*mask, 1u16 << level, "level {level}");
    }
}

proptest! {
    #[test]
    fn every_factor_level_allows_its_own_node(beta in 0.0f64..=1.0) {
        let grid = GridConstants::new(&standard_grid()).unwrap();
        let masks = factor_masks(fx(beta), &grid).unwrap();
        for (level, mask) in masks.iter().enumerate() {
            prop_assert!(mask & (1 << level) != 0);
        }
        // A higher beta never widens a level's range.
        let tighter = factor_masks(fx((beta + 0.1).min(1.0)), &grid).unwrap();
        for (wide, narrow) in masks.iter().zip(tighter) {
            prop_assert_eq!(narrow & !wide, 0);
        }
    }
}

#[test]
fn a_span_is_the_first_and_last_node_of_a_mask_in_position_order() {
    assert_eq!(span(0), None);
    for mask in 1u16..(1 << NODES) {
        let held: Vec<usize> = (0..NODES)
            .filter(|at| mask & (1 << POSITION_ORDER[*at]) != 0)
            .collect();
        assert_eq!(
            span(mask),
            Some((held[0], held[held.len() - 1])),
            "{mask:b}"
        );
    }
}

#[test]
fn a_level_loss_is_the_worst_over_its_span_for_every_mask() {
    // Every mask, whether or not it is a run: the level loss is the worst over the span's
    // positions (and the level's own node); an empty mask charges the own node alone.
    let worst: [i64; NODES] = core::array::from_fn(|node| ((node as i64 * 7919) % 23) - 11);
    for mask in 0u16..(1 << NODES) {
        for level in 0..FACTOR_LEVELS {
            let mut masks = [0u16; FACTOR_LEVELS];
            masks[level] = mask;
            let member = NodeLosses {
                group: 0,
                spans: level_spans(&masks),
                worst,
                floor: 0,
            };
            let expected = match span(mask) {
                Some((first, last)) => POSITION_ORDER[first..=last]
                    .iter()
                    .map(|node| worst[*node])
                    .chain([worst[level]])
                    .max(),
                None => Some(worst[level]),
            };
            assert_eq!(
                Some(member.levels().levels[level]),
                expected,
                "mask {mask:b} level {level}"
            );
        }
    }
}

proptest! {
    /// Spans read from storage are never trusted to be runs: any bits give some level losses
    /// and never a fault.
    #[test]
    fn stored_span_bits_of_any_value_are_read_without_fault(
        bits in prop::array::uniform11(any::<u16>()),
        worst in prop::array::uniform11(-1_000i64..1_000),
    ) {
        let member = NodeLosses { group: 0, spans: bits.map(LevelSpan::from_bits), worst, floor: 0 };
        let levels = member.levels().levels;
        for (level, loss) in levels.iter().enumerate() {
            prop_assert!(*loss >= worst[level]);
            prop_assert!(*loss <= *worst.iter().max().unwrap());
        }
        prop_assert_eq!(bits.map(LevelSpan::from_bits).map(LevelSpan::to_bits), bits);
    }

    /// A level's nodes are a run in position order, so the member's level loss over the span
    /// is its worst loss over exactly the level's nodes.
    #[test]
    fn factor_levels_are_runs_and_level_losses_are_their_worst(
        beta in 0.0f64..=1.0,
        range in 0.01f64..0.5,
        down in 0.0f64..1.0,
        up in 0.0f64..1.0,
        worst in prop::array::uniform11(-1_000i64..1_000),
    ) {
        let mut grid = standard_grid();
        grid.price_range = fx(range);
        grid.extended_down = fx(range + (0.95 - range) * down);
        grid.extended_up = fx(range + (10.0 - range) * up);
        let constants = GridConstants::new(&grid).unwrap();
        let masks = factor_masks(fx(beta), &constants).unwrap();
        let member = NodeLosses { group: 0, spans: level_spans(&masks), worst, floor: 0 };
        let levels = member.levels().levels;
        for (level, mask) in masks.iter().enumerate() {
            let (first, last) = span(*mask).unwrap();
            let run: u16 = POSITION_ORDER[first..=last].iter().map(|node| 1 << node).sum();
            prop_assert_eq!(run, *mask, "level {}", level);
            let masked = (0..NODES).filter(|n| mask & (1 << n) != 0).map(|n| worst[n]).max();
            prop_assert_eq!(Some(levels[level]), masked);
        }
    }
}

#[test]
fn ladder_weights_integrate_a_constant_gamma_exactly() {
    let grid = GridConstants::new(&standard_grid()).unwrap();
    for node in 0..CORE_NODES {
        let x = grid.moves[node].to_num::<f64>();
        let total: f64 = (0..SEGMENTS)
            .map(|j| grid.segment_weight(node, j).unwrap().to_num::<f64>())
            .sum();
        assert!(
            (total - x * x / 2.0).abs() < 1e-8,
            "node {node}: {total} vs {}",
            x * x / 2.0
        );
    }
}

fn option_position(kind: OptionKind, k_over_s: f64, days: f64, spot: u64) -> Position {
    Position {
        underlying: 0,
        instrument: Instrument::Option {
            kind,
            strike: (spot as f64 * k_over_s) as u64,
            expiry: NOW + (days * 86_400.0) as i64,
        },
        size: 1,
        cost_basis: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Every bound of a series brackets the exact repricing it stands for.
    #[test]
    fn series_bounds_bracket_exact_repricing(
        call in any::<bool>(),
        k_over_s in 0.6f64..1.6,
        days in 0.05f64..365.0,
        vol in 0.1f64..2.0,
    ) {
        let spot = 100_000_000u64;
        let u = underlying(spot, vol, 0.5, 0);
        let market = market(&[u]);
        let kind = if call { OptionKind::Call } else { OptionKind::Put };
        let p = option_position(kind, k_over_s, days, spot);
        let risk = market.series_risk(&p).unwrap();
        let grid = &market.grids[0];
        let Instrument::Option { strike, expiry, .. } = p.instrument else { unreachable!() };
        let sigma = option_vol(&u, strike).unwrap();
        let (down, up) = effective_vol_shocks(sigma, grid).unwrap();
        let years = (expiry - NOW) as f64 / SECONDS_PER_YEAR as f64;
        let (s, k, v) = (spot as f64, strike as f64, sigma.to_num::<f64>());
        let price = |spot_ratio: f64, vol: f64| value(kind, s * spot_ratio, k, years, vol, 0.0) / s;
        let tolerance = 2e-8;
        prop_assert!(risk.mark_low.to_num::<f64>() <= price(1.0, v) + 1e-12);
        prop_assert!(risk.mark_high.to_num::<f64>() >= price(1.0, v) - 1e-12);
        for node in 0..CORE_NODES {
            let r = 1.0 + grid.moves[node].to_num::<f64>();
            let base = price(r, v);
            for (shock, dv) in [(0usize, -down.to_num::<f64>()), (1, up.to_num::<f64>())] {
                let change = price(r, v + dv) - base;
                prop_assert!(risk.vol_pnl_min[node][shock].to_num::<f64>() <= change + tolerance,
                    "node {node} shock {shock}: min {} > {change}", risk.vol_pnl_min[node][shock]);
                prop_assert!(risk.vol_pnl_max[node][shock].to_num::<f64>() >= change - tolerance,
                    "node {node} shock {shock}: max {} < {change}", risk.vol_pnl_max[node][shock]);
            }
        }
        for (side, node) in [(0usize, EXTENDED_DOWN_NODE), (1, EXTENDED_UP_NODE)] {
            let exact = price(1.0 + grid.moves[node].to_num::<f64>(), v);
            prop_assert!(risk.extended_low[side].to_num::<f64>() <= exact + tolerance);
            prop_assert!(risk.extended_high[side].to_num::<f64>() >= exact - tolerance);
        }
        // Price-move bounds bracket the exact change at every node.
        for node in 0..CORE_NODES {
            let change = price(1.0 + grid.moves[node].to_num::<f64>(), v) - price(1.0, v);
            prop_assert!(risk.price_low[node].to_num::<f64>() <= change + tolerance,
                "node {node}: low {} > {change}", risk.price_low[node]);
            prop_assert!(risk.price_high[node].to_num::<f64>() >= change - tolerance,
                "node {node}: high {} < {change}", risk.price_high[node]);
        }
    }

    #[test]
    fn collateral_weighting_is_monotone_and_concave(
        a in 0i64..5_000_000_000_000,
        b in 0i64..5_000_000_000_000,
        price in 0.001f64..1000.0,
    ) {
        let c = |amount| Collateral { amount, ..volatile_collateral(0, price, 1_000_000_000) };
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let w_lo = weighted_value(&c(lo), Level::Maintenance).unwrap();
        let w_hi = weighted_value(&c(hi), Level::Maintenance).unwrap();
        prop_assert!(w_lo <= w_hi, "more collateral never counts for less");
        // Initial weights are stricter than maintenance.
        prop_assert!(weighted_value(&c(hi), Level::Initial).unwrap() <= w_hi);
        // Concave: the second half of a deposit adds no more than the first half.
        let half = hi / 2;
        let first = weighted_value(&c(half), Level::Maintenance).unwrap();
        prop_assert!(w_hi - first <= first + 2);
    }
}

#[test]
fn liquidity_haircut_applies_only_above_depth() {
    // Exact expectations with the weights as the engine holds them (0.9 is 0.8999999999...).
    let times = |amount: i128, w: f64| (amount * fx(w).to_bits() as i128) >> 32;
    let below = volatile_collateral(1_000_000_000, 1.0, 2_000_000_000);
    assert_eq!(
        weighted_value(&below, Level::Maintenance).unwrap(),
        times(1_000_000_000, 0.9)
    );
    let above = volatile_collateral(8_000_000_000, 1.0, 2_000_000_000);
    // sqrt(8e9 x 2e9) = 4e9 counts, at the same weight.
    assert_eq!(
        weighted_value(&above, Level::Maintenance).unwrap(),
        times(4_000_000_000, 0.9)
    );
    // Liabilities are scaled up and rounded down (more debt).
    let debt = volatile_collateral(-1_000_000, 1.0, 0);
    assert_eq!(
        weighted_value(&debt, Level::Maintenance).unwrap(),
        times(-1_000_000, 1.1)
    );
    assert!(weighted_value(&debt, Level::Maintenance).unwrap() <= -1_100_000);
    assert!(weighted_value(&debt, Level::Initial).unwrap() <= -1_200_000);
}

fn pair_requirement(beta: f64, same_group: bool) -> i64 {
    let a = underlying(1_000_000_000, 0.5, beta, 0);
    let b = underlying(300_000_000, 0.6, beta, if same_group { 0 } else { 1 });
    let market = market(&[a, b]);
    let long_a = Position {
        underlying: 0,
        instrument: Instrument::Perpetual,
        size: 30,
        cost_basis: 0,
    };
    let short_b = Position {
        underlying: 1,
        instrument: Instrument::Perpetual,
        size: -100,
        cost_basis: 0,
    };
    margin(&market, &[], &[long_a, short_b])
        .unwrap()
        .maintenance
}

#[test]
fn correlation_credits_a_hedged_pair_and_never_more_than_beta_allows() {
    let independent = pair_requirement(0.0, true);
    let other_group = pair_requirement(0.95, false);
    // No correlation: the worst of each leg, added.
    assert_eq!(independent, other_group);
    let single_leg_worst = (30.0 * 1_000_000_000.0 * 0.5 * 0.33f64).ceil() as i64;
    assert!(independent >= 2 * single_leg_worst - 2);
    let mut last = independent;
    for beta in [0.3, 0.6, 0.9, 0.99] {
        let req = pair_requirement(beta, true);
        assert!(req <= last, "beta {beta}: {req} > {last}");
        last = req;
    }
    assert!(
        last < independent / 2,
        "a tight pair gets most of the credit: {last}"
    );
    // beta 0.9 (correlation 0.81): binding at the factor level +3R/4, where the long leg may lag
    // to +R/4 (idiosyncratic reach 0.44 R) while the short leg takes +R:
    // 30,000 x (15 % - 3.75 %) = $3,375.
    // (plus a few units of rounding against the holder)
    let pair = pair_requirement(0.9, true);
    assert!((3_375_000_000..=3_375_000_020).contains(&pair), "{pair}");
    // Perfect correlation pins both legs to the factor's move: the equal notionals cancel, up to
    // a unit in the last place of each per-contract bound times the notional (rounded up).
    assert!(pair_requirement(1.0, true) <= 20);
}

#[test]
fn theta_is_charged_to_net_long_option_books_only() {
    let spot = 100_000_000u64;
    let market = market(&[underlying(spot, 0.8, 0.5, 0)]);
    let mut long = option_position(OptionKind::Call, 1.0, 7.0, spot);
    long.size = 10;
    let report = margin(&market, &[], &[long]).unwrap();
    let theta = report.breakdown[0].theta_charge;
    assert!(theta > 0);
    assert_eq!(report.maintenance, report.scenario_requirement + theta);
    // One day of decay of 10 ATM 7-day calls at 80 % vol, from the f64 closed form.
    let g = xmargin_risk_reference::bs::greeks(OptionKind::Call, 0.0, 7.0 / 365.0, 0.8, 0.0);
    let expected = -g.theta * spot as f64 * 10.0 / 365.0;
    assert!((theta as f64 - expected).abs() <= expected * 1e-5 + 2.0);
    let mut short = long;
    short.size = -10;
    assert_eq!(
        margin(&market, &[], &[short]).unwrap().breakdown[0].theta_charge,
        0
    );
}

#[test]
fn concentration_adds_to_initial_margin_above_the_threshold() {
    let mut u = underlying(100_000_000, 0.5, 0.5, 0);
    u.concentration_threshold = 1_000_000_000;
    let market = market(&[u]);
    let perp = |size| Position {
        underlying: 0,
        instrument: Instrument::Perpetual,
        size,
        cost_basis: 0,
    };
    let small = margin(&market, &[], &[perp(10)]).unwrap();
    assert_eq!(small.breakdown[0].concentration_charge, 0);
    let big = margin(&market, &[], &[perp(30)]).unwrap();
    // |delta| 3e9 exceeds 1e9 by 2e9, charged at 2 %.
    let charge = big.breakdown[0].concentration_charge;
    assert!((40_000_000..=40_000_001).contains(&charge), "{charge}");
    assert!(big.initial >= (big.maintenance as f64 * 1.25) as i64 + charge);
}

#[test]
fn short_option_minimum_floors_deep_out_of_the_money_shorts() {
    let spot = 100_000_000u64;
    let mut u = underlying(spot, 0.5, 0.9, 0);
    u.short_option_minimum = fx(0.01);
    let market = market(&[u]);
    let mut far_put = option_position(OptionKind::Put, 0.5, 7.0, spot);
    far_put.size = -10;
    let report = margin(&market, &[], &[far_put]).unwrap();
    let minimum = report.breakdown[0].short_option_minimum;
    // 1 % of 10 contracts' notional, rounded up.
    assert!((10_000_000..=10_000_001).contains(&minimum), "{minimum}");
    // The grid barely sees a 50 % out-of-the-money weekly put: the floor binds.
    assert!(report.breakdown[0].worst_loss < minimum);
    assert_eq!(report.scenario_requirement, minimum);
    // A hedge in the same group cannot take the group below its floor.
    let mut hedge = option_position(OptionKind::Put, 0.5, 30.0, spot);
    hedge.size = 10;
    let hedged = margin(&market, &[], &[far_put, hedge]).unwrap();
    assert!(hedged.scenario_requirement >= minimum);
    // Long options carry no minimum.
    assert_eq!(
        margin(&market, &[], &[hedge]).unwrap().breakdown[0].short_option_minimum,
        0
    );
}

fn linear(instrument: Instrument, size: i64) -> Position {
    Position {
        underlying: 0,
        instrument,
        size,
        cost_basis: 0,
    }
}

fn future_in_days(days: i64) -> Instrument {
    Instrument::Future {
        expiry: NOW + days * DAY,
    }
}

/// An underlying at 150 USDC with the standard basis shock (10 %/year) and calendar spread
/// (0.5 %).
fn with_basis(rate: f64) -> Underlying {
    let mut u = underlying(150_000_000, 0.8, 0.9, 0);
    u.rate = fx(rate);
    u.basis_shock = fx(0.10);
    u.calendar_spread_minimum = fx(0.005);
    u
}

/// The basis trade (long 2,000 perps / short 2,000 30-day futures) needed no margin at
/// rate 0: now its maintenance is the carry shock at the worst core price plus one spread
/// charge per pair, from the f64 closed form.
#[test]
fn a_perp_against_a_future_is_charged_its_basis_and_a_spread_per_pair() {
    let spot = 150_000_000f64;
    for rate in [0.0, 0.05] {
        let market = market(&[with_basis(rate)]);
        let book = [
            linear(Instrument::Perpetual, 2_000),
            linear(future_in_days(30), -2_000),
        ];
        let report = margin(&market, &[], &book).unwrap();
        let years = 30.0 / 365.0;
        let carried = (rate * years).exp();
        let carry = 2_000.0 * spot * carried * 0.10 * years * 1.15;
        let spread = 0.005 * 2_000.0 * spot * carried.min(1.0);
        let charge = report.breakdown[0].basis_charge as f64;
        let expected = carry + spread;
        assert!(
            charge >= expected - 1.0 && charge <= expected * (1.0 + 1e-6) + 2_000.0,
            "rate {rate}: charge {charge}, expected {expected}"
        );
        assert!(
            report.maintenance >= report.scenario_requirement + report.breakdown[0].basis_charge
        );
        assert!(report.initial > report.maintenance);
    }
    // Without the basis parameters the pair nets to nothing at rate 0: the base behaviour.
    let market = market(&[underlying(150_000_000, 0.8, 0.9, 0)]);
    let book = [
        linear(Instrument::Perpetual, 2_000),
        linear(future_in_days(30), -2_000),
    ];
    assert_eq!(margin(&market, &[], &book).unwrap().maintenance, 0);
}

/// Calendar spreads of futures net by their tenors' difference, and calendar option spreads
/// pay the spread charge on the delta netted across their expiries; legs of one tenor (a
/// call delta-hedged with the future of its expiry) pay none.
#[test]
fn legs_of_different_tenors_pay_the_spread_and_legs_of_one_tenor_do_not() {
    let market = market(&[with_basis(0.0)]);
    let charge = |book: &[Position]| margin(&market, &[], book).unwrap().breakdown[0].basis_charge;
    let near = charge(&[
        linear(future_in_days(30), 100),
        linear(future_in_days(31), -100),
    ]);
    let far = charge(&[
        linear(future_in_days(30), 100),
        linear(future_in_days(180), -100),
    ]);
    let spread = (0.005 * 100.0 * 150_000_000.0) as i64;
    assert!(near >= spread && near < spread + spread / 2, "{near}");
    assert!(far > near + spread, "{far} vs {near}");
    // Short 7-day / long 90-day call: the deltas net across two expiries.
    let mut short_near = option_position(OptionKind::Call, 1.0, 7.0, 150_000_000);
    short_near.size = -100;
    let mut long_far = option_position(OptionKind::Call, 1.0, 90.0, 150_000_000);
    long_far.size = 100;
    assert!(charge(&[short_near, long_far]) > 0);
    // A 30-day call against the 30-day future: one tenor, only the future's own carry.
    let mut call = option_position(OptionKind::Call, 1.0, 30.0, 150_000_000);
    call.size = 100;
    let hedge = linear(future_in_days(30), -50);
    assert_eq!(charge(&[call, hedge]), charge(&[hedge]));
}

/// `MAX_TENORS` tenors on one underlying are margined; an exposure refuses one more by name,
/// before changing anything.
#[test]
fn more_tenors_than_an_exposure_holds_are_refused() {
    let market = market(&[with_basis(0.0)]);
    let mut book: Vec<Position> = (1..MAX_TENORS as i64)
        .map(|day| linear(future_in_days(day), 1))
        .collect();
    book.push(linear(Instrument::Perpetual, -7));
    assert!(margin(&market, &[], &book).is_ok());
    let mut ninth = book.clone();
    ninth.push(linear(future_in_days(400), 1));
    assert_eq!(
        margin(&market, &[], &ninth).unwrap_err(),
        RiskError::CapacityExceeded
    );
    let risk = market.series_risk(&book[0]).unwrap();
    let mut exposure = Exposure::default();
    for (day, position) in book.iter().enumerate() {
        exposure
            .add(150_000_000, position.instrument.tenor(), &risk)
            .unwrap();
        assert_eq!(exposure.tenor_count as usize, day + 1);
    }
    let before = exposure;
    assert_eq!(
        exposure.add(150_000_000, NOW + 400 * DAY, &risk),
        Err(RiskError::CapacityExceeded)
    );
    assert_eq!(exposure, before);
}

#[test]
fn initial_health_in_band_values_collateral_low_and_charges_delta_for_the_band() {
    use xmargin_risk::price_band::initial_health_in_band;
    let spot = 150_000_000;
    let market = Market::new(
        &[underlying(spot, 0.8, 0.9, 0)],
        xmargin_risk_reference::fixtures::standard_params(),
        0,
    )
    .unwrap();
    let long_perp = Position {
        underlying: 0,
        instrument: Instrument::Perpetual,
        size: 10,
        cost_basis: 10 * spot as i64,
    };
    let sol = volatile_collateral(10_000_000_000, 0.15, 0);
    let report = margin(&market, &[sol], &[long_perp]).unwrap();
    let plain = report.init_health() as i128;
    // No band, low price = price: the engine's own initial health.
    assert_eq!(
        initial_health_in_band(
            &report,
            &report.breakdown,
            &[sol],
            &[sol.price],
            &[Fx::ZERO]
        )
        .unwrap(),
        plain
    );
    // A 1 % band on 1,500 USDC of delta costs 15 USDC (+1 unit of rounding cover, rounded up).
    let band = fx(0.01);
    let expected_charge =
        ((report.breakdown[0].net_delta as i128 + 1) * band.to_bits() as i128 + (1 << 32) - 1)
            >> 32;
    assert_eq!(
        initial_health_in_band(&report, &report.breakdown, &[sol], &[sol.price], &[band]).unwrap(),
        plain - expected_charge
    );
    // Collateral at a 10 % lower price loses 10 % of its initial weighted value.
    let low = fx(0.135);
    let at_low = Collateral { price: low, ..sol };
    let loss = weighted_value(&sol, Level::Initial).unwrap()
        - weighted_value(&at_low, Level::Initial).unwrap();
    assert!(loss > 0);
    assert_eq!(
        initial_health_in_band(&report, &report.breakdown, &[sol], &[low], &[Fx::ZERO]).unwrap(),
        plain - loss
    );
    // Wider bands never raise health.
    let mut previous = i128::MAX;
    for percent in [0.0, 0.001, 0.01, 0.05, 0.2] {
        let health = initial_health_in_band(
            &report,
            &report.breakdown,
            &[sol],
            &[sol.price],
            &[fx(percent)],
        )
        .unwrap();
        assert!(health <= previous);
        previous = health;
    }
    assert_eq!(
        initial_health_in_band(&report, &report.breakdown, &[sol], &[], &[band]),
        Err(RiskError::InvalidParameter)
    );
    assert_eq!(
        initial_health_in_band(
            &report,
            &report.breakdown,
            &[sol],
            &[sol.price],
            &[fx(-0.01)]
        ),
        Err(RiskError::InvalidParameter)
    );
    assert_eq!(
        initial_health_in_band(&report, &report.breakdown, &[sol], &[sol.price], &[]),
        Err(RiskError::UnknownUnderlying)
    );
}

#[test]
fn grid_constants_round_trip_through_words_and_rebuild_the_same_market() {
    use xmargin_risk::grid::GRID_WORDS;
    use xmargin_risk::portfolio::UnderlyingConstants;
    let u = underlying(150_000_000, 0.8, 0.7, 0);
    let constants = UnderlyingConstants::new(&u).unwrap();
    let words = constants.grid.to_words();
    assert_eq!(GridConstants::from_words(&words).unwrap(), constants.grid);
    let params = xmargin_risk_reference::fixtures::standard_params();
    let direct = Market::new(&[u], params, 0).unwrap();
    let cached = Market::with_constants(&[u], &[constants], params, 0).unwrap();
    assert_eq!((direct.grids, direct.spans), (cached.grids, cached.spans));
    // The stored ladder (weights, segment bounds) is never trusted: it is derived from the
    // moves, so corrupting it changes nothing, while a corrupted move does.
    let mut corrupt = words;
    let first_range = GRID_WORDS - 5 - 2 * CORE_NODES;
    corrupt[first_range + 1] = SEGMENTS as i64 + 1;
    corrupt[first_range - 1] = i64::MIN;
    assert_eq!(GridConstants::from_words(&corrupt).unwrap(), constants.grid);
    corrupt[0] += 1;
    assert_ne!(GridConstants::from_words(&corrupt).unwrap(), constants.grid);
    for node in 0..CORE_NODES {
        let (start, end) = xmargin_risk::grid::segment_range(node);
        for segment in 0..SEGMENTS {
            let weight = constants.grid.segment_weight(node, segment).unwrap();
            assert_eq!(
                weight != Fx::ZERO,
                (start..end).contains(&segment),
                "{node} {segment}"
            );
        }
    }
    assert_eq!(
        Market::with_constants(&[u], &[], params, 0).map(|_| ()),
        Err(RiskError::InvalidParameter)
    );
}

/// A settled series is a fixed claim: worth size x payoff exactly in every scenario, with no
/// short-option minimum.
#[test]
fn a_settled_series_is_worth_its_payoff_in_every_scenario() {
    use xmargin_risk::series::settled;
    use xmargin_risk::PricedPosition;
    let mut u = underlying(150_000_000, 0.8, 0.9, 0);
    u.short_option_minimum = fx(0.01);
    let market = market(&[u]);
    let call = option_position(OptionKind::Call, 1.0, 30.0, 150_000_000);
    for (size, payoff) in [(-7i64, 12_345_678u64), (5, 0), (3, 160_000_000)] {
        let position = Position {
            size,
            cost_basis: 0,
            ..call
        };
        let priced = [PricedPosition {
            position,
            risk: settled(payoff),
        }];
        let report = xmargin_risk::margin_priced(&market, &[], &priced).unwrap();
        assert_eq!(report.unrealized_pnl as i128, size as i128 * payoff as i128);
        assert_eq!(report.maintenance, 0, "size {size} payoff {payoff}");
    }
}
