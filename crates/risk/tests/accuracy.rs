//! Fixed-point Black–Scholes against the f64 closed form on a 40,000-point grid:
//! moneyness K/S 0.5–2, expiry 1 hour–1 year, volatility 5 %–300 %, rate 0 and 5 %, calls and puts.
//!
//! Tolerances: price error <= 1e-6 x spot. Each Greek: |error| <= 1e-5 x |reference| +
//! max(1e-8 x its natural scale, 2e-9) (scales: delta 1; gamma x S 1/(sigma sqrt T); vega / S
//! sqrt T; theta / S sigma / (2 sqrt T) + |r|), i.e. relative 1e-5 wherever the Greek is not near
//! zero, and absolute where it is: 1e-8 of its scale, but never below 2e-9 of spot, about eight
//! units in the last place of I32F32 (a Greek of 1e-7 x spot cannot carry 1e-5 relative precision
//! in 32 fraction bits).
use xmargin_risk::bs::{greeks, OptionInputs, OptionKind, SECONDS_PER_YEAR};
use xmargin_risk::series::MARK_ERROR;
use xmargin_risk::Fx;
use xmargin_risk_reference::bs as reference;

const HOUR: f64 = 3600.0;

#[derive(Default, Debug)]
struct Maxima {
    price_abs: f64,
    worst_ratio: [f64; 4],
    relative: [f64; 4],
    absolute_scaled: [f64; 4],
    points: usize,
}

fn log_space(lo: f64, hi: f64, n: usize, i: usize) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp()
}

#[test]
fn fixed_point_black_scholes_matches_f64_reference_on_the_grid() {
    let mut m = Maxima::default();
    for mi in 0..25 {
        let strike_over_spot = log_space(0.5, 2.0, 25, mi);
        for ti in 0..20 {
            let secs = log_space(HOUR, 365.0 * 24.0 * HOUR, 20, ti).round() as u64;
            for vi in 0..20 {
                let vol = log_space(0.05, 3.0, 20, vi);
                for rate in [0.0, 0.05] {
                    for kind in [OptionKind::Call, OptionKind::Put] {
                        check_point(&mut m, kind, strike_over_spot, secs, vol, rate);
                    }
                }
            }
        }
    }
    println!("accuracy over {} points: {m:#?}", m.points);
    assert!(m.points >= 10_000);
    assert!(m.price_abs <= 1e-6, "price error {}", m.price_abs);
    assert!(
        m.price_abs <= MARK_ERROR.to_num::<f64>(),
        "MARK_ERROR must cover the measured price error"
    );
    for (name, ratio) in ["delta", "gamma", "vega", "theta"]
        .iter()
        .zip(m.worst_ratio)
    {
        assert!(ratio <= 1.0, "{name}: error / tolerance = {ratio}");
    }
}

fn check_point(m: &mut Maxima, kind: OptionKind, k_over_s: f64, secs: u64, vol: f64, rate: f64) {
    let log_moneyness = Fx::from_num(-k_over_s.ln());
    let vol_fx = Fx::from_num(vol);
    let rate_fx = Fx::from_num(rate);
    let got = greeks(&OptionInputs {
        kind,
        log_moneyness,
        secs,
        vol: vol_fx,
        rate: rate_fx,
    })
    .unwrap();
    // The reference sees exactly the engine's (quantised) inputs.
    let (lm, t, v, r) = (
        log_moneyness.to_num::<f64>(),
        secs as f64 / SECONDS_PER_YEAR as f64,
        vol_fx.to_num::<f64>(),
        rate_fx.to_num::<f64>(),
    );
    let want = reference::greeks(kind, lm, t, v, r);
    m.points += 1;
    m.price_abs = m
        .price_abs
        .max((got.price.to_num::<f64>() - want.price).abs());
    let scales = [
        1.0,
        1.0 / (v * t.sqrt()),
        t.sqrt(),
        v / (2.0 * t.sqrt()) + r.abs(),
    ];
    let pairs = [
        (got.delta, want.delta),
        (got.gamma, want.gamma),
        (got.vega, want.vega),
        (got.theta, want.theta),
    ];
    for (i, ((g, w), scale)) in pairs.iter().zip(scales).enumerate() {
        let err = (g.to_num::<f64>() - w).abs();
        let tolerance = 1e-5 * w.abs() + (1e-8 * scale).max(2e-9);
        if err / tolerance > m.worst_ratio[i] && std::env::var("ACCURACY_DEBUG").is_ok() {
            eprintln!("greek {i}: {kind:?} K/S={k_over_s} secs={secs} vol={vol} rate={rate} got={g} want={w}");
        }
        m.worst_ratio[i] = m.worst_ratio[i].max(err / tolerance);
        if w.abs() >= 1e-3 * scale {
            m.relative[i] = m.relative[i].max(err / w.abs());
        } else {
            m.absolute_scaled[i] = m.absolute_scaled[i].max(err / scale);
        }
    }
}

#[test]
fn expiry_gives_intrinsic_value_and_step_delta() {
    let at = |kind, k_over_s: f64| {
        greeks(&OptionInputs {
            kind,
            log_moneyness: Fx::from_num(-k_over_s.ln()),
            secs: 0,
            vol: Fx::from_num(0.5),
            rate: Fx::ZERO,
        })
        .unwrap()
    };
    let itm_call = at(OptionKind::Call, 0.8);
    assert!((itm_call.price.to_num::<f64>() - 0.2).abs() < 1e-8);
    assert_eq!(itm_call.delta, Fx::ONE);
    assert_eq!(itm_call.gamma, Fx::ZERO);
    assert_eq!(at(OptionKind::Call, 1.25).price, Fx::ZERO);
    let itm_put = at(OptionKind::Put, 1.25);
    assert!((itm_put.price.to_num::<f64>() - 0.25).abs() < 1e-8);
    assert_eq!(itm_put.delta, -Fx::ONE);
    assert_eq!(at(OptionKind::Put, 0.8).delta, Fx::ZERO);
}

#[test]
fn extreme_but_valid_inputs_stay_finite_and_bounded() {
    // 1 second to expiry, 1 % vol, 64x moneyness both ways; 10 years at 500 % vol.
    for (secs, vol) in [(1u64, 0.01), (10 * 365 * 86_400, 5.0)] {
        for k_over_s in [1.0f64 / 64.0, 1.0, 64.0] {
            for kind in [OptionKind::Call, OptionKind::Put] {
                let g = greeks(&OptionInputs {
                    kind,
                    log_moneyness: Fx::from_num(-k_over_s.ln()).clamp(
                        -xmargin_risk::bs::MAX_LOG_MONEYNESS,
                        xmargin_risk::bs::MAX_LOG_MONEYNESS,
                    ),
                    secs,
                    vol: Fx::from_num(vol),
                    rate: Fx::ZERO,
                })
                .unwrap();
                assert!(g.price >= 0);
                let upper = match kind {
                    OptionKind::Call => Fx::ONE,
                    OptionKind::Put => Fx::from_num(64),
                };
                assert!(
                    g.price.to_num::<f64>() <= upper.to_num::<f64>() * (1.0 + 1e-8),
                    "{kind:?} K/S={k_over_s} secs={secs} vol={vol}: {g:?}"
                );
                assert!(g.delta.abs() <= Fx::ONE);
                assert!(g.gamma >= 0 && g.vega >= 0);
            }
        }
    }
}
