//! Fixed-point Black–Scholes against the f64 closed form on the 40,000-point grid of
//! `xmargin_risk_reference::accuracy` (tolerances documented there).
use xmargin_risk::bs::{greeks, OptionInputs, OptionKind};
use xmargin_risk::series::MARK_ERROR;
use xmargin_risk::Fx;
use xmargin_risk_reference::accuracy::{measure, GREEKS};

#[test]
fn fixed_point_black_scholes_matches_f64_reference_on_the_grid() {
    let m = measure();
    println!("accuracy over {} points: {m:#?}", m.points);
    assert!(m.points >= 10_000);
    assert!(m.price_abs <= 1e-6, "price error {}", m.price_abs);
    assert!(
        m.price_abs <= MARK_ERROR.to_num::<f64>(),
        "MARK_ERROR must cover the measured price error"
    );
    for (name, ratio) in GREEKS.iter().zip(m.worst_ratio) {
        assert!(ratio <= 1.0, "{name}: error / tolerance = {ratio}");
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
