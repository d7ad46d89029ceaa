use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::ClearinghouseInitialized;
use crate::state::{Clearinghouse, MAX_LIQUIDATION_FEE_BPS, MAX_TRADE_FEE_BPS};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct InitializeParams {
    pub risk_authority: Pubkey,
    pub quote_mint: Pubkey,
    pub taker_fee_bps: u16,
    pub maker_fee_bps: u16,
    pub liquidation_fee_bps: u16,
}

#[derive(Accounts)]
pub struct Initialize<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(
        init,
        payer = admin,
        space = 8 + Clearinghouse::INIT_SPACE,
        seeds = [Clearinghouse::SEED],
        bump
    )]
    pub clearinghouse: Account<'info, Clearinghouse>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<Initialize>, params: InitializeParams) -> Result<()> {
    validate(&params)?;
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    clearinghouse.set_inner(Clearinghouse {
        admin: ctx.accounts.admin.key(),
        risk_authority: params.risk_authority,
        quote_mint: params.quote_mint,
        taker_fee_bps: params.taker_fee_bps,
        maker_fee_bps: params.maker_fee_bps,
        liquidation_fee_bps: params.liquidation_fee_bps,
        pause_flags: 0,
        bump: ctx.bumps.clearinghouse,
    });
    emit!(ClearinghouseInitialized {
        admin: clearinghouse.admin,
        risk_authority: clearinghouse.risk_authority,
        quote_mint: clearinghouse.quote_mint,
        taker_fee_bps: clearinghouse.taker_fee_bps,
        maker_fee_bps: clearinghouse.maker_fee_bps,
        liquidation_fee_bps: clearinghouse.liquidation_fee_bps,
    });
    Ok(())
}

fn validate(params: &InitializeParams) -> Result<()> {
    require_keys_neq!(
        params.risk_authority,
        Pubkey::default(),
        XmarginError::InvalidAuthority
    );
    require!(
        params.taker_fee_bps <= MAX_TRADE_FEE_BPS
            && params.maker_fee_bps <= MAX_TRADE_FEE_BPS
            && params.liquidation_fee_bps <= MAX_LIQUIDATION_FEE_BPS,
        XmarginError::InvalidParameter
    );
    Ok(())
}
