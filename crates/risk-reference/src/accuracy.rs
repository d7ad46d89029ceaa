//! The fixed-point Black–Scholes measured against the f64 closed form on a 40,000-point grid:
//! K/S 0.5–2 (25 steps), expiry 1 hour–1 year (20), volatility 5 %–300 % (20), rate 0 and 5 %,
//! calls and puts. Shared by the accuracy test (which asserts) and the risk report (which prints).
//!
//! Tolerance of a Greek: 1e-5 x |reference| + max(1e-8 x its natural scale, 2e-9), the scales
//! being delta 1; gamma x S 1/(sigma sqrt T); vega / S sqrt T; theta / S sigma / (2 sqrt T) + |r|:
//! relative 1e-5 unless the Greek is near zero on its own scale, absolute there (never below
//! 2e-9 of spot, about eight units in the last place of I32F32).
use xmargin_risk::bs::{greeks, OptionInputs, OptionKind, SECONDS_PER_YEAR};
use xmargin_risk::Fx;

use crate::bs as reference;

pub const GREEKS: [&str; 4] = ["delta", "gamma", "vega", "theta"];

#[derive(Clone, Debug, Default)]
pub struct Accuracy {
    pub points: usize,
    /// Largest |price error| / spot.
    pub price_abs: f64,
    /// Largest error / tolerance per Greek (<= 1 passes).
    pub worst_ratio: [f64; 4],
    /// Largest relative error where the Greek is at least max(1e-3 of its scale, 1e-4): large
    /// enough on its own scale and in I32F32 (1e-4 is 430,000 units in the last place).
    pub relative: [f64; 4],
    /// Largest error / scale where it is smaller.
    pub absolute_scaled: [f64; 4],
}

fn log_space(lo: f64, hi: f64, n: usize, i: usize) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp()
}

pub fn measure() -> Accuracy {
    let mut m = Accuracy::default();
    for mi in 0..25 {
        let strike_over_spot = log_space(0.5, 2.0, 25, mi);
        for ti in 0..20 {
            let secs = log_space(3600.0, SECONDS_PER_YEAR as f64, 20, ti).round() as u64;
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
    m
}

fn check_point(m: &mut Accuracy, kind: OptionKind, k_over_s: f64, secs: u64, vol: f64, rate: f64) {
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
    .expect("grid points are inside the domain");
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
        m.worst_ratio[i] = m.worst_ratio[i].max(err / tolerance);
        if w.abs() >= (1e-3 * scale).max(1e-4) {
            m.relative[i] = m.relative[i].max(err / w.abs());
        } else {
            m.absolute_scaled[i] = m.absolute_scaled[i].max(err / scale);
        }
    }
}
