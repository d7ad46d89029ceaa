//! Compute budget: the ComputeBudget instructions a transaction needs and an estimate of the
//! units each program instruction consumes, from the SBF measurements in
//! docs/compute-units.md (a test keeps the estimate above every measured figure).
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use xmargin::state::MarginAccount;

pub const COMPUTE_BUDGET_PROGRAM: Pubkey =
    anchor_lang::prelude::pubkey!("ComputeBudget111111111111111111111111111111");
/// The most units one transaction may use.
pub const MAX_UNITS: u32 = 1_400_000;

/// ComputeBudget `SetComputeUnitLimit(units)`.
pub fn set_compute_unit_limit(units: u32) -> Instruction {
    let mut data = vec![2u8];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_PROGRAM,
        accounts: vec![],
        data,
    }
}

#[cfg(feature = "chain")]
pub(crate) fn is_unit_limit(ix: &Instruction) -> bool {
    ix.program_id == COMPUTE_BUDGET_PROGRAM && ix.data.first() == Some(&2)
}

#[cfg(feature = "chain")]
pub(crate) fn unit_limit_of(ix: &Instruction) -> u32 {
    ix.data
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map_or(MAX_UNITS, u32::from_le_bytes)
}

/// What one margin-checked account costs to evaluate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckShape {
    pub underlyings: u32,
    /// Perpetuals and futures.
    pub linear: u32,
    /// Options whose bounds come from a fresh risk cache.
    pub cached_options: u32,
    /// Options computed in the check.
    pub live_options: u32,
}

impl CheckShape {
    /// The shape of `account`'s check; `cached(market, series)` says whether an option's
    /// bounds will come from a fresh cache.
    pub fn of(
        account: &MarginAccount,
        cached: impl Fn(u8, u8) -> bool,
        is_option: impl Fn(u8, u8) -> bool,
    ) -> Self {
        let mut shape = Self::default();
        let mut markets: Vec<u8> = Vec::new();
        for slot in account.open_positions() {
            if !markets.contains(&slot.market) {
                markets.push(slot.market);
            }
            if !is_option(slot.market, slot.series) {
                shape.linear += 1;
            } else if cached(slot.market, slot.series) {
                shape.cached_options += 1;
            } else {
                shape.live_options += 1;
            }
        }
        shape.underlyings = markets.len() as u32;
        shape
    }

    /// Units of one account's margin check (loading, accumulation, scenarios, netting).
    fn units(&self) -> u64 {
        // Measured increments (SBF, docs/compute-units.md), rounded up: ~5.6k per new
        // underlying, ~1.9k per linear position, ~3.4k per cached option, ~45k per live
        // option, ~46k fixed (8 collateral assets).
        46_000
            + 5_600 * self.underlyings as u64
            + 1_900 * self.linear as u64
            + 3_400 * self.cached_options as u64
            + 45_000 * self.live_options as u64
    }
}

/// One side of a trade: the account's shape, and whether the fill only reduces its position
/// (then the program also checks it before the fill).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TradeSide {
    pub shape: CheckShape,
    pub reduces: bool,
}

impl From<CheckShape> for TradeSide {
    fn from(shape: CheckShape) -> Self {
        Self {
            shape,
            reduces: false,
        }
    }
}

impl TradeSide {
    fn units(&self) -> u64 {
        let after = self.shape.units();
        if !self.reduces {
            return after;
        }
        // The second check prices no option again: live bounds are kept from the first.
        let again = CheckShape {
            cached_options: self.shape.cached_options + self.shape.live_options,
            live_options: 0,
            ..self.shape
        };
        after + again.units()
    }
}

/// The instructions whose units depend on the accounts they check.
#[derive(Clone, Copy, Debug)]
pub enum Work {
    Deposit,
    Withdraw(CheckShape),
    /// Both sides' checks after the trade, and before it for a side that only reduces.
    ClearTrade(TradeSide, TradeSide),
    /// Target then liquidator: the target is evaluated once, then re-margined for the one
    /// position the step changes (sizing and the check after).
    Liquidate(CheckShape, CheckShape),
    CrankFunding,
    SettleExpiredSeries,
    SettlePosition,
    /// Options refreshed in one `refresh_risk_cache`.
    RefreshRiskCache {
        options: u32,
    },
}

