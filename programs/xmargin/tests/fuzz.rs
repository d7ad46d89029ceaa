//! The stateful fuzzer: random sequences of every user, keeper and authority action driven
//! through the real program in the in-process runtime (native, or the SBF `.so` under
//! scripts/test-sbf.sh), with the solvency and liveness invariants checked after every step
//! (docs/security.md, "Invariants the fuzzer checks").
//!
//! A sequence starts from a fresh listed exchange: USDC and SOL collateral, a SOL market
//! (perpetual, 30-day future, 150 call, 140 put; a risk cache) on a legacy feed and a BTC
//! perpetual on a pull feed, four traders (0 and 1 collude, 2 is a bystander who also funds the
//! insurance fund, 3 is the keeper's well-capitalised liquidator). Operations name traders and
//! series by index, so any sub-sequence is still a valid input and proptest shrinks a failure
//! to a minimal sequence.
//!
//! Runs: `scripts/fuzz.sh [SEQUENCES] [OPERATIONS]`, seeded by `XMARGIN_FUZZ_SEED`. Each failure
//! found becomes a named regression test below.
mod common;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use common::world::*;
use common::Outcome;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use pyth_sdk_solana::state::PriceStatus;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction_error::TransactionError;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use xmargin::events::{CollateralLiquidated, PositionLiquidated};
use xmargin::liquidation::Before;
use xmargin::state::{MarginAccount, StoredGrid, SERIES_SETTLED, SERIES_SETTLING};
use xmargin_risk::Fx;

/// Both markets' perpetual (`World::listed`).
const PERP_SERIES: u8 = SOL_PERP;
const _: () = assert!(SOL_PERP == BTC_PERP);

/// Traders the operations name (0..TRADERS), then the backstop.
const TRADERS: usize = 4;
const KEEPER: usize = 3;
const BYSTANDER: usize = 2;
/// A liquidator with deep pockets that never trades: the liveness checks and the keeper's
/// steps liquidate with it (a liquidation must leave the liquidator above initial margin, so
/// liveness is judged for a liquidator able to carry the book).
const BACKSTOP: usize = 4;
/// Trader 0 delegates trading to trader 1's key (the colluder).
const DELEGATED: usize = 0;
const DELEGATE: usize = 1;
/// (market, series) of every listed series, by the index operations use.
const SERIES: [(u8, u8); 5] = [
    (SOL_MARKET, SOL_PERP),
    (SOL_MARKET, SOL_FUTURE),
    (SOL_MARKET, SOL_CALL_150),
    (SOL_MARKET, SOL_PUT_140),
    (BTC_MARKET, BTC_PERP),
];

/// Where a fill's price lies: across the program's band (0 = its low edge, 10,000 = its high
/// edge), or beyond an edge by some basis points of it.
#[derive(Clone, Copy, Debug)]
enum Fill {
    InBand(u16),
    Beyond { above: bool, bps: u16 },
}

#[derive(Clone, Debug)]
enum Op {
    Deposit {
        trader: usize,
        asset: u8,
        amount: u64,
    },
    /// `per_mille` of the account's balance of `asset` (above 1,000: more than it holds),
    /// signed by the owner or by trader 0's delegate (trader 1's key), who may never withdraw.
    Withdraw {
        trader: usize,
        asset: u8,
        per_mille: u16,
        by_delegate: bool,
    },
    /// The taker signed by its owner or by trader 0's delegate (trader 1's key: a delegate of
    /// trader 0 only).
    Trade {
        taker: usize,
        maker: usize,
        series: usize,
        contracts: i64,
        fill: Fill,
        by_delegate: bool,
    },
    /// Publishes `market`'s feed, fresh and trading, moved by `bps`.
    MovePrice {
        market: u8,
        bps: i32,
    },
    HaltFeed {
        market: u8,
    },
    StaleFeed {
        market: u8,
    },
    /// The risk authority moves the flat vol surface by 5 points (within the per-call bound).
    StepVol {
        market: u8,
        up: bool,
    },
    /// The risk authority moves the core price range by a point (between 10 % and 25 %).
    StepGrid {
        market: u8,
        widen: bool,
    },
    CrankFunding {
        series: usize,
    },
    RefreshCache {
        first: u8,
        count: u8,
    },
    Liquidate {
        liquidator: usize,
        target: usize,
        series: usize,
        paired: Option<usize>,
        quantity: u64,
    },
    LiquidateCollateral {
        liquidator: usize,
        target: usize,
        amount: u64,
    },
    ResolveBankruptcy {
        target: usize,
        market: u8,
    },
    SettleSeries {
        series: usize,
    },
    SettlePosition {
        trader: usize,
        series: usize,
    },
    /// Moves the clock (`to_expiry`: to the options' expiry plus `secs`), republishing every
    /// feed that is not halted when `republish`.
    Advance {
        secs: i64,
        to_expiry: bool,
        republish: bool,
    },
    FundInsurance {
        amount: u64,
    },
    /// The owner withdraws all the quote the program allows (the client's preview): the
    /// account sits at its initial margin.
    WithdrawMost {
        trader: usize,
    },
    /// The keeper's pass: the first liquidatable or bankrupt account, by the first step that
    /// works on it (the liveness check's list).
    Keeper,
}

fn trader() -> impl Strategy<Value = usize> {
    0..TRADERS
}

fn contracts() -> impl Strategy<Value = i64> {
    prop_oneof![1i64..10, 10i64..150, 150i64..1_500]
        .prop_flat_map(|n| prop_oneof![Just(n), Just(-n)])
}

fn fill() -> impl Strategy<Value = Fill> {
    prop_oneof![
        4 => (0u16..=10_000).prop_map(Fill::InBand),
        1 => (any::<bool>(), 1u16..2_000).prop_map(|(above, bps)| Fill::Beyond { above, bps }),
    ]
}

fn price_move() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -800i32..800,
        2 => -2_500i32..2_500,
        1 => prop_oneof![-6_000i32..-3_000, 3_000i32..6_000],
    ]
}

