//! The keeper's actions: settle expired series and their positions, crank funding, liquidate
//! unhealthy accounts step by step, resolve bankruptcies. Each decision is re-checked on fresh
//! state right before it is sent, each (action, account, series) is sent at most once per pass,
//! and only transport failures are retried (with backoff).
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::instructions::refresh_risk_cache::is_refreshed;
use xmargin::instructions::{LiquidateCollateralParams, LiquidatePositionParams};
use xmargin::state::{
    MarginAccount, SeriesKind, QUOTE_ASSET, SERIES_ACTIVE, SERIES_SETTLED, SERIES_SETTLING,
};
use xmargin_client::budget::{budget_instructions, Work};
use xmargin_client::instructions::{self as ix, Liquidation};
use xmargin_client::{compose, Chain, ClientError, ClientResult, Protocol};

use crate::scan::{self, Verdict};

/// What the keeper has done since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub passes: u64,
    pub accounts_evaluated: u64,
    pub liquidatable_seen: u64,
    pub position_liquidations: u64,
    pub collateral_liquidations: u64,
    pub bankruptcies_resolved: u64,
    pub series_settled: u64,
    pub positions_settled: u64,
    pub funding_cranks: u64,
    pub cache_refreshes: u64,
    pub refused: u64,
    pub retries: u64,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "passes={} accounts_evaluated={} liquidatable_seen={} position_liquidations={} \
             collateral_liquidations={} bankruptcies_resolved={} series_settled={} \
             positions_settled={} funding_cranks={} cache_refreshes={} refused={} retries={}",
            self.passes,
            self.accounts_evaluated,
            self.liquidatable_seen,
            self.position_liquidations,
            self.collateral_liquidations,
            self.bankruptcies_resolved,
            self.series_settled,
            self.positions_settled,
            self.funding_cranks,
            self.cache_refreshes,
            self.refused,
            self.retries
        )
    }
}

