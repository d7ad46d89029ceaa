//! Portfolio margin: aggregate per-series risk into per-underlying exposures, evaluate every
//! scenario as a guaranteed lower bound of the book's PnL, net underlyings through the factor
//! correlation, and value the collateral. Output is the account's `MarginReport`.
use crate::collateral::weighted_values;
use crate::error::{RiskError, RiskResult};
use crate::fx::{
    ceil_money, floor_money, lower_product, money_mul_ceil, money_times, sub, to_i64, Fx,
    MoneyFrac, FRAC_BITS,
};
use crate::grid::{
    aggregate, direction_of, factor_masks, GridConstants, NodeLosses, Scenario, VolShock,
    CORE_NODES, DOWN, EXTENDED_DOWN_NODE, EXTENDED_UP_NODE, FACTOR_LEVELS, NODES, SEGMENTS, UP,
    VOL_SHOCK_ORDER,
};
use crate::model::{
    Collateral, Position, RiskParams, Underlying, MAX_COLLATERAL, MAX_NOTIONAL, MAX_POSITIONS,
    MAX_UNDERLYINGS,
};
use crate::series::{series_risk, SeriesRisk};

/// A market snapshot prepared once and shared by every account evaluated against it.
#[derive(Clone, Debug)]
pub struct Market {
    pub underlyings: Vec<Underlying>,
    pub grids: Vec<GridConstants>,
    pub masks: Vec<[u16; FACTOR_LEVELS]>,
    pub params: RiskParams,
    pub now: i64,
}

impl Market {
    pub fn new(underlyings: &[Underlying], params: RiskParams, now: i64) -> RiskResult<Self> {
        if underlyings.len() > MAX_UNDERLYINGS {
            return Err(RiskError::CapacityExceeded);
        }
        params.validate()?;
        let mut grids = Vec::with_capacity(underlyings.len());
        let mut masks = Vec::with_capacity(underlyings.len());
        for u in underlyings {
            u.validate()?;
            let grid = GridConstants::new(&u.grid)?;
            masks.push(factor_masks(u.beta, &grid)?);
            grids.push(grid);
        }
        Ok(Self {
            underlyings: underlyings.to_vec(),
            grids,
            masks,
            params,
            now,
        })
    }

    /// Every position with its series risk: what a keeper computes once per price update.
    pub fn price_positions(&self, positions: &[Position]) -> RiskResult<Vec<PricedPosition>> {
        if positions.len() > MAX_POSITIONS {
            return Err(RiskError::CapacityExceeded);
        }
        positions
            .iter()
            .map(|position| {
                Ok(PricedPosition {
                    position: *position,
                    risk: self.series_risk(position)?,
                })
            })
            .collect()
    }

    pub fn series_risk(&self, position: &Position) -> RiskResult<SeriesRisk> {
        let index = position.underlying as usize;
        let underlying = self
            .underlyings
            .get(index)
            .ok_or(RiskError::UnknownUnderlying)?;
        series_risk(
            underlying,
            &self.grids[index],
            &position.instrument,
            self.now,
        )
    }
}

/// Exact (MoneyFrac) sums of notional x bound over one underlying's positions. Longs and shorts
/// keep separate sums because their bounds differ (lower vs upper bound of an option's value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    pub linear_delta: MoneyFrac,
    pub long_delta: MoneyFrac,
    pub long_gamma: [MoneyFrac; SEGMENTS],
    pub long_vol: [[MoneyFrac; 2]; CORE_NODES],
    pub long_value: MoneyFrac,
    pub long_extended: [MoneyFrac; 2],
    pub short_delta: MoneyFrac,
    pub short_gamma: [MoneyFrac; SEGMENTS],
    pub short_gamma_finite: bool,
    pub short_chord: [MoneyFrac; 2],
    pub short_vol: [[MoneyFrac; 2]; CORE_NODES],
    pub short_extended: [MoneyFrac; 2],
    /// Reported Greeks in quote-native units: delta per 100 % move, gamma x S^2, vega per vol
    /// point x 100, theta per year.
    pub net_delta: MoneyFrac,
    pub net_gamma: MoneyFrac,
    pub net_vega: MoneyFrac,
    pub net_theta: MoneyFrac,
    pub positions: u32,
}

