//! A listed clearinghouse: USDC quote, SOL collateral, a SOL market on a Pyth legacy oracle and
//! a BTC market on a pull oracle, with traders, instruction builders and the vault invariant.
use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use pyth_sdk_solana::state::PriceStatus;
use solana_keypair::Keypair;
use solana_program_test::BanksClientError;
use solana_signer::Signer;
use xmargin::instructions::*;
use xmargin::state::*;
use xmargin_risk::fx::fx_ratio;
use xmargin_risk::Fx;

use super::{Harness, LegacyPrice, PullPrice};
use xmargin_client::instructions as ix;

#[allow(unused_imports)]
pub use xmargin_sandbox::params::{
    flat_surface, fx, initialize_params, quote_params, strict_guard, tolerant_guard,
    underlying_risk, volatile_weights as sol_weights, USDC,
};
pub const SOL_LAMPORTS: u64 = 1_000_000_000;
/// Oracle prices in Pyth units (expo -8).
pub const SOL_PRICE: i64 = 150 * 100_000_000;
pub const BTC_PRICE: i64 = 100_000 * 100_000_000;
pub const SOL_MARKET: u8 = 0;
pub const BTC_MARKET: u8 = 1;
pub const SOL_PERP: u8 = 0;
pub const SOL_FUTURE: u8 = 1;
pub const SOL_CALL_150: u8 = 2;
pub const SOL_PUT_140: u8 = 3;
pub const BTC_PERP: u8 = 0;
pub const QUOTE: u8 = 0;
pub const SOL_ASSET: u8 = 1;
pub const BTC_FEED: [u8; 32] = [7; 32];

pub fn clearinghouse_address() -> Pubkey {
    xmargin_client::pda::clearinghouse()
}

pub fn registry_address() -> Pubkey {
    xmargin_client::pda::registry()
}

pub fn market_address(index: u8) -> Pubkey {
    xmargin_client::pda::market(index)
}

pub fn vault_address(mint: Pubkey) -> Pubkey {
    xmargin_client::pda::vault(&mint)
}

pub fn insurance_address() -> Pubkey {
    xmargin_client::pda::insurance_vault()
}

pub fn margin_address(owner: Pubkey, id: u16) -> Pubkey {
    xmargin_client::pda::margin_account(&owner, id)
}

pub struct Trader {
    pub key: Keypair,
    pub account: Pubkey,
    pub usdc: Pubkey,
    pub sol: Pubkey,
}

/// Every oracle's price (`World::leave_cache_windows`).
pub struct Prices {
    sol: i64,
    btc: i64,
    extra: Vec<(Pubkey, i64)>,
}

pub fn vol_surface_ix(w: &World, market: u8, surface: StoredVolSurface) -> Instruction {
    ix::update_vol_surface(w.risk_authority.pubkey(), market, surface)
}

pub fn market_risk_ix(w: &World, market: u8, risk: UnderlyingRisk) -> Instruction {
    ix::update_market_risk(w.risk_authority.pubkey(), market, risk)
}

pub fn settle_series_ix(w: &World, market: u8, series: u8) -> Instruction {
    ix::settle_expired_series(market, w.market_oracle(market).oracle, series)
}

pub fn settle_position_ix(market: u8, series: u8, account: Pubkey) -> Instruction {
    ix::settle_position(market, account, series)
}

pub struct World {
    pub h: Harness,
    pub admin: Keypair,
    pub risk_authority: Keypair,
    pub usdc_mint: Pubkey,
    pub sol_mint: Pubkey,
    pub sol_oracle: Pubkey,
    pub btc_oracle: Pubkey,
    pub sol_price: i64,
    pub btc_price: i64,
    pub sol_conf: u64,
    pub expiry: i64,
    /// Every margin account created, for the vault invariant.
    pub accounts: Vec<Pubkey>,
    /// Oracles of markets and assets listed beyond SOL and BTC (legacy, price in Pyth units).
    pub extra_oracles: Vec<(Pubkey, i64)>,
    pub extra_markets: Vec<u8>,
    /// Extra collateral mints by registry index.
    pub extra_mints: Vec<(u8, Pubkey)>,
    /// Option risk caches by market index, passed with every margin check.
    pub risk_caches: Vec<(u8, Pubkey)>,
}

impl World {
    /// Initialized clearinghouse with the quote asset only.
    pub async fn initialized() -> Self {
        let mut world = Self::bare().await;
        let admin = world.admin.insecure_clone();
        let quote = world.add_collateral_ix(world.usdc_mint, None, quote_params());
        let insurance = ix::create_insurance_fund(admin.pubkey(), world.usdc_mint);
        world.h.send(&[quote, insurance], &[&admin]).await.unwrap();
        world
    }

