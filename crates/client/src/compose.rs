//! Whole transactions for the margin-checked instructions: the budget instructions, then the
//! instruction with exactly the remaining accounts its checks need.
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use xmargin::instructions::{ClearTradeParams, LiquidateCollateralParams, LiquidatePositionParams};
use xmargin::state::{MarginAccount, NO_MARKET};

#[cfg(feature = "chain")]
use crate::accounts;
use crate::budget::{budget_instructions, CheckShape, TradeSide, Work};
#[cfg(feature = "chain")]
use crate::chain::Chain;
use crate::error::{ClientError, ClientResult};
use crate::instructions::{self as ix, Liquidation, TradeSides};
use crate::protocol::Protocol;

/// Every account a transaction may load.
pub const MAX_TRANSACTION_ACCOUNTS: usize = 64;

/// A margin account fetched and decoded.
#[cfg(feature = "chain")]
pub async fn margin_account(chain: &impl Chain, address: &Pubkey) -> ClientResult<MarginAccount> {
    let account = chain
        .account(address)
        .await?
        .ok_or_else(|| ClientError::AccountNotFound(address.to_string()))?;
    accounts::margin_account(address, &account)
}

fn checked_size(ixs: Vec<Instruction>) -> ClientResult<Vec<Instruction>> {
    let mut keys: Vec<Pubkey> = ixs
        .iter()
        .flat_map(|ix| ix.accounts.iter().map(|m| m.pubkey).chain([ix.program_id]))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    // + the fee payer
    if keys.len() + 1 > MAX_TRANSACTION_ACCOUNTS {
        return Err(ClientError::Input(format!(
            "the transaction would load {} accounts (limit {MAX_TRANSACTION_ACCOUNTS})",
            keys.len() + 1
        )));
    }
    Ok(ixs)
}

impl Protocol {
    fn shape(&self, account: &MarginAccount) -> CheckShape {
        CheckShape::of(
            account,
            |m, s| self.is_cached(m, s),
            |m, s| self.is_option(m, s),
        )
    }

    pub fn withdraw_ixs(
        &self,
        owner: Pubkey,
        (address, account): (Pubkey, &MarginAccount),
        destination: Pubkey,
        asset: u8,
        amount: u64,
    ) -> ClientResult<Vec<Instruction>> {
        let risk = self.risk_accounts(&Self::needs(&[account], None), None)?;
        let mut ixs = budget_instructions(Work::Withdraw(self.shape(account)));
        ixs.push(ix::withdraw(
            owner,
            address,
            self.mint_of(asset)?,
            destination,
            (asset, amount),
            &risk,
        ));
        checked_size(ixs)
    }

    pub fn clear_trade_ixs(
        &self,
        sides: TradeSides,
        (taker, maker): (&MarginAccount, &MarginAccount),
        market: u8,
        params: ClearTradeParams,
    ) -> ClientResult<Vec<Instruction>> {
        let needs = Self::needs(&[taker, maker], Some((market, params.series)));
        let risk = self.risk_accounts(&needs, Some(market))?;
        let side = |account: &MarginAccount, size: i64| TradeSide {
            shape: self.shape(account),
            reduces: account.fill_only_reduces(market, params.series, size),
        };
        let mut ixs = budget_instructions(Work::ClearTrade(
            side(taker, params.size),
            side(maker, -params.size),
        ));
        ixs.push(ix::clear_trade(sides, market, params, &risk));
        checked_size(ixs)
    }

    fn liquidation_work(&self, target: &MarginAccount, liquidator: &MarginAccount) -> Work {
        Work::Liquidate(self.shape(target), self.shape(liquidator))
    }

    pub fn liquidate_position_ixs(
        &self,
        who: Liquidation,
        (target, liquidator): (&MarginAccount, &MarginAccount),
        market: u8,
        params: LiquidatePositionParams,
    ) -> ClientResult<Vec<Instruction>> {
        let needs = Self::needs(&[target, liquidator], Some((market, params.series)));
        let risk = self.risk_accounts(&needs, Some(market))?;
        let mut ixs = budget_instructions(self.liquidation_work(target, liquidator));
        ixs.push(ix::liquidate_position(who, market, params, &risk));
        checked_size(ixs)
    }

    pub fn liquidate_collateral_ixs(
        &self,
        who: Liquidation,
        (target, liquidator): (&MarginAccount, &MarginAccount),
        params: LiquidateCollateralParams,
    ) -> ClientResult<Vec<Instruction>> {
        let needs = Self::needs(&[target, liquidator], None);
        let risk = self.risk_accounts(&needs, None)?;
        let mut ixs = budget_instructions(self.liquidation_work(target, liquidator));
        ixs.push(ix::liquidate_collateral(who, params, &risk));
        checked_size(ixs)
    }

    /// Resolves `account` (bankrupt but for dust): against its last liquidated market (the
    /// first market if it has none), with the oracles of whatever dust it holds.
    pub fn resolve_bankruptcy_ixs(
        &self,
        address: Pubkey,
        account: &MarginAccount,
    ) -> ClientResult<Vec<Instruction>> {
        let market = match account.last_liquidated_market {
            NO_MARKET => 0,
            market => market,
        };
        let risk = self.risk_accounts(&Self::needs(&[account], None), None)?;
        checked_size(vec![ix::resolve_bankruptcy(
            address,
            market,
            self.quote_mint(),
            &risk,
        )])
    }
}
