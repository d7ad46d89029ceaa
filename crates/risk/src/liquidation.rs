//! Liquidation sizing: how much of a position or a collateral balance a liquidator must take, at
//! a discount, to bring an unhealthy account back to a target health.
//!
//! The target is the liquidation-end level: equity at maintenance weights must cover
//! maintenance + `end_fraction` x (initial - maintenance), a level between the two thresholds.
use crate::collateral::{weighted_value, Level};
use crate::error::{RiskError, RiskResult};
use crate::fx::{money_mul_ceil, money_mul_floor, sub, Fx};
use crate::model::{Collateral, Position};
use crate::model::{MAX_COLLATERAL, MAX_POSITIONS};
use crate::portfolio::{
    margin_totals, position_terms, position_value, underlying_result, Book, MarginReport, Market,
    PricedPosition, UnderlyingResult,
};
use crate::series::SeriesRisk;

/// Health against the liquidation-end level (negative: still liquidatable).
pub fn health_at_end_level(report: &MarginReport, end_fraction: Fx) -> RiskResult<i128> {
    let gap = (report.initial as i128 - report.maintenance as i128).max(0);
    let required = report.maintenance as i128 + money_mul_ceil(gap, end_fraction)?;
    Ok(report.equity_maint as i128 - required)
}

/// Smallest `amount` in `1..=max` with `health_after(amount) >= 0`, by bisection (at most 65
/// evaluations; two when `max` is the answer), for a `health_after` that does not decrease with the amount. `None` when even
/// `max` is not enough (the caller then liquidates `max` and comes back).
pub fn smallest_sufficient(
    max: u64,
    mut health_after: impl FnMut(u64) -> RiskResult<i128>,
) -> RiskResult<Option<u64>> {
    if max == 0 {
        return Err(RiskError::NoLiquidationSolution);
    }
    if health_after(max)? < 0 {
        return Ok(None);
    }
    // A caller that sized the step off chain passes the exact amount: two evaluations.
    if max == 1 || health_after(max - 1)? < 0 {
        return Ok(Some(max));
    }
    let (mut low, mut high) = (0u64, max - 1);
    // invariant: health_after(high) >= 0, and low == 0 or health_after(low) < 0
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if health_after(mid)? >= 0 {
            high = mid;
        } else {
            low = mid;
        }
    }
    Ok(Some(high))
}

/// The discount a liquidator gets on collateral of maintenance weight `maint_weight`: the
/// liquidation `fee`, capped at half the asset's haircut (1 - weight) / 2. A sale gains the
/// seller 1 - discount - weight per unit of value, so with the cap every sale of an asset
/// weighted below 1 strictly raises its maintenance health: no listing can make collateral
/// unliquidatable. An asset weighted 1 or more gets no discount (and no sale helps).
pub fn collateral_discount(fee: Fx, maint_weight: Fx) -> RiskResult<Fx> {
    let haircut = sub(Fx::ONE, maint_weight)?.max(Fx::ZERO);
    Ok(fee.max(Fx::ZERO).min(Fx::from_bits(haircut.to_bits() / 2)))
}

/// Health gained by the account when a liquidator takes `amount` native units of `asset` and
/// pays quote (weight 1) worth price x (1 - discount) per unit.
pub fn collateral_swap_gain(asset: &Collateral, amount: u64, discount: Fx) -> RiskResult<i128> {
    let taken = i64::try_from(amount).map_err(|_| RiskError::Overflow)?;
    let remaining = asset.amount.checked_sub(taken).ok_or(RiskError::Overflow)?;
    if remaining < 0 {
        return Err(RiskError::NoLiquidationSolution);
    }
    let before = weighted_value(asset, Level::Maintenance)?;
    let after = weighted_value(
        &Collateral {
            amount: remaining,
            ..*asset
        },
        Level::Maintenance,
    )?;
    let paid_per_unit = crate::fx::mul(asset.price, sub(Fx::ONE, discount)?)?;
    let paid = money_mul_floor(amount as i128, paid_per_unit)?;
    Ok(paid - (before - after))
}

