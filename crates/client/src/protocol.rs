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

#[cfg(feature = "chain")]
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

impl<'p> StateSource<'p> for &'p Protocol {
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

    fn risk_cache(&self, key: &Pubkey) -> Option<Ref<'p, RiskCache>> {
        let protocol: &'p Protocol = self;
        protocol
            .caches
            .iter()
            .find(|(address, _)| address == key)
            .map(|(_, cache)| cache.borrow())
    }
}

fn required(address: Pubkey, account: Option<Account>) -> ClientResult<Account> {
    account.ok_or_else(|| ClientError::AccountNotFound(address.to_string()))
}

/// The two accounts everything else is found from.
struct Roots {
    clearinghouse: Clearinghouse,
    registry: CollateralRegistry,
}

impl Roots {
    fn keys() -> [Pubkey; 2] {
        [pda::clearinghouse(), pda::registry()]
    }

    fn decode(mut fetched: Vec<Option<Account>>) -> ClientResult<Self> {
        let [clearinghouse_key, registry_key] = Self::keys();
        let registry_account = required(registry_key, fetched.pop().flatten())?;
        let clearinghouse_account = required(clearinghouse_key, fetched.pop().flatten())?;
        Ok(Self {
            clearinghouse: accounts::clearinghouse(&clearinghouse_key, &clearinghouse_account)?,
            registry: accounts::registry(&registry_key, &registry_account)?,
        })
    }

    fn market_keys(&self) -> Vec<Pubkey> {
        (0..self.clearinghouse.market_count)
            .map(pda::market)
            .collect()
    }

    fn decode_markets(
        &self,
        keys: &[Pubkey],
        fetched: Vec<Option<Account>>,
    ) -> ClientResult<Vec<RefCell<Market>>> {
        keys.iter()
            .zip(fetched)
            .map(|(key, account)| {
                Ok(RefCell::new(accounts::market(
                    key,
                    &required(*key, account)?,
                )?))
            })
            .collect()
    }
}

/// The oracles and risk caches the markets and the collateral read.
struct Dependents {
    oracles: Vec<Pubkey>,
    caches: Vec<Pubkey>,
}

impl Dependents {
    fn of(registry: &CollateralRegistry, markets: &[RefCell<Market>]) -> Self {
        let mut oracles: Vec<Pubkey> = Vec::new();
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
            if !oracles.contains(&key) {
                oracles.push(key);
            }
        }
        let caches = markets
            .iter()
            .map(|m| m.borrow().risk_cache)
            .filter(|key| *key != Pubkey::default())
            .collect();
        Self { oracles, caches }
    }

    fn keys(&self) -> Vec<Pubkey> {
        let mut keys = self.oracles.clone();
        keys.extend(&self.caches);
        keys
    }

    fn assemble(
        self,
        roots: Roots,
        markets: Vec<RefCell<Market>>,
        found: Vec<Option<Account>>,
        clock: Clock,
    ) -> ClientResult<Protocol> {
        let (oracle_accounts, cache_accounts) = found.split_at(self.oracles.len().min(found.len()));
        let oracles = self
            .oracles
            .into_iter()
            .zip(oracle_accounts.iter().cloned())
            .filter_map(|(key, account)| account.map(|a| (key, a)))
            .collect();
        let mut caches = Vec::new();
        for (key, account) in self.caches.into_iter().zip(cache_accounts.iter()) {
            if let Some(account) = account {
                caches.push((key, RefCell::new(accounts::risk_cache(&key, account)?)));
            }
        }
        Ok(Protocol {
            clearinghouse: roots.clearinghouse,
            registry: roots.registry,
            markets,
            oracles,
            caches,
            clock,
        })
    }
}

impl Protocol {
    /// Reads the whole protocol state (a handful of RPC calls).
    #[cfg(feature = "chain")]
    pub async fn fetch(chain: &impl Chain) -> ClientResult<Self> {
        Ok(Self::fetch_recorded(chain).await?.0)
    }

    /// `fetch`, also returning every account it read (what a snapshot file holds).
    #[cfg(feature = "chain")]
    pub async fn fetch_recorded(
        chain: &impl Chain,
    ) -> ClientResult<(Self, Vec<(Pubkey, Account)>)> {
        let mut read = Vec::new();
        let mut record = |keys: &[Pubkey], found: &[Option<Account>]| {
            for (key, account) in keys.iter().zip(found) {
                if let Some(account) = account {
                    read.push((*key, account.clone()));
                }
            }
        };
        let root_keys = Roots::keys();
        let roots = chain.accounts(&root_keys).await?;
        record(&root_keys, &roots);
        let roots = Roots::decode(roots)?;
        let market_keys = roots.market_keys();
        let found = chain.accounts(&market_keys).await?;
        record(&market_keys, &found);
        let markets = roots.decode_markets(&market_keys, found)?;
        let wanted = Dependents::of(&roots.registry, &markets);
        let keys = wanted.keys();
        let found = chain.accounts(&keys).await?;
        record(&keys, &found);
        let protocol = wanted.assemble(roots, markets, found, chain.clock().await?)?;
        Ok((protocol, read))
    }

    /// The same state from accounts already at hand (a file, a test's dump, a browser):
    /// `account` answers for an address, `None` when there is no account there.
    pub fn from_accounts(
        account: impl Fn(&Pubkey) -> Option<Account>,
        clock: Clock,
    ) -> ClientResult<Self> {
        let lookup = |keys: &[Pubkey]| keys.iter().map(&account).collect::<Vec<_>>();
        let roots = Roots::decode(lookup(&Roots::keys()))?;
        let market_keys = roots.market_keys();
        let markets = roots.decode_markets(&market_keys, lookup(&market_keys))?;
        let wanted = Dependents::of(&roots.registry, &markets);
        let found = lookup(&wanted.keys());
        wanted.assemble(roots, markets, found, clock)
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
    pub fn context(&self, needs: &Needs, oracle_use: OracleUse) -> ClientResult<RiskContext<'_>> {
        Ok(RiskContext::from_source(
            &self.clearinghouse,
            &self.registry,
            &self,
            needs,
            oracle_use,
            &self.clock,
        )?)
    }

    /// The context of a check of `account` alone (the prices `withdraw` would use) and the
    /// account with its accruals settled, as the program sees it before it evaluates.
    pub fn settled(
        &self,
        account: &MarginAccount,
    ) -> ClientResult<(RiskContext<'_>, MarginAccount)> {
        let needs = Self::needs(&[account], None);
        let context = self.context(&needs, OracleUse::for_account(account))?;
        let mut settled = *account;
        context.settle_accruals(&mut settled, &[])?;
        Ok((context, settled))
    }

    /// The same state with the risk caches' accounts left out (the markets still name them:
    /// a check reading their options is refused, as the program refuses it).
    pub fn without_risk_caches(mut self) -> Self {
        self.caches.clear();
        self
    }

    /// The same state as if no market had a risk cache: every option valued live. Off chain
    /// only, for figures shown beside the check's (`summarize_shown`).
    pub fn with_caches_detached(mut self) -> Self {
        self.caches.clear();
        for market in &self.markets {
            market.borrow_mut().risk_cache = Pubkey::default();
        }
        self
    }
}
