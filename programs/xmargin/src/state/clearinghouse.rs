use anchor_lang::prelude::*;
use xmargin_risk::{Fx, RiskParams};

use crate::error::XmarginError;
use crate::governance::{MAX_TIMELOCK_SECS, MIN_TIMELOCK_SECS};

/// Basis points in one whole (100 %).
pub const BPS_DENOMINATOR: u16 = 10_000;
/// Fees above 5 % of notional are certainly a configuration mistake.
pub const MAX_TRADE_FEE_BPS: u16 = 500;
/// The liquidation fee is paid out of the liquidated account; above 10 % it stops being a fee.
pub const MAX_LIQUIDATION_FEE_BPS: u16 = 1_000;
/// A confidence interval wider than 10 % of the price is no price at all.
pub const MAX_ORACLE_CONF_BPS: u16 = 1_000;
/// An oracle older than a day is never acceptable, whatever the action.
pub const MAX_ORACLE_AGE_SECS: u32 = 86_400;
/// A vol-surface step moves each parameter by at most 25 vol points, whatever the setting.
pub const MAX_VOL_STEP_BITS: i64 = Fx::ONE.to_bits() / 4;
/// The same day in slots (400 ms each).
pub const MAX_ORACLE_AGE_SLOTS: u32 = 216_000;

pub const PAUSE_DEPOSIT: u8 = 1 << 0;
pub const PAUSE_WITHDRAW: u8 = 1 << 1;
pub const PAUSE_TRADE: u8 = 1 << 2;
pub const PAUSE_LIQUIDATE: u8 = 1 << 3;
pub const PAUSE_ALL: u8 = PAUSE_DEPOSIT | PAUSE_WITHDRAW | PAUSE_TRADE | PAUSE_LIQUIDATE;

/// How fresh and how tight an oracle price must be for one class of action.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OracleGuard {
    pub max_age_secs: u32,
    pub max_age_slots: u32,
    /// Largest confidence interval accepted, in basis points of the price.
    pub max_conf_bps: u16,
}

impl OracleGuard {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.max_age_secs > 0
                && self.max_age_secs <= MAX_ORACLE_AGE_SECS
                && self.max_age_slots > 0
                && self.max_age_slots <= MAX_ORACLE_AGE_SLOTS
                && self.max_conf_bps > 0
                && self.max_conf_bps <= MAX_ORACLE_CONF_BPS,
            XmarginError::InvalidParameter
        );
        Ok(())
    }

    /// `tolerant` must accept everything `self` accepts.
    pub fn is_within(&self, tolerant: &OracleGuard) -> bool {
        self.max_age_secs <= tolerant.max_age_secs
            && self.max_age_slots <= tolerant.max_age_slots
            && self.max_conf_bps <= tolerant.max_conf_bps
    }
}

/// Account-independent margin parameters, as stored (fixed point as I32F32 bits).
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoredRiskParams {
    pub initial_factor_bits: i64,
    pub concentration_factor_bits: i64,
    pub theta_horizon_secs: u64,
}

impl StoredRiskParams {
    pub fn to_risk(&self) -> RiskParams {
        RiskParams {
            initial_factor: Fx::from_bits(self.initial_factor_bits),
            concentration_factor: Fx::from_bits(self.concentration_factor_bits),
            theta_horizon_secs: self.theta_horizon_secs,
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.to_risk()
            .validate()
            .map_err(|_| error!(XmarginError::InvalidParameter))
    }
}

/// Global configuration, PDA `["clearinghouse"]`.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Clearinghouse {
    pub admin: Pubkey,
    /// May move volatility surfaces within bounded steps and tune risk parameters; cannot
    /// touch funds.
    pub risk_authority: Pubkey,
    /// Every balance, fee and requirement is denominated in this mint's native units.
    pub quote_mint: Pubkey,
    pub taker_fee_bps: u16,
    pub maker_fee_bps: u16,
    pub liquidation_fee_bps: u16,
    /// Bit set of paused actions (`PAUSE_*`), in force until `pause_expires_at`.
    pub pause_flags: u8,
    pub bump: u8,
    pub market_count: u8,
    pub risk_params: StoredRiskParams,
    /// Opening risk needs a fresh, tight price.
    pub strict_oracle: OracleGuard,
    /// Reducing risk, or withdrawing from an account without positions, tolerates more.
    pub tolerant_oracle: OracleGuard,
    /// Largest change of any vol-surface parameter (I32F32 bits of vol points) per update.
    pub max_vol_step_bits: i64,
    /// Liquidation ends once maintenance-weighted equity covers maintenance + this fraction
    /// (I32F32 bits, in [0, 1]) of (initial - maintenance).
    pub liquidation_end_fraction_bits: i64,
    /// Liquidator's share of the liquidation fee; the rest goes to the insurance fund.
    pub liquidator_fee_share_bps: u16,
    /// Quote token account PDA `["insurance"]` owned by the clearinghouse; default until
    /// `create_insurance_fund`.
    pub insurance_vault: Pubkey,
    /// Unix time of the last admin withdrawal from the insurance fund.
    pub last_insurance_withdrawal: i64,
    /// Keys proposed for the roles, default when none (`transfer_role`).
    pub pending_admin: Pubkey,
    pub pending_risk_authority: Pubkey,
    /// A pause lapses at this Unix time unless renewed (`set_pause`).
    pub pause_expires_at: i64,
    /// Delay of a queued change (`queue_change`), within the `governance` bounds.
    pub timelock_secs: u32,
    /// Changes queued so far: the next one's id (`PendingChange` seed).
    pub changes_queued: u64,
    /// Unix time of the last step of the risk parameters (`update_risk_params`).
    pub risk_params_updated_at: i64,
    /// What steps of the risk parameters are measured from (`governance::risk_params_fields`),
    /// and since when (`governance::reference`).
    pub risk_params_reference: [u64; 10],
    pub risk_params_reference_at: i64,
    /// Unix time of the last fee withdrawal (`withdraw_fees`, once a day).
    pub last_fee_withdrawal: i64,
}

