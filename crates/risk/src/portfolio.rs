//! Portfolio margin: aggregate per-series risk into per-underlying exposures, evaluate every
//! scenario as a guaranteed lower bound of the book's PnL, net underlyings through the factor
//! correlation, and value the collateral. Output is the account's `MarginReport`.
use crate::collateral::weighted_values;
use crate::error::{RiskError, RiskResult};
use crate::fx::{
    ceil_money, floor_money, money_mul_ceil, money_times, mul_wide, sub, to_i64, Fx, MoneyFrac,
    Multiplicand,
};
use crate::grid::{
    factor_masks, level_spans, GridConstants, GroupSums, LevelLosses, LevelSpan, NodeLosses,
    Scenario, VolShock, CORE_NODES, DOWN, EXTENDED_DOWN_NODE, EXTENDED_UP_NODE, FACTOR_LEVELS,
    NODES, UP, VOL_SHOCKS, VOL_SHOCK_ORDER,
};
use crate::model::{
    Collateral, Position, RiskParams, Underlying, MAX_COLLATERAL, MAX_NOTIONAL, MAX_POSITIONS,
    MAX_UNDERLYINGS,
};
use crate::series::{series_risk, SeriesRisk, MARK_ERROR};

/// A market snapshot prepared once and shared by every account evaluated against it.
#[derive(Clone, Debug)]
pub struct Market {
    pub underlyings: Vec<Underlying>,
    pub grids: Vec<GridConstants>,
    /// Each underlying's factor level spans (`UnderlyingConstants::spans`).
    pub spans: Vec<[LevelSpan; FACTOR_LEVELS]>,
    pub params: RiskParams,
    pub now: i64,
}

/// What `Market::new` derives from an underlying's grid and beta (no prices): the program stores
/// it with the market so each margin check skips the derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnderlyingConstants {
    pub grid: GridConstants,
    /// The factor levels' spans (`level_spans` of `factor_masks`).
    pub spans: [LevelSpan; FACTOR_LEVELS],
}

impl UnderlyingConstants {
    pub fn new(underlying: &Underlying) -> RiskResult<Self> {
        let grid = GridConstants::new(&underlying.grid)?;
        Ok(Self {
            spans: level_spans(&factor_masks(underlying.beta, &grid)?),
            grid,
        })
    }
}

impl Market {
    pub fn new(underlyings: &[Underlying], params: RiskParams, now: i64) -> RiskResult<Self> {
        let constants = underlyings
            .iter()
            .map(UnderlyingConstants::new)
            .collect::<RiskResult<Vec<_>>>()?;
        Self::with_constants(underlyings, &constants, params, now)
    }

    /// With each underlying's constants already derived (`constants[i]` for `underlyings[i]`).
    pub fn with_constants(
        underlyings: &[Underlying],
        constants: &[UnderlyingConstants],
        params: RiskParams,
        now: i64,
    ) -> RiskResult<Self> {
        Self::from_parts(
            underlyings.to_vec(),
            constants.iter().map(|c| c.grid).collect(),
            constants.iter().map(|c| c.spans).collect(),
            params,
            now,
        )
    }

