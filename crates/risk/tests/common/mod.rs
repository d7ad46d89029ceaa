//! Random markets and books for the property tests.
#![allow(dead_code, unused_imports)]

use proptest::prelude::*;
use xmargin_risk::bs::OptionKind;
use xmargin_risk::{
    Collateral, Fx, Instrument, Market, Position, ScenarioGrid, Underlying, VolSurface,
};

pub use xmargin_risk_reference::fixtures::{fx, standard_grid, standard_params, DAY, NOW};

fn underlying_strategy(group: u8) -> impl Strategy<Value = Underlying> {
    (
        1_000u64..2_000_000_000,
        0.2f64..1.5,
        -0.3f64..0.3,
        0.0f64..0.5,
        prop_oneof![Just(0.0), -0.02f64..0.08],
        0.03f64..0.3,
        0.0f64..0.3,
        0.0f64..0.3,
        (0.0f64..=1.0, 0.0f64..0.02),
    )
        .prop_map(
            move |(spot, atm, skew, smile, rate, range, down, up, (beta, minimum))| Underlying {
                spot,
                surface: VolSurface {
                    atm: fx(atm),
                    skew: fx(skew),
                    smile: fx(smile),
                    min: fx(0.05),
                    max: fx(3.0),
                },
                rate: fx(rate),
                grid: ScenarioGrid {
                    price_range: fx(range),
                    vol_down: fx(down),
                    vol_up: fx(up),
                    extended_down: fx(range.max(0.5)),
                    extended_up: fx(range.max(1.0)),
                    extended_weight: fx(0.33),
                },
                correlation_group: group,
                beta: fx(beta),
                concentration_threshold: 1_000_000_000,
                short_option_minimum: fx(minimum),
                basis_shock: Fx::ZERO,
                calendar_spread_minimum: Fx::ZERO,
            },
        )
}

fn instrument_strategy(spot: u64) -> impl Strategy<Value = Instrument> {
    let expiry = prop_oneof![3_600i64..7 * DAY, 7 * DAY..365 * DAY];
    prop_oneof![
        1 => Just(Instrument::Perpetual),
        1 => expiry.clone().prop_map(|e| Instrument::Future { expiry: NOW + e }),
        4 => (any::<bool>(), 0.6f64..1.6, expiry).prop_map(move |(call, k, e)| Instrument::Option {
            kind: if call { OptionKind::Call } else { OptionKind::Put },
            strike: ((spot as f64) * k).round().max(1.0) as u64,
            expiry: NOW + e,
        }),
    ]
}

/// A market of 1–3 underlyings (groups drawn so some share a group) and a book of 1–10 positions.
pub fn book_strategy() -> impl Strategy<Value = (Vec<Underlying>, Vec<Position>)> {
    (1usize..=3, prop::collection::vec(0u8..2, 3))
        .prop_flat_map(|(count, groups)| {
            let underlyings: Vec<_> = (0..count).map(|i| underlying_strategy(groups[i])).collect();
            underlyings
        })
        .prop_flat_map(|underlyings| {
            let n = underlyings.len();
            let spots: Vec<u64> = underlyings.iter().map(|u| u.spot).collect();
            let positions = prop::collection::vec(
                (0..n).prop_flat_map(move |u| {
                    let spot = spots[u];
                    (
                        Just(u as u8),
                        instrument_strategy(spot),
                        prop_oneof![-100i64..=-1, 1i64..=100],
                        -1_000_000i64..1_000_000,
                    )
                        .prop_map(
                            |(underlying, instrument, size, cost_basis)| Position {
                                underlying,
                                instrument,
                                size,
                                cost_basis,
                            },
                        )
                }),
                1..=10,
            );
            (Just(underlyings), positions)
        })
}

pub fn market(underlyings: &[Underlying]) -> Market {
    Market::new(underlyings, standard_params(), NOW).expect("valid market")
}

pub fn usdc(amount: i64) -> Collateral {
    Collateral {
        amount,
        price: Fx::ONE,
        init_asset_weight: Fx::ONE,
        maint_asset_weight: Fx::ONE,
        init_liab_weight: Fx::ONE,
        maint_liab_weight: Fx::ONE,
        liquidity_depth: 0,
    }
}

pub fn volatile_collateral(amount: i64, price: f64, depth: u64) -> Collateral {
    Collateral {
        amount,
        price: fx(price),
        init_asset_weight: fx(0.8),
        maint_asset_weight: fx(0.9),
        init_liab_weight: fx(1.2),
        maint_liab_weight: fx(1.1),
        liquidity_depth: depth,
    }
}

/// Σ |size x spot| of a book, the scale of its rounding tolerance.
pub fn gross_notional(underlyings: &[Underlying], positions: &[Position]) -> f64 {
    positions
        .iter()
        .map(|p| (p.size as f64 * underlyings[p.underlying as usize].spot as f64).abs())
        .sum()
}
