//! A snapshot of everything margin checks read (clearinghouse, registry, markets, oracles, risk
//! caches, clock), with the program's own check run on it through `StateSource`: previews and
//! keeper decisions are the program's verdicts, not a re-implementation.
use core::cell::{Ref, RefCell};

use anchor_lang::prelude::{AccountMeta, Pubkey};
use solana_account::Account;
use solana_clock::Clock;
use xmargin::error::XmarginError;
use xmargin::health::{Needs, RiskContext, StateSource};
use xmargin::oracle::{parse_oracle, OraclePrice, OracleUse};
use xmargin::state::{
    Clearinghouse, CollateralRegistry, MarginAccount, Market, OracleKind, RiskCache, SeriesKind,
    QUOTE_ASSET,
};

use crate::chain::Chain;
use crate::error::{ClientError, ClientResult};
use crate::{accounts, pda};

#[derive(Clone)]
pub struct Protocol {
    pub clearinghouse: Clearinghouse,
    pub registry: CollateralRegistry,
    markets: Vec<RefCell<Market>>,
    oracles: Vec<(Pubkey, Account)>,
    caches: Vec<(Pubkey, RefCell<RiskCache>)>,
    pub clock: Clock,
}

impl StateSource for Protocol {
    fn market(&self, index: u8) -> anchor_lang::Result<Ref<'_, Market>> {
        self.markets
            .iter()
            .map(|m| m.borrow())
            .find(|m| m.index == index)
            .ok_or_else(|| anchor_lang::error!(XmarginError::UnknownMarket))
    }

    fn oracle(
        &self,
        key: &Pubkey,
        kind: OracleKind,
        feed_id: &[u8; 32],
    ) -> anchor_lang::Result<OraclePrice> {
        let (_, account) = self
            .oracles
            .iter()
            .find(|(address, _)| address == key)
            .ok_or_else(|| anchor_lang::error!(XmarginError::MissingOracle))?;
        parse_oracle(&account.owner, &account.data, kind, feed_id)
    }

    fn risk_cache(&self, key: &Pubkey) -> Option<Ref<'_, RiskCache>> {
        self.caches
            .iter()
            .find(|(address, _)| address == key)
            .map(|(_, cache)| cache.borrow())
    }
}

fn required(address: Pubkey, account: Option<Account>) -> ClientResult<Account> {
    account.ok_or_else(|| ClientError::AccountNotFound(address.to_string()))
}

impl Protocol {
    /// Reads the whole protocol state (a handful of RPC calls).
    pub async fn fetch(chain: &impl Chain) -> ClientResult<Self> {
        let (clearinghouse_key, registry_key) = (pda::clearinghouse(), pda::registry());
        let mut fetched = chain.accounts(&[clearinghouse_key, registry_key]).await?;
        let registry_account = required(registry_key, fetched.pop().flatten())?;
        let clearinghouse_account = required(clearinghouse_key, fetched.pop().flatten())?;
        let clearinghouse = accounts::clearinghouse(&clearinghouse_key, &clearinghouse_account)?;
        let registry = accounts::registry(&registry_key, &registry_account)?;
        let market_keys: Vec<Pubkey> = (0..clearinghouse.market_count).map(pda::market).collect();
        let mut markets = Vec::with_capacity(market_keys.len());
        for (key, account) in market_keys.iter().zip(chain.accounts(&market_keys).await?) {
            markets.push(RefCell::new(accounts::market(
                key,
                &required(*key, account)?,
            )?));
        }
        let mut oracle_keys: Vec<Pubkey> = Vec::new();
        let asset_oracles = registry.assets[..registry.asset_count as usize]
            .iter()
            .enumerate()
            .filter(|(index, _)| *index as u8 != QUOTE_ASSET)
            .map(|(_, asset)| asset.oracle);
        for key in markets
            .iter()
            .map(|m| m.borrow().oracle)
            .chain(asset_oracles)
        {
            if !oracle_keys.contains(&key) {
                oracle_keys.push(key);
            }
        }
        let cache_keys: Vec<Pubkey> = markets
            .iter()
            .map(|m| m.borrow().risk_cache)
            .filter(|key| *key != Pubkey::default())
            .collect();
        let mut wanted = oracle_keys.clone();
        wanted.extend(&cache_keys);
        let found = chain.accounts(&wanted).await?;
        let (oracle_accounts, cache_accounts) = found.split_at(oracle_keys.len());
        let oracles = oracle_keys
            .into_iter()
            .zip(oracle_accounts.iter().cloned())
            .filter_map(|(key, account)| account.map(|a| (key, a)))
            .collect();
        let mut caches = Vec::new();
        for (key, account) in cache_keys.into_iter().zip(cache_accounts.iter()) {
            if let Some(account) = account {
                caches.push((key, RefCell::new(accounts::risk_cache(&key, account)?)));
            }
        }
        Ok(Self {
            clearinghouse,
            registry,
            markets,
            oracles,
            caches,
            clock: chain.clock().await?,
        })
    }

    pub fn market_count(&self) -> u8 {
        self.markets.len() as u8
    }

