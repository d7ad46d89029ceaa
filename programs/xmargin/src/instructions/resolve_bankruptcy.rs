use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::error::XmarginError;
use crate::events::{BankruptcyInsuranceCovered, LossSocialized};
use crate::state::{Clearinghouse, CollateralRegistry, MarginAccount, Market, QUOTE_ASSET};

#[derive(Accounts)]
pub struct ResolveBankruptcy<'info> {
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    /// The market of the account's last liquidated position.
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    #[account(mut)]
    pub bankrupt_account: AccountLoader<'info, MarginAccount>,
    #[account(mut)]
    pub quote_vault: Account<'info, TokenAccount>,
    #[account(mut, address = clearinghouse.insurance_vault @ XmarginError::WrongInsuranceVault)]
    pub insurance_vault: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

/// Permissionless. An account with no positions and no collateral left but a quote debt is
/// bankrupt: the insurance fund pays the debt as far as it can; the rest is written off the
/// account and socialized across the open interest of the series it was last liquidated in:
/// every contract held on either side pays an equal share (rounded up) when next touched.
pub fn handler(ctx: Context<ResolveBankruptcy>) -> Result<()> {
    let (debt, market_index, series_index) = {
        let account = ctx.accounts.bankrupt_account.load()?;
        require!(account.is_bankrupt(), XmarginError::NotBankrupt);
        let debt = account.quote_balance().unsigned_abs();
        (
            debt,
            account.last_liquidated_market,
            account.last_liquidated_series,
        )
    };
    ctx.accounts
        .collateral_registry
        .load()?
        .require_quote_vault(&ctx.accounts.quote_vault.key())?;

    let covered = debt.min(ctx.accounts.insurance_vault.amount);
    if covered > 0 {
        crate::vault::pay_from_vault(
            &ctx.accounts.token_program,
            &ctx.accounts.insurance_vault,
            &ctx.accounts.quote_vault.to_account_info(),
            &ctx.accounts.clearinghouse,
            covered,
        )?;
        ctx.accounts
            .collateral_registry
            .load_mut()?
            .asset_mut(QUOTE_ASSET)?
            .add_to_vault(covered)?;
        ctx.accounts
            .bankrupt_account
            .load_mut()?
            .add_quote(covered as i64)?;
        crate::emit_event!(BankruptcyInsuranceCovered {
            account: ctx.accounts.bankrupt_account.key(),
            amount: covered,
            fund_balance_after: ctx.accounts.insurance_vault.amount - covered,
        });
    }

    let remaining = debt - covered;
    if remaining == 0 {
        return Ok(());
    }
    let mut market = ctx.accounts.market.load_mut()?;
    require!(
        market.index == market_index,
        XmarginError::NoSeriesToSocialize
    );
    let series = market.series_mut(series_index)?;
    let (per_contract, contracts, rounding) = series.socialize_loss(remaining)?;
    ctx.accounts
        .bankrupt_account
        .load_mut()?
        .add_quote(remaining as i64)?;
    ctx.accounts
        .collateral_registry
        .load_mut()?
        .asset_mut(QUOTE_ASSET)?
        .accrue_fees(rounding)?;
    crate::emit_event!(LossSocialized {
        account: ctx.accounts.bankrupt_account.key(),
        market: market_index,
        series: series_index,
        amount: remaining,
        per_contract,
        contracts,
        rounding,
    });
    Ok(())
}
