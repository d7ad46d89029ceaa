//! What every liquidation instruction shares: who may liquidate whom, when an account is
//! liquidatable, the fee split, and the checks after the step. The sizing itself is
//! `xmargin_risk::liquidation`.
use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};
use xmargin_risk::fx::fx_ratio;
use xmargin_risk::liquidation::health_at_end_level;
use xmargin_risk::{Fx, MarginReport};

use crate::bankruptcy::Resolution;
use crate::error::{risk_error, XmarginError};
use crate::health::{AccountRisk, Needs, RiskContext};
use crate::oracle::OracleUse;
use crate::state::{
    Clearinghouse, CollateralRegistry, MarginAccount, Market, BPS_DENOMINATOR, PAUSE_LIQUIDATE,
    QUOTE_ASSET,
};

/// The accounts every liquidation step uses.
#[derive(Accounts)]
pub struct LiquidationAccounts<'info> {
    /// Owner or delegate of `liquidator_account`; anyone with a healthy account.
    pub liquidator: Signer<'info>,
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub liquidator_account: AccountLoader<'info, MarginAccount>,
    /// Anchor's duplicate-mutable check does not cover zero-copy loaders: checked here.
    #[account(
        mut,
        constraint = target_account.key() != liquidator_account.key() @ XmarginError::DuplicateAccount
    )]
    pub target_account: AccountLoader<'info, MarginAccount>,
    #[account(mut)]
    pub quote_vault: Account<'info, TokenAccount>,
    #[account(mut, address = clearinghouse.insurance_vault @ XmarginError::WrongInsuranceVault)]
    pub insurance_vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

impl<'info> LiquidationAccounts<'info> {
    /// The step's parties, with `named_market` (the instruction's own market, if any) and
    /// `accounts` holding the markets and oracles of both checks.
    pub fn parties<'a>(
        &'a self,
        named_market: Option<&'a AccountInfo<'info>>,
        accounts: &'a [AccountInfo<'info>],
    ) -> Result<Parties<'a, 'info>> {
        self.collateral_registry
            .load()?
            .require_quote_vault(&self.quote_vault.key())?;
        Ok(Parties {
            clearinghouse: &self.clearinghouse,
            registry: &self.collateral_registry,
            liquidator_signer: self.liquidator.key,
            liquidator: &self.liquidator_account,
            target: &self.target_account,
            named_market,
            accounts,
        })
    }

    /// Resolution of the target against `market` (its last liquidated one after a position
    /// step).
    pub fn resolution<'a>(
        &'a self,
        market: &'a AccountLoader<'info, Market>,
    ) -> Resolution<'a, 'info> {
        Resolution {
            clearinghouse: &self.clearinghouse,
            registry: &self.collateral_registry,
            market,
            account: &self.target_account,
            quote_vault: &self.quote_vault,
            insurance_vault: &self.insurance_vault,
            token_program: &self.token_program,
        }
    }

    /// Moves the insurance fund's share of a fee out of the quote vault into the fund.
    pub fn pay_insurance(&self, amount: u64) -> Result<()> {
        self.collateral_registry
            .load_mut()?
            .asset_mut(QUOTE_ASSET)?
            .withdraw_from_vault(amount)?;
        crate::vault::pay_from_vault(
            &self.token_program,
            &self.quote_vault,
            &self.insurance_vault.to_account_info(),
            &self.clearinghouse,
            amount,
        )
    }
}

/// The accounts of a liquidation step.
pub struct Parties<'a, 'info> {
    pub clearinghouse: &'a Clearinghouse,
    pub registry: &'a AccountLoader<'info, CollateralRegistry>,
    pub liquidator_signer: &'a Pubkey,
    pub liquidator: &'a AccountLoader<'info, MarginAccount>,
    pub target: &'a AccountLoader<'info, MarginAccount>,
    /// The instruction's own market, if it names one.
    pub named_market: Option<&'a AccountInfo<'info>>,
    /// Markets and oracles both accounts' checks need.
    pub accounts: &'a [AccountInfo<'info>],
}

/// The target's state before the step.
pub struct Before {
    pub maint_health: i64,
    /// Health against the liquidation-end level (negative: what the step should restore).
    pub end_health: i128,
    /// Equity at maintenance weights (≤ 0: insolvent, `is_insolvent`).
    pub equity: i64,
    /// The target held positions (set by `Parties::begin`).
    pub had_positions: bool,
}

impl Before {
    pub fn of(report: &MarginReport, end_fraction: Fx) -> Result<Self> {
        Ok(Self {
            maint_health: report.maint_health(),
            end_health: health_at_end_level(report, end_fraction).map_err(risk_error)?,
            equity: report.equity_maint,
            had_positions: false,
        })
    }

    /// Below maintenance, or still flagged (`being_liquidated`) and below the end level: what
    /// the program requires and what keepers look for.
    pub fn is_liquidatable(&self, flagged: bool) -> bool {
        self.maint_health < 0 || (flagged && self.end_health < 0)
    }
}

