mod common;

use common::*;
use xmargin_risk::bs::OptionKind;
use xmargin_risk::liquidation::{
    after_position_transfer, collateral_discount, collateral_for_deficit, collateral_swap_gain,
    health_at_end_level, position_for_end_level, smallest_sufficient,
};
use xmargin_risk::portfolio::PricedPosition;
use xmargin_risk::{margin_priced, Fx, Instrument, Position, RiskError, Underlying, VolSurface};

const SPOT: u64 = 150_000_000; // 150 USDC per contract, 6 decimals

fn sol() -> Underlying {
    Underlying {
        spot: SPOT,
        surface: VolSurface::flat(fx(0.8)),
        rate: fx(0.0),
        grid: standard_grid(),
        correlation_group: 0,
        beta: fx(0.9),
        concentration_threshold: u64::MAX / 4,
        short_option_minimum: Fx::ZERO,
        basis_shock: Fx::ZERO,
        calendar_spread_minimum: Fx::ZERO,
    }
}

#[test]
fn collateral_amount_is_the_exact_minimum() {
    let asset = volatile_collateral(2_000_000_000, 0.15, 50_000_000);
    let discount = fx(0.05);
    for deficit in [1i128, 1_000, 7_654_321, 20_000_000] {
        let amount = collateral_for_deficit(&asset, deficit, discount)
            .unwrap()
            .expect("enough collateral");
        assert!(collateral_swap_gain(&asset, amount, discount).unwrap() >= deficit);
        assert!(collateral_swap_gain(&asset, amount - 1, discount).unwrap() < deficit);
    }
}

#[test]
fn collateral_refusals_are_named() {
    let asset = volatile_collateral(1_000, 0.15, 0);
    // 1 - discount - weight <= 0: taking collateral cannot raise health.
    assert_eq!(
        collateral_for_deficit(&asset, 10, fx(0.1)),
        Err(RiskError::NoLiquidationSolution)
    );
    // Not enough collateral to cover the deficit.
    assert_eq!(
        collateral_for_deficit(&asset, 1_000_000, fx(0.05)),
        Ok(None)
    );
    assert_eq!(collateral_for_deficit(&asset, 0, fx(0.05)), Ok(Some(0)));
    assert_eq!(
        smallest_sufficient(0, |_| Ok(0)),
        Err(RiskError::NoLiquidationSolution)
    );
}

#[test]
fn search_finds_the_threshold_of_a_monotone_health() {
    for threshold in [1u64, 2, 17, 999, 1000] {
        let found = smallest_sufficient(1000, |q| Ok(q as i128 - threshold as i128)).unwrap();
        assert_eq!(found, Some(threshold));
    }
    assert_eq!(
        smallest_sufficient(10, |q| Ok(q as i128 - 11)).unwrap(),
        None
    );
}

proptest::proptest! {
    /// The ternary search reaches the highest health of any concave health (a peak with
    /// slopes of either steepness, plateaus included), as a scan of every amount does.
    #[test]
    fn the_healthiest_amount_is_the_peak_of_a_concave_health(
        max in 1u64..3_000,
        peak in 0u64..3_200,
        rise in 0i128..50,
        fall in 0i128..50,
        plateau in 0u64..20,
    ) {
        let health = |q: u64| -> i128 {
            let (q, peak) = (q as i128, peak as i128);
            if q < peak {
                -rise * (peak - q)
            } else {
                -fall * (q - peak - plateau as i128).max(0)
            }
        };
        let mut evaluations = 0;
        let found = xmargin_risk::liquidation::healthiest(max, |q| {
            evaluations += 1;
            Ok(health(q))
        })
        .unwrap();
        let best = (1..=max).map(health).max().unwrap();
        proptest::prop_assert!((1..=max).contains(&found));
        proptest::prop_assert_eq!(health(found), best);
        proptest::prop_assert!(evaluations <= 45, "{evaluations}");
    }
}