/// Collateral a liquidator must take to raise health by `deficit`.
///
/// Closed form with the base maintenance weight w: each unit gains at least
/// price x (1 - discount - w) (the liquidity haircut only lowers the marginal weight), so
/// ceil(deficit / that) is always enough; the bounded search then trims it to the exact minimum.
pub fn collateral_for_deficit(
    asset: &Collateral,
    deficit: i128,
    discount: Fx,
) -> RiskResult<Option<u64>> {
    asset.validate()?;
    if deficit <= 0 {
        return Ok(Some(0));
    }
    let available = u64::try_from(asset.amount).map_err(|_| RiskError::NoLiquidationSolution)?;
    let margin_per_unit = sub(sub(Fx::ONE, discount)?, asset.maint_asset_weight)?;
    if margin_per_unit <= 0 || available == 0 {
        return Err(RiskError::NoLiquidationSolution);
    }
    let gain_per_unit = crate::fx::mul(asset.price, margin_per_unit)?;
    if gain_per_unit <= 0 {
        return Err(RiskError::NoLiquidationSolution);
    }
    // ceil(deficit / gain_per_unit) with the divisor's 32 fraction bits.
    let divisor = gain_per_unit.to_bits() as i128;
    let estimate = deficit
        .checked_mul(1 << crate::fx::FRAC_BITS)
        .and_then(|scaled| scaled.checked_add(divisor - 1))
        .ok_or(RiskError::Overflow)?
        / divisor;
    let bound = u64::try_from(estimate.saturating_add(1))
        .unwrap_or(u64::MAX)
        .min(available);
    smallest_sufficient(bound, |amount| {
        Ok(collateral_swap_gain(asset, amount, discount)? - deficit)
    })
}

/// The account after a liquidator takes `quantity` contracts of position `index` at its mark,
/// paying `discount` x their value (`position_step`; the account's side of the trade always gets the worse
/// price). Realised PnL goes to the quote collateral entry `quote_index`.
pub fn after_position_transfer(
    market: &Market,
    collateral: &[Collateral],
    positions: &[PricedPosition],
    quote_index: usize,
    index: usize,
    quantity: u64,
    discount: Fx,
) -> RiskResult<(Vec<Collateral>, Vec<PricedPosition>)> {
    let target = positions
        .get(index)
        .ok_or(RiskError::NoLiquidationSolution)?;
    let (remaining, realised) = transfer(market, target, quantity, discount)?;
    let mut new_positions = positions.to_vec();
    new_positions[index].position = remaining;
    let mut new_collateral = collateral.to_vec();
    let quote = new_collateral
        .get_mut(quote_index)
        .ok_or(RiskError::NoLiquidationSolution)?;
    quote.amount = crate::fx::to_i64(quote.amount as i128 + realised)?;
    Ok((new_collateral, new_positions))
}

/// What a liquidator taking contracts of one position moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionStep {
    /// Contracts, signed as the account holds them.
    pub moved: i64,
    /// Their value at the account-adverse mark (signed like `moved`).
    pub value: i128,
    /// The liquidation fee: the discount on |value|, rounded up. On what the step moves (an
    /// option's value, not its underlying's notional, which can exceed it and would make a
    /// long option impossible to take).
    pub fee: i128,
}

/// The step taking `quantity` contracts of `target` at `discount`. Notional at the spot the
/// series risk is normalised by, as the program values the step.
pub fn position_step(
    market: &Market,
    target: &PricedPosition,
    quantity: u64,
    discount: Fx,
) -> RiskResult<PositionStep> {
    let size = target.position.size;
    let quantity = i64::try_from(quantity).map_err(|_| RiskError::Overflow)?;
    if quantity > size.checked_abs().ok_or(RiskError::Overflow)? {
        return Err(RiskError::NoLiquidationSolution);
    }
    let moved = if size > 0 { quantity } else { -quantity };
    let moved_position = Position {
        size: moved,
        ..target.position
    };
    let (_, notional) = market.notional(&moved_position, &target.risk)?;
    let value = position_value(notional, &target.risk)?;
    Ok(PositionStep {
        moved,
        value,
        fee: money_mul_ceil(value.abs(), discount)?,
    })
}