    /// Initialized clearinghouse, empty registry.
    pub async fn bare() -> Self {
        let mut h = Harness::start().await;
        let admin = Keypair::new();
        let risk_authority = Keypair::new();
        h.fund(admin.pubkey(), 10 * SOL_LAMPORTS).await;
        h.fund(risk_authority.pubkey(), SOL_LAMPORTS).await;
        let usdc_mint = h.create_mint(6).await;
        let sol_mint = h.create_mint(9).await;
        let expiry = h.clock().await.unix_timestamp + 30 * 86_400;
        let mut world = Self {
            h,
            admin,
            risk_authority,
            usdc_mint,
            sol_mint,
            sol_oracle: Pubkey::new_unique(),
            btc_oracle: Pubkey::new_unique(),
            sol_price: SOL_PRICE,
            btc_price: BTC_PRICE,
            sol_conf: 5_000_000,
            expiry,
            accounts: Vec::new(),
            extra_oracles: Vec::new(),
            extra_markets: Vec::new(),
            extra_mints: Vec::new(),
            risk_caches: Vec::new(),
        };
        world.refresh_oracles().await;
        xmargin_sandbox::set_upgrade_authority(&mut world.h.ctx, Some(world.admin.pubkey()));
        let ix = world.initialize_ix(initialize_params(
            world.risk_authority.pubkey(),
            world.usdc_mint,
        ));
        let admin = world.admin.insecure_clone();
        world.h.send(&[ix], &[&admin]).await.unwrap();
        world
    }

    /// Everything listed: USDC and SOL collateral, SOL market (perp, future, 150 call, 140 put)
    /// and BTC market (perp), SOL and BTC correlated (one group, beta 0.9 each).
    pub async fn listed() -> Self {
        let mut world = Self::initialized().await;
        let admin = world.admin.insecure_clone();
        let sol = world.add_collateral_ix(
            world.sol_mint,
            Some(world.sol_oracle),
            sol_collateral_params(),
        );
        let sol_market = world.add_market_ix(
            0,
            world.sol_oracle,
            OracleKind::PythLegacy,
            [0; 32],
            1,
            0,
            underlying_risk(0, 90),
        );
        let btc_market = world.add_market_ix(
            1,
            world.btc_oracle,
            OracleKind::PythPull,
            BTC_FEED,
            1,
            2,
            underlying_risk(0, 90),
        );
        world
            .h
            .send(&[sol, sol_market, btc_market], &[&admin])
            .await
            .unwrap();
        let expiry = world.expiry;
        let series = [
            (SOL_MARKET, SeriesKind::Perpetual, 0, 0),
            (SOL_MARKET, SeriesKind::Future, 0, expiry),
            (SOL_MARKET, SeriesKind::Call, 150 * USDC, expiry),
            (SOL_MARKET, SeriesKind::Put, 140 * USDC, expiry),
            (BTC_MARKET, SeriesKind::Perpetual, 0, 0),
        ];
        let ixs: Vec<Instruction> = series
            .iter()
            .map(|(market, kind, strike, expiry)| {
                world.add_series_ix(
                    *market,
                    AddSeriesParams {
                        kind: *kind,
                        strike: *strike,
                        expiry: *expiry,
                    },
                )
            })
            .collect();
        world.h.send(&ixs, &[&admin]).await.unwrap();
        world
    }

    pub async fn as_admin(&mut self, ixs: &[Instruction]) -> Result<(), BanksClientError> {
        let admin = self.admin.insecure_clone();
        self.h.send(ixs, &[&admin]).await
    }

    pub async fn as_risk_authority(&mut self, ixs: &[Instruction]) -> Result<(), BanksClientError> {
        let authority = self.risk_authority.insecure_clone();
        self.h.send(ixs, &[&authority]).await
    }

    /// Applies `change` through the timelock (queued by its role, executed once the delay has
    /// passed), then moves the clock back: a scenario that changes a parameter mid-way keeps its
    /// prices and funding. The delay itself is tested in `admin_cases/governance.rs`.
    pub async fn apply_after_timelock(&mut self, change: RiskChange) {
        let proposer = match change.role() {
            Role::Admin => self.admin.insecure_clone(),
            Role::RiskAuthority => self.risk_authority.insecure_clone(),
        };
        let id = self.clearinghouse().await.changes_queued;
        let queue = ix::queue_change(proposer.pubkey(), id, change.clone());
        self.h.send(&[queue], &[&proposer]).await.unwrap();
        let delay = self.clearinghouse().await.timelock_secs as i64;
        self.h.advance(delay).await;
        let execute = ix::execute_change(id, proposer.pubkey(), &change);
        self.h.send(&[execute], &[]).await.unwrap();
        self.h.rewind(delay).await;
    }

    /// `apply_after_timelock` of a market's risk.
    pub async fn set_market_risk(&mut self, market: u8, risk: UnderlyingRisk) {
        self.apply_after_timelock(RiskChange::MarketRisk { market, risk })
            .await;
    }

