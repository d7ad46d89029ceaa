//! Resolving a bankrupt account: what `resolve_bankruptcy` does, and what the liquidation step
//! that empties an account does at once (so holders of the series cannot close between the last
//! liquidation and the resolution to dodge the loss).
//!
//! In order, every step of which always applies (docs/security.md, "Solvency"):
//! 1. Dust: a non-quote balance a liquidator would pay less than one quote unit for, at a strict
//!    price, goes to the protocol's fees of that asset. Anything worth more, or on a feed that
//!    fails the strict guard, must be sold first (once its feed is fresh).
//! 2. The insurance fund pays the quote debt as far as it holds.
//! 3. The rest is socialized across the open interest of the series the account was last
//!    liquidated in, equally per contract (rounded up, on each holder's next touch).
//! 4. With no such series (the debt did not come from a position liquidation, or its holders
//!    have all closed), the protocol's accrued quote fees absorb it, and what they cannot is
//!    recorded as the registry's `unbacked_debt`.
use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};
use xmargin_risk::fx::{money_mul_floor, mul, sub};
use xmargin_risk::liquidation::collateral_discount;
use xmargin_risk::Fx;

use crate::error::{risk_error, XmarginError};
use crate::events::{BadDebtAbsorbed, BankruptcyInsuranceCovered, DustSwept, LossSocialized};
use crate::health::RiskContext;
use crate::oracle::CollateralPricing;
use crate::state::{Clearinghouse, CollateralRegistry, MarginAccount, Market, QUOTE_ASSET};

/// The accounts a resolution moves value between.
pub struct Resolution<'a, 'info> {
    pub clearinghouse: &'a Account<'info, Clearinghouse>,
    pub registry: &'a AccountLoader<'info, CollateralRegistry>,
    /// The market the caller names: must be the account's last liquidated one when it has one.
    pub market: &'a AccountLoader<'info, Market>,
    pub account: &'a AccountLoader<'info, MarginAccount>,
    pub quote_vault: &'a Account<'info, TokenAccount>,
    pub insurance_vault: &'a Account<'info, TokenAccount>,
    pub token_program: &'a Program<'info, Token>,
}

impl Resolution<'_, '_> {
    /// Resolves the account if, once its dust is swept, it holds nothing but a quote debt
    /// (then true); false, and nothing changed, if it holds anything else or owes nothing.
    pub fn resolve_if_bankrupt(&self, risk: &RiskContext<'_>) -> Result<bool> {
        if !self.is_bankrupt_but_dust(risk)? {
            return Ok(false);
        }
        self.sweep_dust()?;
        self.resolve()?;
        Ok(true)
    }