/// The position left after `quantity` of its contracts go to the liquidator, and the quote the
/// account realises.
fn transfer(
    market: &Market,
    target: &PricedPosition,
    quantity: u64,
    discount: Fx,
) -> RiskResult<(Position, i128)> {
    let step = position_step(market, target, quantity, discount)?;
    let size = target.position.size;
    let proceeds = step.value - step.fee;
    // Cost basis released in proportion, rounded so the account keeps the larger remaining cost.
    let cost = target.position.cost_basis as i128;
    let released = if size == 0 {
        0
    } else {
        (cost * step.moved as i128).div_euclid(size as i128)
    };
    let remaining = Position {
        size: size - step.moved,
        cost_basis: crate::fx::to_i64(cost - released)?,
        ..target.position
    };
    Ok((remaining, proceeds - released))
}

/// Smallest quantity of position `index` whose transfer (`after_position_transfer`) brings the
/// account to the liquidation-end level (`health_at_end_level` >= 0); None if even the whole
/// position does not.
#[allow(clippy::too_many_arguments)]
pub fn position_for_end_level(
    market: &Market,
    collateral: &[Collateral],
    positions: &[PricedPosition],
    quote_index: usize,
    index: usize,
    discount: Fx,
    end_fraction: Fx,
) -> RiskResult<Option<u64>> {
    if positions.len() > MAX_POSITIONS {
        return Err(RiskError::CapacityExceeded);
    }
    let target = positions
        .get(index)
        .ok_or(RiskError::NoLiquidationSolution)?;
    let mut book = Book::new(market.underlyings.len());
    for p in positions {
        book.add(market, p)?;
    }
    let results = book.results(market)?;
    let account = EvaluatedBook {
        book: &book,
        results: &results,
        collateral,
        quote_index,
    };
    let held = target.position.size.unsigned_abs();
    quantity_for_end_level(market, &account, target, held, discount, end_fraction)
}

/// An account already margined: its book (every position included), the per-underlying
/// results of that book, and its collateral.
#[derive(Clone, Copy)]
pub struct EvaluatedBook<'a> {
    pub book: &'a Book,
    pub results: &'a [Option<UnderlyingResult>],
    pub collateral: &'a [Collateral],
    /// Where realised PnL goes: the quote entry of `collateral`.
    pub quote_index: usize,
}

/// `position_for_end_level` for `target`, one of `account`'s positions, searching at most
/// `max_quantity` contracts (None: `max_quantity` is not enough). Each trial re-evaluates only
/// the position's own underlying: the rest of the book and the other underlyings' results are
/// the account's own, reused.
pub fn quantity_for_end_level(
    market: &Market,
    account: &EvaluatedBook,
    target: &PricedPosition,
    max_quantity: u64,
    discount: Fx,
    end_fraction: Fx,
) -> RiskResult<Option<u64>> {
    search_position(
        market,
        account,
        target,
        max_quantity,
        discount,
        end_fraction,
        false,
    )
}

/// The contracts of `target` a step takes: the fewest that reach the liquidation-end level
/// (`quantity_for_end_level`), else those after which maintenance health is highest. A
/// position that hedges part of the book helps only up to the point where the rest is
/// balanced: taking all of it can lower health where taking part raises it (the fuzzer's
/// short puts against short BTC perps). A ternary search finds that point where health is
/// concave in the quantity (equity moves linearly, the scenario requirement is a maximum of
/// linear losses); the calendar-spread minimum and the long-option floor are not, and there
/// it may stop at a lesser maximum (docs/security.md).
pub fn quantity_to_take(
    market: &Market,
    account: &EvaluatedBook,
    target: &PricedPosition,
    max_quantity: u64,
    discount: Fx,
    end_fraction: Fx,
) -> RiskResult<u64> {
    let bound = max_quantity.min(target.position.size.unsigned_abs());
    Ok(search_position(
        market,
        account,
        target,
        max_quantity,
        discount,
        end_fraction,
        true,
    )?
    .unwrap_or(bound))
}

