//! Full revaluation of every position on the engine's grid, in f64. The grid, the volatilities,
//! the effective vol shocks, the factor masks and the aggregation rule are the engine's own, so
//! the only difference from the engine is exact repricing instead of Greek bounds.
use xmargin_risk::bs::SECONDS_PER_YEAR;
use xmargin_risk::collateral::Level;
use xmargin_risk::grid::{
    aggregate, NodeLosses, CORE_NODES, EXTENDED_DOWN_NODE, EXTENDED_UP_NODE, NODES,
};
use xmargin_risk::series::{effective_vol_shocks, option_vol};
use xmargin_risk::{Collateral, Instrument, Market, Position};

use crate::bs::value;

/// Value of one contract at spot `spot` with its base volatility moved by `vol_shift`.
fn contract_value(market: &Market, p: &Position, spot: f64, vol_shift: f64) -> f64 {
    carried_value(market, p, spot, vol_shift, 0.0)
}

/// `contract_value` with a dated future's carried value moved by `carry_shift` per year of
/// tenor (the engine's basis shock).
fn carried_value(
    market: &Market,
    p: &Position,
    spot: f64,
    vol_shift: f64,
    carry_shift: f64,
) -> f64 {
    let u = &market.underlyings[p.underlying as usize];
    let rate = u.rate.to_num::<f64>();
    let years = |expiry: i64| (expiry - market.now).max(0) as f64 / SECONDS_PER_YEAR as f64;
    match p.instrument {
        Instrument::Perpetual => spot,
        Instrument::Future { expiry } => {
            spot * (rate * years(expiry)).exp() * (1.0 + carry_shift * years(expiry))
        }
        Instrument::Option {
            kind,
            strike,
            expiry,
        } => {
            let vol = option_vol(u, strike).expect("valid option").to_num::<f64>();
            value(
                kind,
                spot,
                strike as f64,
                years(expiry),
                vol + vol_shift,
                rate,
            )
        }
    }
}

/// The vol shocks (down, up) the engine applies to this position.
fn vol_shocks(market: &Market, p: &Position) -> (f64, f64) {
    let index = p.underlying as usize;
    match p.instrument {
        Instrument::Option { strike, .. } => {
            let vol = option_vol(&market.underlyings[index], strike).expect("valid option");
            let (down, up) = effective_vol_shocks(vol, &market.grids[index]).expect("valid");
            (down.to_num(), up.to_num())
        }
        _ => (0.0, 0.0),
    }
}

/// Worst full-revaluation loss at each node of one underlying, for the given positions.
pub fn node_losses(market: &Market, underlying: usize, positions: &[Position]) -> [f64; NODES] {
    shocked_node_losses(market, underlying, positions, &[0.0])
}

/// `node_losses` with, at each core node, the dated futures' carried value also moved by each
/// of `carry_shifts` per year of tenor (extended nodes keep today's carry).
fn shocked_node_losses(
    market: &Market,
    underlying: usize,
    positions: &[Position],
    carry_shifts: &[f64],
) -> [f64; NODES] {
    let grid = &market.grids[underlying];
    let spot = market.underlyings[underlying].spot as f64;
    let mine: Vec<&Position> = positions
        .iter()
        .filter(|p| p.underlying as usize == underlying)
        .collect();
    let mut worst = [f64::MIN; NODES];
    for (node, slot) in worst.iter_mut().enumerate() {
        let moved = spot * (1.0 + grid.moves[node].to_num::<f64>());
        let shocks: &[i32] = if node < CORE_NODES { &[-1, 0, 1] } else { &[0] };
        let carries: &[f64] = if node < CORE_NODES {
            carry_shifts
        } else {
            &[0.0]
        };
        for (&shock, &carry) in shocks
            .iter()
            .flat_map(|s| carries.iter().map(move |c| (s, c)))
        {
            let pnl: f64 = mine
                .iter()
                .map(|p| {
                    let (down, up) = vol_shocks(market, p);
                    let shift = match shock {
                        -1 => -down,
                        1 => up,
                        _ => 0.0,
                    };
                    let change = carried_value(market, p, moved, shift, carry)
                        - contract_value(market, p, spot, 0.0);
                    p.size as f64 * change
                })
                .sum();
            let weight = if node == EXTENDED_DOWN_NODE || node == EXTENDED_UP_NODE {
                grid.extended_weight.to_num::<f64>()
            } else {
                1.0
            };
            *slot = slot.max(-pnl * weight);
        }
    }
    worst
}

