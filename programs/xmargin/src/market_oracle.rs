//! The accounts of the permissionless market cranks (expiry settlement, funding): a market and
//! its registered oracle, read under the strict guard.
use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::health::spot_per_contract;
use crate::oracle::{read_oracle, OraclePrice};
use crate::state::{Clearinghouse, CollateralRegistry, Market, OracleKind, QUOTE_ASSET};

#[derive(Accounts)]
pub struct MarketOracle<'info> {
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    /// CHECK: the market's registered oracle (for a settlement on a pull market, any update of
    /// its feed); read by `oracle::read_oracle`.
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
    /// guard.
    pub fn published_price(&self) -> Result<(OraclePrice, u64)> {
        self.price_from(false)
    }

    /// A settlement price, unchecked (the caller judges it at its publish time, however late
    /// it is presented: `OraclePrice::check_at_publish`): the registered oracle's, or on a
    /// pull market any verified `PriceUpdateV2` of the market's feed. A sponsored feed only
    /// moves forward; a separate update account posted later keeps the publish time it was
    /// signed with, so anyone can present the earliest price after expiry, not only what the
    /// feed shows when someone cranks.
    pub fn settlement_price(&self) -> Result<(OraclePrice, u64)> {
        self.price_from(true)
    }

    fn price_from(&self, any_update_of_the_feed: bool) -> Result<(OraclePrice, u64)> {
        let quote_decimals = self
            .collateral_registry
            .load()?
            .asset(QUOTE_ASSET)?
            .decimals as i32;
        let market = self.market.load()?;
        let kind = market.oracle_kind()?;
        // `read_oracle` checks a pull update's owner, feed id and verification.
        let any_update = any_update_of_the_feed && kind == OracleKind::PythPull;
        require!(
            any_update || self.oracle.key() == market.oracle,
            XmarginError::MissingOracle
        );
        let price = read_oracle(&self.oracle.to_account_info(), kind, &market.feed_id)?;
        let per_contract = spot_per_contract(&price, &market, quote_decimals)?;
        Ok((price, per_contract))
    }
}