/// The amount in `1..=max` after which `health_after` is highest, for a health concave in
/// the amount (ties: the smaller amount); at most ~2 log1.5(max) evaluations.
pub fn healthiest(
    max: u64,
    mut health_after: impl FnMut(u64) -> RiskResult<i128>,
) -> RiskResult<u64> {
    match max {
        0 => return Err(RiskError::NoLiquidationSolution),
        1 => return Ok(1),
        _ => {}
    }
    let (mut low, mut high) = (1u64, max);
    // invariant: a maximum lies in low..=high
    while high - low > 2 {
        let third = (high - low) / 3;
        let (left, right) = (low + third, high - third);
        if health_after(left)? < health_after(right)? {
            low = left + 1;
        } else {
            high = right;
        }
    }
    let mut best = (low, health_after(low)?);
    for amount in low + 1..=high {
        let health = health_after(amount)?;
        if health > best.1 {
            best = (amount, health);
        }
    }
    Ok(best.0)
}

#[allow(clippy::too_many_arguments)]
fn search_position(
    market: &Market,
    account: &EvaluatedBook,
    target: &PricedPosition,
    max_quantity: u64,
    discount: Fx,
    end_fraction: Fx,
    or_healthiest: bool,
) -> RiskResult<Option<u64>> {
    if account.collateral.len() > MAX_COLLATERAL {
        return Err(RiskError::CapacityExceeded);
    }
    // The book without the target: its own underlying's exposure and the unrealized PnL.
    let (own, held_notional, held_unrealized) =
        position_terms(market, &target.position, &target.risk)?;
    // One copy (~1.4 KB): each trial adds the remaining position and takes it out again
    // (exact), so the search needs no second one.
    let mut own_exposure = *account
        .book
        .exposure(own)
        .ok_or(RiskError::UnknownUnderlying)?;
    own_exposure.remove(
        held_notional,
        target.position.instrument.tenor(),
        &target.risk,
    )?;
    let rest_unrealized = account.book.unrealized - held_unrealized;
    if own >= account.results.len() {
        return Err(RiskError::UnknownUnderlying);
    }
    let quote_amount = account
        .collateral
        .get(account.quote_index)
        .ok_or(RiskError::NoLiquidationSolution)?
        .amount;
    let mut trial_collateral = account.collateral.to_vec();
    let bound = max_quantity.min(target.position.size.unsigned_abs());
    let mut report_after = |quantity| {
        let (remaining, realised) = transfer(market, target, quantity, discount)?;
        let tenor = target.position.instrument.tenor();
        let (_, notional, kept_unrealized) = position_terms(market, &remaining, &target.risk)?;
        own_exposure.add(notional, tenor, &target.risk)?;
        let trial = underlying_result(market, own, &own_exposure);
        own_exposure.remove(notional, tenor, &target.risk)?;
        let trial = trial?;
        let unrealized = rest_unrealized
            .checked_add(kept_unrealized)
            .ok_or(RiskError::Overflow)?;
        let results = account
            .results
            .iter()
            .enumerate()
            .filter_map(|(at, result)| {
                if at == own {
                    trial.as_ref()
                } else {
                    result.as_ref()
                }
            });
        trial_collateral[account.quote_index].amount =
            crate::fx::to_i64(quote_amount as i128 + realised)?;
        margin_totals(market, results, unrealized, &trial_collateral)
    };
    let sufficient = smallest_sufficient(bound, |quantity| {
        health_at_end_level(&report_after(quantity)?, end_fraction)
    })?;
    if sufficient.is_some() || !or_healthiest {
        return Ok(sufficient);
    }
    healthiest(bound, |quantity| {
        Ok(report_after(quantity)?.maint_health() as i128)
    })
    .map(Some)
}