    /// From vectors built in place (`grids[i]` and `spans[i]` derived from `underlyings[i]`):
    /// how the program assembles a snapshot without copying ~1 KB per underlying around.
    pub fn from_parts(
        underlyings: Vec<Underlying>,
        grids: Vec<GridConstants>,
        spans: Vec<[LevelSpan; FACTOR_LEVELS]>,
        params: RiskParams,
        now: i64,
    ) -> RiskResult<Self> {
        if underlyings.len() > MAX_UNDERLYINGS {
            return Err(RiskError::CapacityExceeded);
        }
        if grids.len() != underlyings.len() || spans.len() != underlyings.len() {
            return Err(RiskError::InvalidParameter);
        }
        params.validate()?;
        for u in &underlyings {
            u.validate()?;
        }
        Ok(Self {
            underlyings,
            grids,
            spans,
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

    /// The underlying's index and the position's notional, size x spot, in quote-native units,
    /// at the spot `risk` is normalised by (the current one unless it is a cached risk).
    pub fn notional(&self, position: &Position, risk: &SeriesRisk) -> RiskResult<(usize, i128)> {
        let index = position.underlying as usize;
        let underlying = self
            .underlyings
            .get(index)
            .ok_or(RiskError::UnknownUnderlying)?;
        let spot = if risk.spot == 0 {
            underlying.spot
        } else {
            risk.spot
        };
        Ok((index, position.size as i128 * spot as i128))
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

/// Positions one exposure may hold: a full book (`MAX_POSITIONS`) and as many again less one,
/// so a book updated in place may add a position's new version before it removes the old one
/// (`Book::remove_position`). 63 products of at most 2^121 stay below 2^127: the sums fit i128.
pub const MAX_EXPOSURE_POSITIONS: usize = 2 * MAX_POSITIONS - 1;

/// Exact (MoneyFrac) sums of notional x bound over one underlying's positions: each position adds
/// the lower bound of its PnL (a long adds notional x the lower bound of its series' value change,
/// a short notional x the upper bound). Long options keep their own sums because together they
/// can lose at most their premium; short options are uncapped. Perps and futures are linear in
/// spot: two sums of notional x slope stand for all their scenarios (`linear_pnl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    pub long_option_price: [MoneyFrac; CORE_NODES],
    pub long_option_vol: [[MoneyFrac; 2]; CORE_NODES],
    pub long_option_value: MoneyFrac,
    pub long_option_extended: [MoneyFrac; 2],
    pub other_price: [MoneyFrac; CORE_NODES],
    pub other_vol: [[MoneyFrac; 2]; CORE_NODES],
    pub other_extended: [MoneyFrac; 2],
    /// Σ notional x the holder-adverse slope of each linear position for an up move (a long's
    /// low mark, a short's high mark) and for a down move (the reverse). A linear series' value
    /// per contract lies in [mark_low, mark_high] x S, so at a move x >= 0 its PnL is at least
    /// `linear_up` x x, at x < 0 at least `linear_down` x x, and at an extended move (value
    /// from the adverse slope at the moved spot, minus the other end of the mark band)
    /// `linear_up` x x + (`linear_up` - `linear_down`).
    pub linear_up: MoneyFrac,
    pub linear_down: MoneyFrac,
    /// Reported Greeks in quote-native units: delta per 100 % move, gamma x S^2, vega per vol
    /// point x 100, theta per year.
    pub net_delta: MoneyFrac,
    pub net_gamma: MoneyFrac,
    pub net_vega: MoneyFrac,
    pub net_theta: MoneyFrac,
    /// Σ |notional| of short options, for the short-option minimum.
    pub short_option_notional: i128,
    /// Lower bounds of the dated futures' PnL, at today's spot, when the basis shock raises /
    /// lowers every carried value: Σ notional x (`carry_rise` or -`carry_fall`), each term widened by
    /// `MARK_ERROR` against the holder.
    pub carry_rise_pnl: MoneyFrac,
    pub carry_fall_pnl: MoneyFrac,
    /// Delta-notional by tenor (perps at tenor 0), for the calendar-spread minimum: the first
    /// `tenor_count` entries, in ascending tenor order (an exposure updated in place equals
    /// one built afresh), each with the positions held at it.
    pub tenors: [i64; MAX_TENORS],
    pub tenor_positions: [u16; MAX_TENORS],
    pub tenor_delta: [MoneyFrac; MAX_TENORS],
    pub tenor_count: u8,
    pub positions: u32,
    /// Perps and futures among `positions`: a book without them has no linear terms.
    pub linears: u32,
}

/// Distinct tenors (expiries, and the perpetual) an account may hold on one underlying; a
/// tenor past them is refused (`CapacityExceeded`). Bounded because every exposure carries the buckets
/// and the program margins up to eight underlyings in a 32 KB heap. A liquidation never needs
/// a new tenor on the target (steps and pairs only shrink its positions).
pub const MAX_TENORS: usize = 10;

impl Exposure {
    /// Adds `notional` (= size x spot) of a series of tenor `tenor` (`Instrument::tenor`).
    pub fn add(&mut self, notional: i128, tenor: i64, risk: &SeriesRisk) -> RiskResult<()> {
        self.apply(notional, tenor, risk, false)
    }

    /// Takes out exactly what `add(notional, tenor, risk)` put in: the sums are exact, so an
    /// exposure updated by `remove` + `add` equals one built afresh.
    pub fn remove(&mut self, notional: i128, tenor: i64, risk: &SeriesRisk) -> RiskResult<()> {
        self.apply(notional, tenor, risk, true)
    }

    fn apply(
        &mut self,
        notional: i128,
        tenor: i64,
        risk: &SeriesRisk,
        remove: bool,
    ) -> RiskResult<()> {
        if notional.abs() > MAX_NOTIONAL {
            return Err(RiskError::NotionalOutOfRange);
        }
        // |notional| <= 2^58 (just checked).
        let notional = notional as i64;
        // Bounds are chosen by the position's side; `scaled` only sets the direction of the sum.
        let scaled = if remove { -notional } else { notional };
        // At most MAX_EXPOSURE_POSITIONS held: with |notional| <= 2^58 and |bound| <= 2^63
        // each product is at most 2^121, so every sum of the held positions is below 2^127 and
        // the wrapping accumulation (`Multiplicand::accumulate`) ends exact.
        let count = |n: u32| {
            if remove {
                n.checked_sub(1).ok_or(RiskError::Overflow)
            } else if n as usize >= MAX_EXPOSURE_POSITIONS {
                Err(RiskError::CapacityExceeded)
            } else {
                Ok(n + 1)
            }
        };
        let positions = count(self.positions)?;
        // Refuses before anything changes.
        self.add_tenor(scaled, tenor, risk.delta, remove)?;
        self.positions = positions;
        if risk.is_option {
            self.add_option(notional, scaled, risk)
        } else {
            self.linears = count(self.linears)?;
            self.add_linear(notional, scaled, risk);
            Ok(())
        }
    }

    /// Adds (or takes out) `scaled` x `delta` at `tenor`'s bucket; a bucket is freed when its
    /// last position leaves. More than `MAX_TENORS` tenors is refused.
    fn add_tenor(&mut self, scaled: i64, tenor: i64, delta: Fx, remove: bool) -> RiskResult<()> {
        let used = self.tenor_count as usize;
        let at = match self.tenors[..used].binary_search(&tenor) {
            Ok(at) => at,
            Err(_) if remove => return Err(RiskError::Overflow),
            Err(_) if used == MAX_TENORS => return Err(RiskError::CapacityExceeded),
            Err(at) => {
                self.tenors[at..=used].rotate_right(1);
                self.tenor_positions[at..=used].rotate_right(1);
                self.tenor_delta[at..=used].rotate_right(1);
                self.tenors[at] = tenor;
                self.tenor_count += 1;
                at
            }
        };
        Multiplicand::new(scaled).accumulate(&mut self.tenor_delta[at], delta);
        if !remove {
            self.tenor_positions[at] += 1;
        } else {
            self.tenor_positions[at] -= 1;
            if self.tenor_positions[at] == 0 {
                self.tenors[at..used].rotate_left(1);
                self.tenor_positions[at..used].rotate_left(1);
                self.tenor_delta[at..used].rotate_left(1);
                self.tenors[used - 1] = 0;
                self.tenor_delta[used - 1] = 0;
                self.tenor_count -= 1;
            }
        }
        Ok(())
    }

    fn add_linear(&mut self, notional: i64, scaled: i64, risk: &SeriesRisk) {
        let scaled = Multiplicand::new(scaled);
        let long = notional >= 0;
        let (up, down) = if long {
            (risk.mark_low, risk.mark_high)
        } else {
            (risk.mark_high, risk.mark_low)
        };
        scaled.accumulate(&mut self.net_delta, risk.delta);
        scaled.accumulate(&mut self.linear_up, up);
        scaled.accumulate(&mut self.linear_down, down);
        if risk.carry_rise != 0 || risk.carry_fall != 0 {
            // A long gains when the carry rises: its bound takes the lower change; a short the
            // higher. Widened by MARK_ERROR (the carried value's rounding). |carry| is at most
            // e^{rT} x sT, far inside Fx: no overflow.
            let (rise, fall) = if long {
                (risk.carry_rise - MARK_ERROR, risk.carry_fall + MARK_ERROR)
            } else {
                (risk.carry_rise + MARK_ERROR, risk.carry_fall - MARK_ERROR)
            };
            scaled.accumulate(&mut self.carry_rise_pnl, rise);
            scaled.accumulate(&mut self.carry_fall_pnl, -fall);
        }
    }

    fn add_option(&mut self, notional: i64, scaled: i64, risk: &SeriesRisk) -> RiskResult<()> {
        let scaled = Multiplicand::new(scaled);
        let acc = |slot: &mut MoneyFrac, f: Fx| scaled.accumulate(slot, f);
        acc(&mut self.net_delta, risk.delta);
        acc(&mut self.net_theta, risk.theta);
        acc(&mut self.net_gamma, risk.gamma);
        acc(&mut self.net_vega, risk.vega);
        let long = notional >= 0;
        let (price, vol, extended) = if long {
            acc(&mut self.long_option_value, risk.mark_high);
            (
                &mut self.long_option_price,
                &mut self.long_option_vol,
                &mut self.long_option_extended,
            )
        } else {
            if !risk.settled {
                self.short_option_notional -= scaled.value() as i128;
            }
            (
                &mut self.other_price,
                &mut self.other_vol,
                &mut self.other_extended,
            )
        };
        let (price_bound, vol_bound) = if long {
            (&risk.price_low, &risk.vol_pnl_min)
        } else {
            (&risk.price_high, &risk.vol_pnl_max)
        };
        for (slot, bound) in price.iter_mut().zip(price_bound) {
            acc(slot, *bound);
        }
        for (slots, bounds) in vol.iter_mut().zip(vol_bound) {
            for (slot, bound) in slots.iter_mut().zip(bounds) {
                acc(slot, *bound);
            }
        }
        for (side, slot) in extended.iter_mut().enumerate() {
            // Long: worst value at the extended node vs the highest mark; short: the reverse.
            let change = if long {
                sub(risk.extended_low[side], risk.mark_high)?
            } else {
                sub(risk.extended_high[side], risk.mark_low)?
            };
            acc(slot, change);
        }
        Ok(())
    }

    /// The linear slopes in whole quote-native units, rounded so that slope x move stays a
    /// lower bound: `linear_up` down (it multiplies moves >= 0 and 1 + x > 0), `linear_down` up
    /// (it multiplies moves < 0). None without perps or futures.
    fn linear_slopes(&self) -> RiskResult<Option<(i64, i64)>> {
        if self.linears == 0 {
            return Ok(None);
        }
        Ok(Some((
            to_i64(floor_money(self.linear_up))?,
            to_i64(ceil_money(self.linear_down))?,
        )))
    }

    /// Every core node's PnL under each volatility shock (`VOL_SHOCK_ORDER`): the floored sum
    /// of the other positions' bounds and the long options' bounds capped at their value. The
    /// second value is set when a term lies outside the `floored` range (the PnLs are then
    /// meaningless): the checks of a node are one flag, tested once per underlying.
    #[inline(always)]
    fn core_pnls(
        &self,
        grid: &GridConstants,
        node: usize,
        long_floor: i64,
        slopes: Option<(i64, i64)>,
    ) -> ([i64; VOL_SHOCKS], bool) {
        // Each term is within 2^59 (or flagged) and a PnL sums at most four, so the wrapping
        // adds below never wrap on terms that pass (they skip the overflow checks of the SBF
        // build).
        let (mut other, mut outside) = floor_term(self.other_price[node]);
        if let Some((up, down)) = slopes {
            let x = grid.moves[node];
            let (linear, linear_outside) =
                floor_term(mul_wide(if x >= 0 { up } else { down }, x.to_bits()));
            other = other.wrapping_add(linear);
            outside |= linear_outside;
        }
        // Volatility terms are evaluated even where no option feeds them (zero sums): the
        // first option on a held underlying then costs no more than the next.
        let (long, long_outside) = floor_term(self.long_option_price[node]);
        let [(long_down, long_down_outside), (long_up, long_up_outside)] =
            self.long_option_vol[node].map(floor_term);
        let [(other_down, other_down_outside), (other_up, other_up_outside)] =
            self.other_vol[node].map(floor_term);
        outside |= long_outside
            | long_down_outside
            | long_up_outside
            | other_down_outside
            | other_up_outside;
        let shocked = |long_vol: i64, other_vol: i64| {
            other
                .wrapping_add(other_vol)
                .wrapping_add(long.wrapping_add(long_vol).max(long_floor))
        };
        (
            [
                shocked(long_down, other_down),
                other.wrapping_add(long.max(long_floor)),
                shocked(long_up, other_up),
            ],
            outside,
        )
    }

    /// Worst loss at each node and the scenario of the overall worst. Every term is already a
    /// bound in MoneyFrac: the scenarios only floor and add. Floored terms and losses beyond
    /// `MAX_MEMBER_LOSS` are refused (`Overflow`), so the 27 scenarios run in 64-bit arithmetic
    /// (one SBF instruction per operation where 128-bit takes several), without a branch: the
    /// range checks are gathered into one flag and the worst scenario is found afterwards.
    pub fn node_losses(&self, grid: &GridConstants) -> RiskResult<([i64; NODES], Scenario)> {
        let long_floor = self.long_floor()?;
        let slopes = self.linear_slopes()?;
        let mut worst = [0; NODES];
        let mut outside = false;
        for (node, slot) in worst.iter_mut().enumerate().take(CORE_NODES) {
            let ([down, flat, up], node_outside) = self.core_pnls(grid, node, long_floor, slopes);
            // |pnl| < 2^62 for terms that pass: the negation cannot wrap.
            let loss = down.min(flat).min(up).wrapping_neg();
            outside |= node_outside | (loss.unsigned_abs() > MAX_MEMBER_LOSS as u64);
            *slot = loss;
        }
        if outside {
            return Err(RiskError::Overflow);
        }
        for (side, node) in [(DOWN, EXTENDED_DOWN_NODE), (UP, EXTENDED_UP_NODE)] {
            worst[node] = self.extended_loss(side, grid, slopes)?;
        }
        // The first node (in node order) reaching the worst loss, and its first shock (in
        // `VOL_SHOCK_ORDER`) reaching its worst PnL.
        let mut node = 0;
        for candidate in 1..NODES {
            if worst[candidate] > worst[node] {
                node = candidate;
            }
        }
        let vol = if node < CORE_NODES {
            let (pnls, _) = self.core_pnls(grid, node, long_floor, slopes);
            let pnl = pnls[0].min(pnls[1]).min(pnls[2]);
            let first = pnls.iter().position(|p| *p == pnl).unwrap_or(1);
            VOL_SHOCK_ORDER[first]
        } else {
            VolShock::Flat
        };
        Ok((worst, Scenario { node, vol }))
    }

    /// Every scenario's loss, for display (a frontend's heat map): each core node under each
    /// volatility shock (`VOL_SHOCK_ORDER`), then the extended down and up moves at their weight.
    /// The same terms `node_losses` takes the worst of.
    pub fn scenario_losses(
        &self,
        grid: &GridConstants,
    ) -> RiskResult<([[i64; VOL_SHOCKS]; CORE_NODES], [i64; 2])> {
        let long_floor = self.long_floor()?;
        let slopes = self.linear_slopes()?;
        let mut core = [[0; VOL_SHOCKS]; CORE_NODES];
        for (node, row) in core.iter_mut().enumerate() {
            let (pnls, outside) = self.core_pnls(grid, node, long_floor, slopes);
            if outside {
                return Err(RiskError::Overflow);
            }
            for (slot, pnl) in row.iter_mut().zip(pnls) {
                *slot = bounded_loss(-(pnl as i128))?;
            }
        }
        Ok((
            core,
            [
                self.extended_loss(DOWN, grid, slopes)?,
                self.extended_loss(UP, grid, slopes)?,
            ],
        ))
    }

    /// Long options together lose at most what they are worth.
    fn long_floor(&self) -> RiskResult<i64> {
        bounded_loss(-ceil_money(self.long_option_value))
    }

    /// Loss at the extended move `side` (DOWN / UP), counted at the grid's extended weight. In
    /// 64-bit arithmetic like the core nodes: each term within [-2^59, 2^59) (else `Overflow`),
    /// so the PnL of at most four is below 2^61 and its weighted product fits i128.
    fn extended_loss(
        &self,
        side: usize,
        grid: &GridConstants,
        slopes: Option<(i64, i64)>,
    ) -> RiskResult<i64> {
        let (long, long_outside) = floor_term(self.long_option_extended[side]);
        let (other, other_outside) = floor_term(self.other_extended[side]);
        let mut outside = long_outside | other_outside;
        let mut pnl = long.wrapping_add(other);
        if let Some((up, down)) = slopes {
            // Linear: value at the adverse slope at the moved spot minus the other end of the
            // mark band, up x (1 + x) - down.
            let node = [EXTENDED_DOWN_NODE, EXTENDED_UP_NODE][side];
            let spot_ratio = Fx::ONE + grid.moves[node];
            let (linear, linear_outside) = floor_term(mul_wide(up, spot_ratio.to_bits()));
            outside |= linear_outside | (down.unsigned_abs() >= MAX_MEMBER_LOSS as u64);
            pnl = pnl.wrapping_add(linear).wrapping_sub(down);
        }
        if outside {
            return Err(RiskError::Overflow);
        }
        let weighted = mul_wide(pnl.wrapping_neg(), grid.extended_weight.to_bits());
        bounded_loss(ceil_money(weighted))
    }

    /// The short-option minimum of these positions: a fraction of the short options' notional.
    pub fn short_option_minimum(&self, underlying: &Underlying) -> RiskResult<i128> {
        money_mul_ceil(self.short_option_notional, underlying.short_option_minimum)
    }

    /// Basis charge (maintenance, outside the correlation netting): the worst loss of the dated
    /// futures when the basis shock moves every carried value (all up or all down) at any core
    /// price (at most 1 + R times
    /// the loss at today's spot), plus the calendar-spread minimum on the delta-notional
    /// netted across tenors, (Σ_t |N_t| - |Σ_t N_t|) / 2. Rationale: docs/risk-model.md.
    pub fn basis_charge(&self, underlying: &Underlying, grid: &GridConstants) -> RiskResult<i128> {
        let carry_loss = ceil_money(-self.carry_rise_pnl)
            .max(ceil_money(-self.carry_fall_pnl))
            .max(0);
        let carry = money_mul_ceil(carry_loss, crate::fx::add(Fx::ONE, grid.price_range)?)?;
        let held = &self.tenor_delta[..self.tenor_count as usize];
        if held.len() < 2 || underlying.calendar_spread_minimum == 0 {
            return Ok(carry);
        }
        let (mut gross, mut net): (MoneyFrac, MoneyFrac) = (0, 0);
        for delta in held {
            gross = gross.checked_add(delta.abs()).ok_or(RiskError::Overflow)?;
            net = net.checked_add(*delta).ok_or(RiskError::Overflow)?;
        }
        let netted_twice = ceil_money(gross - net.abs());
        let spread = money_mul_ceil(netted_twice, underlying.calendar_spread_minimum)?;
        // Half of it, rounded up: each pair counts once.
        Ok(carry + (spread + 1) / 2)
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
    /// Short-option minimum of this underlying (a floor under its group's requirement).
    pub short_option_minimum: i64,
    /// Basis and calendar-spread charge (`Exposure::basis_charge`), added to maintenance.
    pub basis_charge: i64,
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
    /// Worst correlated scenario loss + theta and basis charges.
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
    MarginScratch::new(market).margin_priced(market, collateral, positions)
}

/// The buffers margining one account after another reuses: the book's exposures and the
/// per-underlying results (a keeper scanning thousands of accounts allocates them once, where
/// `margin_priced` allocates them per account).
#[derive(Clone, Debug)]
pub struct MarginScratch {
    book: Book,
    results: Vec<Option<UnderlyingResult>>,
}

impl MarginScratch {
    pub fn new(market: &Market) -> Self {
        Self {
            book: Book::new(market.underlyings.len()),
            results: Vec::new(),
        }
    }

    /// `margin_priced` in these buffers (sized anew if `market` lists another number of
    /// underlyings than the last one).
    pub fn margin_priced(
        &mut self,
        market: &Market,
        collateral: &[Collateral],
        positions: &[PricedPosition],
    ) -> RiskResult<MarginReport> {
        if positions.len() > MAX_POSITIONS || collateral.len() > MAX_COLLATERAL {
            return Err(RiskError::CapacityExceeded);
        }
        if self.book.exposures.len() == market.underlyings.len() {
            self.book.clear();
        } else {
            self.book = Book::new(market.underlyings.len());
        }
        for p in positions {
            self.book.add(market, p)?;
        }
        self.book.results_into(market, &mut self.results)?;
        finish(market, &self.results, self.book.unrealized, collateral)
    }
}

/// Positions summed per underlying, and their unrealized PnL: what a report is made from.
#[derive(Clone, Debug)]
pub struct Book {
    /// By underlying index; allocated when a position on it is first added: an account holds
    /// few of the listed underlyings, an exposure is ~1 KB, and the program's heap is 32 KB.
    exposures: Vec<Option<Box<Exposure>>>,
    pub unrealized: i128,
}

/// One underlying's scenario losses and breakdown, ready for the correlation netting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnderlyingResult {
    /// In i64 (bounded by `MAX_MEMBER_LOSS`): the netting compares and adds them many times,
    /// and a 64-bit operation is one SBF instruction where an i128 one is several.
    pub member: LevelLosses<i64>,
    /// Its theta and concentration charges are the ones the totals add (exact: the charges
    /// fit i64 or the result is refused).
    pub breakdown: UnderlyingBreakdown,
}

impl Book {
    pub fn new(underlyings: usize) -> Self {
        Self {
            exposures: vec![None; underlyings],
            unrealized: 0,
        }
    }

    /// Empties the book and keeps its exposures' allocations: a program margining accounts one
    /// after the other (its heap never frees) reuses them.
    pub fn clear(&mut self) {
        for exposure in self.exposures.iter_mut().flatten() {
            **exposure = Exposure::default();
        }
        self.unrealized = 0;
    }

    /// The exposure of underlying `index`; None if no position on it was ever added.
    pub fn exposure(&self, index: usize) -> Option<&Exposure> {
        self.exposures.get(index)?.as_deref()
    }

    /// The exposure of underlying `index`, to change in place (a pair liquidation plans its
    /// step in the account's own book and restores it).
    pub fn exposure_mut(&mut self, index: usize) -> Option<&mut Exposure> {
        self.exposures.get_mut(index)?.as_deref_mut()
    }

    /// (underlying index, exposure) of every underlying a position was added on, in index order.
    pub fn exposures(&self) -> impl Iterator<Item = (usize, &Exposure)> {
        self.exposures
            .iter()
            .enumerate()
            .filter_map(|(index, exposure)| Some((index, exposure.as_deref()?)))
    }

    pub fn add(&mut self, market: &Market, p: &PricedPosition) -> RiskResult<()> {
        self.add_position(market, &p.position, &p.risk).map(|_| ())
    }

    /// `add` of a position and its series risk held apart (no `PricedPosition` copy). Returns
    /// the position's underlying index.
    pub fn add_position(
        &mut self,
        market: &Market,
        position: &Position,
        risk: &SeriesRisk,
    ) -> RiskResult<usize> {
        self.apply(market, position, risk, false)
    }

    /// Takes out exactly what `add_position` put in (a liquidation step re-margins the account
    /// by swapping the one position it changed). Returns the position's underlying index.
    pub fn remove_position(
        &mut self,
        market: &Market,
        position: &Position,
        risk: &SeriesRisk,
    ) -> RiskResult<usize> {
        self.apply(market, position, risk, true)
    }

    fn apply(
        &mut self,
        market: &Market,
        position: &Position,
        risk: &SeriesRisk,
        remove: bool,
    ) -> RiskResult<usize> {
        let (index, notional, unrealized) = position_terms(market, position, risk)?;
        self.exposures
            .get_mut(index)
            .ok_or(RiskError::UnknownUnderlying)?
            // Off the stack: 4 KB per frame on SBF.
            .get_or_insert_with(Box::default)
            .apply(notional, position.instrument.tenor(), risk, remove)?;
        let unrealized = if remove { -unrealized } else { unrealized };
        self.unrealized = self
            .unrealized
            .checked_add(unrealized)
            .ok_or(RiskError::Overflow)?;
        Ok(index)
    }

    /// Each underlying's result, by underlying index up to the last one a position was added
    /// on (None where nothing is held).
    pub fn results(&self, market: &Market) -> RiskResult<Vec<Option<UnderlyingResult>>> {
        let mut results = Vec::new();
        self.results_into(market, &mut results)?;
        Ok(results)
    }

    /// `results` written into `out`, reusing its allocation.
    pub fn results_into(
        &self,
        market: &Market,
        out: &mut Vec<Option<UnderlyingResult>>,
    ) -> RiskResult<()> {
        let used = self
            .exposures
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |last| last + 1);
        out.clear();
        out.reserve_exact(used);
        for (index, exposure) in self.exposures[..used].iter().enumerate() {
            out.push(match exposure {
                Some(exposure) => underlying_result(market, index, exposure)?,
                None => None,
            });
        }
        Ok(())
    }
}

/// Margins a book one underlying at a time in a single exposure: the per-underlying results of
/// a `Book` of the same positions, without holding an exposure (~1 KB) per underlying. For a
/// check that margins an account once; a `Book` is for re-margining one in place.
///
/// Positions must come grouped by underlying in ascending index order (`add_position`
/// refuses one whose underlying was already closed); `results` closes the last underlying.
#[derive(Clone, Debug, Default)]
pub struct UnderlyingSweep {
    exposure: Box<Exposure>,
    /// The underlying `exposure` sums (meaningful while `exposure.positions > 0`).
    current: usize,
    results: Vec<Option<UnderlyingResult>>,
    pub unrealized: i128,
}

impl UnderlyingSweep {
    /// A sweep in memory a `Book` and its results no longer need (the program's heap never
    /// frees): one of the book's exposures, or a new one if it has none.
    pub fn reusing(mut book: Book, results: Vec<Option<UnderlyingResult>>) -> Self {
        let exposure = book
            .exposures
            .iter_mut()
            .find_map(Option::take)
            .unwrap_or_default();
        Self {
            exposure,
            current: 0,
            results,
            unrealized: 0,
        }
    }

    /// Empties the sweep, keeping its allocations, with room for the results of `underlyings`
    /// underlyings (exactly: the program's heap never frees; a book past them reallocates).
    pub fn begin(&mut self, underlyings: usize) {
        *self.exposure = Exposure::default();
        self.current = 0;
        self.results.clear();
        self.results.reserve_exact(underlyings);
        self.unrealized = 0;
    }

    /// Adds a position: of the underlying being summed, or of a later one (which closes it).
    pub fn add_position(
        &mut self,
        market: &Market,
        position: &Position,
        risk: &SeriesRisk,
    ) -> RiskResult<()> {
        let (index, notional, unrealized) = position_terms(market, position, risk)?;
        if index < self.results.len() {
            // Its underlying was closed already: positions out of order.
            return Err(RiskError::InvalidParameter);
        }
        if index != self.current {
            self.close(market)?;
            self.current = index;
        }
        self.exposure
            .add(notional, position.instrument.tenor(), risk)?;
        self.unrealized = self
            .unrealized
            .checked_add(unrealized)
            .ok_or(RiskError::Overflow)?;
        Ok(())
    }

    /// Evaluates the underlying being summed into `results` (None for those skipped before it)
    /// and empties the exposure.
    fn close(&mut self, market: &Market) -> RiskResult<()> {
        if self.exposure.positions == 0 {
            return Ok(());
        }
        let result = underlying_result(market, self.current, &self.exposure)?;
        self.results.resize(self.current, None);
        self.results.push(result);
        *self.exposure = Exposure::default();
        Ok(())
    }

    /// Each underlying's result, as `Book::results` of the same positions gives them.
    pub fn results(&mut self, market: &Market) -> RiskResult<&[Option<UnderlyingResult>]> {
        self.close(market)?;
        Ok(&self.results)
    }
}

/// Scenario losses, short-option floor, theta and concentration charges of one underlying.
pub fn underlying_result(
    market: &Market,
    index: usize,
    exposure: &Exposure,
) -> RiskResult<Option<UnderlyingResult>> {
    if exposure.positions == 0 {
        return Ok(None);
    }
    let underlying = market
        .underlyings
        .get(index)
        .ok_or(RiskError::UnknownUnderlying)?;
    let (worst, scenario) = exposure.node_losses(&market.grids[index])?;
    let short_option_minimum = exposure.short_option_minimum(underlying)?;
    let theta_charge = exposure.theta_charge(market.params.theta_horizon_secs)?;
    let basis_charge = exposure.basis_charge(underlying, &market.grids[index])?;
    let concentration_charge = concentration_charge(exposure, underlying, &market.params)?;
    let member = NodeLosses {
        group: underlying.correlation_group,
        spans: market.spans[index],
        worst,
        floor: bounded_loss(short_option_minimum)?,
    }
    .levels();
    Ok(Some(UnderlyingResult {
        member,
        breakdown: UnderlyingBreakdown {
            underlying: index as u8,
            positions: exposure.positions,
            net_delta: to_i64(floor_money(exposure.net_delta))?,
            net_gamma: to_i64(floor_money(exposure.net_gamma))?,
            net_vega: to_i64(floor_money(exposure.net_vega))?,
            net_theta: to_i64(floor_money(exposure.net_theta))?,
            worst_loss: worst.iter().copied().max().unwrap_or(0),
            worst_scenario: Some(scenario),
            theta_charge: to_i64(theta_charge)?,
            concentration_charge: to_i64(concentration_charge)?,
            short_option_minimum: to_i64(short_option_minimum)?,
            basis_charge: to_i64(basis_charge)?,
        },
    }))
}

/// Largest |loss| a member brings to the netting: eight members' sums stay far inside i64.
pub const MAX_MEMBER_LOSS: i128 = 1 << 59;

fn bounded_loss(loss: i128) -> RiskResult<i64> {
    member_loss(i64::try_from(loss).map_err(|_| RiskError::Overflow)?)
}

/// `bounded_loss` of a loss already in i64: one compare.
#[inline]
fn member_loss(loss: i64) -> RiskResult<i64> {
    if loss.unsigned_abs() > MAX_MEMBER_LOSS as u64 {
        return Err(RiskError::Overflow);
    }
    Ok(loss)
}

/// A scenario term: floor(value / 2^32), and whether it lies outside [-2^59, 2^59) (then the
/// first value is meaningless; the scenario loops gather these flags and refuse with
/// `Overflow`). Read from the two 64-bit halves: one add and one compare where a 128-bit
/// bound check takes several.
#[inline(always)]
fn floor_term(value: MoneyFrac) -> (i64, bool) {
    let high = (value >> 64) as i64;
    // floor(value / 2^32) = high x 2^32 + (low >> 32); within the bound iff high is in
    // [-2^27, 2^27).
    const HALF_RANGE: i64 = 1 << 27;
    let outside = (high.wrapping_add(HALF_RANGE) as u64) >= 2 * HALF_RANGE as u64;
    ((high << 32) | ((value as u64) >> 32) as i64, outside)
}

/// The report from per-underlying results (in underlying order), the book's unrealized PnL and
/// the collateral, with each held underlying's breakdown.
pub fn finish(
    market: &Market,
    results: &[Option<UnderlyingResult>],
    unrealized: i128,
    collateral: &[Collateral],
) -> RiskResult<MarginReport> {
    let mut report = margin_totals(market, results.iter().flatten(), unrealized, collateral)?;
    // Sized once: collected from a filter its length is unknown and it would grow twice.
    report.breakdown = Vec::with_capacity(results.len());
    report
        .breakdown
        .extend(results.iter().flatten().map(|r| r.breakdown));
    Ok(report)
}

/// `finish` from the held underlyings' results, without the breakdown (left empty): no heap
/// allocation. The program margins with it (its bump allocator never frees), and a
/// liquidation's sizing search per trial, with the trial's own result in place of the account's.
pub fn margin_totals<'r>(
    market: &Market,
    results: impl IntoIterator<Item = &'r UnderlyingResult>,
    unrealized: i128,
    collateral: &[Collateral],
) -> RiskResult<MarginReport> {
    let mut groups = GroupSums::<i64>::new();
    let mut theta_charges: i128 = 0;
    let mut concentration: i128 = 0;
    for result in results {
        groups.add(&result.member)?;
        theta_charges = theta_charges
            .checked_add(result.breakdown.theta_charge as i128)
            .and_then(|sum| sum.checked_add(result.breakdown.basis_charge as i128))
            .ok_or(RiskError::Overflow)?;
        concentration = concentration
            .checked_add(result.breakdown.concentration_charge as i128)
            .ok_or(RiskError::Overflow)?;
    }
    let aggregated = groups.aggregate();
    let maintenance = aggregated.requirement as i128 + theta_charges;
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
        scenario_requirement: aggregated.requirement,
        binding_group: aggregated.binding_group,
        binding_factor_level: aggregated.binding_level,
        breakdown: Vec::new(),
    })
}

