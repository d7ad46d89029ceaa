use anchor_lang::prelude::*;
use xmargin_risk::{Collateral, Fx};

use crate::error::XmarginError;
use crate::state::{OracleKind, BPS_DENOMINATOR};

/// Assets the clearinghouse can hold; an account uses at most `MAX_ACCOUNT_COLLATERAL` of them.
pub const MAX_REGISTRY_ASSETS: usize = 16;
/// Index of the quote asset: always registered first, priced at exactly one.
pub const QUOTE_ASSET: u8 = 0;

/// Haircuts of one asset as stored (I32F32 bits).
#[zero_copy]
#[derive(Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
// Plain borsh: `AnchorSerialize` would add a second IDL description under `idl-build`
// (`zero_copy` already gives one).
#[borsh(crate = "anchor_lang::prelude::borsh")]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AssetWeights {
    pub init_asset: i64,
    pub maint_asset: i64,
    pub init_liab: i64,
    pub maint_liab: i64,
}

impl AssetWeights {
    /// The engine's collateral entry for `amount` at `price`.
    pub fn collateral(&self, amount: i64, price: Fx, liquidity_depth: u64) -> Collateral {
        Collateral {
            amount,
            price,
            init_asset_weight: Fx::from_bits(self.init_asset),
            maint_asset_weight: Fx::from_bits(self.maint_asset),
            init_liab_weight: Fx::from_bits(self.init_liab),
            maint_liab_weight: Fx::from_bits(self.maint_liab),
            liquidity_depth,
        }
    }

    /// Weights the engine accepts (ordered, within [0, 1] for assets and [1, 4] for liabilities).
    pub fn validate(&self) -> Result<()> {
        self.collateral(0, Fx::ONE, 0)
            .validate()
            .map_err(|_| error!(XmarginError::InvalidParameter))
    }

    /// Selling collateral at the liquidation discount must raise maintenance health: the
    /// maintenance weight stays below 1 - fee (docs/security.md, "Listing checks").
    pub fn check_liquidatable(&self, liquidation_fee_bps: u16) -> Result<()> {
        let one = Fx::ONE.to_bits() as u128;
        let fee = (one * liquidation_fee_bps as u128).div_ceil(BPS_DENOMINATOR as u128);
        let ceiling = one.saturating_sub(fee) as i128;
        require!(
            (self.maint_asset as i128) < ceiling,
            XmarginError::AssetNotLiquidatable
        );
        Ok(())
    }

    /// The quote asset is the unit of account: no haircut.
    pub const fn unit() -> Self {
        let one = 1i64 << 32;
        Self {
            init_asset: one,
            maint_asset: one,
            init_liab: one,
            maint_liab: one,
        }
    }
}

#[zero_copy]
#[derive(Debug, PartialEq, Eq)]
pub struct CollateralAsset {
    pub mint: Pubkey,
    /// Token account PDA `["vault", mint]` owned by the clearinghouse.
    pub vault: Pubkey,
    /// Price account; default for the quote asset.
    pub oracle: Pubkey,
    /// Pyth feed id a pull-oracle update must carry.
    pub feed_id: [u8; 32],
    pub weights: AssetWeights,
    /// Value (quote-native) above which the liquidity haircut starts.
    pub liquidity_depth: u64,
    /// Largest `deposited` allowed.
    pub deposit_cap: u64,
    /// Tokens in the vault credited to margin accounts (deposits minus withdrawals).
    pub deposited: u64,
    /// Trade fees collected in this asset (quote only), held in the same vault.
    pub fees_accrued: u64,
    pub decimals: u8,
    /// `OracleKind` as u8.
    pub oracle_kind: u8,
    pub vault_bump: u8,
    pub _padding: [u8; 5],
    /// Unix time of the last change of weights, depth or cap (`update_collateral_asset`).
    pub updated_at: i64,
    /// What steps are measured from, and since when (`governance::reference`).
    pub reference_weights: AssetWeights,
    pub reference_depth: u64,
    pub reference_cap: u64,
    pub reference_at: i64,
}

impl CollateralAsset {
    /// Steps are measured from the current weights, depth and cap from `now` on
    /// (`Market::rebase_risk`).
    pub fn rebase(&mut self, now: i64) {
        self.reference_weights = self.weights;
        self.reference_depth = self.liquidity_depth;
        self.reference_cap = self.deposit_cap;
        self.reference_at = now;
    }

