//! A listed exchange on the sandbox: USDC quote; SOL, BTC and ETH as collateral and as
//! underlyings (SOL and ETH on Pyth legacy accounts, BTC on a pull-oracle update), each with a
//! perpetual, a 30-day future and 30-day calls and puts; an insurance fund.
use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::instructions::{AddMarketParams, AddSeriesParams, ClearTradeParams};
use xmargin::state::{MarginAccount, OracleKind, RiskCache, SeriesKind, MODE_CROSS};
use xmargin_client::instructions::{self as ix, TradeSides};
use xmargin_client::{compose, ClientResult, Protocol, Sent};

use crate::params::{self, USDC};
use crate::pyth::{LegacyPrice, PullPrice};
use crate::Sandbox;

/// Pyth prices here have exponent -8.
pub const PYTH_UNIT: i64 = 100_000_000;

/// A listed collateral asset.
#[derive(Clone, Debug)]
pub struct Asset {
    pub symbol: &'static str,
    pub index: u8,
    pub mint: Pubkey,
    pub decimals: u8,
}

/// A listed underlying: its market, oracle and series.
#[derive(Clone, Debug)]
pub struct Underlying {
    pub symbol: &'static str,
    pub market: u8,
    pub oracle: Pubkey,
    pub pull_feed: Option<[u8; 32]>,
    /// Pyth units (expo -8) per whole token.
    pub price: i64,
    /// Contract = 10^-contract_decimals tokens.
    pub contract_decimals: u8,
    pub series: Vec<ListedSeries>,
}

#[derive(Clone, Copy, Debug)]
pub struct ListedSeries {
    pub index: u8,
    pub kind: SeriesKind,
    /// Quote-native per contract (options).
    pub strike: u64,
    pub expiry: i64,
}

impl Underlying {
    /// Quote-native value of one contract at the current price.
    pub fn contract_value(&self) -> u64 {
        (self.price as i128 * USDC as i128
            / PYTH_UNIT as i128
            / 10i128.pow(self.contract_decimals as u32)) as u64
    }

    /// The strike `percent` of the current contract value, rounded down to whole dollars.
    pub fn strike_at(&self, percent: u64) -> u64 {
        self.contract_value() * percent / 100 / USDC * USDC
    }

    /// The first listed series of `kind` (with `strike` for options).
    pub fn series_of(&self, kind: SeriesKind, strike: u64) -> Option<u8> {
        self.series
            .iter()
            .find(|s| s.kind == kind && (s.strike == strike || strike == 0))
            .map(|s| s.index)
    }

    /// A human name for `series`: "SOL-PERP", "BTC-FUT", "ETH-C-3300".
    pub fn series_name(&self, series: u8) -> String {
        let Some(s) = self.series.iter().find(|s| s.index == series) else {
            return format!("{}-{series}", self.symbol);
        };
        let strike = s.strike / USDC * 10u64.pow(self.contract_decimals as u32);
        match s.kind {
            SeriesKind::Perpetual => format!("{}-PERP", self.symbol),
            SeriesKind::Future => format!("{}-FUT", self.symbol),
            SeriesKind::Call => format!("{}-C-{strike}", self.symbol),
            SeriesKind::Put => format!("{}-P-{strike}", self.symbol),
        }
    }
}

/// A wallet with a cross-margin account and a token account per asset.
pub struct Trader {
    pub name: String,
    pub key: Keypair,
    pub account: Pubkey,
    /// Token account per asset index.
    pub tokens: Vec<Pubkey>,
}

pub struct Exchange {
    pub sandbox: Sandbox,
    pub admin: Keypair,
    pub risk_authority: Keypair,
    pub assets: Vec<Asset>,
    pub underlyings: Vec<Underlying>,
    pub expiry: i64,
}

pub const SOL: usize = 0;
pub const BTC: usize = 1;
pub const ETH: usize = 2;

