//! `xmargin demo`: the real Solana runtime in-process with the program loaded, a listed
//! exchange, a story with several traders, a price shock worked out by the keeper (the same code
//! as `xmargin-keeper`), the insurance fund, and expiry settlement.
use std::path::Path;
use std::time::Instant;

use solana_signer::Signer;
use xmargin::state::SeriesKind;
use xmargin_client::instructions as ix;
use xmargin_client::preview::AccountSummary;
use xmargin_client::snapshot::{example_json, Snapshot};
use xmargin_client::{ClientError, ClientResult, Protocol};
use xmargin_keeper::{Counters, Keeper};
use xmargin_sandbox::exchange::{Exchange, Trader, BTC, ETH, SOL};
use xmargin_sandbox::params::USDC;

use crate::table::{percent, render, usd};

/// What the demo ends with (the test checks it).
#[derive(Debug)]
pub struct DemoOutcome {
    pub counters: Counters,
    pub insurance_before: u64,
    pub insurance_after: u64,
    /// Cross maintenance vs isolated requirement of the hedged book.
    pub hedged_cross: i64,
    pub hedged_isolated: i64,
    pub leveraged_positions_left: usize,
    pub open_positions_after_expiry: usize,
}

struct Story {
    exchange: Exchange,
    started: Instant,
    step: usize,
}

const STEPS: usize = 7;

impl Story {
    fn progress(&mut self, what: &str) {
        self.step += 1;
        crate::say!(
            "\n[{}/{STEPS}] {what}  ({:.1} s)",
            self.step,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn series(&self, k: usize, kind: SeriesKind, percent_of_spot: u64) -> u8 {
        let u = &self.exchange.underlyings[k];
        let strike = if matches!(kind, SeriesKind::Call | SeriesKind::Put) {
            u.strike_at(percent_of_spot)
        } else {
            0
        };
        u.series_of(kind, strike).unwrap_or(0)
    }

    /// `taker` buys `size` of the series from `maker` at the engine's mark (rounded to a cent).
    async fn trade_at_mark(
        &self,
        (taker, maker): (&Trader, &Trader),
        k: usize,
        series: u8,
        size: i64,
    ) -> ClientResult<()> {
        let mark = self.exchange.mark_price(k, series).await?;
        self.exchange
            .trade((taker, maker), k, series, size, mark)
            .await
            .map(|_| ())
    }

    async fn summaries(&self, traders: &[&Trader]) -> ClientResult<Vec<AccountSummary>> {
        let protocol = self.exchange.protocol().await?;
        let mut out = Vec::new();
        for trader in traders {
            let account = self.exchange.margin_account(&trader.account).await?;
            out.push(protocol.summary(&account)?);
        }
        Ok(out)
    }

    async fn print_accounts(&self, traders: &[&Trader]) -> ClientResult<Vec<AccountSummary>> {
        let summaries = self.summaries(traders).await?;
        let rows: Vec<Vec<String>> = traders
            .iter()
            .zip(&summaries)
            .map(|(t, s)| {
                let savings = if s.isolated > 0 {
                    percent(10_000 - (s.maintenance as i128 * 10_000 / s.isolated as i128) as i64)
                } else {
                    "-".into()
                };
                vec![
                    t.name.clone(),
                    usd(s.equity),
                    usd(s.initial),
                    usd(s.maintenance),
                    usd(s.isolated),
                    savings,
                    usd(s.maint_health),
                    percent(s.distance_to_liquidation_bps),
                ]
            })
            .collect();
        crate::say!(
            "{}",
            render(
                &[
                    "account",
                    "equity",
                    "initial",
                    "maintenance",
                    "isolated",
                    "saved",
                    "health",
                    "to liq."
                ],
                &rows
            )
        );
        Ok(summaries)
    }

    async fn insurance(&self) -> ClientResult<u64> {
        self.exchange
            .sandbox
            .token_balance(xmargin_client::pda::insurance_vault())
            .await
    }

    async fn print_positions(&self, trader: &Trader) -> ClientResult<()> {
        let account = self.exchange.margin_account(&trader.account).await?;
        let protocol = self.exchange.protocol().await?;
        let rows: Vec<Vec<String>> = account
            .open_positions()
            .map(|p| {
                let u = &self.exchange.underlyings[p.market as usize];
                let mark = protocol.mark(p.market, p.series).unwrap_or(0);
                let cents = mark / 10_000;
                vec![
                    u.series_name(p.series),
                    p.size.to_string(),
                    format!("${}.{:02}", cents / 100, cents % 100),
                ]
            })
            .collect();
        crate::say!(" {}:", trader.name);
        crate::say!("{}", render(&["series", "size", "mark"], &rows));
        Ok(())
    }
}

async fn keeper_pass(
    story: &Story,
    liquidator: &Trader,
    counters: &mut Counters,
) -> ClientResult<()> {
    let chain = &story.exchange.sandbox.chain;
    let mut keeper = Keeper::new(
        chain,
        liquidator.key.insecure_clone(),
        liquidator.account,
        Box::new(|line| {
            // Settlements and funding are counted below; liquidations are shown one by one.
            if !line.contains("action=settle") && !line.contains("action=crank") {
                crate::say!("   {line}")
            }
        }),
    );
    keeper.counters = counters.clone();
    keeper.run_pass().await?;
    *counters = keeper.counters.clone();
    Ok(())
}

/// Names ordered by their index.
fn by_index<'a>(named: impl Iterator<Item = (u8, &'a str)>) -> Vec<String> {
    let mut named: Vec<(u8, &str)> = named.collect();
    named.sort();
    named
        .into_iter()
        .map(|(_, name)| name.to_string())
        .collect()
}