#[test]
fn closing_part_of_a_naked_short_call_restores_the_end_level() {
    let market = market(&[sol()]);
    let call = Position {
        underlying: 0,
        instrument: Instrument::Option {
            kind: OptionKind::Call,
            strike: 160_000_000,
            expiry: NOW + 14 * DAY,
        },
        size: -400,
        cost_basis: 0,
    };
    let risk = market.series_risk(&call).unwrap();
    let positions = [PricedPosition {
        position: call,
        risk,
    }];
    let collateral = [usdc(4_000_000_000)];
    let before = margin_priced(&market, &collateral, &positions).unwrap();
    let end_fraction = fx(0.5);
    assert!(
        before.maint_health() < 0,
        "book must start unhealthy: {before:?}"
    );
    let discount = fx(0.01);
    let q = position_for_end_level(
        &market,
        &collateral,
        &positions,
        0,
        0,
        discount,
        end_fraction,
    )
    .unwrap()
    .expect("closing the whole position is enough");
    let health = |q: u64| {
        let (c, p) =
            after_position_transfer(&market, &collateral, &positions, 0, 0, q, discount).unwrap();
        health_at_end_level(&margin_priced(&market, &c, &p).unwrap(), end_fraction).unwrap()
    };
    assert!(health(q) >= 0);
    assert!(health(q - 1) < 0);
    assert!(q < 400, "a partial close suffices, got {q}");
    // Each contract taken raises health: the fee is smaller than the risk released.
    assert!(health(q) > health_at_end_level(&before, end_fraction).unwrap());
}

