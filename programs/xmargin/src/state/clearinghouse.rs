use anchor_lang::prelude::*;

/// Basis points in one whole (100 %).
pub const BPS_DENOMINATOR: u16 = 10_000;
/// Fees above 5 % of notional are certainly a configuration mistake.
pub const MAX_TRADE_FEE_BPS: u16 = 500;
/// The liquidation fee is paid out of the liquidated account; above 10 % it stops being a fee.
pub const MAX_LIQUIDATION_FEE_BPS: u16 = 1_000;

/// Global configuration, PDA `["clearinghouse"]`.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Clearinghouse {
    pub admin: Pubkey,
    /// May move volatility surfaces within bounded steps; cannot touch funds.
    pub risk_authority: Pubkey,
    /// Every balance, fee and requirement is denominated in this mint's native units.
    pub quote_mint: Pubkey,
    pub taker_fee_bps: u16,
    pub maker_fee_bps: u16,
    pub liquidation_fee_bps: u16,
    /// Bit set of paused actions (`PAUSE_*`).
    pub pause_flags: u8,
    pub bump: u8,
}

impl Clearinghouse {
    pub const SEED: &'static [u8] = b"clearinghouse";
}
