use anchor_lang::prelude::*;
use xmargin_risk::liquidation::{
    position_step, quantity_to_take, EvaluatedBook, PairLiquidation, PositionStep,
};
use xmargin_risk::portfolio::PricedPosition;
use xmargin_risk::{Fx, RiskError};

use crate::error::{risk_error, XmarginError};
use crate::events::PositionLiquidated;
use crate::health::{AccountRisk, RiskContext};
use crate::liquidation::*;
use crate::state::{Clearinghouse, MarginAccount, Market};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidatePositionParams {
    pub series: u8,
    /// Most contracts the liquidator is willing to take in this step (of the first leg of a
    /// pair).
    pub max_quantity: u64,
    /// Take this series too, the same fraction of its position as of the first leg's: a pair,
    /// for a hedged book no single leg of which can be reduced. The fee is on the maintenance
    /// requirement the pair releases; the step must still raise maintenance health (unless
    /// the target is insolvent: then no fee, and its equity must not fall).
    pub paired_series: Option<u8>,
    /// The paired series' market when it is not `market` (a hedge across underlyings); that
    /// market is then passed writable among the remaining accounts.
    pub paired_market: Option<u8>,
}

#[derive(Accounts)]
pub struct LiquidatePosition<'info> {
    pub common: LiquidationAccounts<'info>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    // remaining: the other markets and every oracle both accounts' checks need.
}

/// One leg of a step.
#[derive(Clone, Copy)]
struct Leg {
    market: u8,
    series: u8,
    /// Contracts, signed as the target holds them.
    moved: i64,
    /// Their value at the target-adverse mark (signed like `moved`).
    value: i128,
}

/// What one liquidation step moves, decided before any account changes.
struct Step {
    legs: [Option<Leg>; 2],
    fee: u64,
    liquidator_fee: u64,
    insurance_fee: u64,
}

pub fn handler<'info>(
    ctx: Context<'info, LiquidatePosition<'info>>,
    params: LiquidatePositionParams,
) -> Result<()> {
    require!(params.max_quantity > 0, XmarginError::ZeroAmount);
    let market_index = {
        let market = ctx.accounts.market.load()?;
        market.series(params.series)?;
        market.index
    };
    // The paired leg's market: this one, or another passed writable among the remaining
    // accounts.
    let paired_market = match params.paired_market.filter(|index| *index != market_index) {
        Some(index) if params.paired_series.is_some() => {
            Some(writable_market(ctx.remaining_accounts, index)?)
        }
        Some(_) => return err!(XmarginError::NotAnOffsettingPair),
        None => None,
    };
    let paired_key = match params.paired_series {
        Some(paired) => {
            let loader = paired_market.as_ref().unwrap_or(&ctx.accounts.market);
            let market = loader.load()?;
            market.series(paired)?;
            require!(
                (market.index, paired) != (market_index, params.series),
                XmarginError::NotAnOffsettingPair
            );
            Some((market.index, paired))
        }
        None => None,
    };
    let common = &ctx.accounts.common;
    let parties = common.parties(Some(ctx.accounts.market.as_ref()), ctx.remaining_accounts)?;
    let key = (market_index, params.series);
    let moved_keys: &[(u8, u8)] = match paired_key {
        Some(paired) => &[key, paired],
        None => &[key],
    };
    let markets: &[&AccountLoader<Market>] = match &paired_market {
        Some(other) => &[&ctx.accounts.market, other],
        None => &[&ctx.accounts.market],
    };
    let (risk, before, mut evaluated) = parties.begin(moved_keys, markets)?;
    let step = {
        let target = common.target_account.load()?;
        match paired_key {
            None => plan_step(
                &risk,
                &evaluated,
                &target,
                &common.clearinghouse,
                key,
                params.max_quantity,
            )?,
            Some(paired) => plan_pair(
                &risk,
                &mut evaluated,
                &target,
                &common.clearinghouse,
                [key, paired],
                params.max_quantity,
            )?,
        }
    };

    let liquidated_expiry = ctx.accounts.market.load()?.series(params.series)?.expiry;
    {
        let mut target = common.target_account.load_mut()?;
        let mut liquidator = common.liquidator_account.load_mut()?;
        for leg in step.legs.iter().flatten() {
            let target_fill =
                target.apply_value_fill(leg.market, leg.series, -leg.moved, -leg.value)?;
            let liquidator_fill =
                liquidator.apply_value_fill(leg.market, leg.series, leg.moved, leg.value)?;
            let loader = markets
                .iter()
                .find(|loader| loader.load().is_ok_and(|m| m.index == leg.market))
                .ok_or_else(|| error!(XmarginError::UnknownMarket))?;
            let mut market = loader.load_mut()?;
            let series = market.series_mut(leg.series)?;
            series.record_fill(&target_fill, -leg.moved)?;
            series.record_fill(&liquidator_fill, leg.moved)?;
            series.check_open_interest()?;
        }
        target.add_quote(-(step.fee as i64))?;
        target.last_liquidated_market = market_index;
        target.last_liquidated_series = params.series;
        target.last_liquidated_expiry = liquidated_expiry;
        liquidator.add_quote(step.liquidator_fee as i64)?;
    }
    common.pay_insurance(step.insurance_fee)?;
    let (maint_health_after, end_health_after) = parties.finish(&risk, &before, evaluated)?;
    // The step that empties an account resolves it, while the series' holders (the liquidator
    // among them) are still the ones the loss is socialized across.
    common
        .resolution(&ctx.accounts.market)
        .resolve_if_bankrupt(&risk)?;
    let value_of =
        |leg: &Leg| i64::try_from(leg.value).map_err(|_| error!(XmarginError::MathOverflow));
    let [Some(first), paired] = step.legs else {
        return err!(XmarginError::NoPosition);
    };
    crate::emit_event!(PositionLiquidated {
        target: common.target_account.key(),
        liquidator: common.liquidator_account.key(),
        market: market_index,
        series: params.series,
        quantity: first.moved,
        value: value_of(&first)?,
        paired_market: paired.map(|leg| leg.market),
        paired_series: paired.map(|leg| leg.series),
        paired_quantity: paired.map_or(0, |leg| leg.moved),
        paired_value: paired.as_ref().map(value_of).transpose()?.unwrap_or(0),
        fee: step.fee,
        liquidator_fee: step.liquidator_fee,
        insurance_fee: step.insurance_fee,
        maint_health_before: before.maint_health,
        maint_health_after,
        end_health_after,
    });
    Ok(())
}