/// A hedged multi-underlying book (underlying, series, size, price): long SOL perp and a SOL
/// option, short an ETH option and the BTC perp. Tests trade it against `market_maker`.
pub const HEDGED_BOOK: [(usize, usize, i64, u64); 4] = [
    (SOL, 0, 100, 150 * USDC),
    (SOL, 4, 100, AT_MARK),
    (ETH, 2, -50, AT_MARK),
    (BTC, 0, -10, 1_000 * USDC),
];

/// A book's price meaning "at the engine's mark" (`Exchange::mark_price`): an option's fill must
/// lie in a band around the model's value, which a fixed price would leave as spot moves.
pub const AT_MARK: u64 = 0;

impl Exchange {
    /// Starts the runtime and lists everything.
    pub async fn open() -> ClientResult<Self> {
        let sandbox = Sandbox::start().await;
        let admin = Keypair::new();
        let risk_authority = Keypair::new();
        sandbox.fund(admin.pubkey(), 100_000_000_000).await?;
        sandbox.fund(risk_authority.pubkey(), 1_000_000_000).await?;
        let expiry = sandbox.clock().await?.unix_timestamp + 30 * 86_400;
        let specs: [(&str, i64, u8, u8, bool); 3] = [
            ("SOL", 150, 9, 0, false),
            ("BTC", 100_000, 8, 2, true),
            ("ETH", 3_000, 8, 1, false),
        ];
        let mut exchange = Self {
            sandbox,
            admin,
            risk_authority,
            assets: Vec::new(),
            underlyings: Vec::new(),
            expiry,
        };
        for (market, (symbol, price, _, contract_decimals, pull)) in specs.iter().enumerate() {
            exchange.underlyings.push(Underlying {
                symbol,
                market: market as u8,
                oracle: Pubkey::new_unique(),
                pull_feed: pull.then_some([market as u8 + 1; 32]),
                price: price * PYTH_UNIT,
                contract_decimals: *contract_decimals,
                series: Vec::new(),
            });
        }
        exchange.publish_prices().await?;
        let admin = exchange.admin.pubkey();
        exchange.sandbox.set_upgrade_authority(admin);
        let usdc = exchange.sandbox.create_mint(6).await?;
        exchange
            .as_admin(&[
                ix::initialize(
                    admin,
                    params::initialize_params(exchange.risk_authority.pubkey(), usdc),
                ),
                ix::add_collateral_asset(admin, usdc, None, params::quote_params()),
                ix::create_insurance_fund(admin, usdc),
            ])
            .await?;
        exchange.assets.push(Asset {
            symbol: "USDC",
            index: 0,
            mint: usdc,
            decimals: 6,
        });
        for (k, (symbol, _, decimals, _, pull)) in specs.iter().enumerate() {
            let mint = exchange.sandbox.create_mint(*decimals).await?;
            let underlying = &exchange.underlyings[k];
            let mut collateral =
                params::volatile_collateral(*decimals, 20_000_000 * USDC, u64::MAX / 4);
            if *pull {
                collateral.oracle_kind = OracleKind::PythPull;
                collateral.feed_id = underlying.pull_feed.unwrap_or_default();
            }
            let list = ix::add_collateral_asset(admin, mint, Some(underlying.oracle), collateral);
            exchange.as_admin(&[list]).await?;
            exchange.assets.push(Asset {
                symbol,
                index: k as u8 + 1,
                mint,
                decimals: *decimals,
            });
        }
        for k in 0..exchange.underlyings.len() {
            exchange.list_market(k).await?;
        }
        Ok(exchange)
    }