/// slot += notional x f, exactly: an i64 x i64 product is a single widening multiply.
#[inline]
fn acc(slot: &mut MoneyFrac, notional: i64, f: Fx) -> RiskResult<()> {
    crate::fx::op_count::mul128();
    *slot = slot
        .checked_add(notional as i128 * f.to_bits() as i128)
        .ok_or(RiskError::Overflow)?;
    Ok(())
}

impl Exposure {
    pub fn empty() -> Self {
        Self {
            short_gamma_finite: true,
            ..Self::default()
        }
    }

    /// Adds `notional` (= size x spot) of a series.
    pub fn add(&mut self, notional: i128, risk: &SeriesRisk) -> RiskResult<()> {
        if notional.abs() > MAX_NOTIONAL {
            return Err(RiskError::NotionalOutOfRange);
        }
        let notional = i64::try_from(notional).map_err(|_| RiskError::NotionalOutOfRange)?;
        self.positions += 1;
        acc(&mut self.net_delta, notional, risk.delta)?;
        acc(&mut self.net_gamma, notional, risk.gamma)?;
        acc(&mut self.net_vega, notional, risk.vega)?;
        acc(&mut self.net_theta, notional, risk.theta)?;
        if !risk.is_option {
            return acc(&mut self.linear_delta, notional, risk.delta);
        }
        let long = notional >= 0;
        let (delta, gamma, vol, extended) = if long {
            acc(&mut self.long_value, notional, risk.mark_high)?;
            (
                &mut self.long_delta,
                &mut self.long_gamma,
                &mut self.long_vol,
                &mut self.long_extended,
            )
        } else {
            self.short_gamma_finite &= risk.gamma_max_finite;
            for side in [DOWN, UP] {
                let chord = sub(risk.delta_edge[side], risk.delta)?;
                acc(&mut self.short_chord[side], notional, chord)?;
            }
            (
                &mut self.short_delta,
                &mut self.short_gamma,
                &mut self.short_vol,
                &mut self.short_extended,
            )
        };
        acc(delta, notional, risk.delta)?;
        let (segment_gamma, node_vol) = if long {
            (&risk.segment_gamma_min, &risk.vol_pnl_min)
        } else {
            (&risk.segment_gamma_max, &risk.vol_pnl_max)
        };
        for (slot, bound) in gamma.iter_mut().zip(segment_gamma) {
            acc(slot, notional, *bound)?;
        }
        for (slots, bounds) in vol.iter_mut().zip(node_vol) {
            for (slot, bound) in slots.iter_mut().zip(bounds) {
                acc(slot, notional, *bound)?;
            }
        }
        for side in [DOWN, UP] {
            // Long: worst value at the extended node vs the highest mark; short: the reverse.
            let change = if long {
                sub(risk.extended_low[side], risk.mark_high)?
            } else {
                sub(risk.extended_high[side], risk.mark_low)?
            };
            acc(&mut extended[side], notional, change)?;
        }
        Ok(())
    }

    /// Lower bound of the PnL at an extended node (before weighting).
    fn extended_pnl(&self, grid: &GridConstants, node: usize) -> RiskResult<i128> {
        let side = if node == EXTENDED_DOWN_NODE { DOWN } else { UP };
        Ok(lower_product(self.linear_delta, grid.moves[node])?
            + floor_money(self.long_extended[side])
            + floor_money(self.short_extended[side]))
    }

    /// Worst loss at each node and the scenario of the overall worst.
    pub fn node_losses(&self, grid: &GridConstants) -> RiskResult<([i128; NODES], Scenario)> {
        let c = RoundedExposure::new(self)?;
        let mut worst = [i128::MIN; NODES];
        let mut worst_scenario = Scenario {
            node: CORE_NODES / 2,
            vol: VolShock::Flat,
        };
        let mut worst_loss = i128::MIN;
        for (node, slot) in worst.iter_mut().enumerate().take(CORE_NODES) {
            let (others, long_price) = c.core_price_pnl(grid, node);
            for vol in VOL_SHOCK_ORDER {
                let (long_vol, short_vol) = match vol {
                    VolShock::Flat => (0, 0),
                    VolShock::Down => (c.long_vol[node][DOWN], c.short_vol[node][DOWN]),
                    VolShock::Up => (c.long_vol[node][UP], c.short_vol[node][UP]),
                };
                let pnl = others + short_vol + (long_price + long_vol).max(c.long_floor);
                let loss = -pnl;
                if loss > *slot {
                    *slot = loss;
                }
                if loss > worst_loss {
                    worst_loss = loss;
                    worst_scenario = Scenario { node, vol };
                }
            }
        }
        for node in [EXTENDED_DOWN_NODE, EXTENDED_UP_NODE] {
            let loss = money_mul_ceil(-self.extended_pnl(grid, node)?, grid.extended_weight)?;
            worst[node] = loss;
            if loss > worst_loss {
                worst_loss = loss;
                worst_scenario = Scenario {
                    node,
                    vol: VolShock::Flat,
                };
            }
        }
        Ok((worst, worst_scenario))
    }

