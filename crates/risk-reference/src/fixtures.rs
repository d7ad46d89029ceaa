//! The standard market, the named strategies of the risk report and the worst-case account of
//! the benchmark, shared so that report, benchmark and tests measure the same books.
use xmargin_risk::bs::OptionKind;
use xmargin_risk::{
    Collateral, Fx, Instrument, Market, Position, RiskParams, ScenarioGrid, Underlying, VolSurface,
};

pub const NOW: i64 = 1_800_000_000;
pub const DAY: i64 = 86_400;
/// Quote is USDC with 6 decimals: one dollar is 1_000_000 quote-native units.
pub const USD: i64 = 1_000_000;

/// The standard basis shock (per year of tenor) and calendar-spread minimum: a 30-day future may
/// move by 0.82 % against spot, and each contract netted across tenors is charged 0.5 % of its
/// delta-notional.
pub const BASIS_SHOCK: f64 = 0.10;
pub const CALENDAR_SPREAD_MINIMUM: f64 = 0.005;

pub fn fx(v: f64) -> Fx {
    Fx::from_num(v)
}

pub const SOL: u8 = 0;
pub const BTC: u8 = 1;
pub const ETH: u8 = 2;

pub fn standard_grid() -> ScenarioGrid {
    ScenarioGrid {
        price_range: fx(0.15),
        vol_down: fx(0.10),
        vol_up: fx(0.10),
        extended_down: fx(0.5),
        extended_up: fx(1.0),
        extended_weight: fx(0.33),
    }
}

pub fn standard_params() -> RiskParams {
    RiskParams {
        initial_factor: fx(1.25),
        concentration_factor: fx(0.02),
        theta_horizon_secs: DAY as u64,
    }
}

/// One contract: 1 SOL at $150, 0.01 BTC at $100,000 ($1,000), 0.1 ETH at $3,000 ($300).
/// All in the "majors" correlation group (beta 0.9 each: correlation 0.81).
pub fn underlying(spot_usd: f64, atm_vol: f64, beta: f64) -> Underlying {
    Underlying {
        spot: (spot_usd * USD as f64) as u64,
        surface: VolSurface {
            atm: fx(atm_vol),
            skew: fx(-0.1),
            smile: fx(0.3),
            min: fx(0.05),
            max: fx(3.0),
        },
        rate: fx(0.0),
        grid: standard_grid(),
        correlation_group: 0,
        beta: fx(beta),
        concentration_threshold: (1_000_000 * USD) as u64,
        short_option_minimum: fx(0.01),
        basis_shock: fx(BASIS_SHOCK),
        calendar_spread_minimum: fx(CALENDAR_SPREAD_MINIMUM),
    }
}

pub fn standard_underlyings() -> Vec<Underlying> {
    vec![
        underlying(150.0, 0.80, 0.9),
        underlying(1_000.0, 0.55, 0.9),
        underlying(300.0, 0.65, 0.9),
    ]
}

pub fn standard_market() -> Market {
    Market::new(&standard_underlyings(), standard_params(), NOW).expect("valid standard market")
}

fn option(u: u8, kind: OptionKind, strike_usd: f64, days: i64, size: i64) -> Position {
    Position {
        underlying: u,
        instrument: Instrument::Option {
            kind,
            strike: (strike_usd * USD as f64) as u64,
            expiry: NOW + days * DAY,
        },
        size,
        cost_basis: 0,
    }
}

pub fn call(u: u8, strike_usd: f64, days: i64, size: i64) -> Position {
    option(u, OptionKind::Call, strike_usd, days, size)
}

pub fn put(u: u8, strike_usd: f64, days: i64, size: i64) -> Position {
    option(u, OptionKind::Put, strike_usd, days, size)
}

pub fn perp(u: u8, size: i64) -> Position {
    Position {
        underlying: u,
        instrument: Instrument::Perpetual,
        size,
        cost_basis: 0,
    }
}

pub fn future(u: u8, days: i64, size: i64) -> Position {
    Position {
        underlying: u,
        instrument: Instrument::Future {
            expiry: NOW + days * DAY,
        },
        size,
        cost_basis: 0,
    }
}

