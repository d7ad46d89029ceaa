use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::FundingUpdated;
use crate::health::spot_per_contract;
use crate::oracle::read_oracle;
use crate::state::{Clearinghouse, CollateralRegistry, Market, SeriesKind, QUOTE_ASSET};

#[derive(Accounts)]
pub struct CrankFunding<'info> {
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    /// CHECK: must be the market's registered oracle; read by `oracle::read_oracle`.
    pub oracle: UncheckedAccount<'info>,
}

/// Permissionless: accrues a perp's funding since the last crank into its cumulative index,
/// from the premium of the traded mark (TWAP) over the oracle index, clamped. Positions pay or
/// receive it when next touched.
pub fn handler(ctx: Context<CrankFunding>, series_index: u8) -> Result<()> {
    let clock = Clock::get()?;
    let quote_decimals = ctx
        .accounts
        .collateral_registry
        .load()?
        .asset(QUOTE_ASSET)?
        .decimals as i32;
    let mut market = ctx.accounts.market.load_mut()?;
    require_keys_eq!(
        ctx.accounts.oracle.key(),
        market.oracle,
        XmarginError::MissingOracle
    );
    require!(
        market.series(series_index)?.kind == SeriesKind::Perpetual as u8,
        XmarginError::InvalidSeries
    );
    let price = read_oracle(
        &ctx.accounts.oracle.to_account_info(),
        market.oracle_kind()?,
        &market.feed_id,
    )?;
    price.check(&ctx.accounts.clearinghouse.strict_oracle, &clock)?;
    let index_price = spot_per_contract(&price, &market, quote_decimals)?;
    let market_index = market.index;
    let series = market.series_mut(series_index)?;
    let (rate_bps, per_contract) = series.accrue_funding(index_price, clock.unix_timestamp)?;
    crate::emit_event!(FundingUpdated {
        market: market_index,
        series: series_index,
        mark_twap: series.mark_twap,
        index_price,
        rate_bps_per_day: rate_bps,
        per_contract,
        funding_index: series.funding_index,
    });
    Ok(())
}