    /// Decay over the horizon charged to maintenance when the book is net long options.
    pub fn theta_charge(&self, horizon_secs: u64) -> RiskResult<i128> {
        if self.net_theta >= 0 {
            return Ok(0);
        }
        let years = crate::bs::years_from_secs(horizon_secs)?;
        money_mul_ceil(ceil_money(-self.net_theta), years)
    }
}

/// An exposure rounded once per evaluation: each coefficient as (floor, ceil) in whole
/// quote-native units, narrowed to i64 (an exposure beyond 2^63 quote-native units could never be
/// settled in the i64 balances anyway: refused as `Overflow`), and the vol sums floored. Products
/// with the grid's constants (below 2^37) are then single 64 x 64 -> 128-bit multiplies that
/// cannot overflow, and sums of a dozen of them stay far inside i128.
struct RoundedExposure {
    linear_delta: (i64, i64),
    long_delta: (i64, i64),
    long_gamma: [i64; SEGMENTS],
    long_vol: [[i128; 2]; CORE_NODES],
    long_floor: i128,
    short_vol: [[i128; 2]; CORE_NODES],
    short_delta: (i64, i64),
    short_gamma: [i64; SEGMENTS],
    short_gamma_finite: bool,
    short_delta_chord: [(i64, i64); 2],
}

fn rounded(value: MoneyFrac) -> RiskResult<(i64, i64)> {
    Ok((to_i64(floor_money(value))?, to_i64(ceil_money(value))?))
}

impl RoundedExposure {
    fn new(e: &Exposure) -> RiskResult<Self> {
        let floors = |sums: &[MoneyFrac; SEGMENTS]| -> RiskResult<[i64; SEGMENTS]> {
            let mut out = [0; SEGMENTS];
            for (slot, sum) in out.iter_mut().zip(sums) {
                *slot = to_i64(floor_money(*sum))?;
            }
            Ok(out)
        };
        // Vol sums are only added (four terms of at most 2^95 each), never multiplied.
        let vol_floors = |sums: &[[MoneyFrac; 2]; CORE_NODES]| -> [[i128; 2]; CORE_NODES] {
            let mut out = [[0; 2]; CORE_NODES];
            for (slots, pair) in out.iter_mut().zip(sums) {
                for (slot, sum) in slots.iter_mut().zip(pair) {
                    *slot = floor_money(*sum);
                }
            }
            out
        };
        let chord = |side: usize| {
            rounded(
                e.short_delta
                    .checked_add(e.short_chord[side])
                    .ok_or(RiskError::Overflow)?,
            )
        };
        Ok(Self {
            linear_delta: rounded(e.linear_delta)?,
            long_delta: rounded(e.long_delta)?,
            long_gamma: floors(&e.long_gamma)?,
            long_vol: vol_floors(&e.long_vol),
            long_floor: -ceil_money(e.long_value),
            short_vol: vol_floors(&e.short_vol),
            short_delta: rounded(e.short_delta)?,
            short_gamma: floors(&e.short_gamma)?,
            short_gamma_finite: e.short_gamma_finite,
            short_delta_chord: [chord(DOWN)?, chord(UP)?],
        })
    }

    /// Lower bounds of the price part of the PnL at a core node, before the volatility shock:
    /// (linear + shorts' price part, longs' price part). Longs are capped after adding their vol
    /// term, so they stay separate.
    fn core_price_pnl(&self, grid: &GridConstants, node: usize) -> (i128, i128) {
        let x = grid.moves[node];
        let linear = times_lower(self.linear_delta, x);
        let long = times_lower(self.long_delta, x) + ladder(&self.long_gamma, grid, node);
        let short_chord = times_lower(self.short_delta_chord[direction_of(node)], x);
        let short = if self.short_gamma_finite {
            let taylor = times_lower(self.short_delta, x) + ladder(&self.short_gamma, grid, node);
            taylor.max(short_chord)
        } else {
            short_chord
        };
        (linear + short, long)
    }
}