fn quantity() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1u64), 1u64..100, 100u64..5_000, Just(u64::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    let series = 0..SERIES.len();
    prop_oneof![
        3 => (trader(), 0u8..2, 1u64..200_000).prop_map(|(trader, asset, units)| Op::Deposit {
            trader,
            asset,
            // USDC, or SOL in thousandths.
            amount: if asset == QUOTE { units * USDC } else { units * SOL_LAMPORTS / 1_000 },
        }),
        3 => (trader(), 0u8..2, 1u16..1_200, proptest::bool::weighted(0.1)).prop_map(
            |(trader, asset, per_mille, by_delegate)| Op::Withdraw {
                trader,
                asset,
                per_mille,
                by_delegate,
            }
        ),
        10 => (
            trader(),
            prop_oneof![1 => Just(0usize), 15 => 1..TRADERS],
            series.clone(),
            contracts(),
            fill(),
            proptest::bool::weighted(0.15)
        )
            .prop_map(|(taker, offset, series, contracts, fill, by_delegate)| Op::Trade {
                taker,
                // Now and then a trader trades with itself (refused).
                maker: (taker + offset) % TRADERS,
                series,
                contracts,
                fill,
                by_delegate,
            }),
        5 => (0u8..2, price_move()).prop_map(|(market, bps)| Op::MovePrice { market, bps }),
        1 => (0u8..2).prop_map(|market| Op::HaltFeed { market }),
        1 => (0u8..2).prop_map(|market| Op::StaleFeed { market }),
        1 => (0u8..2, any::<bool>()).prop_map(|(market, up)| Op::StepVol { market, up }),
        1 => (0u8..2, any::<bool>()).prop_map(|(market, widen)| Op::StepGrid { market, widen }),
        2 => series.clone().prop_map(|series| Op::CrankFunding { series }),
        1 => (0u8..4, 1u8..5).prop_map(|(first, count)| Op::RefreshCache { first, count }),
        4 => (
            prop_oneof![3 => Just(KEEPER), 1 => trader()],
            trader(),
            series.clone(),
            proptest::option::weighted(0.3, series.clone()),
            quantity()
        )
            .prop_map(|(liquidator, target, series, paired, quantity)| Op::Liquidate {
                liquidator,
                target,
                series,
                paired,
                quantity,
            }),
        1 => (prop_oneof![3 => Just(KEEPER), 1 => trader()], trader(), quantity()).prop_map(
            |(liquidator, target, amount)| Op::LiquidateCollateral {
                liquidator,
                target,
                amount: amount.saturating_mul(SOL_LAMPORTS / 100),
            }
        ),
        1 => (trader(), 0u8..2).prop_map(|(target, market)| Op::ResolveBankruptcy { target, market }),
        1 => series.clone().prop_map(|series| Op::SettleSeries { series }),
        1 => (trader(), series).prop_map(|(trader, series)| Op::SettlePosition { trader, series }),
        3 => (
            prop_oneof![Just(1i64), 1i64..600, 600i64..86_400, 86_400i64..864_000],
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.85)
        )
            .prop_map(|(secs, to_expiry, republish)| Op::Advance { secs, to_expiry, republish }),
        1 => (1u64..50_000).prop_map(|units| Op::FundInsurance { amount: units * USDC }),
        2 => trader().prop_map(|trader| Op::WithdrawMost { trader }),
        4 => Just(Op::Keeper),
    ]
}

/// Totals over a run, for the summary line.
#[derive(Default)]
struct Stats {
    /// Sequences played, shrinking runs included.
    sequences: AtomicU64,
    /// Transactions the operations sent (one program instruction each).
    instructions: AtomicU64,
    checks: AtomicU64,
    /// Liquidations and resolutions simulated by the liveness checks.
    probes: AtomicU64,
    max_units: AtomicU64,
    /// (accepted, refused) by operation, to show what the sequences reached.
    outcomes: std::sync::Mutex<std::collections::BTreeMap<&'static str, (u64, u64)>>,
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Deposit { .. } => "deposit",
            Op::Withdraw { .. } => "withdraw",
            Op::Trade { .. } => "trade",
            Op::MovePrice { .. } => "move price",
            Op::HaltFeed { .. } => "halt feed",
            Op::StaleFeed { .. } => "stale feed",
            Op::StepVol { .. } => "vol step",
            Op::StepGrid { .. } => "grid step",
            Op::CrankFunding { .. } => "crank funding",
            Op::RefreshCache { .. } => "refresh cache",
            Op::Liquidate { paired: None, .. } => "liquidate position",
            Op::Liquidate { .. } => "liquidate pair",
            Op::LiquidateCollateral { .. } => "liquidate collateral",
            Op::ResolveBankruptcy { .. } => "resolve bankruptcy",
            Op::SettleSeries { .. } => "settle series",
            Op::SettlePosition { .. } => "settle position",
            Op::Advance { .. } => "advance clock",
            Op::FundInsurance { .. } => "fund insurance",
            Op::WithdrawMost { .. } => "withdraw most",
            Op::Keeper => "keeper step",
        }
    }
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

/// A feed as the fuzzer last wrote it.
#[derive(Clone, Copy)]
struct Feed {
    halted: bool,
    published: i64,
}

struct Fuzz<'s> {
    w: World,
    traders: Vec<Trader>,
    feeds: [Feed; 2],
    vols: [i64; 2],
    /// Core price range of each market, per mille (a step of 5 is within the 5 % bound).
    price_ranges: [i64; 2],
    stats: &'s Stats,
}

/// What an operation sent and which margin accounts it may change.
struct Sent {
    outcome: Outcome,
    parties: Vec<Pubkey>,
    /// The account a liquidation or resolution acts on: the only one it may empty into the
    /// insurance fund.
    target: Option<Pubkey>,
    /// Why the program must refuse it, if it must: a fill price outside the band the
    /// program's own valuation gives, a delegate withdrawing.
    must_refuse: Option<&'static str>,
}

type Verdict = Result<(), String>;

/// A step that could close out or resolve an account: what it is, the series whose funding
/// it accrues to now, its instructions.
type Remedy = (String, Vec<(u8, u8)>, Vec<Instruction>);

/// The BTC pull feed's confidence (`World::write_btc_oracle`).
const BTC_CONF: u64 = 2_000_000_000;
/// Older than the tolerant guard's 600 s: a stale feed.
const STALE_SECS: i64 = 700;
/// The strict guard's age limit: a feed younger than this is live.
const LIVE_SECS: i64 = 60;

impl<'s> Fuzz<'s> {
    async fn start(stats: &'s Stats) -> Self {
        let mut w = World::listed().await;
        w.enable_risk_cache(SOL_MARKET).await;
        w.refresh_risk_caches().await;
        let mut traders = Vec::new();
        for index in 0..=BACKSTOP {
            let trader = w.trader(100_000_000 * USDC, 100_000 * SOL_LAMPORTS).await;
            let usdc = match index {
                KEEPER => 5_000_000,
                BACKSTOP => 90_000_000,
                _ => 20_000,
            };
            w.deposit(&trader, QUOTE, usdc * USDC).await.unwrap();
            traders.push(trader);
        }
        let delegate = xmargin_client::instructions::set_delegate(
            traders[DELEGATED].key.pubkey(),
            traders[DELEGATED].account,
            traders[DELEGATE].key.pubkey(),
        );
        let owner = traders[DELEGATED].key.insecure_clone();
        w.h.send(&[delegate], &[&owner]).await.unwrap();
        let insure = w.fund_insurance_ix(&traders[BYSTANDER], 100_000 * USDC);
        let key = traders[BYSTANDER].key.insecure_clone();
        w.h.send(&[insure], &[&key]).await.unwrap();
        let now = w.h.clock().await.unix_timestamp;
        let mut fuzz = Self {
            w,
            traders,
            feeds: [Feed {
                halted: false,
                published: now,
            }; 2],
            vols: [80; 2],
            price_ranges: [150; 2],
            stats,
        };
        for market in [SOL_MARKET, BTC_MARKET] {
            fuzz.write_feed(market, now).await;
        }
        fuzz
    }

