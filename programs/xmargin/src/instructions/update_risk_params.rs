use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::RiskParamsUpdated;
use crate::state::{Clearinghouse, OracleGuard, StoredRiskParams};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateRiskParamsParams {
    pub risk_params: StoredRiskParams,
    pub strict_oracle: OracleGuard,
    pub tolerant_oracle: OracleGuard,
    pub max_vol_step_bits: i64,
}

#[derive(Accounts)]
pub struct UpdateRiskParams<'info> {
    pub risk_authority: Signer<'info>,
    #[account(mut, has_one = risk_authority @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
}

pub fn handler(ctx: Context<UpdateRiskParams>, params: UpdateRiskParamsParams) -> Result<()> {
    params.risk_params.validate()?;
    Clearinghouse::validate_oracle_guards(&params.strict_oracle, &params.tolerant_oracle)?;
    Clearinghouse::validate_vol_step(params.max_vol_step_bits)?;
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    clearinghouse.risk_params = params.risk_params;
    clearinghouse.strict_oracle = params.strict_oracle;
    clearinghouse.tolerant_oracle = params.tolerant_oracle;
    clearinghouse.max_vol_step_bits = params.max_vol_step_bits;
    crate::emit_event!(RiskParamsUpdated {
        risk_params: params.risk_params,
        strict_oracle: params.strict_oracle,
        tolerant_oracle: params.tolerant_oracle,
        max_vol_step_bits: params.max_vol_step_bits,
    });
    Ok(())
}