    async fn list_market(&mut self, k: usize) -> ClientResult<()> {
        let admin = self.admin.pubkey();
        let u = self.underlyings[k].clone();
        let (kind, feed) = match u.pull_feed {
            Some(feed) => (OracleKind::PythPull, feed),
            None => (OracleKind::PythLegacy, [0; 32]),
        };
        let market = ix::add_market(
            admin,
            u.market,
            u.oracle,
            AddMarketParams {
                oracle_kind: kind,
                feed_id: feed,
                contract_size: 1,
                contract_decimals: u.contract_decimals,
                surface: params::flat_surface(if u.symbol == "BTC" { 55 } else { 75 }),
                // SOL and ETH move together; BTC with them at a lower loading.
                risk: params::underlying_risk(0, if u.symbol == "BTC" { 70 } else { 85 }),
            },
        );
        let otm = |percent: u64| u.strike_at(percent);
        let listed = [
            (SeriesKind::Perpetual, 0, 0),
            (SeriesKind::Future, 0, self.expiry),
            (SeriesKind::Call, otm(100), self.expiry),
            (SeriesKind::Call, otm(110), self.expiry),
            (SeriesKind::Put, otm(100), self.expiry),
            (SeriesKind::Put, otm(90), self.expiry),
        ];
        let mut ixs = vec![market];
        for (index, (kind, strike, expiry)) in listed.iter().enumerate() {
            ixs.push(ix::add_series(
                admin,
                u.market,
                AddSeriesParams {
                    kind: *kind,
                    strike: *strike,
                    expiry: *expiry,
                },
            ));
            self.underlyings[k].series.push(ListedSeries {
                index: index as u8,
                kind: *kind,
                strike: *strike,
                expiry: *expiry,
            });
        }
        self.as_admin(&ixs).await.map(|_| ())
    }

    pub async fn as_admin(
        &self,
        ixs: &[anchor_lang::solana_program::instruction::Instruction],
    ) -> ClientResult<Sent> {
        self.sandbox.send(ixs, &[&self.admin]).await
    }

    /// Every oracle republished now at the current prices.
    pub async fn publish_prices(&mut self) -> ClientResult<()> {
        let clock = self.sandbox.clock().await?;
        for u in self.underlyings.clone() {
            let (owner, data) = match u.pull_feed {
                Some(feed) => (
                    xmargin::oracle::PYTH_RECEIVER_PROGRAM_ID,
                    PullPrice::fresh(feed, u.price, &clock).account_data(),
                ),
                None => (
                    xmargin::oracle::PYTH_LEGACY_PROGRAM_ID,
                    LegacyPrice::fresh(u.price, &clock).account_data(),
                ),
            };
            self.sandbox.set_account(u.oracle, owner, data);
        }
        Ok(())
    }

    /// Moves underlying `k` to `price` (whole USD) and republishes every oracle.
    pub async fn set_price(&mut self, k: usize, price: i64) -> ClientResult<()> {
        self.underlyings[k].price = price * PYTH_UNIT;
        self.publish_prices().await
    }

    /// Time passes: the clock moves `secs` forward and oracles publish again.
    pub async fn advance(&mut self, secs: i64) -> ClientResult<()> {
        self.sandbox.advance(secs).await?;
        self.publish_prices().await
    }

    /// A counterparty deep enough for any test book: 10M USDC and 1,000 SOL deposited.
    pub async fn market_maker(&self) -> ClientResult<Trader> {
        self.trader(
            "maker",
            &[(0, 10_000_000 * USDC), (1, 1_000 * 1_000_000_000)],
        )
        .await
    }

    /// A wallet funded with SOL for fees, a token account per asset, a cross-margin account,
    /// and `deposits` (asset index, native amount) minted and deposited.
    pub async fn trader(&self, name: &str, deposits: &[(u8, u64)]) -> ClientResult<Trader> {
        let key = Keypair::new();
        self.sandbox.fund(key.pubkey(), 1_000_000_000).await?;
        let mut tokens = Vec::new();
        for asset in &self.assets {
            tokens.push(
                self.sandbox
                    .create_token_account(asset.mint, key.pubkey())
                    .await?,
            );
        }
        let create = ix::create_margin_account(key.pubkey(), 0, MODE_CROSS, 0);
        self.sandbox.send(&[create], &[&key]).await?;
        let trader = Trader {
            name: name.to_string(),
            account: xmargin_client::pda::margin_account(&key.pubkey(), 0),
            key,
            tokens,
        };
        for (asset, amount) in deposits {
            self.deposit(&trader, *asset, *amount).await?;
        }
        Ok(trader)
    }