impl<'a> Parties<'a, '_> {
    /// Authorizes the liquidator, loads prices (`OracleUse::Liquidate`: markets strict, a stale
    /// collateral feed lowers the asset's value instead of blocking the step),
    /// accrues the funding of `also` (series of `markets` the step moves) up to now, settles
    /// both accounts' funding, and checks the target is liquidatable: below
    /// maintenance, or still flagged and below the liquidation-end level. Returns the prices,
    /// the target's state and its evaluation (which `finish` updates instead of redoing).
    pub fn begin(
        &self,
        also: &[(u8, u8)],
        markets: &[&AccountLoader<'_, Market>],
    ) -> Result<(RiskContext<'a>, Before, AccountRisk)> {
        self.clearinghouse
            .require_not_paused(PAUSE_LIQUIDATE, Clock::get()?.unix_timestamp)?;
        let needs = {
            let liquidator = self.liquidator.load()?;
            let target = self.target.load()?;
            require!(
                liquidator.is_owner_or_delegate(self.liquidator_signer),
                XmarginError::NotAccountOwner
            );
            require_keys_neq!(
                liquidator.owner,
                target.owner,
                XmarginError::SelfLiquidation
            );
            let mut needs = Needs::default();
            needs.add_account(&liquidator);
            needs.add_account(&target);
            for &(market, series) in also {
                require!(
                    liquidator.allows_market(market),
                    XmarginError::MarketNotAllowedInIsolatedMode
                );
                needs.add_series(market, series);
            }
            needs
        };
        let clock = Clock::get()?;
        let mut risk = RiskContext::load(
            self.clearinghouse,
            &*self.registry.load()?,
            self.named_market,
            self.accounts,
            &needs,
            OracleUse::Liquidate,
            &clock,
        )?;
        // A perp changing hands pays its funding up to now first, like a fill.
        for market in markets {
            let mut market = market.load_mut()?;
            for &(index, series) in also {
                if index == market.index {
                    risk.accrue_funding(&mut market, series, clock.unix_timestamp)?;
                }
            }
        }
        {
            let mut target = self.target.load_mut()?;
            risk.settle_accruals(&mut target, &[])?;
            let mut liquidator = self.liquidator.load_mut()?;
            risk.settle_accruals(&mut liquidator, also)?;
        }
        let target = self.target.load()?;
        let evaluated = risk.evaluate(&target)?;
        let mut before = Before::of(&evaluated.report, self.end_fraction())?;
        before.had_positions = target.has_positions();
        require!(
            before.is_liquidatable(target.being_liquidated != 0),
            XmarginError::NotLiquidatable
        );
        drop(target);
        Ok((risk, before, evaluated))
    }

    pub fn end_fraction(&self) -> Fx {
        Fx::from_bits(self.clearinghouse.liquidation_end_fraction_bits)
    }

    /// After the step: the target's health strictly rose (or, insolvent, its equity did not
    /// fall), its flag follows the end level, and the liquidator still meets initial margin. Returns (maintenance health, end-level
    /// health) of the target.
    pub fn finish(
        &self,
        risk: &RiskContext<'_>,
        before: &Before,
        mut target: AccountRisk,
    ) -> Result<(i64, i64)> {
        risk.reevaluate(&mut target, &*self.target.load()?)?;
        let after = &target.report;
        let maint_health = after.maint_health();
        // An insolvent account's positions are closed out at its own valuation, without a fee
        // (a fee would be paid by the fund or the series' holders): such a step need only not
        // lower its equity. Its health may fall (a hedge leg goes first), but nothing can
        // restore it, and a book no step could improve would otherwise be stuck for ever
        // (docs/security.md, "Solvency and liveness").
        let closes_out_insolvent = is_insolvent(before.equity)
            && before.had_positions
            && after.equity_maint >= before.equity;
        require!(
            maint_health > before.maint_health || closes_out_insolvent,
            XmarginError::LiquidationDidNotImproveHealth
        );
        let end_health = health_at_end_level(after, self.end_fraction()).map_err(risk_error)?;
        self.target.load_mut()?.being_liquidated = u8::from(end_health < 0);
        risk.recycle(target);
        let liquidator_health = risk.health(&*self.liquidator.load()?)?.init_health;
        require!(
            liquidator_health >= 0,
            XmarginError::LiquidatorBelowInitialMargin
        );
        Ok((maint_health, i64::try_from(end_health).unwrap_or(i64::MIN)))
    }
}

/// No equity left at maintenance weights: below zero, or exactly zero (where a fee capped at
/// the equity leaves an account). Its positions close out at its own valuation, without a fee,
/// whatever that does to its health (`Parties::finish`).
pub fn is_insolvent(equity_maint: i64) -> bool {
    equity_maint <= 0
}

/// The liquidation discount as a fraction.
pub fn discount(clearinghouse: &Clearinghouse) -> Fx {
    fx_ratio(
        clearinghouse.liquidation_fee_bps as i64,
        BPS_DENOMINATOR as i64,
    )
}

/// (liquidator share, insurance share) of a fee.
pub fn split_fee(clearinghouse: &Clearinghouse, fee: u64) -> (u64, u64) {
    let liquidator = (fee as u128 * clearinghouse.liquidator_fee_share_bps as u128
        / BPS_DENOMINATOR as u128) as u64;
    (liquidator, fee - liquidator)
}