/// Contracts of `key` a step with `max_quantity` takes from `target` (settled and evaluated as
/// `evaluated` with `risk`'s prices): the fewest that reach the liquidation-end level, else
/// those (at most the liquidator's maximum) after which maintenance health is highest; all of
/// them (at most that maximum) when the target is insolvent. With the position's priced form. Keepers call it to size their steps.
// Out of line: the priced position (~600 bytes) must not join the handler's 4 KB frame.
#[inline(never)]
pub fn quantity_to_liquidate(
    risk: &RiskContext<'_>,
    evaluated: &AccountRisk,
    target: &MarginAccount,
    clearinghouse: &Clearinghouse,
    key: (u8, u8),
    max_quantity: u64,
) -> Result<(u64, PricedPosition)> {
    let slot = target
        .position(key.0, key.1)
        .filter(|slot| slot.size != 0)
        .ok_or_else(|| error!(XmarginError::NoPosition))?;
    let (position, risk_of_series) = risk.position_of(slot)?;
    let priced = PricedPosition {
        position,
        risk: *risk_of_series,
    };
    // An insolvent account's positions go whole, one step each: nothing it keeps can restore
    // it, and emptying it lets the resolution that follows socialize the rest
    // (`Parties::finish`).
    if is_insolvent(evaluated.report.equity_maint) {
        let held = priced.position.size.unsigned_abs();
        return Ok((held.min(max_quantity), priced));
    }
    let book = EvaluatedBook {
        book: &evaluated.book,
        results: &evaluated.results,
        collateral: &evaluated.collateral.values,
        quote_index: 0,
    };
    let quantity = quantity_to_take(
        risk.engine(),
        &book,
        &priced,
        max_quantity,
        discount(clearinghouse),
        Fx::from_bits(clearinghouse.liquidation_end_fraction_bits),
    )
    .map_err(risk_error)?;
    Ok((quantity, priced))
}

/// Sizes the step: the contracts that bring the target to the liquidation-end level (engine
/// bisection over at most the liquidator's maximum), capped by that maximum.
// Out of line: the priced position (~600 bytes) must not join the handler's 4 KB frame.
#[inline(never)]
fn plan_step(
    risk: &RiskContext<'_>,
    evaluated: &AccountRisk,
    target: &MarginAccount,
    clearinghouse: &Clearinghouse,
    key: (u8, u8),
    max_quantity: u64,
) -> Result<Step> {
    let (quantity, priced) =
        quantity_to_liquidate(risk, evaluated, target, clearinghouse, key, max_quantity)?;
    let discount = step_discount(evaluated, clearinghouse);
    let step = position_step(risk.engine(), &priced, quantity, discount).map_err(risk_error)?;
    Step::of(
        [Some((key, step)), None],
        step.fee,
        evaluated.report.equity_maint,
        clearinghouse,
    )
}

