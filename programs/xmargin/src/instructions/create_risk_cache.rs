use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::RiskCacheCreated;
use crate::state::{Clearinghouse, Market, RiskCache};

#[derive(Accounts)]
pub struct CreateRiskCache<'info> {
    pub admin: Signer<'info>,
    #[account(has_one = admin @ XmarginError::Unauthorized)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    /// Created by the client (owner = this program, `RiskCache::SPACE` bytes, all zero):
    /// `zero` refuses one already in use.
    #[account(zero)]
    pub risk_cache: AccountLoader<'info, RiskCache>,
}

/// Adopts a client-created account as the market's option risk cache. Once per market: a second
/// cache would let two windows of the same series disagree.
pub fn handler(ctx: Context<CreateRiskCache>) -> Result<()> {
    require_eq!(
        ctx.accounts.risk_cache.to_account_info().data_len(),
        RiskCache::SPACE,
        XmarginError::RiskCacheWrongSize
    );
    let mut market = ctx.accounts.market.load_mut()?;
    require_keys_eq!(
        market.risk_cache,
        Pubkey::default(),
        XmarginError::RiskCacheExists
    );
    let mut cache = ctx.accounts.risk_cache.load_init()?;
    cache.market = ctx.accounts.market.key();
    cache.market_index = market.index;
    market.risk_cache = ctx.accounts.risk_cache.key();
    crate::emit_event!(RiskCacheCreated {
        market: market.index,
        risk_cache: market.risk_cache,
    });
    Ok(())
}