/// A position's underlying index, notional and unrealized PnL (value at the holder-adverse mark
/// minus cost basis): what it brings to a `Book`.
pub fn position_terms(
    market: &Market,
    position: &Position,
    risk: &SeriesRisk,
) -> RiskResult<(usize, i128, i128)> {
    let (index, notional) = market.notional(position, risk)?;
    let unrealized = position_value(notional, risk)? - position.cost_basis as i128;
    Ok((index, notional, unrealized))
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
        let risk = market.series_risk(position)?;
        let (index, notional) = market.notional(position, &risk)?;
        let mut exposure = Exposure::default();
        exposure.add(notional, position.instrument.tenor(), &risk)?;
        let (worst, _) = exposure.node_losses(&market.grids[index])?;
        let underlying = &market.underlyings[index];
        let minimum = exposure.short_option_minimum(underlying)?;
        let worst = (worst.iter().copied().max().unwrap_or(0) as i128)
            .max(minimum)
            .max(0);
        total += worst
            + exposure.theta_charge(market.params.theta_horizon_secs)?
            + exposure.basis_charge(underlying, &market.grids[index])?;
    }
    to_i64(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fx::FRAC_BITS;
    use proptest::prelude::*;

    /// `floor_term` as a result.
    fn floored(value: MoneyFrac) -> RiskResult<i64> {
        match floor_term(value) {
            (term, false) => Ok(term),
            (_, true) => Err(RiskError::Overflow),
        }
    }

    proptest! {
        #[test]
        fn a_linear_term_is_the_floored_exact_product(
            slope in -(1i64 << 50)..(1i64 << 50),
            x in -(1i64 << 42)..(1i64 << 42),
        ) {
            let exact = (slope as i128 * x as i128) >> FRAC_BITS;
            let expected = if (-MAX_MEMBER_LOSS..MAX_MEMBER_LOSS).contains(&exact) {
                Ok(exact as i64)
            } else {
                Err(RiskError::Overflow)
            };
            prop_assert_eq!(floored(mul_wide(slope, x)), expected);
        }
    }

    #[test]
    fn linear_slopes_round_against_the_holder() {
        let exposure = Exposure {
            linears: 1,
            linear_up: (7 << 32) + 1,
            linear_down: (-7 << 32) + 1,
            ..Exposure::default()
        };
        assert_eq!(exposure.linear_slopes(), Ok(Some((7, -6))));
        assert_eq!(Exposure::default().linear_slopes(), Ok(None));
        let too_wide = Exposure {
            linears: 1,
            linear_up: 1 << 100,
            ..Exposure::default()
        };
        assert_eq!(too_wide.linear_slopes(), Err(RiskError::Overflow));
    }

    #[test]
    fn member_losses_beyond_the_netting_bound_are_refused() {
        assert_eq!(bounded_loss(MAX_MEMBER_LOSS), Ok(MAX_MEMBER_LOSS as i64));
        assert_eq!(bounded_loss(-MAX_MEMBER_LOSS), Ok(-MAX_MEMBER_LOSS as i64));
        assert_eq!(bounded_loss(MAX_MEMBER_LOSS + 1), Err(RiskError::Overflow));
        assert_eq!(
            floored(-(MAX_MEMBER_LOSS + 1) << 32),
            Err(RiskError::Overflow)
        );
        assert_eq!(floored(MAX_MEMBER_LOSS << 32), Err(RiskError::Overflow));
        assert_eq!(floored(-MAX_MEMBER_LOSS << 32), Ok(-MAX_MEMBER_LOSS as i64));
        for value in [
            0i128,
            1,
            -1,
            (1 << 32) - 1,
            -(1 << 32) - 1,
            ((MAX_MEMBER_LOSS - 1) << 32) + 12345,
            (-MAX_MEMBER_LOSS << 32) + 1,
            123_456_789_012_345_678_901,
            -987_654_321_098_765_432_109,
        ] {
            assert_eq!(floored(value), Ok(floor_money(value) as i64), "{value}");
        }
    }

    /// The scenario loop checks its terms together (one flag per underlying): any term past
    /// the range, at any node, still refuses the underlying, and so does a sum of terms in
    /// range whose loss passes `MAX_MEMBER_LOSS`.
    #[test]
    fn every_scenario_term_past_its_range_is_refused() {
        let grid = GridConstants::new(&crate::model::ScenarioGrid {
            price_range: crate::fx::fx_ratio(15, 100),
            vol_down: crate::fx::fx_ratio(1, 10),
            vol_up: crate::fx::fx_ratio(1, 10),
            extended_down: crate::fx::fx_ratio(1, 2),
            extended_up: Fx::ONE,
            extended_weight: crate::fx::fx_ratio(1, 3),
        })
        .unwrap();
        let past = MAX_MEMBER_LOSS << 32;
        let edge = -MAX_MEMBER_LOSS << 32;
        type Slot = fn(&mut Exposure, usize) -> &mut MoneyFrac;
        let slots: [Slot; 6] = [
            |e, n| &mut e.other_price[n],
            |e, n| &mut e.long_option_price[n],
            |e, n| &mut e.long_option_vol[n][DOWN],
            |e, n| &mut e.long_option_vol[n][UP],
            |e, n| &mut e.other_vol[n][DOWN],
            |e, n| &mut e.other_vol[n][UP],
        ];
        for (k, slot) in slots.iter().enumerate() {
            for node in 0..CORE_NODES {
                let mut exposure = Exposure::default();
                *slot(&mut exposure, node) = past;
                assert_eq!(
                    exposure.node_losses(&grid),
                    Err(RiskError::Overflow),
                    "{k} {node}"
                );
                assert_eq!(exposure.scenario_losses(&grid), Err(RiskError::Overflow));
                *slot(&mut exposure, node) = edge;
                let (worst, _) = exposure.node_losses(&grid).unwrap();
                assert!(worst.iter().all(|loss| *loss <= MAX_MEMBER_LOSS as i64));
            }
        }
        let mut exposure = Exposure::default();
        exposure.other_price[0] = edge;
        exposure.other_vol[0][UP] = edge;
        assert_eq!(exposure.node_losses(&grid), Err(RiskError::Overflow));
        // The extended moves' terms, and the down slope that only they use whole.
        for side in [DOWN, UP] {
            let extended_slots: [Slot; 2] = [
                |e, n| &mut e.long_option_extended[n],
                |e, n| &mut e.other_extended[n],
            ];
            for extended in extended_slots {
                let mut exposure = Exposure::default();
                *extended(&mut exposure, side) = past;
                assert_eq!(exposure.node_losses(&grid), Err(RiskError::Overflow));
                *extended(&mut exposure, side) = edge;
                assert!(exposure.node_losses(&grid).is_ok());
            }
        }
        let mut linear = Exposure {
            linears: 1,
            positions: 1,
            ..Exposure::default()
        };
        linear.linear_down = past;
        assert_eq!(linear.node_losses(&grid), Err(RiskError::Overflow));
        linear.linear_down = past - (1 << 32);
        assert!(linear.node_losses(&grid).is_ok());
    }
}
