use anchor_lang::prelude::*;
use anchor_spl::token::{Mint, Token, TokenAccount};

use crate::error::XmarginError;
use crate::events::CollateralAssetAdded;
use crate::oracle::read_oracle;
use crate::state::{
    AssetWeights, Clearinghouse, CollateralAsset, CollateralRegistry, OracleKind,
    MAX_REGISTRY_ASSETS,
};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AddCollateralAssetParams {
    pub oracle_kind: OracleKind,
    pub feed_id: [u8; 32],
    pub weights: AssetWeights,
    pub liquidity_depth: u64,
    pub deposit_cap: u64,
    /// What the operator expects: checked against the mint and the oracle presented.
    pub decimals: u8,
    pub exponent: i32,
}

#[derive(Accounts)]
pub struct AddCollateralAsset<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    /// A mint is listed once: its vault PDA `["vault", mint]` can only be created once.
    /// SPL Token mints only (a Token-2022 mint fails to load here, before the vault exists):
    /// transfer fees and hooks would break the vault accounting.
    pub mint: Account<'info, Mint>,
    #[account(
        init,
        payer = admin,
        seeds = [b"vault", mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = clearinghouse,
        token::token_program = token_program,
    )]
    pub vault: Account<'info, TokenAccount>,
    /// CHECK: read by `oracle::read_oracle` (owner, layout, feed id); `None` for the quote asset.
    pub oracle: Option<UncheckedAccount<'info>>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<AddCollateralAsset>, params: AddCollateralAssetParams) -> Result<()> {
    let mint = ctx.accounts.mint.key();
    let is_quote = mint == ctx.accounts.clearinghouse.quote_mint;
    require!(
        ctx.accounts.mint.decimals == params.decimals,
        XmarginError::MintDecimalsMismatch
    );
    let now = Clock::get()?.unix_timestamp;
    let mut registry = ctx.accounts.collateral_registry.load_mut()?;
    let count = registry.asset_count as usize;
    require!(
        count < MAX_REGISTRY_ASSETS,
        XmarginError::CollateralRegistryFull
    );
    require!(
        is_quote == (count == 0),
        XmarginError::QuoteAssetMustComeFirst
    );
    let (oracle, weights) = if is_quote {
        (Pubkey::default(), AssetWeights::unit())
    } else {
        require!(
            params.oracle_kind != OracleKind::None,
            XmarginError::InvalidParameter
        );
        let info = ctx
            .accounts
            .oracle
            .as_ref()
            .ok_or_else(|| error!(XmarginError::MissingOracle))?;
        let price = read_oracle(info, params.oracle_kind, &params.feed_id)?;
        require!(
            price.expo == params.exponent,
            XmarginError::OracleExponentMismatch
        );
        params.weights.validate()?;
        params
            .weights
            .check_liquidatable(ctx.accounts.clearinghouse.liquidation_fee_bps)?;
        (info.key(), params.weights)
    };
    let oracle_kind = if is_quote {
        OracleKind::None
    } else {
        params.oracle_kind
    };
    registry.assets[count] = CollateralAsset {
        mint,
        vault: ctx.accounts.vault.key(),
        oracle,
        feed_id: params.feed_id,
        weights,
        liquidity_depth: params.liquidity_depth,
        deposit_cap: params.deposit_cap,
        deposited: 0,
        fees_accrued: 0,
        decimals: ctx.accounts.mint.decimals,
        oracle_kind: oracle_kind as u8,
        vault_bump: ctx.bumps.vault,
        _padding: [0; 5],
        updated_at: now,
        reference_weights: weights,
        reference_depth: params.liquidity_depth,
        reference_cap: params.deposit_cap,
        reference_at: now,
    };
    registry.asset_count += 1;
    crate::emit_event!(CollateralAssetAdded {
        index: count as u8,
        mint,
        vault: ctx.accounts.vault.key(),
        oracle,
        weights,
        liquidity_depth: params.liquidity_depth,
        deposit_cap: params.deposit_cap,
    });
    Ok(())
}