    fn account(&self, trader: usize) -> Pubkey {
        self.traders[trader].account
    }

    /// Every account an instruction here can write: refusals must leave all of them as they
    /// were.
    fn watched(&self) -> Vec<Pubkey> {
        let mut keys: Vec<Pubkey> = self.traders.iter().map(|t| t.account).collect();
        keys.extend(self.traders.iter().flat_map(|t| [t.usdc, t.sol]));
        keys.extend([
            clearinghouse_address(),
            registry_address(),
            market_address(SOL_MARKET),
            market_address(BTC_MARKET),
            vault_address(self.w.usdc_mint),
            vault_address(self.w.sol_mint),
            insurance_address(),
        ]);
        keys.extend(self.w.risk_caches.iter().map(|(_, cache)| *cache));
        keys
    }

    /// Writes `market`'s feed at its price, published at `published` (halted: a legacy feed
    /// says so, a pull feed publishes nothing new).
    async fn write_feed(&mut self, market: u8, published: i64) {
        let feed = &mut self.feeds[market as usize];
        feed.published = published;
        let feed = *feed;
        if market == SOL_MARKET {
            let status = if feed.halted {
                PriceStatus::Halted
            } else {
                PriceStatus::Trading
            };
            self.w
                .write_sol_oracle(|p| {
                    p.status = status;
                    p.publish_time = published;
                })
                .await;
        } else {
            self.w
                .write_btc_oracle(|p| p.publish_time = published)
                .await;
        }
    }

    async fn now(&mut self) -> i64 {
        self.w.h.clock().await.unix_timestamp
    }

    /// Every feed fresh, trading, and tight enough for the strict guard (the feeds keep a
    /// fixed confidence: after a crash it is too wide a share of the price). Otherwise no
    /// price is good enough to change hands at, by design, and liveness waits.
    async fn feeds_live(&mut self) -> bool {
        let now = self.now().await;
        let tight = |conf: u64, price: i64| conf as i128 * 10_000 <= price as i128 * 100;
        self.feeds
            .iter()
            .all(|f| !f.halted && now - f.published < LIVE_SECS)
            && tight(self.w.sol_conf, self.w.sol_price)
            && tight(BTC_CONF, self.w.btc_price)
    }

    async fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Outcome {
        bump(&self.stats.instructions, 1);
        // A trader trading with itself signs once.
        let mut signers = signers.to_vec();
        signers.dedup_by_key(|key| key.pubkey());
        let signers = signers.as_slice();
        let outcome = self
            .w
            .h
            .send_measured(ixs, signers)
            .await
            .expect("the bank processes every transaction");
        self.stats.max_units.fetch_max(outcome.units, Relaxed);
        outcome
    }

    async fn as_trader(&mut self, trader: usize, ixs: &[Instruction]) -> Outcome {
        let key = self.traders[trader].key.insecure_clone();
        self.send(ixs, &[&key]).await
    }

    async fn balance(&mut self, trader: usize, asset: u8) -> u64 {
        let account = self.account(trader);
        let account = self.w.margin_account(account).await;
        account
            .balance_of(asset)
            .map_or(0, |b| b.amount.max(0) as u64)
    }