    /// A copy of market `index`.
    pub fn market(&self, index: u8) -> ClientResult<Market> {
        self.markets
            .get(index as usize)
            .map(|m| *m.borrow())
            .ok_or_else(|| ClientError::Input(format!("no market {index}")))
    }

    /// The mint of collateral asset `index`.
    pub fn mint_of(&self, asset: u8) -> ClientResult<Pubkey> {
        self.registry
            .asset(asset)
            .map(|a| a.mint)
            .map_err(|_| ClientError::Input(format!("no collateral asset {asset}")))
    }

    pub fn quote_mint(&self) -> Pubkey {
        self.clearinghouse.quote_mint
    }

    /// Whether (market, series) is an option.
    pub fn is_option(&self, market: u8, series: u8) -> bool {
        self.market(market)
            .ok()
            .and_then(|m| m.series(series).ok().map(|s| s.kind))
            .is_some_and(|kind| kind == SeriesKind::Call as u8 || kind == SeriesKind::Put as u8)
    }

    /// Whether the check will read (market, series) from a fresh risk cache.
    pub fn is_cached(&self, market: u8, series: u8) -> bool {
        let Ok(m) = self.market(market) else {
            return false;
        };
        let Ok(stored) = m.series(series) else {
            return false;
        };
        let Some((_, cache)) = self.caches.iter().find(|(key, _)| *key == m.risk_cache) else {
            return false;
        };
        let Ok(spot) = self.spot(&m) else {
            return false;
        };
        let cache = cache.borrow();
        cache
            .lookup(
                series,
                stored,
                m.risk_generation,
                spot,
                self.clock.unix_timestamp,
            )
            .is_some()
    }

    fn spot(&self, market: &Market) -> ClientResult<u64> {
        let oracle = self.oracle(&market.oracle, market.oracle_kind()?, &market.feed_id)?;
        let quote_decimals = self.registry.asset(QUOTE_ASSET)?.decimals as i32;
        Ok(xmargin::health::spot_per_contract(
            &oracle,
            market,
            quote_decimals,
        )?)
    }

    /// Oracle price of one contract of `market`, quote-native units.
    pub fn spot_of(&self, market: u8) -> ClientResult<u64> {
        self.spot(&self.market(market)?)
    }

    /// What a check of `accounts` (plus the series `also` about to be traded) reads.
    pub fn needs(accounts: &[&MarginAccount], also: Option<(u8, u8)>) -> Needs {
        let mut needs = Needs::default();
        for account in accounts {
            needs.add_account(account);
        }
        if let Some((market, series)) = also {
            needs.add_series(market, series);
        }
        needs
    }

    /// The remaining accounts of a check with `needs`, in a fixed order: markets by index
    /// (without `named_market`, which the instruction names itself), then every oracle those
    /// markets and the collateral need (first use first), then the markets' risk caches.
    pub fn risk_accounts(
        &self,
        needs: &Needs,
        named_market: Option<u8>,
    ) -> ClientResult<Vec<AccountMeta>> {
        let mut markets: Vec<u8> = needs.series.iter().map(|(m, _)| *m).collect();
        markets.sort_unstable();
        markets.dedup();
        let mut metas: Vec<AccountMeta> = markets
            .iter()
            .filter(|m| Some(**m) != named_market)
            .map(|m| AccountMeta::new_readonly(pda::market(*m), false))
            .collect();
        let mut oracles: Vec<Pubkey> = Vec::new();
        let mut caches: Vec<Pubkey> = Vec::new();
        for index in &markets {
            let market = self.market(*index)?;
            oracles.push(market.oracle);
            if market.risk_cache != Pubkey::default() {
                caches.push(market.risk_cache);
            }
        }
        let mut assets = needs.assets.clone();
        assets.sort_unstable();
        for asset in assets.into_iter().filter(|a| *a != QUOTE_ASSET) {
            oracles.push(self.registry.asset(asset)?.oracle);
        }
        for key in oracles.into_iter().chain(caches) {
            if !metas.iter().any(|m| m.pubkey == key) {
                metas.push(AccountMeta::new_readonly(key, false));
            }
        }
        Ok(metas)
    }

    /// The program's risk context for `needs`, computed here.
    pub fn context(&self, needs: &Needs, oracle_use: OracleUse) -> ClientResult<RiskContext> {
        Ok(RiskContext::from_source(
            &self.clearinghouse,
            &self.registry,
            self,
            needs,
            oracle_use,
            &self.clock,
        )?)
    }

    /// The context of a check of `account` alone (the prices `withdraw` would use) and the
    /// account with its accruals settled, as the program sees it before it evaluates.
    pub fn settled(&self, account: &MarginAccount) -> ClientResult<(RiskContext, MarginAccount)> {
        let needs = Self::needs(&[account], None);
        let context = self.context(&needs, OracleUse::for_account(account))?;
        let mut settled = *account;
        context.settle_accruals(&mut settled, None)?;
        Ok((context, settled))
    }

    /// The same state with no risk cache: every option computed in the check.
    pub fn without_risk_caches(mut self) -> Self {
        self.caches.clear();
        self
    }
}
