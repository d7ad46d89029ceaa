//! The keeper's pass over all margin accounts: decode, evaluate with the program's own check,
//! classify. Pure (no I/O) so it can be benchmarked and tested on decoded bytes.
use anchor_lang::prelude::Pubkey;
use anchor_lang::Discriminator;
use solana_account::Account;
use xmargin::health::{Needs, RiskContext};
use xmargin::liquidation::Before;
use xmargin::oracle::OracleUse;
use xmargin::state::MarginAccount;
use xmargin_client::{accounts, ClientResult, Protocol};
use xmargin_risk::Fx;

/// What the keeper concluded about one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub address: Pubkey,
    pub maint_health: i64,
    /// Health against the liquidation-end level.
    pub end_health: i128,
    /// The program may liquidate it now.
    pub liquidatable: bool,
    /// No positions, no collateral but quote, and a quote debt: `resolve_bankruptcy` applies.
    pub bankrupt: bool,
}

/// The getProgramAccounts filter for margin accounts: exact size and discriminator.
pub fn margin_account_filter() -> (usize, &'static [u8]) {
    (MarginAccount::SPACE, MarginAccount::DISCRIMINATOR)
}

/// Decodes fetched accounts; ones that fail to decode are skipped (counted by the caller).
pub fn decode(found: &[(Pubkey, Account)]) -> Vec<(Pubkey, MarginAccount)> {
    found
        .iter()
        .filter_map(|(key, account)| {
            accounts::margin_account(key, account)
                .ok()
                .map(|a| (*key, a))
        })
        .collect()
}

fn verdict(
    context: &RiskContext<'_>,
    end_fraction: Fx,
    address: Pubkey,
    account: &MarginAccount,
) -> ClientResult<Verdict> {
    let mut settled = *account;
    context.settle_accruals(&mut settled, &[])?;
    let health = context.health(&settled)?;
    let before = Before::of(&health.report, end_fraction)?;
    Ok(Verdict {
        address,
        maint_health: before.maint_health,
        end_health: before.end_health,
        liquidatable: before.is_liquidatable(account.being_liquidated != 0),
        bankrupt: account.is_bankrupt(),
    })
}

/// Every account's verdict, as the program's liquidation check would give it (strict prices).
/// One risk context serves all accounts (series risk computed once per series); an account it
/// cannot serve is evaluated alone, and one whose check fails (stale oracle) is left out.
pub fn evaluate(protocol: &Protocol, accounts: &[(Pubkey, MarginAccount)]) -> Vec<Verdict> {
    let end_fraction = Fx::from_bits(protocol.clearinghouse.liquidation_end_fraction_bits);
    let mut needs = Needs::default();
    for (_, account) in accounts {
        needs.add_account(account);
    }
    let shared = protocol.context(&needs, OracleUse::Liquidate).ok();
    accounts
        .iter()
        .filter_map(|(address, account)| {
            shared
                .as_ref()
                .and_then(|context| verdict(context, end_fraction, *address, account).ok())
                .or_else(|| evaluate_alone(protocol, *address, account).ok())
        })
        .collect()
}

/// The exact verdict for one account, from a context of its own (what the keeper confirms
/// before it acts).
pub fn evaluate_alone(
    protocol: &Protocol,
    address: Pubkey,
    account: &MarginAccount,
) -> ClientResult<Verdict> {
    let end_fraction = Fx::from_bits(protocol.clearinghouse.liquidation_end_fraction_bits);
    let context = protocol.context(&Protocol::needs(&[account], None), OracleUse::Liquidate)?;
    verdict(&context, end_fraction, address, account)
}
