use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::CollateralAssetUpdated;
use crate::governance::{is_collateral_step, judge_step, reference};
use crate::state::{AssetWeights, Clearinghouse, CollateralAsset, CollateralRegistry, QUOTE_ASSET};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// A step of one asset's weights, depth and cap (`governance`: within one bound of the period's
/// reference, one an hour), or any change while no account holds the asset; larger changes go
/// through `queue_change`.
pub fn handler(
    ctx: Context<UpdateCollateralAsset>,
    params: UpdateCollateralAssetParams,
) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let clearinghouse = &ctx.accounts.clearinghouse;
    let (fee_bps, period) = (
        clearinghouse.liquidation_fee_bps,
        clearinghouse.timelock_secs as i64,
    );
    let mut registry = ctx.accounts.collateral_registry.load_mut()?;
    let asset = registry.asset_mut(params.index)?;
    let previous = *asset;
    // Range errors first; a refused step below reverts the whole instruction.
    apply(asset, &params, fee_bps, now)?;
    if asset.deposited == 0 {
        asset.rebase(now);
        return Ok(());
    }
    let stored = (
        previous.reference_weights,
        previous.reference_depth,
        previous.reference_cap,
    );
    let current = (
        previous.weights,
        previous.liquidity_depth,
        previous.deposit_cap,
    );
    let ((weights, depth, cap), base_at) =
        reference(stored, previous.reference_at, current, now, period);
    judge_step(
        is_collateral_step(
            (&weights, depth, cap),
            (&params.weights, params.liquidity_depth, params.deposit_cap),
        ),
        previous.updated_at,
        now,
        XmarginError::StepTooLarge,
    )
    .map_err(|e| error!(e))?;
    asset.reference_weights = weights;
    asset.reference_depth = depth;
    asset.reference_cap = cap;
    asset.reference_at = base_at;
    Ok(())
}

/// Sets one asset's weights, depth and cap (a step or an executed queued change).
pub fn apply(
    asset: &mut CollateralAsset,
    params: &UpdateCollateralAssetParams,
    liquidation_fee_bps: u16,
    now: i64,
) -> Result<()> {
    params.weights.validate()?;
    // The quote asset is the unit of account: its weights stay at one.
    if params.index == QUOTE_ASSET {
        require!(
            params.weights == AssetWeights::unit(),
            XmarginError::InvalidParameter
        );
    } else {
        params.weights.check_liquidatable(liquidation_fee_bps)?;
    }
    asset.weights = params.weights;
    asset.liquidity_depth = params.liquidity_depth;
    asset.deposit_cap = params.deposit_cap;
    asset.updated_at = now;
    crate::emit_event!(CollateralAssetUpdated {
        index: params.index,
        weights: asset.weights,
        liquidity_depth: asset.liquidity_depth,
        deposit_cap: asset.deposit_cap,
    });
    Ok(())
}
