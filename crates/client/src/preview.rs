//! Margin previews: an account's figures as the program computes them, and "what if" a trade or
//! a withdrawal happened, from a [`Protocol`] snapshot.
use xmargin::health::{Needs, RiskContext};
use xmargin::instructions::clear_trade::trade_fee;
use xmargin::instructions::liquidate_position::quantity_to_liquidate;
use xmargin::instructions::ClearTradeParams;
use xmargin::oracle::OracleUse;
use xmargin::state::{MarginAccount, BPS_DENOMINATOR};
use xmargin_risk::fill::FillBand;
use xmargin_risk::grid::VolShock;
use xmargin_risk::portfolio::isolated_requirement;

use crate::error::{ClientError, ClientResult};
use crate::protocol::Protocol;

/// One underlying's line of an account summary.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnderlyingLine {
    pub market: u8,
    pub positions: u32,
    /// Net delta in quote-native units (Δ × spot × size).
    pub net_delta: i64,
    /// Its worst scenario loss on its own, and that scenario: the price move (basis points of
    /// spot) and the volatility shock.
    pub worst_loss: i64,
    pub worst_move_bps: i64,
    #[serde(serialize_with = "crate::snapshot::serialize_vol")]
    pub worst_vol: Option<VolShock>,
}

/// What a trader wants to know about an account; all amounts quote-native.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountSummary {
    pub collateral: i64,
    pub unrealized_pnl: i64,
    /// Collateral after maintenance haircuts plus unrealized PnL.
    pub equity: i64,
    pub initial: i64,
    pub maintenance: i64,
    /// Equity at initial weights minus initial requirement at conservative prices: what can
    /// still be withdrawn or used (negative: no new risk).
    pub free_collateral: i64,
    /// Equity minus maintenance: how far the account is from liquidation.
    pub maint_health: i64,
    /// maint_health as a fraction of equity, in basis points (0 when equity is not positive).
    pub distance_to_liquidation_bps: i64,
    /// Leg-by-leg requirement (every position margined alone) for comparison.
    pub isolated: i64,
    pub underlyings: Vec<UnderlyingLine>,
}