    /// Applies one operation; `None` when it sent nothing (the world only changed its feeds or
    /// clock).
    async fn apply(&mut self, op: &Op) -> Option<Sent> {
        let mut must_refuse = None;
        let mut target = match *op {
            Op::Liquidate { target, .. }
            | Op::LiquidateCollateral { target, .. }
            | Op::ResolveBankruptcy { target, .. } => Some(self.account(target)),
            _ => None,
        };
        let (outcome, parties) = match *op {
            Op::Deposit {
                trader,
                asset,
                amount,
            } => {
                let t = &self.traders[trader];
                let source = if asset == QUOTE { t.usdc } else { t.sol };
                let deposit = self.w.deposit_ix(&t.key, t.account, source, asset, amount);
                (
                    self.as_trader(trader, &[deposit]).await,
                    vec![self.account(trader)],
                )
            }
            Op::Withdraw {
                trader,
                asset,
                per_mille,
                by_delegate,
            } => {
                let balance = self.balance(trader, asset).await;
                let amount = (balance as u128 * per_mille as u128 / 1_000).max(1) as u64;
                let signer = if by_delegate { DELEGATE } else { trader };
                if signer != trader {
                    must_refuse = Some("a withdrawal not signed by the owner");
                }
                let t = &self.traders[trader];
                let destination = if asset == QUOTE { t.usdc } else { t.sol };
                let signer_key = self.traders[signer].key.insecure_clone();
                let withdraw =
                    self.w
                        .withdraw_ix(&signer_key, t.account, destination, asset, amount);
                (
                    self.send(&[withdraw], &[&signer_key]).await,
                    vec![self.account(trader)],
                )
            }
            Op::Trade {
                taker,
                maker,
                series,
                contracts,
                fill,
                by_delegate,
            } => {
                let (market, series) = SERIES[series];
                let band = self.w.protocol().await.fill_band(market, series).ok();
                let (low, high) = band.map_or((1, 1), |b| (b.low, b.high));
                // Without a band the program would accept nothing.
                if band.is_none() {
                    must_refuse = Some("a fill with no band to check it against");
                }
                let price = match fill {
                    Fill::InBand(at) => low + ((high - low) as u128 * at as u128 / 10_000) as u64,
                    Fill::Beyond { above, bps } => {
                        must_refuse = Some("a fill outside the program's band");
                        if above {
                            high + (high as u128 * bps as u128 / 10_000).max(1) as u64
                        } else {
                            low.saturating_sub((low as u128 * bps as u128 / 10_000).max(1) as u64)
                        }
                    }
                };
                let signer = if by_delegate { DELEGATE } else { taker };
                if signer != taker && taker != DELEGATED {
                    must_refuse = Some("a trade signed by neither owner nor delegate");
                }
                let trade = self.w.trade_ix_signed_by(
                    self.traders[signer].key.pubkey(),
                    self.account(taker),
                    self.traders[maker].key.pubkey(),
                    self.account(maker),
                    market,
                    series,
                    contracts,
                    price,
                );
                let keys = [
                    self.traders[signer].key.insecure_clone(),
                    self.traders[maker].key.insecure_clone(),
                ];
                (
                    self.send(&[trade], &[&keys[0], &keys[1]]).await,
                    vec![self.account(taker), self.account(maker)],
                )
            }
            Op::MovePrice { market, bps } => {
                let price = if market == SOL_MARKET {
                    &mut self.w.sol_price
                } else {
                    &mut self.w.btc_price
                };
                *price = (*price as i128 * (10_000 + bps) as i128 / 10_000).max(1) as i64;
                self.feeds[market as usize].halted = false;
                let now = self.now().await;
                self.write_feed(market, now).await;
                return None;
            }
            Op::HaltFeed { market } => {
                self.feeds[market as usize].halted = true;
                let now = self.now().await;
                let published = if market == SOL_MARKET {
                    now
                } else {
                    now - STALE_SECS
                };
                self.write_feed(market, published).await;
                return None;
            }
            Op::StaleFeed { market } => {
                let now = self.now().await;
                self.write_feed(market, now - STALE_SECS).await;
                return None;
            }
            Op::StepVol { market, up } => {
                let vol = (self.vols[market as usize] + if up { 5 } else { -5 }).clamp(30, 200);
                let update = vol_surface_ix(&self.w, market, flat_surface(vol));
                let outcome = self.as_risk_authority(&[update]).await;
                if outcome.result.is_ok() {
                    self.vols[market as usize] = vol;
                }
                (outcome, vec![])
            }
            Op::StepGrid { market, widen } => {
                let range = (self.price_ranges[market as usize] + if widen { 5 } else { -5 })
                    .clamp(100, 250);
                let mut risk = underlying_risk(0, 90);
                risk.grid = StoredGrid {
                    price_range: fx(range, 1_000),
                    ..risk.grid
                };
                let update = market_risk_ix(&self.w, market, risk);
                let outcome = self.as_risk_authority(&[update]).await;
                if outcome.result.is_ok() {
                    self.price_ranges[market as usize] = range;
                }
                (outcome, vec![])
            }
            Op::CrankFunding { series } => {
                let (market, series) = SERIES[series];
                let crank = self.w.crank_funding_ix(market, series);
                (self.send(&[crank], &[]).await, vec![])
            }
            Op::RefreshCache { first, count } => {
                let refresh = self.w.refresh_risk_cache_ix(SOL_MARKET, first, count);
                (self.send(&[refresh], &[]).await, vec![])
            }
            Op::Liquidate {
                liquidator,
                target,
                series,
                paired,
                quantity,
            } => {
                let target_account = self.account(target);
                let liquidate = self.w.liquidate_legs_ix(
                    &self.traders[liquidator],
                    target_account,
                    SERIES[series],
                    paired.map(|p| SERIES[p]),
                    quantity,
                );
                (
                    self.as_trader(liquidator, &[liquidate]).await,
                    vec![self.account(liquidator), target_account],
                )
            }
            Op::LiquidateCollateral {
                liquidator,
                target,
                amount,
            } => {
                let target_account = self.account(target);
                let liquidate = self.w.liquidate_collateral_ix(
                    &self.traders[liquidator],
                    target_account,
                    SOL_ASSET,
                    amount,
                );
                (
                    self.as_trader(liquidator, &[liquidate]).await,
                    vec![self.account(liquidator), target_account],
                )
            }
            Op::ResolveBankruptcy { target, market } => {
                let target_account = self.account(target);
                let resolve = self.w.resolve_bankruptcy_ix(target_account, market);
                (self.send(&[resolve], &[]).await, vec![target_account])
            }
            Op::SettleSeries { series } => {
                let (market, series) = SERIES[series];
                let settle = settle_series_ix(&self.w, market, series);
                (self.send(&[settle], &[]).await, vec![])
            }
            Op::SettlePosition { trader, series } => {
                let (market, series) = SERIES[series];
                let account = self.account(trader);
                let settle = settle_position_ix(market, series, account);
                (self.send(&[settle], &[]).await, vec![account])
            }
            Op::Advance {
                secs,
                to_expiry,
                republish,
            } => {
                let now = self.w.h.clock().await.unix_timestamp;
                let by = if to_expiry && self.w.expiry > now {
                    self.w.expiry - now + secs % 7_200
                } else {
                    secs
                };
                self.w.h.advance(by).await;
                let now = self.now().await;
                for market in [SOL_MARKET, BTC_MARKET] {
                    if republish && !self.feeds[market as usize].halted {
                        self.write_feed(market, now).await;
                    }
                }
                return None;
            }
            Op::FundInsurance { amount } => {
                let fund = self.w.fund_insurance_ix(&self.traders[BYSTANDER], amount);
                (self.as_trader(BYSTANDER, &[fund]).await, vec![])
            }
            Op::WithdrawMost { trader } => {
                let account = self.w.margin_account(self.account(trader)).await;
                let amount = self
                    .w
                    .protocol()
                    .await
                    .largest_withdrawal(&account, QUOTE)
                    .unwrap_or(0)
                    .max(1);
                let t = &self.traders[trader];
                let withdraw = self.w.withdraw_ix(&t.key, t.account, t.usdc, QUOTE, amount);
                (
                    self.as_trader(trader, &[withdraw]).await,
                    vec![self.account(trader)],
                )
            }
            Op::Keeper => {
                let (liquidator, liquidated, ixs) = self.keeper_step().await?;
                target = Some(self.account(liquidated));
                let signs = ixs
                    .iter()
                    .flat_map(|ix| &ix.accounts)
                    .any(|meta| meta.is_signer);
                let outcome = if signs {
                    self.as_trader(liquidator, &ixs).await
                } else {
                    self.send(&ixs, &[]).await
                };
                (
                    outcome,
                    vec![self.account(liquidator), self.account(liquidated)],
                )
            }
        };
        Some(Sent {
            outcome,
            parties,
            target,
            must_refuse,
        })
    }

    /// The first account the program would liquidate (or a bankrupt one) and the first step
    /// the bank accepts for it, by simulation; `None` when no account needs one (or feeds are
    /// not live).
    async fn keeper_step(&mut self) -> Option<(usize, usize, Vec<Instruction>)> {
        if !self.feeds_live().await {
            return None;
        }
        let protocol = self.w.protocol().await;
        for target in 0..TRADERS {
            let address = self.account(target);
            let account = self.w.margin_account(address).await;
            let Ok(verdict) = xmargin_keeper::scan::evaluate_alone(&protocol, address, &account)
            else {
                continue;
            };
            if !(verdict.liquidatable || verdict.bankrupt) {
                continue;
            }
            let liquidator = BACKSTOP;
            let Some(remedies) = self.remedies(liquidator, address, &account).await else {
                continue;
            };
            let cranks = self.cranks(&account);
            for (_, _, ixs) in remedies {
                let ixs = [cranks.as_slice(), &ixs].concat();
                if self.simulate(liquidator, &ixs).await.is_ok() {
                    return Some((liquidator, target, ixs));
                }
            }
        }
        None
    }

    async fn as_risk_authority(&mut self, ixs: &[Instruction]) -> Outcome {
        let key = self.w.risk_authority.insecure_clone();
        self.send(ixs, &[&key]).await
    }

