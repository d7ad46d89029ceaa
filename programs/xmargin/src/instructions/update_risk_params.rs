use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::RiskParamsUpdated;
use crate::governance::{is_risk_params_step, judge_step, reference, risk_params_fields};
use crate::state::{Clearinghouse, OracleGuard, StoredRiskParams};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UpdateRiskParamsParams {
    pub risk_params: StoredRiskParams,
    pub strict_oracle: OracleGuard,
    pub tolerant_oracle: OracleGuard,
    pub max_vol_step_bits: i64,
}

impl UpdateRiskParamsParams {
    fn fields(&self) -> [u64; 10] {
        risk_params_fields(
            &self.risk_params,
            [&self.strict_oracle, &self.tolerant_oracle],
            self.max_vol_step_bits,
        )
    }

    pub fn validate(&self) -> Result<()> {
        self.risk_params.validate()?;
        Clearinghouse::validate_oracle_guards(&self.strict_oracle, &self.tolerant_oracle)?;
        Clearinghouse::validate_vol_step(self.max_vol_step_bits)
    }
}

#[derive(Accounts)]
pub struct UpdateRiskParams<'info> {
    pub risk_authority: Signer<'info>,
    #[account(mut, has_one = risk_authority @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
}

/// A step of every global risk parameter and oracle guard (`governance`: within one bound of the
/// period's reference, one an hour); larger changes go through `queue_change`.
pub fn handler(ctx: Context<UpdateRiskParams>, params: UpdateRiskParamsParams) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    let previous = stored_fields(clearinghouse);
    let previous_at = clearinghouse.risk_params_updated_at;
    let (base, base_at) = reference(
        clearinghouse.risk_params_reference,
        clearinghouse.risk_params_reference_at,
        previous,
        now,
        clearinghouse.timelock_secs as i64,
    );
    // Range errors first; a refused step below reverts the whole instruction.
    apply(clearinghouse, params, now)?;
    judge_step(
        is_risk_params_step(&base, &params.fields()),
        previous_at,
        now,
        XmarginError::StepTooLarge,
    )
    .map_err(|e| error!(e))?;
    clearinghouse.risk_params_reference = base;
    clearinghouse.risk_params_reference_at = base_at;
    Ok(())
}

/// Steps are measured from the current parameters from `now` on (an executed queued change).
pub fn rebase(clearinghouse: &mut Clearinghouse, now: i64) {
    clearinghouse.risk_params_reference = stored_fields(clearinghouse);
    clearinghouse.risk_params_reference_at = now;
}

/// The clearinghouse's parameters as the fields steps compare.
fn stored_fields(clearinghouse: &Clearinghouse) -> [u64; 10] {
    risk_params_fields(
        &clearinghouse.risk_params,
        [&clearinghouse.strict_oracle, &clearinghouse.tolerant_oracle],
        clearinghouse.max_vol_step_bits,
    )
}

/// Sets the global risk parameters (a step or an executed queued change).
pub fn apply(
    clearinghouse: &mut Clearinghouse,
    params: UpdateRiskParamsParams,
    now: i64,
) -> Result<()> {
    params.validate()?;
    clearinghouse.risk_params = params.risk_params;
    clearinghouse.strict_oracle = params.strict_oracle;
    clearinghouse.tolerant_oracle = params.tolerant_oracle;
    clearinghouse.max_vol_step_bits = params.max_vol_step_bits;
    clearinghouse.risk_params_updated_at = now;
    crate::emit_event!(RiskParamsUpdated {
        risk_params: params.risk_params,
        strict_oracle: params.strict_oracle,
        tolerant_oracle: params.tolerant_oracle,
        max_vol_step_bits: params.max_vol_step_bits,
    });
    Ok(())
}
