//! Windowed (cached) series risk against exact f64 repricing at random points of the window.
mod common;

use common::*;
use proptest::prelude::*;
use xmargin_risk::bs::{OptionKind, SECONDS_PER_YEAR};
use xmargin_risk::grid::{GridConstants, CORE_NODES, DOWN, EXTENDED_DOWN_NODE, UP};
use xmargin_risk::series::{effective_vol_shocks, option_vol, series_risk, SeriesRisk};
use xmargin_risk::window::{cacheable, windowed_series_risk, RiskWindow};
use xmargin_risk::{Instrument, Underlying};
use xmargin_risk_reference::bs::value;

/// A random underlying, option and window, and a random point inside the window.
fn case() -> impl Strategy<Value = (Underlying, Instrument, RiskWindow, u64, i64)> {
    book_strategy()
        .prop_filter_map("an option", |(underlyings, positions)| {
            positions.iter().find_map(|p| match p.instrument {
                Instrument::Option { kind, .. }
                    if cacheable(kind, underlyings[p.underlying as usize].rate) =>
                {
                    Some((underlyings[p.underlying as usize], p.instrument))
                }
                _ => None,
            })
        })
        .prop_flat_map(|(underlying, instrument)| {
            (0u16..=300, 0u32..=3_600).prop_flat_map(move |(tolerance, age)| {
                let window = RiskWindow::around(underlying.spot, tolerance, NOW, age).unwrap();
                (
                    Just(underlying),
                    Just(instrument),
                    Just(window),
                    window.spot_low..=window.spot_high,
                    window.from..=window.until,
                )
            })
        })
}

/// Exact value / reference spot of one contract at `spot_ratio` x spot, at `now`, with the
/// engine's volatility at `spot` shifted by the effective shock `shock` (-1, 0, 1).
fn exact(
    u: &Underlying,
    grid: &GridConstants,
    i: &Instrument,
    spot: u64,
    ratio: f64,
    now: i64,
    shock: i32,
) -> f64 {
    let Instrument::Option {
        kind,
        strike,
        expiry,
    } = *i
    else {
        unreachable!()
    };
    let at = Underlying { spot, ..*u };
    let vol = option_vol(&at, strike).unwrap();
    let (down, up) = effective_vol_shocks(vol, grid).unwrap();
    let shifted = vol.to_num::<f64>()
        + match shock {
            -1 => -down.to_num::<f64>(),
            1 => up.to_num::<f64>(),
            _ => 0.0,
        };
    let years = (expiry - now).max(0) as f64 / SECONDS_PER_YEAR as f64;
    value(
        kind,
        spot as f64 * ratio,
        strike as f64,
        years,
        shifted,
        u.rate.to_num(),
    )
}

fn close_below(bound: f64, exact: f64) -> bool {
    bound <= exact + 1e-9 * (1.0 + exact.abs())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Every value the engine bounds, at any spot and time in the window, lies within the
    /// windowed bounds: the mark, the 27 core scenario values and the two extended moves.
    #[test]
    fn windowed_bounds_contain_exact_values((u, i, w, spot, now) in case()) {
        let grid = GridConstants::new(&u.grid).unwrap();
        let risk = windowed_series_risk(&u, &grid, &i, &w).unwrap();
        prop_assert_eq!(risk.spot, w.spot_high);
        let scale = w.spot_high as f64;
        let mark = exact(&u, &grid, &i, spot, 1.0, now, 0) / scale;
        prop_assert!(close_below(risk.mark_low.to_num(), mark), "mark_low {} > {}", risk.mark_low, mark);
        prop_assert!(close_below(mark, risk.mark_high.to_num()), "mark_high {} < {}", risk.mark_high, mark);
        for node in 0..CORE_NODES {
            let ratio = 1.0 + grid.moves[node].to_num::<f64>();
            for (shock, low, high) in [
                (0, 0.0, 0.0),
                (-1, risk.vol_pnl_min[node][DOWN].to_num(), risk.vol_pnl_max[node][DOWN].to_num()),
                (1, risk.vol_pnl_min[node][UP].to_num(), risk.vol_pnl_max[node][UP].to_num()),
            ] {
                let v = exact(&u, &grid, &i, spot, ratio, now, shock) / scale;
                let lower = (risk.mark_low + risk.price_low[node]).to_num::<f64>() + low;
                let upper = (risk.mark_high + risk.price_high[node]).to_num::<f64>() + high;
                prop_assert!(close_below(lower, v), "node {} shock {}: {} > {}", node, shock, lower, v);
                prop_assert!(close_below(v, upper), "node {} shock {}: {} < {}", node, shock, upper, v);
            }
        }
        for side in 0..2 {
            let ratio = 1.0 + grid.moves[EXTENDED_DOWN_NODE + side].to_num::<f64>();
            let v = exact(&u, &grid, &i, spot, ratio, now, 0) / scale;
            prop_assert!(close_below(risk.extended_low[side].to_num(), v), "ext {} {} > {}", side, risk.extended_low[side], v);
            prop_assert!(close_below(v, risk.extended_high[side].to_num()));
        }
    }
}