    /// One operation and every invariant after it.
    async fn step(&mut self, op: &Op) -> Verdict {
        let watched = self.watched();
        let before = self.w.h.snapshot(&watched).await;
        let insurance_before = self.w.h.token_balance(insurance_address()).await;
        // The shortfall of each account the step may empty into the fund, before it.
        let may_empty: Vec<usize> = match *op {
            Op::Liquidate { target, .. }
            | Op::LiquidateCollateral { target, .. }
            | Op::ResolveBankruptcy { target, .. } => vec![target],
            Op::Keeper => (0..TRADERS).collect(),
            _ => vec![],
        };
        let mut shortfalls = Vec::new();
        for trader in may_empty {
            let address = self.account(trader);
            shortfalls.push((address, self.shortfall(address).await));
        }
        let Some(sent) = self.apply(op).await else {
            return self.after_step().await;
        };
        let after = self.w.h.snapshot(&watched).await;
        if let Ok(mut outcomes) = self.stats.outcomes.lock() {
            let entry = outcomes.entry(op.name()).or_default();
            match sent.outcome.result {
                Ok(()) => entry.0 += 1,
                Err(_) => entry.1 += 1,
            }
        }
        match &sent.outcome.result {
            Err(error) => {
                self.checked(2);
                if !is_named_refusal(error) {
                    return Err(format!("refused without a named error: {error:?}"));
                }
                if let Some(k) = (0..watched.len()).find(|k| before[*k] != after[*k]) {
                    return Err(format!(
                        "a refusal ({error:?}) changed account {}",
                        watched[k]
                    ));
                }
            }
            Ok(()) => {
                self.checked(3);
                if let Some(why) = sent.must_refuse {
                    return Err(format!("{why} was accepted"));
                }
                for (k, key) in watched.iter().enumerate().take(BACKSTOP + 1) {
                    if before[k] != after[k] && !sent.parties.contains(key) {
                        return Err(format!("bystander account {key} changed"));
                    }
                }
                // The fund pays only what an account emptied here owed: its shortfall
                // before the step plus the fee the step charged it.
                let insurance = self.w.h.token_balance(insurance_address()).await;
                let paid = insurance_before.saturating_sub(insurance);
                let fees: u64 = common::events::<PositionLiquidated>(&sent.outcome.logs)
                    .iter()
                    .map(|e| e.fee)
                    .chain(
                        common::events::<CollateralLiquidated>(&sent.outcome.logs)
                            .iter()
                            .map(|e| e.liquidator_fee + e.insurance_fee),
                    )
                    .sum();
                // Unknown when the program's prices could not be read before the step.
                let shortfall = match sent.target {
                    Some(target) => shortfalls
                        .iter()
                        .find(|(address, _)| *address == target)
                        .and_then(|(_, shortfall)| *shortfall),
                    None => Some(0),
                };
                if let Some(shortfall) = shortfall {
                    self.checked(1);
                    if paid > shortfall + fees {
                        return Err(format!(
                            "the insurance fund paid {paid}, more than the shortfall \
                             {shortfall} plus fees {fees}"
                        ));
                    }
                }
            }
        }
        self.after_step().await
    }

    fn checked(&self, n: u64) {
        bump(&self.stats.checks, n);
    }

    /// The account at `address` as a liquidation step sees it: at the liquidation's prices,
    /// with the funding of the perps in `accrue` accrued to now (a step accrues its own
    /// series, as a crank would) and the account's accruals settled. `None` when those prices
    /// cannot be read.
    async fn as_step_sees(&mut self, address: Pubkey, accrue: &[(u8, u8)]) -> Option<Before> {
        let account = self.w.margin_account(address).await;
        let protocol = self.w.protocol().await;
        let needs = xmargin_client::Protocol::needs(&[&account], None);
        let mut context = protocol
            .context(&needs, xmargin::oracle::OracleUse::Liquidate)
            .ok()?;
        let now = protocol.clock.unix_timestamp;
        for &(market, series) in accrue {
            let mut market = protocol.market(market).ok()?;
            context.accrue_funding(&mut market, series, now).ok()?;
        }
        let mut settled = account;
        context.settle_accruals(&mut settled, &[]).ok()?;
        let report = context.health(&settled).ok()?.report;
        let end_fraction = Fx::from_bits(protocol.clearinghouse.liquidation_end_fraction_bits);
        Before::of(&report, end_fraction).ok()
    }

    /// The series of every position the account at `address` holds.
    async fn held(&mut self, address: Pubkey) -> Vec<(u8, u8)> {
        let account = self.w.margin_account(address).await;
        account
            .open_positions()
            .map(|p| (p.market, p.series))
            .collect()
    }

    /// What the account at `address` owes beyond everything it holds: its negative equity at
    /// maintenance weights and the liquidation's prices, every perp's funding accrued to now
    /// (None when those prices cannot be read). The most a resolution may take from the
    /// insurance fund for it, with the fee of the step that empties it.
    async fn shortfall(&mut self, address: Pubkey) -> Option<u64> {
        let held = self.held(address).await;
        let before = self.as_step_sees(address, &held).await?;
        Some(before.equity.min(0).unsigned_abs())
    }

    /// The invariants that hold in every state: books, then liveness and its converse.
    async fn after_step(&mut self) -> Verdict {
        self.checked(1);
        self.w.books_reconcile().await?;
        if !self.feeds_live().await {
            return Ok(());
        }
        for target in 0..TRADERS {
            let address = self.account(target);
            let account = self.w.margin_account(address).await;
            // Due once every perp it holds is cranked to now: a step accrues only its own
            // series, so the status an uncranked perp hides is anyone's to reveal.
            let held = self.held(address).await;
            let Some(verdict) = self.as_step_sees(address, &held).await else {
                continue;
            };
            let flagged = account.being_liquidated != 0;
            self.checked(1);
            let liquidator = BACKSTOP;
            let Some(candidates) = self.remedies(liquidator, address, &account).await else {
                // Resolves by settlement once its price is final.
                continue;
            };
            if verdict.is_liquidatable(flagged) || account.is_bankrupt() {
                let mut refusals = Vec::new();
                let cranks = self.cranks(&account);
                for (what, _, ixs) in &candidates {
                    let ixs = [cranks.as_slice(), ixs].concat();
                    match self.simulate(liquidator, &ixs).await {
                        Ok(()) => {
                            refusals.clear();
                            break;
                        }
                        Err(error) => refusals.push(format!("{what}: {error:?}")),
                    }
                }
                if !refusals.is_empty() || candidates.is_empty() {
                    return Err(format!(
                        "trader {target} is liquidatable (maintenance health {}) and nothing \
                         resolves it: {refusals:?}",
                        verdict.maint_health
                    ));
                }
            } else if !flagged {
                // A healthy account: the first liquidation step that sees it healthy (its own
                // series' funding accrued, nothing cranked) must fail.
                for (what, accrued, ixs) in &candidates {
                    if !what.starts_with("liquidate") {
                        continue;
                    }
                    let seen = self.as_step_sees(address, accrued).await;
                    if seen.is_none_or(|seen| seen.is_liquidatable(false)) {
                        continue;
                    }
                    if self.simulate(liquidator, ixs).await.is_ok() {
                        return Err(format!(
                            "trader {target} is above maintenance ({}) and {what} succeeds",
                            verdict.maint_health
                        ));
                    }
                    break;
                }
            }
        }
        Ok(())
    }

    /// A funding crank of every perp `account` holds: what a keeper sends before a step, so
    /// the step sees all of the account's funding (`as_step_sees` with every held perp).
    fn cranks(&self, account: &MarginAccount) -> Vec<Instruction> {
        account
            .open_positions()
            // Each market's perp is its series 0 (`World::listed`).
            .filter(|p| p.series == PERP_SERIES)
            .map(|p| self.w.crank_funding_ix(p.market, p.series))
            .collect()
    }