    /// No positions, a quote debt, and every other balance dust.
    fn is_bankrupt_but_dust(&self, risk: &RiskContext<'_>) -> Result<bool> {
        let account = self.account.load()?;
        if account.has_positions() || account.quote_balance() >= 0 {
            return Ok(false);
        }
        let discount = crate::liquidation::discount(self.clearinghouse);
        let collateral = risk.collateral_values(&account)?;
        for (asset, value) in collateral.assets.iter().zip(&collateral.values) {
            if *asset == QUOTE_ASSET || value.amount == 0 {
                continue;
            }
            // Only a price that holds can call a balance dust: a dead feed must not let anyone
            // confiscate real collateral (it waits for the feed, then is sold).
            if risk.collateral_pricing(*asset) != CollateralPricing::Valid {
                return Ok(false);
            }
            let discount =
                collateral_discount(discount, value.maint_asset_weight).map_err(risk_error)?;
            let paid_per_unit = mul(value.price, sub(Fx::ONE, discount).map_err(risk_error)?)
                .map_err(risk_error)?;
            if money_mul_floor(value.amount as i128, paid_per_unit).map_err(risk_error)? != 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every non-quote balance (dust, checked by the caller) to the protocol's fees.
    fn sweep_dust(&self) -> Result<()> {
        let mut account = self.account.load_mut()?;
        let mut registry = self.registry.load_mut()?;
        for slot in account.collateral.iter_mut().skip(1) {
            if slot.in_use == 0 || slot.amount == 0 {
                continue;
            }
            let amount =
                u64::try_from(slot.amount).map_err(|_| error!(XmarginError::MathOverflow))?;
            registry.asset_mut(slot.asset)?.accrue_fees(amount)?;
            crate::emit_event!(DustSwept {
                account: self.account.key(),
                asset: slot.asset,
                amount,
            });
            slot.amount = 0;
        }
        account.release_empty_balances();
        Ok(())
    }

    /// Pays and writes off the quote debt of an account that holds nothing else.
    fn resolve(&self) -> Result<()> {
        let (debt, last_market, last_series, last_expiry) = {
            let account = self.account.load()?;
            require!(account.is_bankrupt(), XmarginError::NotBankrupt);
            (
                account.quote_balance().unsigned_abs(),
                account.last_liquidated_market,
                account.last_liquidated_series,
                account.last_liquidated_expiry,
            )
        };
        let covered = self.pay_from_insurance(debt)?;
        let remaining = debt - covered;
        if remaining == 0 {
            return Ok(());
        }
        let signed = i64::try_from(remaining).map_err(|_| error!(XmarginError::MathOverflow))?;
        self.account.load_mut()?.add_quote(signed)?;
        let mut market = self.market.load_mut()?;
        let socialized = if last_market == crate::state::NO_MARKET {
            false
        } else {
            // Otherwise a caller could steer the loss away from the series' holders.
            require!(
                market.index == last_market,
                XmarginError::NoSeriesToSocialize
            );
            let series = market.series_mut(last_series)?;
            // A slot reused since holds another series: its holders owe nothing.
            series.expiry == last_expiry && series.open_interest_long > 0
        };
        if socialized {
            let series = market.series_mut(last_series)?;
            let (per_contract, contracts, rounding) = series.socialize_loss(remaining)?;
            self.registry
                .load_mut()?
                .asset_mut(QUOTE_ASSET)?
                .accrue_fees(rounding)?;
            crate::emit_event!(LossSocialized {
                account: self.account.key(),
                market: last_market,
                series: last_series,
                amount: remaining,
                per_contract,
                contracts,
                rounding,
            });
        } else {
            let mut registry = self.registry.load_mut()?;
            let (from_fees, unbacked) = registry.absorb_bad_debt(remaining)?;
            crate::emit_event!(BadDebtAbsorbed {
                account: self.account.key(),
                from_fees,
                unbacked,
                unbacked_debt_after: registry.unbacked_debt,
            });
        }
        Ok(())
    }

    /// Moves up to `debt` from the insurance fund into the quote vault, credited to the
    /// account. Returns what it paid.
    fn pay_from_insurance(&self, debt: u64) -> Result<u64> {
        // Read from the data: a liquidation step paid the fund its fee earlier in this
        // instruction, after Anchor deserialized the account.
        let fund = anchor_spl::token::accessor::amount(&self.insurance_vault.to_account_info())?;
        let covered = debt.min(fund);
        if covered == 0 {
            return Ok(0);
        }
        crate::vault::pay_from_vault(
            self.token_program,
            self.insurance_vault,
            &self.quote_vault.to_account_info(),
            self.clearinghouse,
            covered,
        )?;
        self.registry
            .load_mut()?
            .asset_mut(QUOTE_ASSET)?
            .add_to_vault(covered)?;
        let signed = i64::try_from(covered).map_err(|_| error!(XmarginError::MathOverflow))?;
        self.account.load_mut()?.add_quote(signed)?;
        crate::emit_event!(BankruptcyInsuranceCovered {
            account: self.account.key(),
            amount: covered,
            fund_balance_after: fund - covered,
        });
        Ok(covered)
    }
}