/// Units to request for `work`: the estimate plus a quarter for headroom, at most the maximum.
pub fn estimate_units(work: Work) -> u32 {
    let units: u64 = match work {
        Work::Deposit => 16_000,
        Work::Withdraw(shape) => shape.units(),
        Work::ClearTrade(taker, maker) => 10_000 + taker.units() + maker.units(),
        Work::Liquidate(target, liquidator) => 40_000 + target.units() + liquidator.units(),
        Work::CrankFunding => 9_000,
        Work::SettleExpiredSeries => 8_500,
        Work::SettlePosition => 2_500,
        Work::RefreshRiskCache { options } => 12_000 + 140_000 * options as u64,
    };
    let padded = units + units / 4;
    padded.min(MAX_UNITS as u64) as u32
}

/// The unit limit for a transaction doing `work` (every instruction runs in the default heap
/// frame: none is requested).
pub fn budget_instructions(work: Work) -> Vec<Instruction> {
    vec![set_compute_unit_limit(estimate_units(work))]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CU of `label` in docs/compute-units.md (measured in the SBF VM).
    fn measured(label: &str) -> u64 {
        let table = include_str!("../../../docs/compute-units.md");
        table
            .lines()
            .find(|line| line.starts_with(&format!("| {label} |")))
            .and_then(|line| line.split('|').nth(2))
            .and_then(|cell| cell.trim().parse().ok())
            .unwrap_or_else(|| panic!("row {label:?} in docs/compute-units.md"))
    }

    /// The worst-case account: 8 underlyings, 16 perps/futures, 16 options.
    fn worst_case(cached: bool) -> CheckShape {
        CheckShape {
            underlyings: 8,
            linear: 16,
            cached_options: if cached { 16 } else { 0 },
            live_options: if cached { 0 } else { 16 },
        }
    }

    fn reducing(shape: CheckShape) -> TradeSide {
        TradeSide {
            shape,
            reduces: true,
        }
    }

    #[test]
    fn estimates_cover_every_measured_figure_without_wasting_the_budget() {
        let cases = [
            ("deposit (quote asset)", Work::Deposit),
            (
                "withdraw, 32 positions (cached)",
                Work::Withdraw(worst_case(true)),
            ),
            (
                "withdraw, 32 positions (live)",
                Work::Withdraw(worst_case(false)),
            ),
            (
                "clear_trade, both sides holding 32 positions and reducing (cached)",
                Work::ClearTrade(reducing(worst_case(true)), reducing(worst_case(true))),
            ),
            (
                "clear_trade, both sides holding 32 positions and reducing (live)",
                Work::ClearTrade(reducing(worst_case(false)), reducing(worst_case(false))),
            ),
            (
                "liquidate_position, worst-case account (cached)",
                Work::Liquidate(worst_case(true), CheckShape::default()),
            ),
            (
                "liquidate_position, worst-case account (live)",
                Work::Liquidate(worst_case(false), CheckShape::default()),
            ),
            ("crank_funding (one perp)", Work::CrankFunding),
            (
                "settle_expired_series (proposal)",
                Work::SettleExpiredSeries,
            ),
            ("settle_expired_series (final)", Work::SettleExpiredSeries),
            ("settle_position", Work::SettlePosition),
        ];
        for (label, work) in cases {
            let (estimate, measured) = (estimate_units(work) as u64, measured(label));
            assert!(
                estimate >= measured,
                "{label}: estimate {estimate} < measured {measured}"
            );
            assert!(
                estimate <= measured * 2 || estimate == MAX_UNITS as u64,
                "{label}: estimate {estimate} wastes the budget (measured {measured})"
            );
        }
    }
}