/// Correlated worst-case loss of the book on the grid (the engine's rule, exact repricing).
pub fn requirement(market: &Market, positions: &[Position]) -> f64 {
    let members: Vec<NodeLosses<f64>> = (0..market.underlyings.len())
        .filter(|u| positions.iter().any(|p| p.underlying as usize == *u))
        .map(|u| NodeLosses {
            group: market.underlyings[u].correlation_group,
            spans: market.spans[u],
            worst: node_losses(market, u, positions),
            // Pure repricing: the engine's short-option minimum is an add-on above it.
            floor: 0.0,
        })
        .collect();
    // At most MAX_UNDERLYINGS groups (a `Market` holds no more underlyings).
    aggregate(&members).map_or(f64::INFINITY, |a| a.requirement)
}

/// `requirement` over the grid joined with the basis shock: at every core node every dated
/// future's carried value also moves by -sT, 0 or +sT of itself (s the underlying's
/// `basis_shock`, T its tenor in years).
pub fn requirement_with_basis(market: &Market, positions: &[Position]) -> f64 {
    let members: Vec<NodeLosses<f64>> = (0..market.underlyings.len())
        .filter(|u| positions.iter().any(|p| p.underlying as usize == *u))
        .map(|u| {
            let s = market.underlyings[u].basis_shock.to_num::<f64>();
            NodeLosses {
                group: market.underlyings[u].correlation_group,
                spans: market.spans[u],
                worst: shocked_node_losses(market, u, positions, &[-s, 0.0, s]),
                floor: 0.0,
            }
        })
        .collect();
    aggregate(&members).map_or(f64::INFINITY, |a| a.requirement)
}

/// Sum over legs of each leg's own worst loss (no netting at all).
pub fn isolated_requirement(market: &Market, positions: &[Position]) -> f64 {
    positions
        .iter()
        .map(|p| {
            let worst = node_losses(market, p.underlying as usize, std::slice::from_ref(p));
            worst.iter().copied().fold(0.0, f64::max)
        })
        .sum()
}

/// Exact equity at the maintenance weights: weighted collateral (the engine's integer valuation
/// is exact up to its final rounding, checked separately) plus size x f64 mark - cost basis.
pub fn equity(market: &Market, collateral: &[Collateral], positions: &[Position]) -> f64 {
    let collateral_value: f64 = collateral
        .iter()
        .map(|c| collateral_exact(c, Level::Maintenance))
        .sum();
    let pnl: f64 = positions
        .iter()
        .map(|p| {
            let spot = market.underlyings[p.underlying as usize].spot as f64;
            p.size as f64 * contract_value(market, p, spot, 0.0) - p.cost_basis as f64
        })
        .sum();
    collateral_value + pnl
}

/// Weighted collateral value computed in f64 from the same formula.
pub fn collateral_exact(c: &Collateral, level: Level) -> f64 {
    let value = c.amount as f64 * c.price.to_num::<f64>();
    let (asset, liab) = match level {
        Level::Initial => (c.init_asset_weight, c.init_liab_weight),
        Level::Maintenance => (c.maint_asset_weight, c.maint_liab_weight),
    };
    if value < 0.0 {
        return value * liab.to_num::<f64>();
    }
    let depth = c.liquidity_depth as f64;
    let effective = if depth == 0.0 || value <= depth {
        value
    } else {
        (value * depth).sqrt()
    };
    effective * asset.to_num::<f64>()
}