/// A window of zero width and age is the live risk up to the vol slack (the corner bounds move
/// by less than 1e-7 of spot; both are valid bounds, the property test checks that).
#[test]
fn zero_window_equals_live_risk() {
    let u = xmargin_risk_reference::fixtures::underlying(30_000.0, 0.6, 1.0);
    let grid = GridConstants::new(&u.grid).unwrap();
    for kind in [OptionKind::Call, OptionKind::Put] {
        for strike in [u.spot / 2, u.spot, u.spot * 3 / 2] {
            let i = Instrument::Option {
                kind,
                strike,
                expiry: NOW + 30 * DAY,
            };
            let w = RiskWindow::around(u.spot, 0, NOW, 0).unwrap();
            let live = series_risk(&u, &grid, &i, NOW).unwrap();
            let cached = windowed_series_risk(&u, &grid, &i, &w).unwrap();
            assert_eq!(cached.spot, u.spot);
            assert_eq!(
                (cached.mark, cached.delta, cached.theta),
                (live.mark, live.delta, live.theta)
            );
            let near =
                |a: xmargin_risk::Fx, b: xmargin_risk::Fx| (a - b).abs().to_num::<f64>() < 1e-7;
            assert!(near(cached.mark_low, live.mark_low) && near(live.mark_high, cached.mark_high));
            for node in 0..CORE_NODES {
                let low = |r: &SeriesRisk, s: usize| {
                    r.mark_low + r.price_low[node] + r.vol_pnl_min[node][s]
                };
                let high = |r: &SeriesRisk, s: usize| {
                    r.mark_high + r.price_high[node] + r.vol_pnl_max[node][s]
                };
                for s in [DOWN, UP] {
                    assert!(
                        near(low(&cached, s), low(&live, s)),
                        "{kind:?} {strike} node {node}"
                    );
                    assert!(
                        near(high(&live, s), high(&cached, s)),
                        "{kind:?} {strike} node {node}"
                    );
                }
            }
        }
    }
}

/// Perps, futures and options whose value is not monotone in time are refused.
#[test]
fn only_time_monotone_options_are_windowed() {
    let mut u = xmargin_risk_reference::fixtures::underlying(100.0, 0.5, 1.0);
    let grid = GridConstants::new(&u.grid).unwrap();
    let w = RiskWindow::around(u.spot, 10, NOW, 60).unwrap();
    assert!(windowed_series_risk(&u, &grid, &Instrument::Perpetual, &w).is_err());
    u.rate = xmargin_risk::fx::fx_ratio(5, 100);
    let put = Instrument::Option {
        kind: OptionKind::Put,
        strike: u.spot,
        expiry: NOW + DAY,
    };
    assert!(windowed_series_risk(&u, &grid, &put, &w).is_err());
    let outside = RiskWindow {
        spot_low: u.spot + 1,
        ..w
    };
    let call = Instrument::Option {
        kind: OptionKind::Call,
        strike: u.spot,
        expiry: NOW + DAY,
    };
    assert!(windowed_series_risk(&u, &grid, &call, &outside).is_err());
    assert!(windowed_series_risk(&u, &grid, &call, &w).is_ok());
}

/// Wider windows cost margin: a long call's windowed low mark falls as the window widens.
#[test]
fn wider_windows_are_more_conservative() {
    let u = xmargin_risk_reference::fixtures::underlying(30_000.0, 0.6, 1.0);
    let grid = GridConstants::new(&u.grid).unwrap();
    let i = Instrument::Option {
        kind: OptionKind::Call,
        strike: u.spot,
        expiry: NOW + 7 * DAY,
    };
    let marks: Vec<_> = [0u16, 10, 50, 200]
        .iter()
        .map(|bps| {
            let w = RiskWindow::around(u.spot, *bps, NOW, 60).unwrap();
            let r = windowed_series_risk(&u, &grid, &i, &w).unwrap();
            // Quote value of one contract at the window's low and high marks.
            (
                r.mark_low.to_num::<f64>() * r.spot as f64,
                r.mark_high.to_num::<f64>() * r.spot as f64,
            )
        })
        .collect();
    for pair in marks.windows(2) {
        assert!(pair[1].0 < pair[0].0 && pair[1].1 > pair[0].1, "{marks:?}");
    }
}

/// What an account stores is what comes back; malformed words are refused.
#[test]
fn series_risk_words_round_trip() {
    use xmargin_risk::series::SERIES_RISK_WORDS;
    let u = xmargin_risk_reference::fixtures::underlying(2_000.0, 0.8, 1.0);
    let grid = GridConstants::new(&u.grid).unwrap();
    let i = Instrument::Option {
        kind: OptionKind::Put,
        strike: u.spot * 9 / 10,
        expiry: NOW + 3 * DAY,
    };
    let w = RiskWindow::around(u.spot, 30, NOW, 120).unwrap();
    let option = windowed_series_risk(&u, &grid, &i, &w).unwrap();
    let perp = series_risk(&u, &grid, &Instrument::Perpetual, NOW).unwrap();
    for risk in [option, perp] {
        assert_eq!(SeriesRisk::from_words(&risk.to_words()).unwrap(), risk);
    }
    // The check a margin check makes before decoding a cache entry where it uses it.
    assert!(SeriesRisk::words_describe_option(&option.to_words()));
    assert!(!SeriesRisk::words_describe_option(&perp.to_words()));
    let mut words = [0i64; SERIES_RISK_WORDS];
    words[0] = 2;
    assert!(SeriesRisk::from_words(&words).is_err());
    assert!(!SeriesRisk::words_describe_option(&words));
    words[0] = 1;
    words[1] = -1;
    assert!(SeriesRisk::from_words(&words).is_err());
    assert!(!SeriesRisk::words_describe_option(&words));
    words[1] = 0;
    assert!(SeriesRisk::from_words(&words).is_ok());
    assert!(SeriesRisk::words_describe_option(&words));
}
