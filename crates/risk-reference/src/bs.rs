//! Black–Scholes in f64, normalised by spot exactly like `xmargin_risk::bs`.
use xmargin_risk::bs::OptionKind;

pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GreeksF64 {
    pub price: f64,
    pub delta: f64,
    pub gamma: f64,
    pub vega: f64,
    pub theta: f64,
}

/// Normalised price and Greeks for ln(S/K) = `log_moneyness`.
pub fn greeks(kind: OptionKind, log_moneyness: f64, years: f64, vol: f64, rate: f64) -> GreeksF64 {
    let strike_ratio = (-log_moneyness).exp();
    if years <= 0.0 {
        return match kind {
            OptionKind::Call => GreeksF64 {
                price: (1.0 - strike_ratio).max(0.0),
                delta: if log_moneyness > 0.0 { 1.0 } else { 0.0 },
                ..Default::default()
            },
            OptionKind::Put => GreeksF64 {
                price: (strike_ratio - 1.0).max(0.0),
                delta: if log_moneyness < 0.0 { -1.0 } else { 0.0 },
                ..Default::default()
            },
        };
    }
    let sqrt_t = years.sqrt();
    let s = vol * sqrt_t;
    let d1 = (log_moneyness + rate * years) / s + s / 2.0;
    let d2 = d1 - s;
    let k = strike_ratio * (-rate * years).exp();
    let pdf = normal_pdf(d1);
    let gamma = pdf / s;
    let vega = pdf * sqrt_t;
    let decay = pdf * vol / (2.0 * sqrt_t);
    match kind {
        OptionKind::Call => GreeksF64 {
            price: normal_cdf(d1) - k * normal_cdf(d2),
            delta: normal_cdf(d1),
            gamma,
            vega,
            theta: -decay - rate * k * normal_cdf(d2),
        },
        OptionKind::Put => GreeksF64 {
            price: k * normal_cdf(-d2) - normal_cdf(-d1),
            delta: -normal_cdf(-d1),
            gamma,
            vega,
            theta: -decay + rate * k * normal_cdf(-d2),
        },
    }
}

/// Value of one contract in quote units at `spot` (not normalised).
pub fn value(kind: OptionKind, spot: f64, strike: f64, years: f64, vol: f64, rate: f64) -> f64 {
    spot * greeks(kind, (spot / strike).ln(), years, vol, rate).price
}