/// The roles a key can hold (`transfer_role`).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    RiskAuthority,
}

impl Clearinghouse {
    pub const SEED: &'static [u8] = b"clearinghouse";
    pub const INSURANCE_SEED: &'static [u8] = b"insurance";

    pub fn holder(&self, role: Role) -> Pubkey {
        match role {
            Role::Admin => self.admin,
            Role::RiskAuthority => self.risk_authority,
        }
    }

    pub fn holder_mut(&mut self, role: Role) -> &mut Pubkey {
        match role {
            Role::Admin => &mut self.admin,
            Role::RiskAuthority => &mut self.risk_authority,
        }
    }

    pub fn pending_mut(&mut self, role: Role) -> &mut Pubkey {
        match role {
            Role::Admin => &mut self.pending_admin,
            Role::RiskAuthority => &mut self.pending_risk_authority,
        }
    }

    /// The role's holder may propose its successor; the admin may also propose a risk
    /// authority.
    pub fn may_propose(&self, role: Role, signer: &Pubkey) -> bool {
        *signer == self.holder(role) || (role == Role::RiskAuthority && *signer == self.admin)
    }

    /// Whether `action` is paused at `now` (a pause lapses at `pause_expires_at`).
    pub fn is_paused(&self, action: u8, now: i64) -> bool {
        self.pause_flags & action != 0 && now < self.pause_expires_at
    }

    pub fn require_not_paused(&self, action: u8, now: i64) -> Result<()> {
        require!(!self.is_paused(action, now), XmarginError::Paused);
        Ok(())
    }

    pub fn validate_timelock(secs: u32) -> Result<()> {
        require!(
            (MIN_TIMELOCK_SECS..=MAX_TIMELOCK_SECS).contains(&secs),
            XmarginError::InvalidParameter
        );
        Ok(())
    }

    pub fn validate_fees(taker: u16, maker: u16, liquidation: u16) -> Result<()> {
        require!(
            taker <= MAX_TRADE_FEE_BPS
                && maker <= MAX_TRADE_FEE_BPS
                && liquidation <= MAX_LIQUIDATION_FEE_BPS,
            XmarginError::InvalidParameter
        );
        Ok(())
    }

    pub fn validate_oracle_guards(strict: &OracleGuard, tolerant: &OracleGuard) -> Result<()> {
        strict.validate()?;
        tolerant.validate()?;
        require!(strict.is_within(tolerant), XmarginError::InvalidParameter);
        Ok(())
    }

    pub fn validate_liquidation(end_fraction_bits: i64, liquidator_share_bps: u16) -> Result<()> {
        require!(
            (0..=Fx::ONE.to_bits()).contains(&end_fraction_bits)
                && liquidator_share_bps <= BPS_DENOMINATOR,
            XmarginError::InvalidParameter
        );
        Ok(())
    }

    pub fn validate_vol_step(bits: i64) -> Result<()> {
        require!(
            bits > 0 && bits <= MAX_VOL_STEP_BITS,
            XmarginError::InvalidParameter
        );
        Ok(())
    }
}