    /// Mints `amount` of `asset` to the trader's wallet and deposits it.
    pub async fn deposit(&self, trader: &Trader, asset: u8, amount: u64) -> ClientResult<Sent> {
        let a = &self.assets[asset as usize];
        let source = trader.tokens[asset as usize];
        self.sandbox.mint_to(a.mint, source, amount).await?;
        let deposit = ix::deposit(
            trader.key.pubkey(),
            trader.account,
            a.mint,
            source,
            asset,
            amount,
        );
        self.sandbox.send(&[deposit], &[&trader.key]).await
    }

    /// Gives `market` an option risk cache (empty until `refresh_risk_cache` runs, a keeper
    /// duty); margin checks composed by the SDK pass it from then on.
    pub async fn enable_risk_cache(&self, market: u8) -> ClientResult<Pubkey> {
        let (cache, create) = self
            .sandbox
            .create_account_ix(RiskCache::SPACE, xmargin::ID)
            .await?;
        let adopt = ix::create_risk_cache(self.admin.pubkey(), market, cache.pubkey());
        self.sandbox
            .send(&[create, adopt], &[&self.admin, &cache])
            .await?;
        Ok(cache.pubkey())
    }

    pub async fn protocol(&self) -> ClientResult<Protocol> {
        Protocol::fetch(&self.sandbox.chain).await
    }

    pub async fn margin_account(&self, address: &Pubkey) -> ClientResult<MarginAccount> {
        compose::margin_account(&self.sandbox.chain, address).await
    }

    /// Several trades between the same two sides: (underlying, listed series position, size,
    /// price or `AT_MARK`), in order.
    pub async fn trades(
        &self,
        sides: (&Trader, &Trader),
        book: &[(usize, usize, i64, u64)],
    ) -> ClientResult<()> {
        for (k, i, size, price) in book {
            let series = self.underlyings[*k].series[*i].index;
            let price = match *price {
                AT_MARK => self.mark_price(*k, series).await?,
                price => price,
            };
            self.trade(sides, *k, series, *size, price).await?;
        }
        Ok(())
    }

    /// The model's value of one contract of underlying `k`'s `series` now, as the middle of
    /// the program's fill band, rounded down to a cent (at least one) but not below the band.
    pub async fn mark_price(&self, k: usize, series: u8) -> ClientResult<u64> {
        let protocol = self.protocol().await?;
        let band = protocol.fill_band(self.underlyings[k].market, series)?;
        let middle = band.low + (band.high - band.low) / 2;
        Ok((middle.max(10_000) / 10_000 * 10_000).max(band.low))
    }

    /// `taker` buys `size` contracts (negative: sells) of underlying `k`'s `series` from
    /// `maker` at `price` (quote-native per contract), both signing.
    pub async fn trade(
        &self,
        (taker, maker): (&Trader, &Trader),
        k: usize,
        series: u8,
        size: i64,
        price: u64,
    ) -> ClientResult<Sent> {
        let protocol = self.protocol().await?;
        let taker_account = self.margin_account(&taker.account).await?;
        let maker_account = self.margin_account(&maker.account).await?;
        let ixs = protocol.clear_trade_ixs(
            TradeSides {
                taker: taker.key.pubkey(),
                taker_account: taker.account,
                maker: maker.key.pubkey(),
                maker_account: maker.account,
            },
            (&taker_account, &maker_account),
            self.underlyings[k].market,
            ClearTradeParams {
                series,
                size,
                price,
            },
        )?;
        self.sandbox.send(&ixs, &[&taker.key, &maker.key]).await
    }
}