pub async fn run() -> ClientResult<DemoOutcome> {
    run_exporting(None).await
}

/// The demo; with `example`, also writes the hedged book after its trades as a snapshot file
/// (every account its margin check reads, and the figures computed from them): the dashboard's
/// bundled example.
pub async fn run_exporting(example: Option<&Path>) -> ClientResult<DemoOutcome> {
    if std::env::var_os("RUST_LOG").is_none() {
        // The runtime logs every instruction at debug level unless told otherwise.
        std::env::set_var("RUST_LOG", "error");
    }
    let _quiet = crate::console::Quiet::start();
    let started = Instant::now();
    crate::say!("xmargin demo: cross-margined perps, futures and options on the real Solana runtime (in-process)");
    let mut story = Story {
        exchange: Exchange::open().await?,
        started,
        step: 0,
    };
    story.progress(
        "listed USDC (quote), SOL, BTC, ETH: collateral, perps, 30-day futures, calls and puts",
    );
    {
        let e = &story.exchange;
        let rows: Vec<Vec<String>> = e
            .underlyings
            .iter()
            .map(|u| {
                let names: Vec<String> = u.series.iter().map(|s| u.series_name(s.index)).collect();
                vec![
                    u.symbol.to_string(),
                    usd(u.price / 100),
                    if u.pull_feed.is_some() {
                        "pull (PriceUpdateV2)"
                    } else {
                        "legacy"
                    }
                    .to_string(),
                    names.join(" "),
                ]
            })
            .collect();
        crate::say!(
            "{}",
            render(&["underlying", "price", "pyth", "series"], &rows)
        );
    }

    story.progress("traders deposit collateral and trade against a market maker");
    let e = &story.exchange;
    let maker = e
        .trader(
            "market maker",
            &[
                (0, 20_000_000 * USDC),
                (1, 10_000 * 1_000_000_000),
                (2, 100 * 100_000_000),
            ],
        )
        .await?;
    let hedger = e.trader("hedged book", &[(0, 60_000 * USDC)]).await?;
    let leveraged = e.trader("leveraged", &[(0, 4_000 * USDC)]).await?;
    let overextended = e.trader("overextended", &[(0, 12_000 * USDC)]).await?;
    let liquidator = e.trader("keeper", &[(0, 200_000 * USDC)]).await?;
    let funder = e.trader("insurance funder", &[]).await?;
    e.sandbox
        .mint_to(e.assets[0].mint, funder.tokens[0], 3_000 * USDC)
        .await?;
    e.sandbox
        .send(
            &[ix::fund_insurance(
                funder.key.pubkey(),
                funder.tokens[0],
                3_000 * USDC,
            )],
            &[&funder.key],
        )
        .await?;

    // The hedged book: a SOL collar, an ETH iron butterfly, a BTC/ETH pair.
    let (perp, fut, call, put) = (
        SeriesKind::Perpetual,
        SeriesKind::Future,
        SeriesKind::Call,
        SeriesKind::Put,
    );
    let book: [(usize, u8, i64); 10] = [
        (SOL, story.series(SOL, perp, 0), 200),
        (SOL, story.series(SOL, put, 100), 200),
        (SOL, story.series(SOL, call, 110), -200),
        (ETH, story.series(ETH, put, 90), 100),
        (ETH, story.series(ETH, put, 100), -100),
        (ETH, story.series(ETH, call, 100), -100),
        (ETH, story.series(ETH, call, 110), 100),
        (BTC, story.series(BTC, perp, 0), 30),
        (ETH, story.series(ETH, perp, 0), -100),
        (BTC, story.series(BTC, fut, 0), -10),
    ];
    for (k, series, size) in book {
        story
            .trade_at_mark((&hedger, &maker), k, series, size)
            .await?;
    }
    // The leveraged trader: 100 SOL perps on $4,000.
    story
        .trade_at_mark((&leveraged, &maker), SOL, story.series(SOL, perp, 0), 100)
        .await?;
    // Overextended: 250 SOL perps on $12,000.
    story
        .trade_at_mark(
            (&overextended, &maker),
            SOL,
            story.series(SOL, perp, 0),
            250,
        )
        .await?;
    story.print_positions(&hedger).await?;
    let before = story
        .print_accounts(&[&hedger, &leveraged, &overextended, &maker])
        .await?;
    let (hedged_cross, hedged_isolated) = (before[0].maintenance, before[0].isolated);
    if let Some(path) = example {
        let e = &story.exchange;
        let mut snapshot = Snapshot::take(&e.sandbox.chain, &hedger.account).await?;
        snapshot.labels.markets = by_index(e.underlyings.iter().map(|u| (u.market, u.symbol)));
        snapshot.labels.assets = by_index(e.assets.iter().map(|a| (a.index, a.symbol)));
        std::fs::write(path, example_json(&snapshot)?)
            .map_err(|e| ClientError::Input(format!("writing {}: {e}", path.display())))?;
        crate::say!(" wrote the hedged book's snapshot to {}", path.display());
    }
    crate::say!(
        " the hedged book needs {} of maintenance margin as a portfolio; margined leg by leg it would need {}",
        usd(hedged_cross),
        usd(hedged_isolated)
    );

    story.progress("SOL falls 30% ($150 -> $105), ETH 10%, BTC 5%");
    let insurance_before = story.insurance().await?;
    story.exchange.advance(30).await?;
    story.exchange.set_price(SOL, 105).await?;
    story.exchange.set_price(ETH, 2_700).await?;
    story.exchange.set_price(BTC, 95_000).await?;
    story
        .print_accounts(&[&hedger, &leveraged, &overextended, &maker])
        .await?;

    story.progress("the keeper scans every account and liquidates in steps");
    let mut counters = Counters::default();
    keeper_pass(&story, &liquidator, &mut counters).await?;
    story.progress("after liquidation: the insurance fund absorbed the shortfall");
    story
        .print_accounts(&[&hedger, &leveraged, &overextended, &liquidator])
        .await?;
    let insurance_after = story.insurance().await?;
    crate::say!(
        " insurance fund: {} -> {}; keeper: {}",
        usd(insurance_before as i64),
        usd(insurance_after as i64),
        counters
    );
    let leveraged_positions_left = story
        .exchange
        .margin_account(&leveraged.account)
        .await?
        .open_positions()
        .count();

    story.progress(
        "30 days later: futures and options expire; the keeper proposes settlement prices, final an hour later, then settles them",
    );
    story.exchange.advance(30 * 86_400 + 60).await?;
    keeper_pass(&story, &liquidator, &mut counters).await?;
    story
        .exchange
        .advance(xmargin::state::SETTLEMENT_WINDOW_SECS)
        .await?;
    keeper_pass(&story, &liquidator, &mut counters).await?;
    story
        .print_accounts(&[&hedger, &maker, &liquidator])
        .await?;
    let mut open_after_expiry = 0;
    for trader in [&hedger, &maker, &liquidator] {
        let account = story.exchange.margin_account(&trader.account).await?;
        let protocol: Protocol = story.exchange.protocol().await?;
        open_after_expiry += account
            .open_positions()
            .filter(|p| {
                protocol
                    .market(p.market)
                    .ok()
                    .and_then(|m| m.series(p.series).ok().map(|s| s.kind))
                    != Some(SeriesKind::Perpetual as u8)
            })
            .count();
    }

    story.progress("done");
    crate::say!(" keeper counters: {counters}");
    crate::say!(" open dated positions after expiry: {open_after_expiry}");
    crate::say!(" total {:.1} s", story.started.elapsed().as_secs_f64());
    Ok(DemoOutcome {
        counters,
        insurance_before,
        insurance_after,
        hedged_cross,
        hedged_isolated,
        leveraged_positions_left,
        open_positions_after_expiry: open_after_expiry,
    })
}