    /// Every step that could close out or resolve `target`: settling its expired positions
    /// (making the price final first when its window has passed), each position alone, each
    /// pair of positions, its SOL collateral, then bankruptcy on each market. `None` when an
    /// expired position waits for its settlement price to become final: the account resolves
    /// then, by settlement.
    async fn remedies(
        &mut self,
        liquidator: usize,
        target: Pubkey,
        account: &MarginAccount,
    ) -> Option<Vec<Remedy>> {
        let positions: Vec<(u8, u8, i64)> = account
            .open_positions()
            .map(|p| (p.market, p.series, p.size))
            .collect();
        let now = self.now().await;
        let mut out = Vec::new();
        for &(market, series, _) in &positions {
            let stored = self.w.market(market).await.series[series as usize];
            let settle = settle_position_ix(market, series, target);
            if stored.status == SERIES_SETTLED {
                out.push((format!("settle {market}/{series}"), vec![], vec![settle]));
            } else if stored.status == SERIES_SETTLING {
                if now < stored.settlement_final_at {
                    return None;
                }
                let finalize = settle_series_ix(&self.w, market, series);
                out.push((
                    format!("settle {market}/{series}"),
                    vec![],
                    vec![finalize, settle],
                ));
            }
        }
        let liquidator = &self.traders[liquidator];
        for &(market, series, _) in &positions {
            let step = self
                .w
                .liquidate_ix(liquidator, target, market, series, u64::MAX);
            out.push((
                format!("liquidate {market}/{series}"),
                vec![(market, series)],
                vec![step],
            ));
        }
        for (k, &(market, series, _)) in positions.iter().enumerate() {
            for &(other_market, other, _) in &positions[k + 1..] {
                let step = self.w.liquidate_legs_ix(
                    liquidator,
                    target,
                    (market, series),
                    Some((other_market, other)),
                    u64::MAX,
                );
                out.push((
                    format!("liquidate pair {market}/{series}+{other_market}/{other}"),
                    vec![(market, series), (other_market, other)],
                    vec![step],
                ));
            }
        }
        if account.balance_of(SOL_ASSET).is_some_and(|b| b.amount > 0) {
            let step = self
                .w
                .liquidate_collateral_ix(liquidator, target, SOL_ASSET, u64::MAX);
            out.push(("liquidate collateral".into(), vec![], vec![step]));
        }
        for market in [SOL_MARKET, BTC_MARKET] {
            let resolve = self.w.resolve_bankruptcy_ix(target, market);
            out.push((format!("resolve on {market}"), vec![], vec![resolve]));
        }
        Some(out)
    }

    async fn simulate(
        &mut self,
        signer: usize,
        ixs: &[Instruction],
    ) -> Result<(), TransactionError> {
        bump(&self.stats.probes, 1);
        let key = self.traders[signer].key.insecure_clone();
        let signs = ixs
            .iter()
            .flat_map(|ix| &ix.accounts)
            .any(|meta| meta.is_signer && meta.pubkey == key.pubkey());
        let signers: &[&Keypair] = if signs { &[&key] } else { &[] };
        self.w
            .h
            .simulate(ixs, signers)
            .await
            .expect("the bank simulates every transaction")
    }
}

/// A refusal the program (or a program it calls) names: a custom error code. Anything else —
/// a panic, running out of compute or heap, an account the runtime rejects — is a violation.
fn is_named_refusal(error: &TransactionError) -> bool {
    matches!(
        error,
        TransactionError::InstructionError(_, InstructionError::Custom(_))
    )
}

/// Plays `ops` from a fresh exchange: the exchange after them, or the first broken
/// invariant with the step that broke it.
async fn play<'s>(ops: &[Op], stats: &'s Stats) -> Result<Fuzz<'s>, String> {
    bump(&stats.sequences, 1);
    let mut fuzz = Fuzz::start(stats).await;
    fuzz.after_step()
        .await
        .map_err(|e| format!("at setup: {e}"))?;
    for (k, op) in ops.iter().enumerate() {
        fuzz.step(op)
            .await
            .map_err(|e| format!("step {k} ({op:?}): {e}"))?;
    }
    Ok(fuzz)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn run_sequence(ops: &[Op], stats: &Stats) -> Verdict {
    runtime().block_on(play(ops, stats)).map(drop)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `cases` sequences of up to `operations` operations, the batch of `seed` starting at
/// sequence `first` (its own random stream, so any batch replays alone), each failure shrunk
/// at most `shrink` times.
fn run_batch(
    seed: u64,
    first: u64,
    cases: u64,
    operations: usize,
    shrink: u32,
    stats: &Stats,
) -> Result<(), String> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&first.to_le_bytes());
    let config = Config {
        cases: cases as u32,
        failure_persistence: None,
        max_shrink_iters: shrink,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let strategy = proptest::collection::vec(op(), 1..=operations);
    runner
        .run(&strategy, |ops| {
            run_sequence(&ops, stats).map_err(TestCaseError::fail)
        })
        .map_err(|failure| failure.to_string())
}