/// What one leg of a pair keeps after a trial step, to add back to its underlying.
#[derive(Clone, Copy)]
struct Kept<'r> {
    underlying: usize,
    notional: i128,
    tenor: i64,
    risk: &'r SeriesRisk,
}

/// What a liquidator taking a pair (the same fraction of two positions) moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairStep {
    /// Each leg at its account-adverse mark, with no fee of its own.
    pub legs: [PositionStep; 2],
    /// The liquidation fee: the discount on the maintenance requirement the pair releases
    /// (not on the legs' notional, which for a hedge dwarfs the risk it carries), and never
    /// more than the legs would pay as single steps (the discount on their value: a short
    /// option's requirement can far exceed its premium).
    pub fee: i128,
}

/// A hedged book can have no single leg whose removal raises health (each leg alone needs
/// more margin than the pair), so a liquidator may take two legs that hedge each other
/// (beta-weighted deltas not of one sign) at once: the same fraction of each position (the
/// first leg's contracts, the second's in proportion, rounded up), so the book keeps its hedge
/// ratio and the hedge leg cannot be taken alone. The legs may sit on one
/// underlying (a perp against a future) or two (a SOL leg hedged by a BTC leg through their
/// correlation group). Whether the step helps is the caller's check: the program accepts it
/// only if it strictly raises maintenance health.
///
/// Works in the account's own book: the legs are taken out of their underlyings' exposures
/// while the step is planned, each trial adds what remains of them and takes it out again
/// (exact), and `restore` puts the legs back. No exposure is copied (~1.4 KB each) and a trial
/// allocates nothing: on chain the heap never frees.
pub struct PairLiquidation<'a> {
    market: &'a Market,
    book: &'a mut Book,
    results: &'a [Option<UnderlyingResult>],
    collateral: &'a [Collateral],
    quote_index: usize,
    legs: [&'a PricedPosition; 2],
    /// The underlyings the legs touch (the second equals the first when they share one).
    underlyings: [usize; 2],
    /// Each touched underlying's result in the last trial (reused).
    trials: Vec<(usize, Option<UnderlyingResult>)>,
    trial_collateral: Vec<Collateral>,
    rest_unrealized: i128,
    maint_before: i128,
    discount: Fx,
}