/// How the keeper behaves.
#[derive(Clone, Debug)]
pub struct KeeperConfig {
    /// Crank a perpetual's funding when it was last cranked this long ago.
    pub funding_interval_secs: i64,
    /// Liquidation steps per account per pass.
    pub max_steps: u32,
    /// Attempts per transaction on transport failures.
    pub attempts: u32,
    pub backoff: Duration,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        Self {
            funding_interval_secs: 3_600,
            max_steps: 8,
            attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// One structured log line: `keeper event=<event> key=value ...`.
pub type Logger = Box<dyn Fn(&str) + Send + Sync>;

pub struct Keeper<'a, C: Chain> {
    chain: &'a C,
    /// Pays fees and signs liquidations as the owner of `liquidator_account`.
    signer: Keypair,
    liquidator_account: Pubkey,
    pub config: KeeperConfig,
    pub counters: Counters,
    log: Logger,
    /// (action, account, market, series) sent in the current pass.
    sent: HashSet<(&'static str, Pubkey, u8, u8)>,
}

impl<'a, C: Chain> Keeper<'a, C> {
    pub fn new(chain: &'a C, signer: Keypair, liquidator_account: Pubkey, log: Logger) -> Self {
        Self {
            chain,
            signer,
            liquidator_account,
            config: KeeperConfig::default(),
            counters: Counters::default(),
            log,
            sent: HashSet::new(),
        }
    }

    fn log(&self, line: String) {
        (self.log)(&format!("keeper {line}"));
    }

    /// Sends once per (action, account, market, series) per pass; retries transport failures
    /// with exponential backoff. Returns whether the program accepted it.
    async fn submit(
        &mut self,
        key: (&'static str, Pubkey, u8, u8),
        ixs: &[Instruction],
    ) -> ClientResult<bool> {
        if !self.sent.insert(key) {
            return Ok(false);
        }
        let mut delay = self.config.backoff;
        for attempt in 1..=self.config.attempts {
            match self.chain.send(ixs, &self.signer, &[]).await {
                Ok(sent) => {
                    self.log(format!(
                        "event=sent action={} account={} market={} series={} signature={}",
                        key.0, key.1, key.2, key.3, sent.signature
                    ));
                    return Ok(true);
                }
                Err(ClientError::Transport(message)) if attempt < self.config.attempts => {
                    self.counters.retries += 1;
                    self.log(format!(
                        "event=retry action={} attempt={attempt} error=\"{message}\"",
                        key.0
                    ));
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(error) => {
                    self.counters.refused += 1;
                    self.log(format!(
                        "event=refused action={} account={} market={} series={} error=\"{error}\"",
                        key.0, key.1, key.2, key.3
                    ));
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// Every margin account, decoded.
    pub async fn margin_accounts(&self) -> ClientResult<Vec<(Pubkey, MarginAccount)>> {
        let (size, prefix) = scan::margin_account_filter();
        let found = self
            .chain
            .program_accounts(&xmargin::ID, size, prefix)
            .await?;
        Ok(scan::decode(&found))
    }

    /// One pass: maintenance cranks first (they change what accounts owe), then liquidations.
    pub async fn run_pass(&mut self) -> ClientResult<Vec<Verdict>> {
        self.sent.clear();
        self.counters.passes += 1;
        let protocol = Protocol::fetch(self.chain).await?;
        let accounts = self.margin_accounts().await?;
        self.settle_expiries(&protocol, &accounts).await?;
        self.crank_funding(&protocol).await?;
        self.refresh_risk_caches(&protocol).await?;
        let protocol = Protocol::fetch(self.chain).await?;
        let accounts = self.margin_accounts().await?;
        let verdicts = scan::evaluate(&protocol, &accounts);
        self.counters.accounts_evaluated += verdicts.len() as u64;
        let mut unhealthy: Vec<&Verdict> = verdicts
            .iter()
            .filter(|v| (v.liquidatable || v.bankrupt) && v.address != self.liquidator_account)
            .collect();
        unhealthy.sort_by_key(|v| v.maint_health);
        self.log(format!(
            "event=scan accounts={} unhealthy={}",
            verdicts.len(),
            unhealthy.len()
        ));
        for verdict in unhealthy {
            self.counters.liquidatable_seen += u64::from(verdict.liquidatable);
            self.work_out(verdict.address).await?;
        }
        Ok(verdicts)
    }

    /// Refreshes every run of active, cacheable options whose cached bounds no longer hold
    /// (empty, outdated generation, or spot or time outside the window): without them a
    /// margin check computes each option itself, ~43,000 CU apiece, and deep option books no
    /// longer fit a transaction.
    async fn refresh_risk_caches(&mut self, protocol: &Protocol) -> ClientResult<()> {
        for index in 0..protocol.market_count() {
            let market = protocol.market(index)?;
            if market.risk_cache == Pubkey::default() {
                continue;
            }
            let stale: Vec<u8> = (0..market.series_count)
                .filter(|series| {
                    market
                        .series(*series)
                        .is_ok_and(|stored| is_refreshed(&market, stored))
                        && !protocol.is_cached(index, *series)
                })
                .collect();
            for (first, count) in refresh_runs(&stale) {
                let mut ixs = budget_instructions(Work::RefreshRiskCache {
                    options: u32::from(count),
                });
                ixs.push(ix::refresh_risk_cache(
                    index,
                    market.oracle,
                    market.risk_cache,
                    first,
                    count,
                ));
                if self
                    .submit(
                        ("refresh_risk_cache", Pubkey::default(), index, first),
                        &ixs,
                    )
                    .await?
                {
                    self.counters.cache_refreshes += 1;
                }
            }
        }
        Ok(())
    }

    async fn settle_expiries(
        &mut self,
        protocol: &Protocol,
        accounts: &[(Pubkey, MarginAccount)],
    ) -> ClientResult<()> {
        let now = protocol.clock.unix_timestamp;
        for index in 0..protocol.market_count() {
            let market = protocol.market(index)?;
            for series in 0..market.series_count {
                let stored = market.series[series as usize];
                let expired = stored.is_expired(now);
                let mut settled = stored.status == SERIES_SETTLED;
                // Propose at expiry; make the proposal final once its window has passed.
                let finalizing =
                    stored.status == SERIES_SETTLING && now >= stored.settlement_final_at;
                if expired && (stored.status == SERIES_ACTIVE || finalizing) {
                    let settle = ix::settle_expired_series(index, market.oracle, series);
                    if self
                        .submit(
                            ("settle_series", Pubkey::default(), index, series),
                            &[settle],
                        )
                        .await?
                        && finalizing
                    {
                        self.counters.series_settled += 1;
                        settled = true;
                    }
                }
                if !settled {
                    continue;
                }
                let holders = accounts
                    .iter()
                    .filter(|(_, a)| a.position(index, series).is_some_and(|p| p.size != 0));
                for (address, _) in holders {
                    let settle = ix::settle_position(index, *address, series);
                    if self
                        .submit(("settle_position", *address, index, series), &[settle])
                        .await?
                    {
                        self.counters.positions_settled += 1;
                    }
                }
            }
        }
        Ok(())
    }

    async fn crank_funding(&mut self, protocol: &Protocol) -> ClientResult<()> {
        let now = protocol.clock.unix_timestamp;
        for index in 0..protocol.market_count() {
            let market = protocol.market(index)?;
            for series in 0..market.series_count {
                let stored = market.series[series as usize];
                if stored.kind == SeriesKind::Perpetual as u8
                    && now - stored.last_funding_time >= self.config.funding_interval_secs
                {
                    let mut ixs = budget_instructions(Work::CrankFunding);
                    ixs.push(ix::crank_funding(index, market.oracle, series));
                    if self
                        .submit(("crank_funding", Pubkey::default(), index, series), &ixs)
                        .await?
                    {
                        self.counters.funding_cranks += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Liquidates `target` step by step until the program no longer allows it, then resolves
    /// its bankruptcy if it ended with nothing but debt.
    async fn work_out(&mut self, target: Pubkey) -> ClientResult<()> {
        for step in 0..self.config.max_steps {
            let protocol = Protocol::fetch(self.chain).await?;
            let account = compose::margin_account(self.chain, &target).await?;
            let verdict = scan::evaluate_alone(&protocol, target, &account)?;
            if verdict.bankrupt {
                return self.resolve_bankruptcy(&protocol, target, &account).await;
            }
            if !verdict.liquidatable {
                self.log(format!(
                    "event=healthy account={target} steps={step} maint_health={}",
                    verdict.maint_health
                ));
                return Ok(());
            }
            let liquidator = compose::margin_account(self.chain, &self.liquidator_account).await?;
            let who = Liquidation {
                liquidator: self.signer.pubkey(),
                liquidator_account: self.liquidator_account,
                target_account: target,
                quote_mint: protocol.quote_mint(),
            };
            let accepted = match largest_position(&protocol, &account) {
                Some((market, series, size)) => {
                    // Sized off chain so the program only confirms it; the whole position if
                    // the sizing fails here (the program sizes it again anyway).
                    let max_quantity = protocol
                        .liquidation_quantity(&account, market, series)
                        .unwrap_or(size.unsigned_abs());
                    let liquidate = |max_quantity, paired: Option<(u8, u8)>| {
                        let params = LiquidatePositionParams {
                            series,
                            max_quantity,
                            paired_series: paired.map(|(_, series)| series),
                            paired_market: paired.map(|(market, _)| market),
                        };
                        protocol.liquidate_position_ixs(
                            who,
                            (&account, &liquidator),
                            market,
                            params,
                        )
                    };
                    let ixs = liquidate(max_quantity, None)?;
                    let key = ("liquidate_position", target, market, step as u8);
                    let mut accepted = self.submit(key, &ixs).await?;
                    if let (false, Some(paired)) = (
                        accepted,
                        paired_leg(&protocol, &account, market, series, size),
                    ) {
                        // A hedge no single leg of which can be reduced: take it as a pair
                        // (the program sizes the pair).
                        let ixs = liquidate(size.unsigned_abs(), Some(paired))?;
                        let key = ("liquidate_pair", target, market, step as u8);
                        accepted = self.submit(key, &ixs).await?;
                    }
                    self.counters.position_liquidations += u64::from(accepted);
                    if accepted
                        && compose::margin_account(self.chain, &target)
                            .await?
                            .is_empty()
                    {
                        // The step that empties an account in debt resolves its bankruptcy.
                        self.counters.bankruptcies_resolved += 1;
                        return Ok(());
                    }
                    accepted
                }
                None => {
                    let Some(balance) = account
                        .collateral
                        .iter()
                        .find(|b| b.in_use != 0 && b.asset != QUOTE_ASSET && b.amount > 0)
                    else {
                        return Ok(());
                    };
                    let params = LiquidateCollateralParams {
                        asset: balance.asset,
                        max_amount: balance.amount as u64,
                    };
                    let ixs =
                        protocol.liquidate_collateral_ixs(who, (&account, &liquidator), params)?;
                    let key = ("liquidate_collateral", target, balance.asset, step as u8);
                    let accepted = self.submit(key, &ixs).await?;
                    self.counters.collateral_liquidations += u64::from(accepted);
                    if !accepted && account.quote_balance() < 0 {
                        // Dust no liquidator can be paid for: the resolution sweeps it.
                        return self.resolve_bankruptcy(&protocol, target, &account).await;
                    }
                    accepted
                }
            };
            if !accepted {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn resolve_bankruptcy(
        &mut self,
        protocol: &Protocol,
        target: Pubkey,
        account: &MarginAccount,
    ) -> ClientResult<()> {
        let resolve = protocol.resolve_bankruptcy_ixs(target, account)?;
        let key = (
            "resolve_bankruptcy",
            target,
            account.last_liquidated_market,
            account.last_liquidated_series,
        );
        if self.submit(key, &resolve).await? {
            self.counters.bankruptcies_resolved += 1;
        }
        Ok(())
    }
}

/// The largest position in `market` held on the other side of `size` (of `series`): the other
/// leg of the pair a hedged book is liquidated by.
/// The leg to pair with (market, series) when no single step helps: a position of the same
/// market held on the other side, else the largest position of another market (a hedge
/// across underlyings).
fn paired_leg(
    protocol: &Protocol,
    account: &MarginAccount,
    market: u8,
    series: u8,
    size: i64,
) -> Option<(u8, u8)> {
    let same_market = account
        .open_positions()
        .filter(|slot| {
            slot.market == market && slot.series != series && slot.size.signum() == -size.signum()
        })
        .max_by_key(|slot| slot.size.unsigned_abs())
        .map(|slot| (slot.market, slot.series));
    same_market.or_else(|| {
        account
            .open_positions()
            .filter(|slot| slot.market != market && slot.size != 0)
            .max_by_key(|slot| {
                let spot = protocol.spot_of(slot.market).unwrap_or(0) as u128;
                slot.size.unsigned_abs() as u128 * spot
            })
            .map(|slot| (slot.market, slot.series))
    })
}

/// The position whose value at the current spot is largest: liquidating it first moves the
/// most risk per step.
fn largest_position(protocol: &Protocol, account: &MarginAccount) -> Option<(u8, u8, i64)> {
    account
        .open_positions()
        .filter(|slot| slot.size != 0)
        .max_by_key(|slot| {
            let spot = protocol.spot_of(slot.market).unwrap_or(0) as u128;
            slot.size.unsigned_abs() as u128 * spot
        })
        .map(|slot| (slot.market, slot.series, slot.size))
}

/// Options a single `refresh_risk_cache` covers at most (~140,000 CU each).
pub const OPTIONS_PER_REFRESH: u8 = 6;

/// `stale` (ascending series indices) as (first, count) runs of consecutive series, each at
/// most `OPTIONS_PER_REFRESH` long: a refresh recomputes every option in its range.
pub fn refresh_runs(stale: &[u8]) -> Vec<(u8, u8)> {
    let mut runs: Vec<(u8, u8)> = Vec::new();
    for series in stale {
        match runs.last_mut() {
            Some((first, count))
                if *first as u16 + *count as u16 == *series as u16
                    && *count < OPTIONS_PER_REFRESH =>
            {
                *count += 1
            }
            _ => runs.push((*series, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_series_are_refreshed_in_short_consecutive_runs() {
        assert_eq!(refresh_runs(&[]), vec![]);
        assert_eq!(refresh_runs(&[2, 3, 5]), vec![(2, 2), (5, 1)]);
        let many: Vec<u8> = (0..14).collect();
        assert_eq!(refresh_runs(&many), vec![(0, 6), (6, 6), (12, 2)]);
    }
}