#[test]
fn transfer_moves_the_fee_and_keeps_sizes_consistent() {
    let market = market(&[sol()]);
    let perp = Position {
        underlying: 0,
        instrument: Instrument::Perpetual,
        size: 10,
        cost_basis: 10 * 140_000_000,
    };
    let positions = [PricedPosition {
        position: perp,
        risk: market.series_risk(&perp).unwrap(),
    }];
    let collateral = [usdc(100_000_000)];
    let (c, p) =
        after_position_transfer(&market, &collateral, &positions, 0, 0, 4, fx(0.02)).unwrap();
    assert_eq!(p[0].position.size, 6);
    assert_eq!(p[0].position.cost_basis, 6 * 140_000_000);
    // Realised: 4 x (150 - 140) USDC minus a 2 % fee on 4 x 150 USDC, the fee rounded up.
    let fee_bits = 600_000_000i128 * fx(0.02).to_bits() as i128;
    let fee = (fee_bits + (1 << 32) - 1) >> 32;
    assert!(fee >= 12_000_000);
    assert_eq!(c[0].amount as i128, 100_000_000 + 40_000_000 - fee);
    assert_eq!(
        after_position_transfer(&market, &collateral, &positions, 0, 0, 11, fx(0.02)).err(),
        Some(RiskError::NoLiquidationSolution)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// The incremental search (only the position's own underlying re-evaluated per trial) finds
    /// the same quantity as re-margining the whole transferred book at every trial, whichever
    /// position of a random book is liquidated, with cached (windowed) option risk too.
    #[test]
    fn incremental_sizing_equals_full_re_margining(
        (underlyings, positions) in book_strategy(),
        pick in 0usize..10,
        cash in 0i64..50_000_000_000,
        windowed in proptest::bool::ANY,
    ) {
        use xmargin_risk::window::{cacheable, windowed_series_risk, RiskWindow};
        let market = market(&underlyings);
        let priced: Vec<PricedPosition> = positions
            .iter()
            .map(|p| {
                let u = &underlyings[p.underlying as usize];
                let risk = match p.instrument {
                    Instrument::Option { kind, .. } if windowed && cacheable(kind, u.rate) => {
                        let w = RiskWindow::around(u.spot, 40, NOW, 120).unwrap();
                        windowed_series_risk(u, &market.grids[p.underlying as usize], &p.instrument, &w)
                            .unwrap()
                    }
                    _ => market.series_risk(p).unwrap(),
                };
                PricedPosition { position: *p, risk }
            })
            .collect();
        let index = pick % priced.len();
        let collateral = [usdc(cash)];
        let (discount, end_fraction) = (fx(0.02), fx(0.5));
        let fast = position_for_end_level(&market, &collateral, &priced, 0, index, discount, end_fraction);
        let full = smallest_sufficient(priced[index].position.size.unsigned_abs(), |q| {
            let (c, p) = after_position_transfer(&market, &collateral, &priced, 0, index, q, discount)?;
            health_at_end_level(&margin_priced(&market, &c, &p)?, end_fraction)
        });
        proptest::prop_assert_eq!(fast, full);
        // Bounded by a liquidator's maximum: the answer when it is within the bound (found in
        // two evaluations when the bound is the answer itself), else None.
        let held = priced[index].position.size.unsigned_abs();
        let mut book = xmargin_risk::portfolio::Book::new(market.underlyings.len());
        for p in &priced {
            book.add(&market, p).unwrap();
        }
        let results = book.results(&market).unwrap();
        let account = xmargin_risk::liquidation::EvaluatedBook {
            book: &book,
            results: &results,
            collateral: &collateral,
            quote_index: 0,
        };
        let bounded = |max: u64| xmargin_risk::liquidation::quantity_for_end_level(
            &market, &account, &priced[index], max, discount, end_fraction,
        );
        if let Ok(Some(needed)) = full {
            proptest::prop_assert_eq!(bounded(needed), Ok(Some(needed)));
            proptest::prop_assert_eq!(bounded(held), Ok(Some(needed)));
            if needed > 1 {
                proptest::prop_assert_eq!(bounded(needed - 1), Ok(None));
            }
        }
    }
}

proptest::proptest! {
    /// Whatever the fee and the listing, a sale of collateral weighted below 1 at its capped
    /// discount strictly raises the seller's maintenance health, and never pays more than the fee.
    #[test]
    fn every_collateral_sale_at_its_discount_raises_health(
        weight_ppm in 0u32..1_000_000,
        fee_bps in 0u32..10_000,
        units in 1u64..1_000_000_000,
    ) {
        let weight = Fx::from_bits(((weight_ppm as i128) << 32).div_euclid(1_000_000) as i64);
        let fee = Fx::from_bits(((fee_bps as i128) << 32).div_euclid(10_000) as i64);
        let discount = collateral_discount(fee, weight).unwrap();
        proptest::prop_assert!(discount >= Fx::ZERO && discount <= fee);
        let mut asset = volatile_collateral(units as i64, 0.15, 0);
        asset.maint_asset_weight = weight;
        asset.init_asset_weight = weight;
        // A sale whose gain is worth a few quote units: a smaller one rounds to no change.
        let haircut_ppm = 1_000_000 - weight_ppm as i128;
        if money(&asset, units) * haircut_ppm / 2_000_000 >= 4 {
            proptest::prop_assert!(collateral_swap_gain(&asset, units, discount).unwrap() > 0);
        }
    }
}

/// Value of `units` of `asset` in quote units (floor).
fn money(asset: &xmargin_risk::Collateral, units: u64) -> i128 {
    (units as i128 * asset.price.to_bits() as i128) >> 32
}

/// The basis trade below maintenance: no single-leg step raises health (each leg alone
/// needs far more margin than the pair), while the pair step does, to the end level, at a fee
/// on the requirement it releases; its report equals re-margining the transferred book.
#[test]
fn a_hedged_pair_no_single_leg_can_reduce_is_taken_as_a_pair() {
    use xmargin_risk::liquidation::PairLiquidation;
    let mut u = sol();
    u.basis_shock = fx(0.10);
    u.calendar_spread_minimum = fx(0.005);
    let market = market(&[u]);
    let leg = |instrument, size: i64| {
        let position = Position {
            underlying: 0,
            instrument,
            size,
            cost_basis: size * SPOT as i64,
        };
        PricedPosition {
            position,
            risk: market.series_risk(&position).unwrap(),
        }
    };
    let priced = [
        leg(Instrument::Perpetual, 2_000),
        leg(
            Instrument::Future {
                expiry: NOW + 30 * DAY,
            },
            -2_000,
        ),
    ];
    let requirement = margin_priced(&market, &[usdc(0)], &priced)
        .unwrap()
        .maintenance;
    assert!(requirement > 4_000_000_000, "{requirement}");
    // Funding paid away: equity at 90 % of maintenance.
    let collateral = [usdc(requirement * 9 / 10)];
    let before = margin_priced(&market, &collateral, &priced).unwrap();
    assert!(before.maint_health() < 0);
    let (discount, end_fraction) = (fx(0.025), fx(0.5));
    for index in 0..2 {
        for quantity in [1, 1_000, 2_000] {
            let (c, p) = after_position_transfer(
                &market,
                &collateral,
                &priced,
                0,
                index,
                quantity,
                discount,
            )
            .unwrap();
            let after = margin_priced(&market, &c, &p).unwrap();
            assert!(
                after.maint_health() < before.maint_health(),
                "leg {index} x {quantity}"
            );
        }
    }
    let mut book = xmargin_risk::portfolio::Book::new(1);
    for p in &priced {
        book.add(&market, p).unwrap();
    }
    let results = book.results(&market).unwrap();
    let mut pair = PairLiquidation::new(
        &market,
        &mut book,
        &results,
        &collateral,
        0,
        [&priced[0], &priced[1]],
        discount,
    )
    .unwrap();
    let quantity = pair
        .quantity_for_end_level(2_000, end_fraction)
        .unwrap()
        .expect("the whole pair restores the end level");
    assert!(quantity > 0 && quantity < 2_000, "{quantity}");
    let (step, report) = pair.step(quantity).unwrap();
    assert!(health_at_end_level(&report, end_fraction).unwrap() >= 0);
    let (_, short_of_it) = pair.step(quantity - 1).unwrap();
    assert!(health_at_end_level(&short_of_it, end_fraction).unwrap() < 0);
    assert_eq!(step.legs[0].moved, quantity as i64);
    assert_eq!(step.legs[1].moved, -(quantity as i64));
    // Re-margining the transferred book from scratch gives the same report.
    let mut moved = priced;
    for (p, leg) in moved.iter_mut().zip(step.legs) {
        p.position.size -= leg.moved;
        p.position.cost_basis -= leg.moved * SPOT as i64;
    }
    let realised: i128 = step
        .legs
        .iter()
        .map(|l| l.value - l.moved as i128 * SPOT as i128)
        .sum();
    let quote = usdc((collateral[0].amount as i128 + realised - step.fee) as i64);
    let fresh = margin_priced(&market, &[quote], &moved).unwrap();
    assert_eq!(fresh.maint_health(), report.maint_health());
    // The fee is the discount on the maintenance released, rounded up.
    let released = (before.maintenance - fresh.maintenance) as i128;
    assert!(released > 0);
    assert_eq!(
        step.fee,
        (released * discount.to_bits() as i128 + (1 << 32) - 1) >> 32
    );
    // Planning leaves the book as it was.
    pair.restore().unwrap();
    let mut fresh_book = xmargin_risk::portfolio::Book::new(1);
    for p in &priced {
        fresh_book.add(&market, p).unwrap();
    }
    assert_eq!(
        book.results(&market).unwrap(),
        fresh_book.results(&market).unwrap()
    );
    // The same position twice is no pair.
    assert_eq!(
        PairLiquidation::new(
            &market,
            &mut book,
            &results,
            &collateral,
            0,
            [&priced[0], &priced[0]],
            discount
        )
        .err(),
        Some(RiskError::NoLiquidationSolution)
    );
}

/// The fuzzer's stuck account, in the engine: a SOL leg hedged by a BTC leg through their
/// correlation group. Neither leg alone raises health; the pair (the same fraction of each)
/// does, and its report equals re-margining the transferred book from scratch.
#[test]
fn a_hedge_across_two_underlyings_is_taken_as_a_proportional_pair() {
    use xmargin_risk::liquidation::PairLiquidation;
    let mut other = sol();
    other.spot = 100_000_000;
    let market = market(&[sol(), other]);
    let leg = |underlying: u8, size: i64| {
        let spot = market.underlyings[underlying as usize].spot as i64;
        let position = Position {
            underlying,
            instrument: Instrument::Perpetual,
            size,
            cost_basis: size * spot,
        };
        PricedPosition {
            position,
            risk: market.series_risk(&position).unwrap(),
        }
    };
    let priced = [leg(0, 1_000), leg(1, -1_500)];
    let requirement = margin_priced(&market, &[usdc(0)], &priced)
        .unwrap()
        .maintenance;
    let collateral = [usdc(requirement * 9 / 10)];
    let before = margin_priced(&market, &collateral, &priced).unwrap();
    assert!(before.maint_health() < 0);
    let (discount, end_fraction) = (fx(0.025), fx(0.5));
    for index in 0..2 {
        let held = priced[index].position.size.unsigned_abs();
        for quantity in [1, held / 2, held] {
            let (c, p) = after_position_transfer(
                &market,
                &collateral,
                &priced,
                0,
                index,
                quantity,
                discount,
            )
            .unwrap();
            let after = margin_priced(&market, &c, &p).unwrap();
            assert!(
                after.maint_health() < before.maint_health(),
                "leg {index} x {quantity}"
            );
        }
    }
    let mut book = xmargin_risk::portfolio::Book::new(2);
    for p in &priced {
        book.add(&market, p).unwrap();
    }
    let results = book.results(&market).unwrap();
    let mut pair = PairLiquidation::new(
        &market,
        &mut book,
        &results,
        &collateral,
        0,
        [&priced[0], &priced[1]],
        discount,
    )
    .unwrap();
    let quantity = pair
        .quantity_for_end_level(1_000, end_fraction)
        .unwrap()
        .expect("the whole pair restores the end level");
    let (step, report) = pair.step(quantity).unwrap();
    assert!(health_at_end_level(&report, end_fraction).unwrap() >= 0);
    assert!(report.maint_health() > before.maint_health());
    assert_eq!(step.legs[0].moved, quantity as i64);
    // The second leg in proportion, rounded up: both legs always move.
    assert_eq!(
        step.legs[1].moved,
        -((quantity * 1_500).div_ceil(1_000) as i64)
    );
    let (one, _) = pair.step(1).unwrap();
    assert_eq!((one.legs[0].moved, one.legs[1].moved), (1, -2));
    let mut moved = priced;
    let mut realised: i128 = 0;
    for (p, l) in moved.iter_mut().zip(step.legs) {
        let spot = market.underlyings[p.position.underlying as usize].spot as i64;
        p.position.size -= l.moved;
        p.position.cost_basis -= l.moved * spot;
        realised += l.value - l.moved as i128 * spot as i128;
    }
    let quote = usdc((collateral[0].amount as i128 + realised - step.fee) as i64);
    let fresh = margin_priced(&market, &[quote], &moved).unwrap();
    assert_eq!(fresh.maint_health(), report.maint_health());
    let released = (before.maintenance - fresh.maintenance) as i128;
    assert_eq!(
        step.fee,
        (released * discount.to_bits() as i128 + (1 << 32) - 1) >> 32
    );
    // Never more than the two legs' single-step fees.
    let single: i128 = step
        .legs
        .iter()
        .map(|l| (l.value.abs() * discount.to_bits() as i128 + (1 << 32) - 1) >> 32)
        .sum();
    assert!(step.fee <= single, "{} > {single}", step.fee);
    // All of the first leg takes all of the second.
    let (whole, _) = pair.step(1_000).unwrap();
    assert_eq!(whole.legs[1].moved, -1_500);
    pair.restore().unwrap();
    // Legs that do not hedge each other (both long delta) are no pair: each reduces alone.
    let both_long = [priced[0], leg(1, 1_500)];
    assert_eq!(
        PairLiquidation::new(
            &market,
            &mut book,
            &results,
            &collateral,
            0,
            [&both_long[0], &both_long[1]],
            discount
        )
        .err(),
        Some(RiskError::NoLiquidationSolution)
    );
}
