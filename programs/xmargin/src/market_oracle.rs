//! The accounts of the permissionless market cranks (expiry settlement, funding): a market and
//! its registered oracle, read under the strict guard.
use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::health::spot_per_contract;
use crate::oracle::{read_oracle, OraclePrice};
use crate::state::{Clearinghouse, CollateralRegistry, Market, QUOTE_ASSET};

#[derive(Accounts)]
pub struct MarketOracle<'info> {
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    /// CHECK: must be the market's registered oracle; read by `oracle::read_oracle`.
    pub oracle: UncheckedAccount<'info>,
}

impl MarketOracle<'_> {
    /// The oracle's price, fresh and tight enough to open risk, and the price of one contract
    /// in quote-native units.
    pub fn contract_price(&self, clock: &Clock) -> Result<(OraclePrice, u64)> {
        let (price, per_contract) = self.published_price()?;
        price.check(&self.clearinghouse.strict_oracle, clock)?;
        Ok((price, per_contract))
    }

    /// The oracle's price and the price of one contract, unchecked: the caller applies the
    /// guard (a settlement price is judged at its publish time, however late it is presented:
    /// `OraclePrice::check_at_publish`).
    pub fn published_price(&self) -> Result<(OraclePrice, u64)> {
        let quote_decimals = self
            .collateral_registry
            .load()?
            .asset(QUOTE_ASSET)?
            .decimals as i32;
        let market = self.market.load()?;
        require_keys_eq!(
            self.oracle.key(),
            market.oracle,
            XmarginError::MissingOracle
        );
        let price = read_oracle(
            &self.oracle.to_account_info(),
            market.oracle_kind()?,
            &market.feed_id,
        )?;
        let per_contract = spot_per_contract(&price, &market, quote_decimals)?;
        Ok((price, per_contract))
    }
}
