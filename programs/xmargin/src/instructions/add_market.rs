use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::MarketAdded;
use crate::oracle::read_oracle;
use crate::state::{
    Clearinghouse, Market, OracleKind, StoredVolSurface, UnderlyingRisk, MAX_MARKETS,
};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AddMarketParams {
    pub oracle_kind: OracleKind,
    pub feed_id: [u8; 32],
    pub contract_size: u64,
    pub contract_decimals: u8,
    pub surface: StoredVolSurface,
    pub risk: UnderlyingRisk,
}

#[derive(Accounts)]
pub struct AddMarket<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(
        init,
        payer = admin,
        space = Market::SPACE,
        seeds = [Market::SEED, &[clearinghouse.market_count]],
        bump
    )]
    pub market: AccountLoader<'info, Market>,
    /// CHECK: read by `oracle::read_oracle` (owner, layout, feed id).
    pub oracle: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<AddMarket>, params: AddMarketParams) -> Result<()> {
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    require!(
        clearinghouse.market_count < MAX_MARKETS,
        XmarginError::TooManyMarkets
    );
    require!(
        params.contract_size > 0 && params.contract_decimals <= 18,
        XmarginError::InvalidParameter
    );
    let oracle = ctx.accounts.oracle.to_account_info();
    read_oracle(&oracle, params.oracle_kind, &params.feed_id)?;
    let index = clearinghouse.market_count;
    let mut market = ctx.accounts.market.load_init()?;
    market.oracle = oracle.key();
    market.feed_id = params.feed_id;
    market.surface = params.surface;
    market.risk = params.risk;
    market.contract_size = params.contract_size;
    market.contract_decimals = params.contract_decimals;
    // A listing is the first step of both: the next waits an hour.
    let now = Clock::get()?.unix_timestamp;
    market.surface_updated_at = now;
    market.risk_updated_at = now;
    market.rebase_risk(now);
    market.rebase_surface(now);
    market.index = index;
    market.bump = ctx.bumps.market;
    market.oracle_kind = params.oracle_kind as u8;
    market.validate_risk()?;
    market.refresh_constants()?;
    clearinghouse.market_count += 1;
    crate::emit_event!(MarketAdded {
        index,
        market: ctx.accounts.market.key(),
        oracle: oracle.key(),
        contract_size: params.contract_size,
        contract_decimals: params.contract_decimals,
    });
    Ok(())
}