/// floor(c x f) for c known as (floor, ceil): the side that makes the product smaller.
fn times_lower(c: (i64, i64), f: Fx) -> i128 {
    crate::fx::op_count::mul128();
    let bits = f.to_bits();
    let coefficient = if bits >= 0 { c.0 } else { c.1 };
    (coefficient as i128 * bits as i128) >> FRAC_BITS
}

/// Lower bound of Σ_j w_kj gamma_j at node k (weights are >= 0, so floors stay lower bounds).
fn ladder(floors: &[i64; SEGMENTS], grid: &GridConstants, node: usize) -> i128 {
    let (start, end) = grid.segment_range[node];
    let weights = &grid.segment_weights[node];
    let mut total: i128 = 0;
    for segment in start..end {
        crate::fx::op_count::mul128();
        total += floors[segment] as i128 * weights[segment].to_bits() as i128;
    }
    total >> FRAC_BITS
}

/// Per-underlying part of the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnderlyingBreakdown {
    pub underlying: u8,
    pub positions: u32,
    pub net_delta: i64,
    pub net_gamma: i64,
    pub net_vega: i64,
    pub net_theta: i64,
    /// Largest loss over this underlying's scenarios on its own (no netting).
    pub worst_loss: i64,
    pub worst_scenario: Option<Scenario>,
    pub theta_charge: i64,
    pub concentration_charge: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarginReport {
    /// Σ weighted collateral at maintenance / initial weights.
    pub collateral_maint: i64,
    pub collateral_init: i64,
    /// Σ size x mark - cost basis, marks rounded against the holder.
    pub unrealized_pnl: i64,
    pub equity_maint: i64,
    pub equity_init: i64,
    /// Worst correlated scenario loss + theta charges.
    pub maintenance: i64,
    /// maintenance x initial_factor + concentration charges.
    pub initial: i64,
    /// The scenario part alone and the factor level that binds it.
    pub scenario_requirement: i64,
    pub binding_group: Option<u8>,
    pub binding_factor_level: usize,
    pub breakdown: Vec<UnderlyingBreakdown>,
}

impl MarginReport {
    pub fn maint_health(&self) -> i64 {
        self.equity_maint.saturating_sub(self.maintenance)
    }

    pub fn init_health(&self) -> i64 {
        self.equity_init.saturating_sub(self.initial)
    }
}

/// A position together with its precomputed series risk (how a keeper scanning many accounts
/// reuses one evaluation per series).
#[derive(Clone, Copy, Debug)]
pub struct PricedPosition {
    pub position: Position,
    pub risk: SeriesRisk,
}

/// Full margin of an account from scratch.
pub fn margin(
    market: &Market,
    collateral: &[Collateral],
    positions: &[Position],
) -> RiskResult<MarginReport> {
    let priced = market.price_positions(positions)?;
    margin_priced(market, collateral, &priced)
}

