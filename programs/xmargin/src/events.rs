use anchor_lang::prelude::*;

#[event]
pub struct ClearinghouseInitialized {
    pub admin: Pubkey,
    pub risk_authority: Pubkey,
    pub quote_mint: Pubkey,
    pub taker_fee_bps: u16,
    pub maker_fee_bps: u16,
    pub liquidation_fee_bps: u16,
}