/// The strategies of docs/risk-report.md, 10 SOL-sized lots unless said otherwise.
pub fn strategies() -> Vec<(&'static str, Vec<Position>)> {
    vec![
        (
            "short straddle (SOL 150, 30d)",
            vec![call(SOL, 150.0, 30, -10), put(SOL, 150.0, 30, -10)],
        ),
        (
            "long straddle (SOL 150, 30d)",
            vec![call(SOL, 150.0, 30, 10), put(SOL, 150.0, 30, 10)],
        ),
        (
            "short strangle (SOL 130/170, 30d)",
            vec![put(SOL, 130.0, 30, -10), call(SOL, 170.0, 30, -10)],
        ),
        (
            "iron condor (SOL 125/135/165/175, 30d)",
            vec![
                put(SOL, 125.0, 30, 10),
                put(SOL, 135.0, 30, -10),
                call(SOL, 165.0, 30, -10),
                call(SOL, 175.0, 30, 10),
            ],
        ),
        (
            "call butterfly (SOL 135/150/165, 30d)",
            vec![
                call(SOL, 135.0, 30, 10),
                call(SOL, 150.0, 30, -20),
                call(SOL, 165.0, 30, 10),
            ],
        ),
        (
            "covered call (SOL perp + short 165 call, 30d)",
            vec![perp(SOL, 10), call(SOL, 165.0, 30, -10)],
        ),
        (
            "protective put (SOL perp + long 140 put, 30d)",
            vec![perp(SOL, 10), put(SOL, 140.0, 30, 10)],
        ),
        (
            "calendar spread (SOL 150 call, short 7d / long 90d)",
            vec![call(SOL, 150.0, 7, -10), call(SOL, 150.0, 90, 10)],
        ),
        (
            "perp vs future basis (SOL perp long / 90d future short)",
            vec![perp(SOL, 10), future(SOL, 90, -10)],
        ),
        (
            "pair: long BTC / short ETH ($30k each)",
            vec![perp(BTC, 30), perp(ETH, -100)],
        ),
        (
            "same-direction: long BTC / long ETH ($30k each)",
            vec![perp(BTC, 30), perp(ETH, 100)],
        ),
        (
            "naked short call (SOL 165, 30d)",
            vec![call(SOL, 165.0, 30, -10)],
        ),
        (
            "far out-of-the-money short put (SOL 60, 7d)",
            vec![put(SOL, 60.0, 7, -10)],
        ),
    ]
}

/// Eight underlyings in two correlation groups.
pub fn eight_underlyings() -> Vec<Underlying> {
    (0..8)
        .map(|i| {
            let mut u = underlying(
                50.0 * (i + 1) as f64,
                0.5 + 0.05 * i as f64,
                0.7 + 0.03 * i as f64,
            );
            u.correlation_group = (i % 2) as u8;
            u
        })
        .collect()
}

/// Worst case an account can hold: 8 collateral balances and 32 positions on 8 underlyings
/// (per underlying: a perp, a future and options of both kinds on two strikes and expiries).
pub fn worst_case_account(underlyings: &[Underlying]) -> (Vec<Collateral>, Vec<Position>) {
    let collateral = (0..8)
        .map(|i| Collateral {
            amount: 1_000_000_000 * (i + 1),
            price: fx(0.05 * (i + 1) as f64),
            init_asset_weight: fx(0.8),
            maint_asset_weight: fx(0.9),
            init_liab_weight: fx(1.2),
            maint_liab_weight: fx(1.1),
            liquidity_depth: 200_000_000,
        })
        .collect();
    let mut positions = Vec::with_capacity(32);
    for (i, u) in underlyings.iter().enumerate() {
        let spot = u.spot as f64 / USD as f64;
        let i8 = i as u8;
        positions.push(perp(i8, 5));
        positions.push(call(i8, spot * 1.1, 30, -7));
        positions.push(put(i8, spot * 0.9, 60, 4));
        positions.push(if i % 2 == 0 {
            future(i8, 90, -3)
        } else {
            call(i8, spot, 7, 6)
        });
    }
    (collateral, positions)
}