    /// A target with 330 USDC long 10 SOL futures at 150 against a deep counterparty: a fall to
    /// 100 at expiry leaves it a debt. Returns (target, counterparty).
    pub async fn thin_futures_long(&mut self) -> (Trader, Trader) {
        let target = self.funded_trader(330 * USDC).await;
        let counterparty = self.funded_trader(100_000 * USDC).await;
        self.trade(
            &target,
            &counterparty,
            SOL_MARKET,
            SOL_FUTURE,
            10,
            150 * USDC,
        )
        .await
        .unwrap();
        (target, counterparty)
    }

    /// Expires the SOL future with SOL at `price` (Pyth units): past expiry, a settlement price
    /// proposed and made final a window later, then the positions of `holders` settled.
    pub async fn settle_future_at(&mut self, price: i64, holders: &[&Trader]) {
        let now = self.h.clock().await.unix_timestamp;
        self.h.advance(self.expiry - now + 10).await;
        self.set_sol_price(price).await;
        let propose = settle_series_ix(self, SOL_MARKET, SOL_FUTURE);
        self.h.send(&[propose], &[]).await.unwrap();
        self.h.advance(SETTLEMENT_WINDOW_SECS).await;
        self.refresh_oracles().await;
        let mut ixs = vec![settle_series_ix(self, SOL_MARKET, SOL_FUTURE)];
        for holder in holders {
            ixs.push(settle_position_ix(SOL_MARKET, SOL_FUTURE, holder.account));
        }
        self.h.send(&ixs, &[]).await.unwrap();
    }

    /// A random keypair with lamports, for "wrong signer" tests.
    pub async fn stranger(&mut self) -> Keypair {
        let key = Keypair::new();
        self.h.fund(key.pubkey(), SOL_LAMPORTS).await;
        key
    }

    /// Both oracles at the current prices, published now.
    pub async fn refresh_oracles(&mut self) {
        self.write_sol_oracle(|_| {}).await;
        self.write_btc_oracle(|_| {}).await;
        let clock = self.h.clock().await;
        for (oracle, price) in self.extra_oracles.clone() {
            self.h
                .write_legacy_oracle(oracle, LegacyPrice::fresh(price, &clock));
        }
    }

    /// The worst case the program must margin in one transaction: 8 underlyings with 4 series
    /// each (32 positions) and 8 collateral assets, every one on its own oracle.
    pub async fn worst_case_listing() -> Self {
        let mut w = Self::listed().await;
        let expiry = w.expiry;
        let options = |strike: u64| {
            [
                (SeriesKind::Future, 0, expiry),
                (SeriesKind::Call, strike, expiry),
                (SeriesKind::Put, strike, expiry),
            ]
        };
        let mut ixs: Vec<Instruction> = options(1_000 * USDC)
            .iter()
            .map(|(kind, strike, expiry)| {
                w.add_series_ix(
                    BTC_MARKET,
                    AddSeriesParams {
                        kind: *kind,
                        strike: *strike,
                        expiry: *expiry,
                    },
                )
            })
            .collect();
        for index in 2..8u8 {
            let oracle = Pubkey::new_unique();
            w.extra_oracles.push((oracle, 50 * 100_000_000));
            w.extra_markets.push(index);
        }
        w.refresh_oracles().await;
        for (k, index) in w.extra_markets.clone().into_iter().enumerate() {
            let oracle = w.extra_oracles[k].0;
            let market = w.add_market_ix(
                index,
                oracle,
                OracleKind::PythLegacy,
                [0; 32],
                1,
                0,
                underlying_risk(index % 3, 70),
            );
            ixs.push(market);
            ixs.push(w.add_series_ix(
                index,
                AddSeriesParams {
                    kind: SeriesKind::Perpetual,
                    strike: 0,
                    expiry: 0,
                },
            ));
            for (kind, strike, expiry) in options(50 * USDC) {
                ixs.push(w.add_series_ix(
                    index,
                    AddSeriesParams {
                        kind,
                        strike,
                        expiry,
                    },
                ));
            }
        }
        for chunk in ixs.chunks(4) {
            w.as_admin(chunk).await.unwrap();
        }
        // Six more collateral assets, each priced by its own oracle.
        for index in 2..8u8 {
            let oracle = Pubkey::new_unique();
            w.extra_oracles.push((oracle, 50 * 100_000_000));
            w.refresh_oracles().await;
            let mint = w.h.create_mint(6).await;
            let params = AddCollateralAssetParams {
                decimals: 6,
                ..sol_collateral_params()
            };
            let ix = w.add_collateral_ix(mint, Some(oracle), params);
            w.as_admin(&[ix]).await.unwrap();
            w.extra_mints.push((index, mint));
        }
        w
    }

    /// Every listed (market, series).
    pub async fn all_series(&mut self) -> Vec<(u8, u8)> {
        let mut markets = vec![SOL_MARKET, BTC_MARKET];
        markets.extend(self.extra_markets.clone());
        let mut out = Vec::new();
        for market in markets {
            let count = self.market(market).await.series_count;
            out.extend((0..count).map(|series| (market, series)));
        }
        out
    }

