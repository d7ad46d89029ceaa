use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::CollateralAssetUpdated;
use crate::state::{AssetWeights, Clearinghouse, CollateralRegistry, QUOTE_ASSET};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct UpdateCollateralAssetParams {
    pub index: u8,
    pub weights: AssetWeights,
    pub liquidity_depth: u64,
    pub deposit_cap: u64,
}

#[derive(Accounts)]
pub struct UpdateCollateralAsset<'info> {
    pub admin: Signer<'info>,
    #[account(has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
}

pub fn handler(
    ctx: Context<UpdateCollateralAsset>,
    params: UpdateCollateralAssetParams,
) -> Result<()> {
    params.weights.validate()?;
    // The quote asset is the unit of account: its weights stay at one.
    require!(
        params.index != QUOTE_ASSET || params.weights == AssetWeights::unit(),
        XmarginError::InvalidParameter
    );
    let mut registry = ctx.accounts.collateral_registry.load_mut()?;
    let asset = registry.asset_mut(params.index)?;
    asset.weights = params.weights;
    asset.liquidity_depth = params.liquidity_depth;
    asset.deposit_cap = params.deposit_cap;
    crate::emit_event!(CollateralAssetUpdated {
        index: params.index,
        weights: asset.weights,
        liquidity_depth: asset.liquidity_depth,
        deposit_cap: asset.deposit_cap,
    });
    Ok(())
}