    /// Records tokens entering the vault (deposits, insurance payouts into it).
    pub fn add_to_vault(&mut self, amount: u64) -> Result<()> {
        self.deposited = self
            .deposited
            .checked_add(amount)
            .ok_or_else(|| error!(XmarginError::AmountTooLarge))?;
        Ok(())
    }

    /// Fees (or rounding excess) kept by the protocol, held in the same vault.
    pub fn accrue_fees(&mut self, amount: u64) -> Result<()> {
        self.fees_accrued = self
            .fees_accrued
            .checked_add(amount)
            .ok_or_else(|| error!(XmarginError::AmountTooLarge))?;
        Ok(())
    }

    /// Records tokens leaving the vault (withdrawals, insurance fees).
    pub fn withdraw_from_vault(&mut self, amount: u64) -> Result<()> {
        self.deposited = self
            .deposited
            .checked_sub(amount)
            .ok_or_else(|| error!(XmarginError::InsufficientBalance))?;
        Ok(())
    }

    /// The vault must be this asset's, and the user's token account must hold its mint.
    pub fn check_token_accounts(&self, vault: &Pubkey, user_mint: &Pubkey) -> Result<()> {
        require_keys_eq!(*vault, self.vault, XmarginError::WrongVault);
        require_keys_eq!(*user_mint, self.mint, XmarginError::WrongMint);
        Ok(())
    }

    pub fn oracle_kind(&self) -> Result<OracleKind> {
        OracleKind::try_from(self.oracle_kind)
    }
}

/// Every collateral asset in one account, PDA `["collateral_registry"]`: a margin check needs one
/// account for all collateral parameters instead of one per asset.
#[account(zero_copy)]
#[derive(Debug)]
pub struct CollateralRegistry {
    pub asset_count: u8,
    pub bump: u8,
    pub _padding: [u8; 6],
    pub assets: [CollateralAsset; MAX_REGISTRY_ASSETS],
    /// Bad debt no insurance, no open interest and no accrued fee could pay (quote native
    /// units): quote balances exceed the vault by this much (src/bankruptcy.rs).
    pub unbacked_debt: u64,
}

impl CollateralRegistry {
    pub const SEED: &'static [u8] = b"collateral_registry";
    pub const SPACE: usize = 8 + core::mem::size_of::<CollateralRegistry>();

    pub fn asset(&self, index: u8) -> Result<&CollateralAsset> {
        self.assets[..self.asset_count as usize]
            .get(index as usize)
            .ok_or_else(|| error!(XmarginError::UnknownCollateralAsset))
    }

    /// `vault` must be the quote asset's vault.
    pub fn require_quote_vault(&self, vault: &Pubkey) -> Result<()> {
        require_keys_eq!(
            *vault,
            self.asset(QUOTE_ASSET)?.vault,
            XmarginError::WrongVault
        );
        Ok(())
    }

    /// Writes off `loss` against the protocol's accrued quote fees, the rest as unbacked
    /// debt. Returns (from fees, unbacked).
    pub fn absorb_bad_debt(&mut self, loss: u64) -> Result<(u64, u64)> {
        let quote = self.asset_mut(QUOTE_ASSET)?;
        let from_fees = loss.min(quote.fees_accrued);
        quote.fees_accrued -= from_fees;
        let unbacked = loss - from_fees;
        self.unbacked_debt = self
            .unbacked_debt
            .checked_add(unbacked)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        Ok((from_fees, unbacked))
    }

    pub fn asset_mut(&mut self, index: u8) -> Result<&mut CollateralAsset> {
        let count = self.asset_count as usize;
        self.assets[..count]
            .get_mut(index as usize)
            .ok_or_else(|| error!(XmarginError::UnknownCollateralAsset))
    }
}

const _: () = {
    assert!(core::mem::size_of::<AssetWeights>() == 32);
    assert!(core::mem::size_of::<CollateralAsset>() == 264);
    assert!(core::mem::offset_of!(CollateralAsset, updated_at) == 200);
    assert!(core::mem::offset_of!(CollateralAsset, weights) == 128);
    assert!(core::mem::offset_of!(CollateralAsset, decimals) == 192);
    assert!(core::mem::size_of::<CollateralRegistry>() == 8 + 16 * 264 + 8);
    assert!(core::mem::align_of::<CollateralRegistry>() == 8);
};