    /// The SOL legacy price account, fresh at the current price, then edited.
    pub async fn write_sol_oracle(&mut self, edit: impl FnOnce(&mut LegacyPrice)) {
        let clock = self.h.clock().await;
        let mut price = LegacyPrice {
            price: self.sol_price,
            conf: self.sol_conf,
            expo: -8,
            ema: self.sol_price,
            status: PriceStatus::Trading,
            publish_time: clock.unix_timestamp,
            slot: clock.slot,
        };
        edit(&mut price);
        self.h.write_legacy_oracle(self.sol_oracle, price);
    }

    /// The BTC pull update, fresh at the current price and fully verified, then edited.
    pub async fn write_btc_oracle(&mut self, edit: impl FnOnce(&mut PullPrice)) {
        let clock = self.h.clock().await;
        let mut price = PullPrice {
            feed_id: BTC_FEED,
            price: self.btc_price,
            conf: 2_000_000_000,
            expo: -8,
            ema: self.btc_price,
            publish_time: clock.unix_timestamp,
            slot: clock.slot,
            fully_verified: true,
        };
        edit(&mut price);
        self.h.write_pull_oracle(self.btc_oracle, price);
    }

    /// Moves the clock to the start of the next premium window (funding steps and windows are
    /// fixed in absolute time, `xmargin::state::PREMIUM_WINDOW_SECS`) and republishes the
    /// oracles: funding figures then do not depend on when the test runs.
    pub async fn align_to_premium_window(&mut self) {
        let window = xmargin::state::PREMIUM_WINDOW_SECS;
        let now = self.h.clock().await.unix_timestamp;
        self.h.advance(window - now.rem_euclid(window)).await;
        self.refresh_oracles().await;
    }

    /// Every oracle 0.6 % up, republished: past the risk caches' spot window (0.5 % in the
    /// listing), so no cached entry holds and checks value every option live, with nothing
    /// else changed. Returns the prices to go back to (`restore_prices`).
    pub async fn leave_cache_windows(&mut self) -> Prices {
        let saved = Prices {
            sol: self.sol_price,
            btc: self.btc_price,
            extra: self.extra_oracles.clone(),
        };
        let up = |price: i64| price + price / 1_000 * 6;
        self.sol_price = up(self.sol_price);
        self.btc_price = up(self.btc_price);
        for (_, price) in self.extra_oracles.iter_mut() {
            *price = up(*price);
        }
        self.refresh_oracles().await;
        saved
    }

    pub async fn restore_prices(&mut self, prices: Prices) {
        self.sol_price = prices.sol;
        self.btc_price = prices.btc;
        self.extra_oracles = prices.extra;
        self.refresh_oracles().await;
    }

    /// Moves the SOL price and republishes.
    pub async fn set_sol_price(&mut self, price: i64) {
        self.sol_price = price;
        self.refresh_oracles().await;
    }

    pub fn initialize_ix(&self, params: InitializeParams) -> Instruction {
        ix::initialize(self.admin.pubkey(), params)
    }

