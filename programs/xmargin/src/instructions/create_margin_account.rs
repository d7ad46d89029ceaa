use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::MarginAccountCreated;
use crate::state::{Clearinghouse, MarginAccount, MODE_CROSS, MODE_ISOLATED, NO_MARKET};

#[derive(Accounts)]
#[instruction(id: u16)]
pub struct CreateMarginAccount<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(
        init,
        payer = owner,
        space = MarginAccount::SPACE,
        seeds = [MarginAccount::SEED, owner.key().as_ref(), &id.to_le_bytes()],
        bump
    )]
    pub margin_account: AccountLoader<'info, MarginAccount>,
    pub system_program: Program<'info, System>,
}

/// `mode` is `MODE_CROSS`, or `MODE_ISOLATED` with the one market the account may trade.
pub fn handler(
    ctx: Context<CreateMarginAccount>,
    id: u16,
    mode: u8,
    isolated_market: u8,
) -> Result<()> {
    let valid = match mode {
        MODE_CROSS => isolated_market == 0,
        MODE_ISOLATED => isolated_market < ctx.accounts.clearinghouse.market_count,
        _ => false,
    };
    require!(valid, XmarginError::InvalidParameter);
    let mut account = ctx.accounts.margin_account.load_init()?;
    account.owner = ctx.accounts.owner.key();
    account.id = id;
    account.bump = ctx.bumps.margin_account;
    account.mode = mode;
    account.isolated_market = isolated_market;
    account.last_liquidated_market = NO_MARKET;
    account.init_quote_slot();
    crate::emit_event!(MarginAccountCreated {
        account: ctx.accounts.margin_account.key(),
        owner: account.owner,
        id,
        mode,
        isolated_market,
    });
    Ok(())
}