impl<'a> PairLiquidation<'a> {
    /// Refuses legs that cannot hedge each other: the same position twice, or legs whose
    /// beta-weighted deltas have one sign (each of those reduces alone)
    /// (`NoLiquidationSolution`). `book`, `results` and `collateral` are the account's
    /// evaluation, `book` holding both legs.
    pub fn new(
        market: &'a Market,
        book: &'a mut Book,
        results: &'a [Option<UnderlyingResult>],
        collateral: &'a [Collateral],
        quote_index: usize,
        legs: [&'a PricedPosition; 2],
        discount: Fx,
    ) -> RiskResult<Self> {
        if collateral.len() > MAX_COLLATERAL {
            return Err(RiskError::CapacityExceeded);
        }
        let [first, second] = legs;
        let same = first.position.underlying == second.position.underlying
            && first.position.instrument == second.position.instrument;
        let direction = |leg: &PricedPosition| -> RiskResult<i32> {
            let beta = market
                .underlyings
                .get(leg.position.underlying as usize)
                .ok_or(RiskError::UnknownUnderlying)?
                .beta;
            Ok(leg.position.size.signum() as i32
                * leg.risk.delta.signum().to_num::<i32>()
                * beta.signum().to_num::<i32>())
        };
        // A leg without delta (an option far out of the money) can still hedge the other in
        // the extended scenarios: only legs on one side are refused.
        if same || direction(first)? * direction(second)? > 0 {
            return Err(RiskError::NoLiquidationSolution);
        }
        let underlyings = legs.map(|leg| leg.position.underlying as usize);
        if underlyings.iter().any(|own| *own >= results.len()) {
            return Err(RiskError::UnknownUnderlying);
        }
        let before = margin_totals(
            market,
            results.iter().flatten(),
            book.unrealized,
            collateral,
        )?;
        let mut rest_unrealized = book.unrealized;
        for (removed, leg) in legs.into_iter().enumerate() {
            let taken = position_terms(market, &leg.position, &leg.risk).and_then(
                |(own, notional, unrealized)| {
                    book.exposure_mut(own)
                        .ok_or(RiskError::UnknownUnderlying)?
                        .remove(notional, leg.position.instrument.tenor(), &leg.risk)?;
                    Ok(unrealized)
                },
            );
            match taken {
                Ok(unrealized) => rest_unrealized -= unrealized,
                Err(error) => {
                    // Leave the book as it came: put back the leg already taken out.
                    for leg in legs.iter().take(removed) {
                        let (own, notional, _) = position_terms(market, &leg.position, &leg.risk)?;
                        book.exposure_mut(own)
                            .ok_or(RiskError::UnknownUnderlying)?
                            .add(notional, leg.position.instrument.tenor(), &leg.risk)?;
                    }
                    return Err(error);
                }
            }
        }
        Ok(Self {
            market,
            book,
            results,
            collateral,
            quote_index,
            legs,
            underlyings,
            trials: Vec::with_capacity(2),
            trial_collateral: collateral.to_vec(),
            rest_unrealized,
            maint_before: before.maintenance as i128,
            discount,
        })
    }

    /// Puts the legs back into the book, as it was before `new`.
    pub fn restore(self) -> RiskResult<()> {
        for leg in self.legs {
            let (own, notional, _) = position_terms(self.market, &leg.position, &leg.risk)?;
            self.book
                .exposure_mut(own)
                .ok_or(RiskError::UnknownUnderlying)?
                .add(notional, leg.position.instrument.tenor(), &leg.risk)?;
        }
        Ok(())
    }

    /// Contracts of the first leg: the whole position.
    pub fn held(&self) -> u64 {
        self.legs[0].position.size.unsigned_abs()
    }

    /// Contracts of each leg when the first moves `quantity`: the second in proportion,
    /// rounded up, so both legs always move (all of it with all of the first).
    fn quantities(&self, quantity: u64) -> RiskResult<[u64; 2]> {
        let first = self.held();
        if quantity > first {
            return Err(RiskError::NoLiquidationSolution);
        }
        let second = self.legs[1].position.size.unsigned_abs() as u128;
        let proportional = (second * quantity as u128).div_ceil(first.max(1) as u128);
        Ok([quantity, proportional as u64])
    }

    /// The step taking `quantity` contracts of the first leg (and the second in proportion),
    /// and the account's report after it.
    pub fn step(&mut self, quantity: u64) -> RiskResult<(PairStep, MarginReport)> {
        let quantities = self.quantities(quantity)?;
        let mut unrealized = self.rest_unrealized;
        let mut realised: i128 = 0;
        // What the legs would pay as single steps: the pair's fee never exceeds it.
        let mut single_step_fees: i128 = 0;
        let mut legs = [None; 2];
        let mut remaining = [None; 2];
        for (((slot, kept_leg), leg), quantity) in legs
            .iter_mut()
            .zip(remaining.iter_mut())
            .zip(self.legs)
            .zip(quantities)
        {
            let step = position_step(self.market, leg, quantity, Fx::ZERO)?;
            single_step_fees = single_step_fees
                .checked_add(money_mul_ceil(step.value.abs(), self.discount)?)
                .ok_or(RiskError::Overflow)?;
            let (kept_position, leg_realised) = transfer(self.market, leg, quantity, Fx::ZERO)?;
            let (_, notional, kept) = position_terms(self.market, &kept_position, &leg.risk)?;
            unrealized = unrealized.checked_add(kept).ok_or(RiskError::Overflow)?;
            realised = realised
                .checked_add(leg_realised)
                .ok_or(RiskError::Overflow)?;
            *slot = Some(step);
            *kept_leg = Some(Kept {
                underlying: leg.position.underlying as usize,
                notional,
                tenor: kept_position.instrument.tenor(),
                risk: &leg.risk,
            });
        }
        self.trial_results(&remaining)?;
        let trials = &self.trials;
        let results = self.results.iter().enumerate().filter_map(|(at, result)| {
            match trials.iter().find(|(underlying, _)| *underlying == at) {
                Some((_, trial)) => trial.as_ref(),
                None => result.as_ref(),
            }
        });
        let after_legs = margin_totals(self.market, results.clone(), unrealized, &[])?;
        let released = (self.maint_before - after_legs.maintenance as i128).max(0);
        let fee = money_mul_ceil(released, self.discount)?.min(single_step_fees);
        let quote_index = self.quote_index;
        let quote_amount = self
            .collateral
            .get(quote_index)
            .ok_or(RiskError::NoLiquidationSolution)?
            .amount;
        self.trial_collateral[quote_index].amount =
            crate::fx::to_i64(quote_amount as i128 + realised - fee)?;
        let report = margin_totals(self.market, results, unrealized, &self.trial_collateral)?;
        let [Some(first), Some(second)] = legs else {
            return Err(RiskError::NoLiquidationSolution);
        };
        Ok((
            PairStep {
                legs: [first, second],
                fee,
            },
            report,
        ))
    }

    /// Each touched underlying evaluated (into `trials`) with what the legs keep
    /// (`remaining`) added back: added to its rest, evaluated, taken out again, even on an
    /// error.
    fn trial_results(&mut self, remaining: &[Option<Kept<'a>>; 2]) -> RiskResult<()> {
        let mut added = 0;
        let mut outcome = Ok(());
        for kept in remaining.iter().flatten() {
            outcome = self
                .rest_of(kept.underlying)
                .and_then(|rest| rest.add(kept.notional, kept.tenor, kept.risk));
            if outcome.is_err() {
                break;
            }
            added += 1;
        }
        self.trials.clear();
        if outcome.is_ok() {
            let [first, second] = self.underlyings;
            let touched = if first == second { 1 } else { 2 };
            for underlying in self.underlyings.into_iter().take(touched) {
                let evaluated = self
                    .book
                    .exposure(underlying)
                    .ok_or(RiskError::UnknownUnderlying)
                    .and_then(|rest| underlying_result(self.market, underlying, rest));
                match evaluated {
                    Ok(result) => self.trials.push((underlying, result)),
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                }
            }
        }
        for kept in remaining.iter().flatten().take(added) {
            self.rest_of(kept.underlying)?
                .remove(kept.notional, kept.tenor, kept.risk)?;
        }
        outcome
    }

    fn rest_of(&mut self, underlying: usize) -> RiskResult<&mut crate::portfolio::Exposure> {
        self.book
            .exposure_mut(underlying)
            .ok_or(RiskError::UnknownUnderlying)
    }

    /// The first leg's contracts a step takes: the fewest that reach the liquidation-end
    /// level, else those after which maintenance health is highest (as `quantity_to_take` for
    /// one leg: the pair's health is concave in its size too).
    pub fn quantity_to_take(&mut self, max_quantity: u64, end_fraction: Fx) -> RiskResult<u64> {
        if let Some(quantity) = self.quantity_for_end_level(max_quantity, end_fraction)? {
            return Ok(quantity);
        }
        let bound = max_quantity.min(self.held());
        healthiest(bound, |quantity| {
            Ok(self.step(quantity)?.1.maint_health() as i128)
        })
    }

    /// Smallest quantity of the first leg (at most `max_quantity` and the position) that
    /// brings the account to the liquidation-end level; None if even that maximum does not.
    pub fn quantity_for_end_level(
        &mut self,
        max_quantity: u64,
        end_fraction: Fx,
    ) -> RiskResult<Option<u64>> {
        let bound = max_quantity.min(self.held());
        smallest_sufficient(bound, |quantity| {
            health_at_end_level(&self.step(quantity)?.1, end_fraction)
        })
    }
}
