use anchor_lang::prelude::*;
use anchor_spl::token::{Token, TokenAccount};

use crate::bankruptcy::Resolution;
use crate::error::XmarginError;
use crate::health::{Needs, RiskContext};
use crate::oracle::OracleUse;
use crate::state::{Clearinghouse, CollateralRegistry, MarginAccount, Market};

#[derive(Accounts)]
pub struct ResolveBankruptcy<'info> {
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    /// The market of the account's last liquidated position (any market if it has none).
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

/// Permissionless: resolves an account that holds nothing but a quote debt (and dust), as
/// `crate::bankruptcy` describes. Remaining accounts: the oracles of any non-quote balance it
/// still holds (a dust check needs their prices).
pub fn handler<'info>(ctx: Context<'info, ResolveBankruptcy<'info>>) -> Result<()> {
    let needs = {
        let account = ctx.accounts.bankrupt_account.load()?;
        require!(
            !account.has_positions() && account.quote_balance() < 0,
            XmarginError::NotBankrupt
        );
        let mut needs = Needs::default();
        needs.add_account(&account);
        needs
    };
    let registry = ctx.accounts.collateral_registry.load()?;
    registry.require_quote_vault(&ctx.accounts.quote_vault.key())?;
    let risk = RiskContext::load(
        &ctx.accounts.clearinghouse,
        &registry,
        None,
        ctx.remaining_accounts,
        &needs,
        OracleUse::Liquidate,
        &Clock::get()?,
    )?;
    drop(registry);
    let resolution = Resolution {
        clearinghouse: &ctx.accounts.clearinghouse,
        registry: &ctx.accounts.collateral_registry,
        market: &ctx.accounts.market,
        account: &ctx.accounts.bankrupt_account,
        quote_vault: &ctx.accounts.quote_vault,
        insurance_vault: &ctx.accounts.insurance_vault,
        token_program: &ctx.accounts.token_program,
    };
    require!(
        resolution.resolve_if_bankrupt(&risk)?,
        XmarginError::NotBankrupt
    );
    Ok(())
}