    pub fn add_collateral_ix(
        &self,
        mint: Pubkey,
        oracle: Option<Pubkey>,
        params: AddCollateralAssetParams,
    ) -> Instruction {
        ix::add_collateral_asset(self.admin.pubkey(), mint, oracle, params)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_market_ix(
        &self,
        index: u8,
        oracle: Pubkey,
        oracle_kind: OracleKind,
        feed_id: [u8; 32],
        contract_size: u64,
        contract_decimals: u8,
        risk: UnderlyingRisk,
    ) -> Instruction {
        ix::add_market(
            self.admin.pubkey(),
            index,
            oracle,
            AddMarketParams {
                oracle_kind,
                feed_id,
                contract_size,
                contract_decimals,
                surface: flat_surface(80),
                risk,
            },
        )
    }

    /// A market on the SOL oracle with one-unit contracts (for listing tests).
    pub fn add_listed_market_ix(
        &self,
        index: u8,
        contract_size: u64,
        risk: UnderlyingRisk,
    ) -> Instruction {
        self.add_market_ix(
            index,
            self.sol_oracle,
            OracleKind::PythLegacy,
            [0; 32],
            contract_size,
            0,
            risk,
        )
    }

    /// Pauses `pause_flags` for a day (0 unpauses).
    pub fn pause_ix(&self, pause_flags: u8) -> Instruction {
        let duration = if pause_flags == 0 { 0 } else { 86_400 };
        self.pause_for_ix(pause_flags, duration)
    }

    pub fn pause_for_ix(&self, pause_flags: u8, duration_secs: u32) -> Instruction {
        ix::set_pause(self.admin.pubkey(), pause_flags, duration_secs)
    }

    pub fn add_series_ix(&self, market: u8, params: AddSeriesParams) -> Instruction {
        ix::add_series(self.admin.pubkey(), market, params)
    }

    /// Lists every series of `series` on `market` as the admin, eight per transaction.
    pub async fn list_series(
        &mut self,
        market: u8,
        series: impl IntoIterator<Item = AddSeriesParams>,
    ) {
        let ixs: Vec<Instruction> = series
            .into_iter()
            .map(|params| self.add_series_ix(market, params))
            .collect();
        for chunk in ixs.chunks(8) {
            self.as_admin(chunk).await.unwrap();
        }
    }

    /// A funded trader with a margin account (`mode`, `isolated_market`) and token accounts
    /// holding `usdc` and `sol` native units.
    pub async fn trader_with_mode(&mut self, usdc: u64, sol: u64, mode: u8, market: u8) -> Trader {
        let key = Keypair::new();
        self.h.fund(key.pubkey(), SOL_LAMPORTS).await;
        let usdc_account = self
            .h
            .create_token_account(self.usdc_mint, key.pubkey())
            .await;
        let sol_account = self
            .h
            .create_token_account(self.sol_mint, key.pubkey())
            .await;
        if usdc > 0 {
            self.h.mint_to(self.usdc_mint, usdc_account, usdc).await;
        }
        if sol > 0 {
            self.h.mint_to(self.sol_mint, sol_account, sol).await;
        }
        let account = margin_address(key.pubkey(), 0);
        let ix = self.create_account_ix(&key, 0, mode, market);
        self.h.send(&[ix], &[&key]).await.unwrap();
        self.accounts.push(account);
        Trader {
            key,
            account,
            usdc: usdc_account,
            sol: sol_account,
        }
    }

    pub async fn trader(&mut self, usdc: u64, sol: u64) -> Trader {
        self.trader_with_mode(usdc, sol, MODE_CROSS, 0).await
    }

    /// A trader whose whole `usdc` is deposited.
    pub async fn funded_trader(&mut self, usdc: u64) -> Trader {
        let trader = self.trader(usdc, 0).await;
        self.deposit(&trader, QUOTE, usdc).await.unwrap();
        trader
    }

    /// A trader whose only collateral is `lamports` of SOL, deposited.
    pub async fn sol_funded_trader(&mut self, lamports: u64) -> Trader {
        let trader = self.trader(0, lamports).await;
        self.deposit(&trader, SOL_ASSET, lamports).await.unwrap();
        trader
    }

    pub fn create_account_ix(&self, owner: &Keypair, id: u16, mode: u8, market: u8) -> Instruction {
        ix::create_margin_account(owner.pubkey(), id, mode, market)
    }

    pub fn mint_of(&self, asset: u8) -> Pubkey {
        match asset {
            QUOTE => self.usdc_mint,
            SOL_ASSET => self.sol_mint,
            other => self
                .extra_mints
                .iter()
                .find(|(index, _)| *index == other)
                .map_or(Pubkey::default(), |(_, mint)| *mint),
        }
    }

    pub fn deposit_ix(
        &self,
        depositor: &Keypair,
        account: Pubkey,
        source: Pubkey,
        asset: u8,
        amount: u64,
    ) -> Instruction {
        ix::deposit(
            depositor.pubkey(),
            account,
            self.mint_of(asset),
            source,
            asset,
            amount,
        )
    }

    pub async fn deposit(
        &mut self,
        trader: &Trader,
        asset: u8,
        amount: u64,
    ) -> Result<(), BanksClientError> {
        let source = if asset == QUOTE {
            trader.usdc
        } else {
            trader.sol
        };
        let ix = self.deposit_ix(&trader.key, trader.account, source, asset, amount);
        self.h.send(&[ix], &[&trader.key]).await
    }

    /// Every market and oracle: what a client passes for any margin check here.
    pub fn risk_accounts(&self) -> Vec<AccountMeta> {
        let mut metas = vec![
            AccountMeta::new_readonly(market_address(SOL_MARKET), false),
            AccountMeta::new_readonly(market_address(BTC_MARKET), false),
            AccountMeta::new_readonly(self.sol_oracle, false),
            AccountMeta::new_readonly(self.btc_oracle, false),
        ];
        for index in &self.extra_markets {
            metas.push(AccountMeta::new_readonly(market_address(*index), false));
        }
        for (oracle, _) in &self.extra_oracles {
            metas.push(AccountMeta::new_readonly(*oracle, false));
        }
        for (_, cache) in &self.risk_caches {
            metas.push(AccountMeta::new_readonly(*cache, false));
        }
        metas
    }

    /// The client-side account creation and `create_risk_cache` for `market`, signed by the
    /// admin and the new account's keypair.
    pub async fn create_risk_cache_ixs(&mut self, market: u8) -> (Keypair, Vec<Instruction>) {
        let (cache, create) = self
            .h
            .create_account_ix(RiskCache::SPACE, xmargin::ID)
            .await;
        let adopt = ix::create_risk_cache(self.admin.pubkey(), market, cache.pubkey());
        (cache, vec![create, adopt])
    }

    /// Creates and registers `market`'s risk cache; margin checks pass it from now on.
    pub async fn enable_risk_cache(&mut self, market: u8) -> Pubkey {
        let (cache, ixs) = self.create_risk_cache_ixs(market).await;
        let admin = self.admin.insecure_clone();
        self.h.send(&ixs, &[&admin, &cache]).await.unwrap();
        self.risk_caches.push((market, cache.pubkey()));
        cache.pubkey()
    }

    pub fn refresh_risk_cache_ix(&self, market: u8, first: u8, count: u8) -> Instruction {
        let cache = self
            .risk_caches
            .iter()
            .find(|(index, _)| *index == market)
            .map(|(_, cache)| *cache)
            .unwrap_or_default();
        ix::refresh_risk_cache(
            market,
            self.market_oracle(market).oracle,
            cache,
            first,
            count,
        )
    }

    /// Refreshes every series of every cached market (oracles must be fresh).
    pub async fn refresh_risk_caches(&mut self) {
        for (market, _) in self.risk_caches.clone() {
            let count = self.market(market).await.series_count;
            for first in (0..count).step_by(4) {
                let ix = self.refresh_risk_cache_ix(market, first, (count - first).min(4));
                self.h.send(&[ix], &[]).await.unwrap();
            }
        }
    }

    pub async fn risk_cache(&mut self, market: u8) -> RiskCache {
        let (_, key) = *self
            .risk_caches
            .iter()
            .find(|(index, _)| *index == market)
            .expect("cache enabled");
        self.h.zero_copy::<RiskCache>(key).await
    }

    /// The accounts of the market cranks (settlement, funding).
    pub fn market_oracle(&self, market: u8) -> xmargin::accounts::MarketOracle {
        xmargin::accounts::MarketOracle {
            clearinghouse: clearinghouse_address(),
            collateral_registry: registry_address(),
            market: market_address(market),
            oracle: match market {
                SOL_MARKET => self.sol_oracle,
                BTC_MARKET => self.btc_oracle,
                _ => {
                    let k = self
                        .extra_markets
                        .iter()
                        .position(|index| *index == market)
                        .expect("listed market");
                    self.extra_oracles[k].0
                }
            },
        }
    }

    pub fn crank_funding_ix(&self, market: u8, series: u8) -> Instruction {
        ix::crank_funding(market, self.market_oracle(market).oracle, series)
    }

    pub fn withdraw_ix(
        &self,
        owner: &Keypair,
        account: Pubkey,
        destination: Pubkey,
        asset: u8,
        amount: u64,
    ) -> Instruction {
        ix::withdraw(
            owner.pubkey(),
            account,
            self.mint_of(asset),
            destination,
            (asset, amount),
            &self.risk_accounts(),
        )
    }

    pub async fn withdraw(
        &mut self,
        trader: &Trader,
        asset: u8,
        amount: u64,
    ) -> Result<(), BanksClientError> {
        let destination = if asset == QUOTE {
            trader.usdc
        } else {
            trader.sol
        };
        let ix = self.withdraw_ix(&trader.key, trader.account, destination, asset, amount);
        self.h.send(&[ix], &[&trader.key]).await
    }

    #[allow(clippy::too_many_arguments)]
    pub fn trade_ix_signed_by(
        &self,
        taker_signer: Pubkey,
        taker_account: Pubkey,
        maker_signer: Pubkey,
        maker_account: Pubkey,
        market: u8,
        series: u8,
        size: i64,
        price: u64,
    ) -> Instruction {
        let risk: Vec<AccountMeta> = self
            .risk_accounts()
            .into_iter()
            .filter(|meta| meta.pubkey != market_address(market))
            .collect();
        ix::clear_trade(
            ix::TradeSides {
                taker: taker_signer,
                taker_account,
                maker: maker_signer,
                maker_account,
            },
            market,
            ClearTradeParams {
                series,
                size,
                price,
            },
            &risk,
        )
    }

    pub fn trade_ix(
        &self,
        taker: &Trader,
        maker: &Trader,
        market: u8,
        series: u8,
        size: i64,
        price: u64,
    ) -> Instruction {
        self.trade_ix_signed_by(
            taker.key.pubkey(),
            taker.account,
            maker.key.pubkey(),
            maker.account,
            market,
            series,
            size,
            price,
        )
    }

    pub async fn trade(
        &mut self,
        taker: &Trader,
        maker: &Trader,
        market: u8,
        series: u8,
        size: i64,
        price: u64,
    ) -> Result<(), BanksClientError> {
        let ix = self.trade_ix(taker, maker, market, series, size, price);
        self.h.send(&[ix], &[&taker.key, &maker.key]).await
    }

    pub fn liquidation(&self, liquidator: &Trader, target: Pubkey) -> ix::Liquidation {
        ix::Liquidation {
            liquidator: liquidator.key.pubkey(),
            liquidator_account: liquidator.account,
            target_account: target,
            quote_mint: self.usdc_mint,
        }
    }

    pub fn liquidate_ix(
        &self,
        liquidator: &Trader,
        target: Pubkey,
        market: u8,
        series: u8,
        max_quantity: u64,
    ) -> Instruction {
        self.liquidate_pair_ix(liquidator, target, market, (series, None), max_quantity)
    }

    /// `liquidate_ix` taking `series.1`, if any, as the pair's second leg.
    pub fn liquidate_pair_ix(
        &self,
        liquidator: &Trader,
        target: Pubkey,
        market: u8,
        (series, paired_series): (u8, Option<u8>),
        max_quantity: u64,
    ) -> Instruction {
        let paired = paired_series.map(|paired| (market, paired));
        self.liquidate_legs_ix(liquidator, target, (market, series), paired, max_quantity)
    }

    /// `liquidate_ix` of `first`, with `paired` (market, series), if any, as the second leg.
    pub fn liquidate_legs_ix(
        &self,
        liquidator: &Trader,
        target: Pubkey,
        (market, series): (u8, u8),
        paired: Option<(u8, u8)>,
        max_quantity: u64,
    ) -> Instruction {
        let risk: Vec<AccountMeta> = self
            .risk_accounts()
            .into_iter()
            .filter(|meta| meta.pubkey != market_address(market))
            .collect();
        ix::liquidate_position(
            self.liquidation(liquidator, target),
            market,
            LiquidatePositionParams {
                series,
                max_quantity,
                paired_series: paired.map(|(_, series)| series),
                paired_market: paired.map(|(market, _)| market),
            },
            &risk,
        )
    }

    pub fn liquidate_collateral_ix(
        &self,
        liquidator: &Trader,
        target: Pubkey,
        asset: u8,
        max_amount: u64,
    ) -> Instruction {
        ix::liquidate_collateral(
            self.liquidation(liquidator, target),
            LiquidateCollateralParams { asset, max_amount },
            &self.risk_accounts(),
        )
    }

    pub fn fund_insurance_ix(&self, funder: &Trader, amount: u64) -> Instruction {
        ix::fund_insurance(funder.key.pubkey(), funder.usdc, amount)
    }

    pub fn resolve_bankruptcy_ix(&self, account: Pubkey, market: u8) -> Instruction {
        ix::resolve_bankruptcy(account, market, self.usdc_mint, &self.risk_accounts())
    }

    /// Every account margin checks read, fetched from the bank as a client would.
    pub async fn protocol(&mut self) -> xmargin_client::Protocol {
        let chain = xmargin_client::BanksChain::new(self.h.ctx.banks_client.clone());
        xmargin_client::Protocol::fetch(&chain).await.unwrap()
    }

    /// (initial health, maintenance health) of `address` as the program sees it now, its
    /// accruals settled, at the prices a withdrawal from it would use.
    pub async fn health(&mut self, address: Pubkey) -> (i128, i64) {
        let account = self.margin_account(address).await;
        let protocol = self.protocol().await;
        let (context, settled) = protocol.settled(&account).unwrap();
        let health = context.health(&settled).unwrap();
        (health.init_health, health.maint_health())
    }

    /// Equity at maintenance weights of `address`, accruals settled, at the prices a withdrawal
    /// from it would use (≤ 0: insolvent).
    pub async fn maint_equity(&mut self, address: Pubkey) -> i64 {
        let account = self.margin_account(address).await;
        let protocol = self.protocol().await;
        let (context, settled) = protocol.settled(&account).unwrap();
        context.health(&settled).unwrap().report.equity_maint
    }

    /// A trader long 200 SOL perps against short 30 BTC perps ($30,000 a side, one correlation
    /// group, beta 0.9 each) from a well-funded counterparty, withdrawn down to a unit above
    /// its initial margin.
    pub async fn cross_market_hedge(&mut self) -> Trader {
        let target = self.funded_trader(50_000 * USDC).await;
        let counterparty = self.funded_trader(1_000_000 * USDC).await;
        let btc = self.mark(BTC_MARKET, BTC_PERP).await;
        self.trade(
            &target,
            &counterparty,
            SOL_MARKET,
            SOL_PERP,
            200,
            150 * USDC,
        )
        .await
        .unwrap();
        self.trade(&target, &counterparty, BTC_MARKET, BTC_PERP, -30, btc)
            .await
            .unwrap();
        let (init_health, _) = self.health(target.account).await;
        self.withdraw(&target, QUOTE, init_health as u64 - USDC)
            .await
            .unwrap();
        target
    }

    /// The prices `clear_trade` accepts for (market, series) now.
    pub async fn fill_band(&mut self, market: u8, series: u8) -> xmargin_risk::fill::FillBand {
        self.protocol().await.fill_band(market, series).unwrap()
    }

    /// The program's valuation of one contract of (market, series) now (a long's mark).
    pub async fn mark(&mut self, market: u8, series: u8) -> u64 {
        self.protocol().await.mark(market, series).unwrap()
    }

    pub async fn margin_account(&mut self, address: Pubkey) -> MarginAccount {
        self.h.zero_copy::<MarginAccount>(address).await
    }

    pub async fn registry(&mut self) -> CollateralRegistry {
        self.h
            .zero_copy::<CollateralRegistry>(registry_address())
            .await
    }

    pub async fn market(&mut self, index: u8) -> Market {
        self.h.zero_copy::<Market>(market_address(index)).await
    }

    pub async fn clearinghouse(&mut self) -> Clearinghouse {
        self.h
            .anchor_account::<Clearinghouse>(clearinghouse_address())
            .await
            .unwrap()
    }

    /// Vault tokens == what the registry says is deposited == Σ balances (quote: minus open cost
    /// bases and unpaid funding and losses, plus the payoff of positions in settled series not
    /// yet settled, plus fees, minus unbacked debt), and every series' sizes sum to zero.
    pub async fn assert_books_reconcile(&mut self) {
        if let Err(broken) = self.books_reconcile().await {
            panic!("{broken}");
        }
    }

    /// `assert_books_reconcile` as a verdict: the first broken identity, described.
    pub async fn books_reconcile(&mut self) -> Result<(), String> {
        let registry = self.registry().await;
        let mut accounts = Vec::new();
        for address in self.accounts.clone() {
            if self.h.data(address).await.is_some() {
                accounts.push(self.margin_account(address).await);
            }
        }
        for index in 0..registry.asset_count {
            let asset = registry.assets[index as usize];
            let vault = self.h.token_balance(asset.vault).await;
            expect_equal(vault, asset.deposited, || {
                format!("asset {index}: vault vs deposited")
            })?;
            let mut books: i128 = accounts
                .iter()
                .filter_map(|a| a.balance_of(index))
                .map(|b| b.amount as i128)
                .sum();
            if index == QUOTE {
                let mut open_basis: i128 = 0;
                // Funding accrued on perps but not yet settled into balances.
                let mut pending_funding: i128 = 0;
                for position in accounts.iter().flat_map(|a| a.open_positions()) {
                    open_basis += position.cost_basis as i128;
                    let series =
                        self.market(position.market).await.series[position.series as usize];
                    if series.kind == SeriesKind::Perpetual as u8 {
                        pending_funding += position.size as i128
                            * (series.funding_index - position.funding_snapshot) as i128;
                    }
                    // Socialized losses not yet paid.
                    pending_funding += position.size.unsigned_abs() as i128
                        * (series.loss_index - position.loss_snapshot) as i128;
                    // A settled series' payoff, once some holders have settled and others
                    // not: the settled ones' balances already hold theirs.
                    if let Ok(Some(payoff)) = series.fixed_payoff() {
                        pending_funding -= position.size as i128 * payoff as i128;
                    }
                }
                // Bad debt nothing could pay: balances exceed the vault by it.
                books = books - open_basis - pending_funding - registry.unbacked_debt as i128;
            }
            books += asset.fees_accrued as i128;
            expect_equal(books, vault as i128, || {
                format!("asset {index}: books vs vault")
            })?;
        }
        let mut markets = vec![SOL_MARKET, BTC_MARKET];
        markets.extend(self.extra_markets.clone());
        for market in markets {
            if self.h.data(market_address(market)).await.is_none() {
                continue;
            }
            let m = self.market(market).await;
            // A settled series loses each position as its holder settles it.
            let live = |series: &u8| m.series[*series as usize].status != SERIES_SETTLED;
            for series in (0..m.series_count).filter(live) {
                let net: i64 = accounts
                    .iter()
                    .filter_map(|a| a.position(market, series))
                    .map(|p| p.size)
                    .sum();
                expect_equal(net, 0, || {
                    format!("market {market} series {series} sizes sum to zero")
                })?;
                let s = m.series[series as usize];
                let longs: i64 = accounts
                    .iter()
                    .filter_map(|a| a.position(market, series))
                    .map(|p| p.size.max(0))
                    .sum();
                expect_equal(s.open_interest_long as i64, longs, || {
                    format!("market {market} series {series} long open interest")
                })?;
                expect_equal(s.open_interest_short, s.open_interest_long, || {
                    format!("market {market} series {series} short open interest")
                })?;
            }
        }
        Ok(())
    }
}

fn expect_equal<T: PartialEq + std::fmt::Debug>(
    left: T,
    right: T,
    what: impl FnOnce() -> String,
) -> Result<(), String> {
    if left == right {
        return Ok(());
    }
    Err(format!("{}: {left:?} != {right:?}", what()))
}

pub fn sol_collateral_params() -> AddCollateralAssetParams {
    AddCollateralAssetParams {
        oracle_kind: OracleKind::PythLegacy,
        feed_id: [0; 32],
        weights: sol_weights(),
        liquidity_depth: 10_000_000 * USDC,
        deposit_cap: 1_000_000 * SOL_LAMPORTS,
        decimals: 9,
        exponent: xmargin_sandbox::params::PRICE_EXPONENT,
    }
}

/// Fx helper for tests that need a ratio as a value.
pub fn ratio(numerator: i64, denominator: i64) -> Fx {
    fx_ratio(numerator, denominator)
}