/// Sizes a pair step: the contracts of the first leg (the second in proportion) that bring
/// the target to the liquidation-end level (engine bisection, `PairLiquidation`), else those
/// after which its health is highest, at most the liquidator's maximum; with the pair's fee.
// Out of line: the two priced positions (~1.2 KB) sit in this frame, not the handler's (nor
// the heap, which the worst-case pair step fills to its budget).
#[inline(never)]
fn plan_pair(
    risk: &RiskContext<'_>,
    evaluated: &mut AccountRisk,
    target: &MarginAccount,
    clearinghouse: &Clearinghouse,
    keys: [(u8, u8); 2],
    max_quantity: u64,
) -> Result<Step> {
    let mut priced: [Option<PricedPosition>; 2] = [None, None];
    for (slot, key) in priced.iter_mut().zip(keys) {
        let held = target
            .position(key.0, key.1)
            .filter(|slot| slot.size != 0)
            .ok_or_else(|| error!(XmarginError::NoPosition))?;
        let (position, risk_of_series) = risk.position_of(held)?;
        *slot = Some(PricedPosition {
            position,
            risk: *risk_of_series,
        });
    }
    let [Some(first), Some(second)] = &priced else {
        return err!(XmarginError::NoPosition);
    };
    size_pair(
        risk,
        evaluated,
        [first, second],
        clearinghouse,
        keys,
        max_quantity,
    )
}

/// `plan_pair`'s sizing, in a frame of its own: the priced legs (~1.2 KB) stay in the
/// caller's, the engine's planning state in this one (SBF frames are 4 KB each).
#[inline(never)]
fn size_pair(
    risk: &RiskContext<'_>,
    evaluated: &mut AccountRisk,
    [first, second]: [&PricedPosition; 2],
    clearinghouse: &Clearinghouse,
    keys: [(u8, u8); 2],
    max_quantity: u64,
) -> Result<Step> {
    let discount = step_discount(evaluated, clearinghouse);
    let mut pair = PairLiquidation::new(
        risk.engine(),
        &mut evaluated.book,
        &evaluated.results,
        &evaluated.collateral.values,
        0,
        [first, second],
        discount,
    )
    .map_err(|error| match error {
        RiskError::NoLiquidationSolution => error!(XmarginError::NotAnOffsettingPair),
        other => risk_error(other),
    })?;
    let quantity = pair
        .quantity_to_take(
            max_quantity,
            Fx::from_bits(clearinghouse.liquidation_end_fraction_bits),
        )
        .map_err(risk_error)?;
    let (step, _) = pair.step(quantity).map_err(risk_error)?;
    // The book goes back as it was: `finish` updates it for the step.
    pair.restore().map_err(risk_error)?;
    Step::of(
        [Some((keys[0], step.legs[0])), Some((keys[1], step.legs[1]))],
        step.fee,
        evaluated.report.equity_maint,
        clearinghouse,
    )
}

impl Step {
    /// The step's legs and its fee, at most the target's equity (maintenance weights) before
    /// the step: beyond it the fee would be paid by the fund or the series' holders.
    fn of(
        legs: [Option<((u8, u8), PositionStep)>; 2],
        fee: i128,
        equity: i64,
        clearinghouse: &Clearinghouse,
    ) -> Result<Self> {
        let fee = fee.min(i128::from(equity.max(0)));
        let fee = u64::try_from(fee).map_err(|_| error!(XmarginError::MathOverflow))?;
        let (liquidator_fee, insurance_fee) = split_fee(clearinghouse, fee);
        Ok(Self {
            legs: legs.map(|leg| {
                leg.map(|((market, series), step)| Leg {
                    market,
                    series,
                    moved: step.moved,
                    value: step.value,
                })
            }),
            fee,
            liquidator_fee,
            insurance_fee,
        })
    }
}

/// The market `index` among `accounts`, writable (a pair's second leg changes hands in it).
fn writable_market<'info>(
    accounts: &'info [AccountInfo<'info>],
    index: u8,
) -> Result<AccountLoader<'info, Market>> {
    for info in accounts.iter().filter(|info| info.owner == &crate::ID) {
        let Ok(loader) = AccountLoader::<Market>::try_from(info) else {
            continue;
        };
        if loader.load()?.index == index {
            require!(info.is_writable, XmarginError::UnknownMarket);
            return Ok(loader);
        }
    }
    err!(XmarginError::UnknownMarket)
}

/// The liquidator's discount on a step from the target (evaluated as `evaluated`): none when
/// it is insolvent, since the fund or the series' holders would pay it.
fn step_discount(evaluated: &AccountRisk, clearinghouse: &Clearinghouse) -> Fx {
    if is_insolvent(evaluated.report.equity_maint) {
        Fx::ZERO
    } else {
        discount(clearinghouse)
    }
}