/// Margin from positions whose series risk is already known.
pub fn margin_priced(
    market: &Market,
    collateral: &[Collateral],
    positions: &[PricedPosition],
) -> RiskResult<MarginReport> {
    if positions.len() > MAX_POSITIONS || collateral.len() > MAX_COLLATERAL {
        return Err(RiskError::CapacityExceeded);
    }
    let count = market.underlyings.len();
    // Exposures are ~1 KB each: keep them off the (4 KB per frame on SBF) stack.
    let mut exposures = vec![Exposure::empty(); count];
    let mut unrealized: i128 = 0;
    for p in positions {
        let index = p.position.underlying as usize;
        let underlying = market
            .underlyings
            .get(index)
            .ok_or(RiskError::UnknownUnderlying)?;
        let notional = (p.position.size as i128) * (underlying.spot as i128);
        exposures
            .get_mut(index)
            .ok_or(RiskError::UnknownUnderlying)?
            .add(notional, &p.risk)?;
        unrealized = unrealized
            .checked_add(position_value(notional, &p.risk)? - p.position.cost_basis as i128)
            .ok_or(RiskError::Overflow)?;
    }
    let mut members = [None; MAX_UNDERLYINGS];
    let mut breakdown = Vec::with_capacity(count);
    let mut theta_charges: i128 = 0;
    let mut concentration: i128 = 0;
    for index in 0..count {
        let exposure = &exposures[index];
        if exposure.positions == 0 {
            continue;
        }
        let underlying = &market.underlyings[index];
        let (worst, scenario) = exposure.node_losses(&market.grids[index])?;
        members[index] = Some(NodeLosses {
            group: underlying.correlation_group,
            masks: market.masks[index],
            worst,
        });
        let theta_charge = exposure.theta_charge(market.params.theta_horizon_secs)?;
        let concentration_charge = concentration_charge(exposure, underlying, &market.params)?;
        theta_charges += theta_charge;
        concentration += concentration_charge;
        breakdown.push(UnderlyingBreakdown {
            underlying: index as u8,
            positions: exposure.positions,
            net_delta: to_i64(floor_money(exposure.net_delta))?,
            net_gamma: to_i64(floor_money(exposure.net_gamma))?,
            net_vega: to_i64(floor_money(exposure.net_vega))?,
            net_theta: to_i64(floor_money(exposure.net_theta))?,
            worst_loss: to_i64(worst.iter().copied().max().unwrap_or(0))?,
            worst_scenario: Some(scenario),
            theta_charge: to_i64(theta_charge)?,
            concentration_charge: to_i64(concentration_charge)?,
        });
    }
    let members: Vec<NodeLosses<i128>> = members.iter().flatten().copied().collect();
    let aggregated = aggregate(&members);
    let maintenance = aggregated.requirement + theta_charges;
    let initial = money_mul_ceil(maintenance, market.params.initial_factor)? + concentration;
    let (collateral_maint, collateral_init) = collateral_values(collateral)?;
    let unrealized = to_i64(unrealized)?;
    Ok(MarginReport {
        collateral_maint: to_i64(collateral_maint)?,
        collateral_init: to_i64(collateral_init)?,
        unrealized_pnl: unrealized,
        equity_maint: to_i64(collateral_maint + unrealized as i128)?,
        equity_init: to_i64(collateral_init + unrealized as i128)?,
        maintenance: to_i64(maintenance)?,
        initial: to_i64(initial)?,
        scenario_requirement: to_i64(aggregated.requirement)?,
        binding_group: aggregated.binding_group,
        binding_factor_level: aggregated.binding_level,
        breakdown,
    })
}

/// size x mark in quote-native units, rounded down (long at the low mark, short at the high).
pub fn position_value(notional: i128, risk: &SeriesRisk) -> RiskResult<i128> {
    let mark = if notional >= 0 {
        risk.mark_low
    } else {
        risk.mark_high
    };
    Ok(floor_money(money_times(notional, mark)?))
}

fn concentration_charge(
    exposure: &Exposure,
    underlying: &Underlying,
    params: &RiskParams,
) -> RiskResult<i128> {
    let excess = ceil_money(exposure.net_delta.abs()) - underlying.concentration_threshold as i128;
    if excess <= 0 {
        return Ok(0);
    }
    money_mul_ceil(excess, params.concentration_factor)
}

fn collateral_values(collateral: &[Collateral]) -> RiskResult<(i128, i128)> {
    let mut maint: i128 = 0;
    let mut init: i128 = 0;
    for c in collateral {
        let [m, i] = weighted_values(c)?;
        maint = maint.checked_add(m).ok_or(RiskError::Overflow)?;
        init = init.checked_add(i).ok_or(RiskError::Overflow)?;
    }
    Ok((maint, init))
}

/// Leg-by-leg requirement: every position margined alone on its own underlying's grid, with no
/// netting against any other leg; the sum of max(0, worst loss) plus each leg's theta charge.
pub fn isolated_requirement(market: &Market, positions: &[Position]) -> RiskResult<i64> {
    let mut total: i128 = 0;
    for position in positions {
        let index = position.underlying as usize;
        let underlying = market
            .underlyings
            .get(index)
            .ok_or(RiskError::UnknownUnderlying)?;
        let mut exposure = Exposure::empty();
        let notional = (position.size as i128) * (underlying.spot as i128);
        exposure.add(notional, &market.series_risk(position)?)?;
        let (worst, _) = exposure.node_losses(&market.grids[index])?;
        let worst = worst.iter().copied().max().unwrap_or(0).max(0);
        total += worst + exposure.theta_charge(market.params.theta_horizon_secs)?;
    }
    to_i64(total)
}