/// `XMARGIN_FUZZ_SEQUENCES` sequences of up to `XMARGIN_FUZZ_OPERATIONS` operations from
/// `XMARGIN_FUZZ_SEED`, in batches of eight: each batch stops at its first violation (after
/// shrinking it), the run goes on with the next batch.
#[test]
fn random_sequences_keep_every_invariant() {
    let sequences = env_number("XMARGIN_FUZZ_SEQUENCES", 32);
    let operations = env_number("XMARGIN_FUZZ_OPERATIONS", 60) as usize;
    let seed = env_number("XMARGIN_FUZZ_SEED", 2026);
    let stats = Stats::default();
    let mut violations = Vec::new();
    let started = std::time::Instant::now();
    let batch = 8;
    // Replaying one batch of a long run: its first sequence, and no shrinking.
    let from = env_number("XMARGIN_FUZZ_FIRST", 0) / batch * batch;
    let shrink = env_number("XMARGIN_FUZZ_SHRINK", 200) as u32;
    for first in (from..sequences).step_by(batch as usize) {
        let cases = (sequences - first).min(batch);
        let result = run_batch(seed, first, cases, operations, shrink, &stats);
        if let Err(failure) = result {
            eprintln!("fuzz: seed {seed}, batch from sequence {first}: {failure}");
            violations.push(failure);
        }
        if std::env::var_os("XMARGIN_FUZZ_PROGRESS").is_some() {
            eprintln!(
                "fuzz: progress {} sequences, {} instructions, {} invariant checks, {} violations, {} s",
                stats.sequences.load(Relaxed),
                stats.instructions.load(Relaxed),
                stats.checks.load(Relaxed),
                violations.len(),
                started.elapsed().as_secs()
            );
        }
    }
    println!(
        "fuzz: {} sequences, {} instructions, {} invariant checks, {} violations",
        stats.sequences.load(Relaxed),
        stats.instructions.load(Relaxed),
        stats.checks.load(Relaxed),
        violations.len()
    );
    eprintln!(
        "fuzz: {} liquidation probes simulated; most compute units in one transaction {}",
        stats.probes.load(Relaxed),
        stats.max_units.load(Relaxed)
    );
    if let Ok(outcomes) = stats.outcomes.lock() {
        let shown: Vec<String> = outcomes
            .iter()
            .map(|(name, (accepted, refused))| format!("{name} {accepted}/{refused}"))
            .collect();
        eprintln!("fuzz: accepted/refused by operation: {}", shown.join(", "));
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Found by the fuzzer (seed 2026): trader 1, short 190 SOL 140 puts and short 9 BTC perps
/// (long SOL delta partly hedged by short BTC in one correlation group), fell below
/// maintenance on a 7 % SOL drop. Every step a keeper sends was refused
/// (`LiquidationDidNotImproveHealth`): the program sized a step to the liquidation-end level
/// or, short of it, took the whole position, and taking all the puts (or all the perps) left
/// the other leg naked, while taking part of the puts would have raised health. No quantity
/// reaches the end level here, so a step now takes the quantity after which maintenance
/// health is highest (`xmargin_risk::liquidation::quantity_to_take`).
#[test]
fn regression_a_partly_hedged_book_is_reduced_by_part_of_a_leg() {
    // Traders 0 to 2 started with 100,000 USDC deposited when this was found.
    let topped_up = (0..3).map(|trader| Op::Deposit {
        trader,
        asset: QUOTE,
        amount: 80_000 * USDC,
    });
    let found = [
        Op::Deposit {
            trader: 1,
            asset: QUOTE,
            amount: 114_339 * USDC,
        },
        Op::HaltFeed { market: 0 },
        Op::Withdraw {
            trader: 1,
            asset: QUOTE,
            per_mille: 975,
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: 261,
        },
        Op::Trade {
            taker: 1,
            maker: 2,
            series: 3,
            contracts: -190,
            fill: Fill::InBand(7_320),
            by_delegate: false,
        },
        Op::Trade {
            taker: 0,
            maker: 2,
            series: 4,
            contracts: 37,
            fill: Fill::InBand(786),
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: -794,
        },
        Op::Trade {
            taker: 2,
            maker: 1,
            series: 4,
            contracts: 9,
            fill: Fill::InBand(7_172),
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: 694,
        },
        Op::Withdraw {
            trader: 1,
            asset: QUOTE,
            per_mille: 458,
            by_delegate: false,
        },
        Op::MovePrice {
            market: 1,
            bps: 549,
        },
        Op::MovePrice {
            market: 0,
            bps: -719,
        },
        // What a keeper sends: everything it may take of the puts.
        Op::Liquidate {
            liquidator: KEEPER,
            target: 1,
            series: 3,
            paired: None,
            quantity: u64::MAX,
        },
    ];
    let ops: Vec<Op> = topped_up.chain(found).collect();
    let stats = Stats::default();
    runtime().block_on(async {
        let (ops, step) = ops.split_at(ops.len() - 1);
        let mut fuzz = play(ops, &stats).await.unwrap();
        let (_, before) = fuzz.w.health(fuzz.account(1)).await;
        assert!(before < 0, "{before}");
        fuzz.step(&step[0]).await.unwrap();
        let account = fuzz.w.margin_account(fuzz.account(1)).await;
        let size = |market, series| account.position(market, series).map_or(0, |p| p.size);
        // Part of the puts changed hands, the perps stayed.
        let (puts, perps) = (size(SOL_MARKET, SOL_PUT_140), size(BTC_MARKET, BTC_PERP));
        assert!(
            -190 < puts && puts < 0 && perps == -9,
            "{puts} puts, {perps} perps"
        );
        let (_, after) = fuzz.w.health(fuzz.account(1)).await;
        assert!(after > before, "{before} -> {after}");
    });
}

/// Found by the fuzzer (seed 2026, after pairs required opposite deltas): trader 2, long 338
/// SOL perps and short 2 SOL 150 calls, SOL down 41 % and the calls expired unproposed. The
/// keeper took 337 perps; the last perp covered the calls in the extended up-move scenario
/// (+100 % at 30 % weight), so taking it alone raised the requirement, taking the worthless
/// calls alone changed nothing, and the pair was refused because the calls carry no delta.
/// A leg without delta may now pair with any other.
#[test]
fn regression_a_covered_call_without_delta_is_taken_as_a_pair() {
    let ops = [
        Op::Trade {
            taker: 2,
            maker: 3,
            series: 2,
            contracts: -2,
            fill: Fill::InBand(0),
            by_delegate: false,
        },
        Op::Trade {
            taker: 2,
            maker: 3,
            series: 0,
            contracts: 338,
            fill: Fill::InBand(7_546),
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: -4_114,
        },
        Op::Advance {
            secs: 30_812,
            to_expiry: true,
            republish: false,
        },
        Op::StepGrid {
            market: 0,
            widen: true,
        },
        Op::Advance {
            secs: 81_469,
            to_expiry: false,
            republish: true,
        },
        Op::Keeper,
        Op::Keeper,
    ];
    let stats = Stats::default();
    runtime().block_on(async {
        let mut fuzz = play(&ops, &stats).await.unwrap();
        let account = fuzz.w.margin_account(fuzz.account(2)).await;
        assert_eq!(account.open_positions().count(), 0);
        // Both keeper steps went through; nothing is left to liquidate.
        assert_eq!(stats.instructions.load(Relaxed), 5);
        assert!(fuzz.keeper_step().await.is_none());
    });
}

/// Found by the fuzzer (seed 7): trader 1, short 640 SOL puts, 7 futures and long 4 SOL 150
/// calls, SOL down ~80 %. The keeper took the puts and futures; the account was left insolvent
/// with 4 calls worth nothing. Taking them changed no health (worth 0, no requirement), so the
/// step was refused, and the account could not be resolved while it held them: stuck for
/// ever. Closing the last position of an insolvent account is now allowed, and resolves it.
#[test]
fn regression_worthless_options_do_not_block_an_insolvent_account() {
    let ops = [
        Op::MovePrice {
            market: 0,
            bps: -3_784,
        },
        Op::MovePrice {
            market: 0,
            bps: -780,
        },
        Op::Trade {
            taker: 2,
            maker: 1,
            series: 2,
            contracts: -4,
            fill: Fill::InBand(7_538),
            by_delegate: false,
        },
        Op::Trade {
            taker: 3,
            maker: 1,
            series: 3,
            contracts: 640,
            fill: Fill::InBand(346),
            by_delegate: false,
        },
        Op::Trade {
            taker: 0,
            maker: 1,
            series: 1,
            contracts: 7,
            fill: Fill::InBand(4_507),
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: -5_318,
        },
        Op::MovePrice {
            market: 0,
            bps: -3_167,
        },
        Op::MovePrice {
            market: 0,
            bps: 536,
        },
        Op::Keeper,
        Op::Keeper,
        Op::Keeper,
        Op::Keeper,
    ];
    let stats = Stats::default();
    runtime().block_on(async {
        let mut fuzz = play(&ops, &stats).await.unwrap();
        let account = fuzz.w.margin_account(fuzz.account(1)).await;
        assert_eq!(account.open_positions().count(), 0);
        assert_eq!(account.quote_balance(), 0, "resolved");
        assert!(fuzz.keeper_step().await.is_none());
    });
}

/// Found by the long run (seed 11, the batch from sequence 240; its 140-operation minimal
/// sequence is replayed here with the batch): trader 0 held long calls, long puts and long
/// futures; below maintenance, every single step and every pair taken whole was refused
/// (`LiquidationDidNotImproveHealth`): a pair, like a single leg, took everything when nothing
/// reached the end level. A pair now takes the size after which health is highest.
#[test]
fn regression_a_three_leg_book_is_reduced_by_part_of_a_pair() {
    let stats = Stats::default();
    run_batch(11, 240, 8, 600, 0, &stats).unwrap();
}

/// Found by the long run (seeds 13 and 14: the batches from sequences 96 and 64, replayed
/// here): insolvent accounts holding three or four SOL legs (perp, future, call, put) that
/// hedged one another so that no single step and no pair of any size raised health; not
/// bankrupt while they held positions, nothing could be done. An insolvent account's positions
/// are now closed out whole at its own valuation, without a fee, each step only required not
/// to lower its equity.
#[test]
fn regression_an_insolvent_multi_leg_book_is_closed_out() {
    let stats = Stats::default();
    run_batch(13, 96, 8, 600, 0, &stats).unwrap();
    run_batch(14, 64, 8, 600, 0, &stats).unwrap();
}

/// Found by the long run on the fee cap's commit (seed 63, batch 672, the first 37
/// operations of the shrunk sequence): a keeper step whose fee took exactly the equity trader 0
/// had left (the fee is capped at the target's equity) left it at equity 0 with five legs
/// hedging one another (BTC perp, SOL perp, future, call, put): not insolvent (< 0), so no
/// close-out, and every single step and pair lowered its health or was no pair. An account
/// with no equity (≤ 0) is now closed out like an insolvent one (`liquidation::is_insolvent`).
#[test]
fn regression_an_account_left_at_zero_equity_is_closed_out() {
    let ops = [
        Op::MovePrice {
            market: 0,
            bps: 384,
        },
        Op::MovePrice {
            market: 0,
            bps: -5723,
        },
        Op::MovePrice {
            market: 0,
            bps: 637,
        },
        Op::Trade {
            taker: 3,
            maker: 0,
            series: 4,
            contracts: 4,
            fill: Fill::InBand(5277),
            by_delegate: false,
        },
        Op::Trade {
            taker: 0,
            maker: 3,
            series: 3,
            contracts: -73,
            fill: Fill::InBand(6809),
            by_delegate: false,
        },
        Op::Trade {
            taker: 3,
            maker: 0,
            series: 2,
            contracts: -60,
            fill: Fill::InBand(467),
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: -3889,
        },
        Op::Trade {
            taker: 2,
            maker: 0,
            series: 0,
            contracts: -84,
            fill: Fill::InBand(6312),
            by_delegate: false,
        },
        Op::Trade {
            taker: 0,
            maker: 1,
            series: 1,
            contracts: -908,
            fill: Fill::InBand(6871),
            by_delegate: false,
        },
        Op::WithdrawMost { trader: 0 },
        Op::MovePrice {
            market: 1,
            bps: 413,
        },
        Op::MovePrice {
            market: 0,
            bps: 1291,
        },
        Op::MovePrice {
            market: 1,
            bps: 396,
        },
        Op::MovePrice {
            market: 1,
            bps: 1821,
        },
        Op::MovePrice {
            market: 1,
            bps: 446,
        },
        Op::Keeper,
        Op::Keeper,
        Op::Trade {
            taker: 0,
            maker: 2,
            series: 1,
            contracts: 587,
            fill: Fill::InBand(4839),
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: 5509,
        },
        Op::MovePrice {
            market: 1,
            bps: 474,
        },
        Op::MovePrice {
            market: 1,
            bps: -695,
        },
        Op::MovePrice {
            market: 1,
            bps: -4943,
        },
        Op::MovePrice {
            market: 0,
            bps: 374,
        },
        Op::HaltFeed { market: 0 },
        Op::MovePrice {
            market: 0,
            bps: -2188,
        },
        Op::Trade {
            taker: 3,
            maker: 0,
            series: 4,
            contracts: -4,
            fill: Fill::InBand(6832),
            by_delegate: false,
        },
        Op::Trade {
            taker: 0,
            maker: 1,
            series: 1,
            contracts: -545,
            fill: Fill::InBand(6316),
            by_delegate: false,
        },
        Op::MovePrice {
            market: 0,
            bps: -666,
        },
        Op::MovePrice {
            market: 0,
            bps: 4567,
        },
        Op::Trade {
            taker: 1,
            maker: 2,
            series: 4,
            contracts: -77,
            fill: Fill::InBand(5257),
            by_delegate: false,
        },
        Op::Deposit {
            trader: 3,
            asset: 1,
            amount: 28707000000,
        },
        Op::Trade {
            taker: 1,
            maker: 0,
            series: 4,
            contracts: 68,
            fill: Fill::Beyond {
                above: true,
                bps: 853,
            },
            by_delegate: false,
        },
        Op::Trade {
            taker: 1,
            maker: 2,
            series: 1,
            contracts: -9,
            fill: Fill::InBand(938),
            by_delegate: false,
        },
        Op::Trade {
            taker: 1,
            maker: 3,
            series: 0,
            contracts: 1410,
            fill: Fill::InBand(5750),
            by_delegate: false,
        },
        Op::Advance {
            secs: 20913,
            to_expiry: false,
            republish: true,
        },
        Op::FundInsurance {
            amount: 18020000000,
        },
        Op::Keeper,
    ];
    let stats = Stats::default();
    runtime().block_on(async {
        let mut fuzz = play(&ops[..36], &stats).await.unwrap();
        let address = fuzz.account(0);
        // The step leaves trader 0 with its five legs, no equity and below maintenance; the
        // liveness check after it (a close-out succeeds) is what failed before.
        fuzz.step(&ops[36]).await.unwrap();
        let held = fuzz.held(address).await;
        assert_eq!(held.len(), 5);
        let seen = fuzz.as_step_sees(address, &held).await.unwrap();
        assert_eq!(seen.equity, 0);
        assert!(seen.maint_health < 0, "{}", seen.maint_health);
        // Keeper steps close it out and nothing is left to liquidate.
        while let Some((liquidator, _, ixs)) = fuzz.keeper_step().await {
            fuzz.as_trader(liquidator, &ixs).await.result.unwrap();
        }
        let held = fuzz.held(address).await;
        let flagged = fuzz.w.margin_account(address).await.being_liquidated != 0;
        let seen = fuzz.as_step_sees(address, &held).await.unwrap();
        assert!(held.len() < 5 && !seen.is_liquidatable(flagged), "{held:?}");
        fuzz.after_step().await.unwrap();
    });
}