fn clamp(value: i128) -> i64 {
    value.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Maintenance health as a fraction of equity, in basis points (0 when equity is not
/// positive).
fn distance_bps(maint_health: i64, equity: i64) -> i64 {
    if equity > 0 {
        clamp(maint_health as i128 * BPS_DENOMINATOR as i128 / equity as i128)
    } else {
        0
    }
}

/// `account` (accruals already settled) summarized with `context`.
pub fn summarize(
    context: &RiskContext<'_>,
    account: &MarginAccount,
) -> ClientResult<AccountSummary> {
    let health = context.health(account)?;
    let view = context.view(account)?;
    let report = &health.report;
    let positions: Vec<_> = view.positions.iter().map(|p| p.position).collect();
    let isolated = isolated_requirement(context.engine(), &positions)
        .map_err(|e| ClientError::Risk(format!("{e:?}")))?;
    let engine = context.engine();
    let evaluated = context.evaluate(account)?;
    let underlyings = evaluated
        .results
        .iter()
        .flatten()
        .map(|r| &r.breakdown)
        .filter(|b| b.positions > 0)
        .map(|b| {
            let (move_bps, vol) = match b.worst_scenario {
                Some(s) => {
                    let moves = &engine.grids[b.underlying as usize].moves;
                    let bps = moves
                        .get(s.node)
                        .map_or(0, |m| ((m.to_bits() as i128 * 10_000) >> 32) as i64);
                    (bps, Some(s.vol))
                }
                None => (0, None),
            };
            UnderlyingLine {
                market: context.market_of(b.underlying).unwrap_or(u8::MAX),
                positions: b.positions,
                net_delta: b.net_delta,
                worst_loss: b.worst_loss,
                worst_move_bps: move_bps,
                worst_vol: vol,
            }
        })
        .collect();
    let maint_health = report.maint_health();
    let distance = distance_bps(maint_health, report.equity_maint);
    Ok(AccountSummary {
        collateral: report.collateral_maint,
        unrealized_pnl: report.unrealized_pnl,
        equity: report.equity_maint,
        initial: report.initial,
        maintenance: report.maintenance,
        free_collateral: clamp(health.init_health),
        maint_health,
        distance_to_liquidation_bps: distance,
        isolated,
        underlyings,
    })
}

impl Protocol {
    /// The account as the program sees it now (strict prices when it holds positions).
    pub fn summary(&self, account: &MarginAccount) -> ClientResult<AccountSummary> {
        let (context, settled) = self.settled(account)?;
        self.summarize_shown(&context, &settled, OracleUse::for_account(account))
    }

    /// `summarize`, with equity and both requirements at live marks where the check valued
    /// options from a risk cache. A cache's window corners understate equity, and may
    /// understate a requirement by as much: only health is the check's guaranteed bound
    /// (docs/security.md). Health is kept; equity and the requirements move by the
    /// understatement, so no cached requirement is shown on its own and each figure shown is at
    /// least the live one.
    pub fn summarize_shown(
        &self,
        context: &RiskContext<'_>,
        account: &MarginAccount,
        oracle_use: OracleUse,
    ) -> ClientResult<AccountSummary> {
        let mut summary = summarize(context, account)?;
        if context.cached_series() == 0 {
            return Ok(summary);
        }
        let live = self.clone().with_caches_detached();
        let live_context = live.context(&Self::needs(&[account], None), oracle_use)?;
        let live_report = live_context.health(account)?.report;
        let cached_report = context.health(account)?.report;
        let maint_gap = live_report
            .equity_maint
            .saturating_sub(cached_report.equity_maint)
            .max(0);
        let init_gap = live_report
            .equity_init
            .saturating_sub(cached_report.equity_init)
            .max(0);
        summary.equity = summary.equity.saturating_add(maint_gap);
        summary.unrealized_pnl = summary.unrealized_pnl.saturating_add(maint_gap);
        summary.maintenance = summary.maintenance.saturating_add(maint_gap);
        summary.initial = summary.initial.saturating_add(init_gap);
        summary.distance_to_liquidation_bps = distance_bps(summary.maint_health, summary.equity);
        Ok(summary)
    }

    /// The account after taking `params` (taker side when `as_taker`, else maker) at the
    /// program's fees: the figures of the margin check the program runs after the fill. The fill
    /// band (`fill_band`), the caps and the reducing-side rule are the program's to apply.
    pub fn what_if_trade(
        &self,
        account: &MarginAccount,
        market: u8,
        params: ClearTradeParams,
        as_taker: bool,
    ) -> ClientResult<AccountSummary> {
        let key = (market, params.series);
        let context = self.context_changing(&[account], key)?;
        let mut after = *account;
        context.settle_accruals(&mut after, &[key])?;
        let (size, fee_bps) = if as_taker {
            (params.size, self.clearinghouse.taker_fee_bps)
        } else {
            (-params.size, self.clearinghouse.maker_fee_bps)
        };
        let fee = trade_fee(params.notional()?, fee_bps)?;
        let fee = i64::try_from(fee).map_err(|_| ClientError::Input("trade too large".into()))?;
        after.apply_fill(market, params.series, size, params.price)?;
        after.add_quote(-fee)?;
        self.summarize_shown(&context, &after, OracleUse::OpenRisk)
    }

    /// The largest amount of collateral `asset` the program lets `account` withdraw now.
    pub fn largest_withdrawal(&self, account: &MarginAccount, asset: u8) -> ClientResult<u64> {
        let balance = account
            .balance_of(asset)
            .map_or(0, |b| b.amount.max(0) as u64);
        if balance == 0 {
            return Ok(0);
        }
        let (context, settled) = self.settled(account)?;
        let allows = |amount: u64| -> ClientResult<bool> {
            let mut after = settled;
            after.balance_slot_mut(asset)?.amount -= amount as i64;
            Ok(context.health(&after)?.init_health >= 0)
        };
        if !allows(0)? {
            return Ok(0);
        }
        let (mut ok, mut too_much) = (0u64, balance + 1);
        while too_much - ok > 1 {
            let mid = ok + (too_much - ok) / 2;
            if allows(mid)? {
                ok = mid;
            } else {
                too_much = mid;
            }
        }
        Ok(ok)
    }
}

impl Protocol {
    /// The contracts of (market, series) one `liquidate_position` step would take from
    /// `account` now, as the program sizes it: the fewest that bring it to the liquidation-end
    /// level, else the whole position. A keeper passes it as the step's maximum, which the
    /// program then confirms in two evaluations instead of a bisection.
    pub fn liquidation_quantity(
        &self,
        account: &MarginAccount,
        market: u8,
        series: u8,
    ) -> ClientResult<u64> {
        let key = (market, series);
        let context = self.context_changing(&[account], key)?;
        let mut settled = *account;
        context.settle_accruals(&mut settled, &[])?;
        let evaluated = context.evaluate(&settled)?;
        let held = settled
            .position(market, series)
            .map_or(0, |slot| slot.size.unsigned_abs());
        let (quantity, _) = quantity_to_liquidate(
            &context,
            &evaluated,
            &settled,
            &self.clearinghouse,
            key,
            held,
        )?;
        Ok(quantity)
    }

    /// The context of an instruction that changes positions of `key` held by `accounts` (a
    /// fill, a liquidation step): strict prices, and `key`'s funding accrued up to now as the
    /// program accrues it first (on a copy of the market).
    fn context_changing(
        &self,
        accounts: &[&MarginAccount],
        key: (u8, u8),
    ) -> ClientResult<RiskContext<'_>> {
        let mut context = self.context(&Self::needs(accounts, Some(key)), OracleUse::OpenRisk)?;
        let mut market = self.market(key.0)?;
        context.accrue_funding(&mut market, key.1, self.clock.unix_timestamp)?;
        Ok(context)
    }

    /// The prices `clear_trade` accepts for one contract of (market, series) now: the
    /// program's own band (`RiskContext::fill_band`), quote-native, read under the tolerant
    /// oracle guard (a fill that adds risk also needs the strict one).
    pub fn fill_band(&self, market: u8, series: u8) -> ClientResult<FillBand> {
        let mut needs = Needs::default();
        needs.add_series(market, series);
        let widening = self.market(market)?.fill_band_widening();
        let context = self.context(&needs, OracleUse::ReduceRisk)?;
        Ok(context.fill_band(market, series, widening)?)
    }

    /// The engine's mark of one contract of (market, series), quote-native, rounded down
    /// (averaged over 1,000 contracts so the rounding is a thousandth of a unit).
    pub fn mark(&self, market: u8, series: u8) -> ClientResult<u64> {
        const LOT: i64 = 1_000;
        let mut probe: MarginAccount = bytemuck::Zeroable::zeroed();
        probe.init_quote_slot();
        probe.position_slot_mut(market, series)?.size = LOT;
        let context = self.context(&Self::needs(&[&probe], None), OracleUse::ReduceRisk)?;
        let view = context.view(&probe)?;
        let priced = view
            .positions
            .first()
            .ok_or_else(|| ClientError::Input("no such series".into()))?;
        let (_, notional) = context
            .engine()
            .notional(&priced.position, &priced.risk)
            .map_err(|e| ClientError::Risk(format!("{e:?}")))?;
        let value = xmargin_risk::portfolio::position_value(notional, &priced.risk)
            .map_err(|e| ClientError::Risk(format!("{e:?}")))?;
        Ok((value.max(0) / LOT as i128) as u64)
    }
}
