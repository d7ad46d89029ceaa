use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::error::{positive_amount, XmarginError};
use crate::events::Deposited;
use crate::state::{Clearinghouse, CollateralRegistry, MarginAccount, PAUSE_DEPOSIT, QUOTE_ASSET};

#[derive(Accounts)]
pub struct Deposit<'info> {
    /// Anyone may fund an account (a keeper topping up, a stuck account being rescued).
    pub depositor: Signer<'info>,
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub margin_account: AccountLoader<'info, MarginAccount>,
    #[account(mut)]
    pub vault: Account<'info, TokenAccount>,
    #[account(mut, token::authority = depositor)]
    pub source: Account<'info, TokenAccount>,
    pub token_program: Program<'info, Token>,
}

pub fn handler(ctx: Context<Deposit>, asset_index: u8, amount: u64) -> Result<()> {
    // A deposit pause stops new money, never a quote deposit into an account holding positions
    // or a debt: that deposit can only lower its risk (another asset could be the broken one).
    let rescue = asset_index == QUOTE_ASSET && ctx.accounts.margin_account.load()?.has_exposure();
    if !rescue {
        ctx.accounts
            .clearinghouse
            .require_not_paused(PAUSE_DEPOSIT, Clock::get()?.unix_timestamp)?;
    }
    let signed_amount = positive_amount(amount)?;
    let balance = {
        let mut registry = ctx.accounts.collateral_registry.load_mut()?;
        let asset = registry.asset_mut(asset_index)?;
        asset.check_token_accounts(&ctx.accounts.vault.key(), &ctx.accounts.source.mint)?;
        asset.add_to_vault(amount)?;
        require!(
            asset.deposited <= asset.deposit_cap,
            XmarginError::DepositCapExceeded
        );
        let mut account = ctx.accounts.margin_account.load_mut()?;
        let slot = account.balance_slot_mut(asset_index)?;
        slot.amount = slot
            .amount
            .checked_add(signed_amount)
            .ok_or_else(|| error!(XmarginError::AmountTooLarge))?;
        slot.amount
    };
    token::transfer(
        CpiContext::new(
            ctx.accounts.token_program.key(),
            Transfer {
                from: ctx.accounts.source.to_account_info(),
                to: ctx.accounts.vault.to_account_info(),
                authority: ctx.accounts.depositor.to_account_info(),
            },
        ),
        amount,
    )?;
    crate::emit_event!(Deposited {
        account: ctx.accounts.margin_account.key(),
        asset: asset_index,
        amount,
        balance,
    });
    Ok(())
}
