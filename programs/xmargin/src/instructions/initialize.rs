use anchor_lang::prelude::*;
use anchor_lang::solana_program::bpf_loader_upgradeable;

use crate::error::XmarginError;
use crate::events::ClearinghouseInitialized;
use crate::state::{Clearinghouse, CollateralRegistry, OracleGuard, StoredRiskParams};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct InitializeParams {
    pub risk_authority: Pubkey,
    pub quote_mint: Pubkey,
    pub taker_fee_bps: u16,
    pub maker_fee_bps: u16,
    pub liquidation_fee_bps: u16,
    pub risk_params: StoredRiskParams,
    pub strict_oracle: OracleGuard,
    pub tolerant_oracle: OracleGuard,
    pub max_vol_step_bits: i64,
    pub liquidation_end_fraction_bits: i64,
    pub liquidator_fee_share_bps: u16,
    pub timelock_secs: u32,
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
    #[account(
        init,
        payer = admin,
        space = CollateralRegistry::SPACE,
        seeds = [CollateralRegistry::SEED],
        bump
    )]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    /// The program's own program-data account: only its upgrade authority initializes, so
    /// nobody can front-run the deployment (docs/security.md, "Roles").
    #[account(
        seeds = [crate::ID.as_ref()],
        bump,
        seeds::program = bpf_loader_upgradeable::ID,
        constraint = program_data.upgrade_authority_address == Some(admin.key())
            @ XmarginError::NotUpgradeAuthority
    )]
    pub program_data: Account<'info, ProgramData>,
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
        market_count: 0,
        risk_params: params.risk_params,
        strict_oracle: params.strict_oracle,
        tolerant_oracle: params.tolerant_oracle,
        max_vol_step_bits: params.max_vol_step_bits,
        liquidation_end_fraction_bits: params.liquidation_end_fraction_bits,
        liquidator_fee_share_bps: params.liquidator_fee_share_bps,
        insurance_vault: Pubkey::default(),
        last_insurance_withdrawal: 0,
        pending_admin: Pubkey::default(),
        pending_risk_authority: Pubkey::default(),
        pause_expires_at: 0,
        timelock_secs: params.timelock_secs,
        changes_queued: 0,
        risk_params_updated_at: 0,
        risk_params_reference: [0; 10],
        risk_params_reference_at: 0,
        last_fee_withdrawal: 0,
    });
    let mut registry = ctx.accounts.collateral_registry.load_init()?;
    registry.bump = ctx.bumps.collateral_registry;
    crate::emit_event!(ClearinghouseInitialized {
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
    Clearinghouse::validate_fees(
        params.taker_fee_bps,
        params.maker_fee_bps,
        params.liquidation_fee_bps,
    )?;
    params.risk_params.validate()?;
    Clearinghouse::validate_oracle_guards(&params.strict_oracle, &params.tolerant_oracle)?;
    Clearinghouse::validate_liquidation(
        params.liquidation_end_fraction_bits,
        params.liquidator_fee_share_bps,
    )?;
    Clearinghouse::validate_vol_step(params.max_vol_step_bits)?;
    Clearinghouse::validate_timelock(params.timelock_secs)
}
