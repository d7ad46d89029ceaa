//! Compute units of every instruction class on the worst-case listing, with and without the
//! option risk cache, and the budgets they must stay within.
//!
//! Natively the runtime does not meter the program: the scenario still runs end to end and every
//! step must succeed, but figures and budgets apply in SBF mode only (`SBF_OUT_DIR` holding
//! `xmargin.so`, see scripts/cu-table.sh). With `XMARGIN_CU_TABLE=<path>` the table is written
//! there as Markdown (docs/compute-units.md). Run on a `heap-report` build, it asserts the heap
//! budget instead and writes each row's heap to `XMARGIN_HEAP_FIGURES`, from where the CU run
//! takes the table's heap column.
mod common;

use std::fmt::Write as _;

use anchor_lang::solana_program::instruction::Instruction;
use common::loaded_accounts;
use common::world::*;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// Budgets (SBF build, cached option risk): the targets of the compute-unit issue for the
/// worst-case margin check (8 collateral, 32 positions on 8 underlyings) and its liquidation,
/// and 4,000 per added position both as Mango v4's test_health_compute asserts it (the average
/// increment) and for every position added on an underlying already held. The first position
/// on a new underlying (its market, oracle, cache, scenarios and netting: 6,870-7,690, over
/// 4,000) has a regression ceiling a few percent above the measured figures
/// (docs/compute-units.md). The average allows 4,100: the calendar-spread charge's tenor
/// buckets, the futures' basis shock and the expiry valuation took it from 3,614 to ~4,040
/// (issue 21).
const MARGIN_CHECK_BUDGET: u64 = 200_000;
const LIQUIDATION_BUDGET: u64 = 250_000;
/// A pair step across two markets re-margins both underlyings per trial (measured ~275,000 on
/// the worst-case account).
const PAIR_LIQUIDATION_BUDGET: u64 = 300_000;
const HELD_UNDERLYING_POSITION_BUDGET: u64 = 4_000;
const NEW_UNDERLYING_POSITION_BUDGET: u64 = 8_200;
const AVERAGE_POSITION_BUDGET: u64 = 4_100;
/// Heap an instruction may use (a `heap-report` build, see scripts/cu-table.sh), inside the
/// runtime's default 32 KB frame, which no transaction enlarges: 28 KB, cached or live, so at
/// least 4 KB of the frame stays free. The worst, a liquidation of the worst-case account,
/// took 24.6 KB until each exposure carried its tenor buckets for the calendar-spread charge
/// (eight exposures, ~300 bytes each; docs/compute-units.md).
const HEAP_BUDGET: u64 = 28 * 1024;
/// Margin checks at these position counts go into the table.
const REPORTED_COUNTS: [usize; 5] = [1, 4, 8, 16, 32];

fn sbf_mode() -> bool {
    ["SBF_OUT_DIR", "BPF_OUT_DIR"].iter().any(|var| {
        std::env::var_os(var)
            .map(|dir| std::path::Path::new(&dir).join("xmargin.so").exists())
            .unwrap_or(false)
    })
}

/// The program's own consumption (CPIs included) summed over its top-level invocations.
fn program_units(logs: &[String]) -> u64 {
    let prefix = format!("Program {} consumed ", xmargin::ID);
    logs.iter()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The heap the program reported (`heap used: N`, builds with the `heap-report` feature), the
/// largest over its invocations.
fn reported_heap(logs: &[String]) -> Option<u64> {
    let prefix = format!("Program log: {}", xmargin::heap::REPORT_PREFIX);
    logs.iter()
        .filter_map(|line| line.strip_prefix(&prefix)?.trim().parse::<u64>().ok())
        .max()
}

/// Figures from a `heap-report` run (`XMARGIN_HEAP_FIGURES`, written by such a run): label,
/// tab, bytes, one row per line.
fn heap_figures(path: &std::ffi::OsStr) -> Vec<(String, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .lines()
        .filter_map(|line| {
            let (label, bytes) = line.split_once('\t')?;
            Some((label.to_string(), bytes.parse().ok()?))
        })
        .collect()
}

struct Row {
    label: String,
    units: u64,
    accounts: usize,
    heap: Option<u64>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    async fn measure(
        &mut self,
        w: &mut World,
        label: &str,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> u64 {
        let logs = w.h.send_for_logs(ixs, signers).await.unwrap_or_else(|e| {
            panic!("{label}: {e:?}");
        });
        let units = program_units(&logs);
        let accounts = loaded_accounts(ixs, w.h.payer().pubkey());
        assert!(accounts <= 64, "{label}: {accounts} accounts");
        self.rows.push(Row {
            label: label.to_string(),
            units,
            accounts,
            heap: reported_heap(&logs),
        });
        units
    }

    /// Whether the program reported its heap use (a `heap-report` build).
    fn reports_heap(&self) -> bool {
        self.rows.iter().any(|row| row.heap.is_some())
    }

    /// The heap column from a `heap-report` run of the same scenario.
    fn take_heap(&mut self, figures: &[(String, u64)]) {
        for row in &mut self.rows {
            row.heap = figures
                .iter()
                .find(|(label, _)| *label == row.label)
                .map(|(_, bytes)| *bytes);
        }
    }

    fn markdown(&self, per_position: &[(usize, u64, u64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Compute units\n\nGenerated by `bash scripts/cu-table.sh` (SBF build of programs/xmargin, \
             executed by solana-program-test's SBF VM; tests/compute_units.rs). CU is the program's \
             own consumption including its CPIs; accounts are all the transaction loads (fee payer \
             and programs included, limit 64). Built with the upstream LLVM route (scripts/sbf): \
             figures are indicative of, not identical to, a platform-tools build.\n\n\
             \"cached\": the markets' option risk caches are fresh (refresh_risk_cache ran within the \
             window) and passed; \"live\": the caches are passed (a check reading a cached market's \
             options must pass them) but every oracle sits just outside their spot windows, so \
             every option's bounds are computed in the check.\n\n\
             Heap: bytes the instruction allocated (the default bump allocator never frees: its \
             peak), from a second build with the `heap-report` feature running the same \
             scenario; every instruction runs in the runtime's default 32 KB heap frame, no \
             transaction requests a larger one.\n"
        );
        let _ = writeln!(
            out,
            "| operation | CU | accounts | heap |\n|---|---:|---:|---:|"
        );
        for row in &self.rows {
            let heap = row.heap.map_or("-".to_string(), |bytes| bytes.to_string());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {heap} |",
                row.label, row.units, row.accounts
            );
        }
        let _ = writeln!(
            out,
            "\n## Margin check (withdraw) by position count\n\nThe worst-case listing's 32 series \
             in market order (SOL, BTC, then six more; each market a perp or future, a call and \
             a put, 8 collateral assets held throughout). Increment: CU added by that position, \
             measured like Mango v4's test_health_compute.\n"
        );
        let _ = writeln!(
            out,
            "| positions | cached CU | increment | live CU | increment |\n|---:|---:|---:|---:|---:|"
        );
        let mut previous = (0u64, 0u64);
        for (count, cached, live) in per_position {
            let (dc, dl) = if *count == 1 {
                ("-".to_string(), "-".to_string())
            } else {
                (
                    (*cached as i64 - previous.0 as i64).to_string(),
                    (*live as i64 - previous.1 as i64).to_string(),
                )
            };
            let _ = writeln!(out, "| {count} | {cached} | {dc} | {live} | {dl} |");
            previous = (*cached, *live);
        }
        if let (Some(first), Some(last)) = (per_position.first(), per_position.last()) {
            let (cached, live) = average_increments(per_position);
            let _ = writeln!(
                out,
                "\nAverage increment, what Mango v4's test asserts (CU with {} positions less CU \
                 with {}, over the positions added): cached {cached}, live {live}.",
                last.0, first.0,
            );
        }
        out
    }
}

/// The CU a position adds on average from the first row to the last, (cached, live): Mango v4's
/// measure (its test asserts the mean of the increments).
fn average_increments(per_position: &[(usize, u64, u64)]) -> (u64, u64) {
    match (per_position.first(), per_position.last()) {
        (Some(first), Some(last)) if last.0 > first.0 => {
            let added = (last.0 - first.0) as u64;
            ((last.1 - first.1) / added, (last.2 - first.2) / added)
        }
        _ => (0, 0),
    }
}

impl Table {
    /// `measure` with every oracle just outside the risk caches' windows: the caches are passed
    /// (a check must pass them) but hold nothing, so every option's bounds are computed in the
    /// check. Prices go back afterwards, where the caches hold again.
    async fn measure_live(
        &mut self,
        w: &mut World,
        label: &str,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> u64 {
        let prices = w.leave_cache_windows().await;
        let units = self.measure(w, label, instructions, signers).await;
        w.restore_prices(prices).await;
        units
    }
}

#[tokio::test]
async fn compute_units_of_every_instruction_class() {
    let sbf = sbf_mode();
    let mut table = Table::default();
    let mut w = World::worst_case_listing().await;
    let markets: Vec<u8> = [SOL_MARKET, BTC_MARKET]
        .into_iter()
        .chain(w.extra_markets.clone())
        .collect();
    for market in &markets {
        w.enable_risk_cache(*market).await;
    }
    let refresh = w.refresh_risk_cache_ix(SOL_MARKET, 0, 4);
    table
        .measure(
            &mut w,
            "refresh_risk_cache (4 series: 2 options)",
            &[refresh],
            &[],
        )
        .await;
    w.refresh_risk_caches().await;

    let taker = w.trader(0, 0).await;
    let maker = w.funded_trader(10_000_000 * USDC).await;
    let key = taker.key.insecure_clone();
    w.h.mint_to(w.usdc_mint, taker.usdc, 1_000_000 * USDC).await;
    let deposit = w.deposit_ix(&key, taker.account, taker.usdc, QUOTE, 1_000_000 * USDC);
    table
        .measure(&mut w, "deposit (quote asset)", &[deposit], &[&key])
        .await;
    for (index, mint) in w.extra_mints.clone() {
        let source = w.h.create_token_account(mint, key.pubkey()).await;
        w.h.mint_to(mint, source, USDC / 100).await;
        let mut ix = w.deposit_ix(&key, taker.account, source, index, USDC / 100);
        ix.accounts[4].pubkey = vault_address(mint);
        w.h.send(&[ix], &[&key]).await.unwrap();
    }
    w.h.mint_to(w.sol_mint, taker.sol, SOL_LAMPORTS / 10).await;
    let ix = w.deposit_ix(&key, taker.account, taker.sol, SOL_ASSET, SOL_LAMPORTS / 10);
    w.h.send(&[ix], &[&key]).await.unwrap();

    // 32 positions, one series at a time; a withdrawal re-margins the book after each.
    let series = w.all_series().await;
    assert_eq!(series.len(), 32);
    let mut per_position = Vec::new();
    for (k, (market, index)) in series.iter().copied().enumerate() {
        let size = if k % 2 == 0 { 3 } else { -2 };
        let price = match (market, index) {
            (SOL_MARKET, 0 | 1) => 150 * USDC,
            (BTC_MARKET, 0 | 1) => 1_000 * USDC,
            (_, 0 | 1) => 50 * USDC,
            _ => w.mark(market, index).await,
        };
        let trade = w.trade_ix(&taker, &maker, market, index, size, price);
        let signers = [&key, &maker.key.insecure_clone()];
        if k == 0 || k == 2 {
            let label = if k == 0 {
                "clear_trade (perp, both accounts flat before)"
            } else {
                "clear_trade (option, taker holding 2 positions)"
            };
            table.measure(&mut w, label, &[trade], &signers).await;
        } else {
            w.h.send(&[trade], &signers).await.unwrap();
        }
        let count = k + 1;
        let withdraw = w.withdraw_ix(&key, taker.account, taker.usdc, QUOTE, 1);
        let cached = table
            .measure(
                &mut w,
                &format!("withdraw, {count} positions (cached)"),
                std::slice::from_ref(&withdraw),
                &[&key],
            )
            .await;
        let live = table
            .measure_live(
                &mut w,
                &format!("withdraw, {count} positions (live)"),
                &[withdraw],
                &[&key],
            )
            .await;
        per_position.push((count, cached, live));
        if !REPORTED_COUNTS.contains(&count) {
            table.rows.truncate(table.rows.len() - 2);
        }
    }

    // The worst-case trade: both sides hold the 32 positions (the maker the opposite of each)
    // and both reduce, so each is margined before and after the fill: four checks.
    let (sol_perp, sol_perp_price) = (series[0], 150 * USDC);
    let maker_key = maker.key.insecure_clone();
    for (label, cached) in [
        (
            "clear_trade, both sides holding 32 positions and reducing (cached)",
            true,
        ),
        (
            "clear_trade, both sides holding 32 positions and reducing (live)",
            false,
        ),
    ] {
        let trade = w.trade_ix(&taker, &maker, sol_perp.0, sol_perp.1, -1, sol_perp_price);
        if cached {
            table
                .measure(&mut w, label, &[trade], &[&key, &maker_key])
                .await;
        } else {
            table
                .measure_live(&mut w, label, &[trade], &[&key, &maker_key])
                .await;
        }
    }
    let restore = w.trade_ix(&taker, &maker, sol_perp.0, sol_perp.1, 2, sol_perp_price);
    w.h.send(&[restore], &[&key, &maker_key]).await.unwrap();

    // Eight positions on eight underlyings (one call each) against the 8 on two above.
    let spread = w.funded_trader(100_000 * USDC).await;
    let spread_key = spread.key.insecure_clone();
    for market in &markets {
        let call = if *market == SOL_MARKET {
            SOL_CALL_150
        } else {
            2
        };
        let mark = w.mark(*market, call).await;
        let trade = w.trade_ix(&spread, &maker, *market, call, 1, mark);
        w.h.send(&[trade], &[&spread_key, &maker.key.insecure_clone()])
            .await
            .unwrap();
    }
    let withdraw = w.withdraw_ix(&spread_key, spread.account, spread.usdc, QUOTE, 1);
    table
        .measure(
            &mut w,
            "withdraw, 8 options on 8 underlyings (cached)",
            std::slice::from_ref(&withdraw),
            &[&spread_key],
        )
        .await;
    table
        .measure_live(
            &mut w,
            "withdraw, 8 options on 8 underlyings (live)",
            &[withdraw],
            &[&spread_key],
        )
        .await;

    let funding = w.crank_funding_ix(SOL_MARKET, SOL_PERP);
    table
        .measure(&mut w, "crank_funding (one perp)", &[funding], &[])
        .await;

    // Liquidation of the worst-case account: withdraw quote down to the initial margin, then
    // the risk authority triples every market's price range.
    let mut amount = 1_000_000 * USDC;
    while amount >= USDC {
        let ix = w.withdraw_ix(&key, taker.account, taker.usdc, QUOTE, amount);
        if w.h.send(&[ix], &[&key]).await.is_err() {
            amount /= 2;
        }
    }
    assert!(w.margin_account(taker.account).await.quote_balance() > 0);
    for market in &markets {
        let mut risk = w.market(*market).await.risk;
        risk.grid.price_range *= 3;
        risk.grid.extended_down = risk.grid.extended_down.max(risk.grid.price_range);
        risk.grid.extended_up = risk.grid.extended_up.max(risk.grid.price_range);
        w.set_market_risk(*market, risk).await;
    }
    w.refresh_risk_caches().await;
    let keeper = w.funded_trader(10_000_000 * USDC).await;
    let keeper_key = keeper.key.insecure_clone();
    let liquidate = w.liquidate_ix(&keeper, taker.account, SOL_MARKET, SOL_PERP, 1);
    let liquidation = table
        .measure(
            &mut w,
            "liquidate_position, worst-case account (cached)",
            &[liquidate],
            &[&keeper_key],
        )
        .await;
    let liquidate = w.liquidate_ix(&keeper, taker.account, SOL_MARKET, SOL_PERP, 1);
    table
        .measure_live(
            &mut w,
            "liquidate_position, worst-case account (live)",
            &[liquidate],
            &[&keeper_key],
        )
        .await;
    // A pair across two markets: two exposures re-margined per trial, the second market
    // written. The first SOL/BTC pair of the book that hedges and raises health.
    let mut pair = None;
    'search: for first in 0..4 {
        for second in 0..4 {
            let ix = w.liquidate_legs_ix(
                &keeper,
                taker.account,
                (SOL_MARKET, first),
                Some((BTC_MARKET, second)),
                1,
            );
            if w.h
                .simulate(std::slice::from_ref(&ix), &[&keeper_key])
                .await
                .unwrap()
                .is_ok()
            {
                pair = Some(ix);
                break 'search;
            }
        }
    }
    let pair = pair.expect("a SOL/BTC pair of the worst-case book can be liquidated");
    let pair_step = table
        .measure(
            &mut w,
            "liquidate_position, worst-case account, pair across two markets (cached)",
            &[pair],
            &[&keeper_key],
        )
        .await;

    // Expiry: a settlement price for the SOL future is proposed, final a window later, then
    // one position settles.
    let now = w.h.clock().await.unix_timestamp;
    w.h.advance(w.expiry - now + 1).await;
    w.refresh_oracles().await;
    let settle = settle_series_ix(&w, SOL_MARKET, SOL_FUTURE);
    table
        .measure(&mut w, "settle_expired_series (proposal)", &[settle], &[])
        .await;
    w.h.advance(xmargin::state::SETTLEMENT_WINDOW_SECS).await;
    w.refresh_oracles().await;
    let settle = settle_series_ix(&w, SOL_MARKET, SOL_FUTURE);
    table
        .measure(&mut w, "settle_expired_series (final)", &[settle], &[])
        .await;
    let position = settle_position_ix(SOL_MARKET, SOL_FUTURE, taker.account);
    table
        .measure(&mut w, "settle_position", &[position], &[])
        .await;
    // The books balance once both sides of the future are settled.
    let other_side = settle_position_ix(SOL_MARKET, SOL_FUTURE, maker.account);
    w.h.send(&[other_side], &[]).await.unwrap();
    w.assert_books_reconcile().await;

    if !sbf {
        println!("native mode: the program is not metered; no figures or budgets");
        return;
    }
    let (_, worst_cached, _) = per_position[31];
    // (increment, whether the position opened a new underlying), from the second position on.
    let increments: Vec<(u64, bool)> = per_position
        .windows(2)
        .zip(series.windows(2))
        .map(|(pair, keys)| (pair[1].1.saturating_sub(pair[0].1), keys[1].0 != keys[0].0))
        .collect();
    let (average, _) = average_increments(&per_position);
    let heap_path = std::env::var_os("XMARGIN_HEAP_FIGURES");
    if table.reports_heap() {
        // A `heap-report` build: its CU include the report's logging, its heap is the figure.
        let mut figures = String::new();
        let mut over = Vec::new();
        for row in &table.rows {
            let heap = row.heap.unwrap_or(0);
            println!("{}: heap {heap} (CU {})", row.label, row.units);
            let _ = writeln!(figures, "{}\t{heap}", row.label);
            if heap > HEAP_BUDGET {
                over.push(format!("{}: {heap} > {HEAP_BUDGET}", row.label));
            }
        }
        if let Some(path) = heap_path {
            std::fs::write(path, figures).unwrap();
        }
        assert!(over.is_empty(), "heap over budget: {over:?}");
        return;
    }
    if let Some(path) = heap_path {
        table.take_heap(&heap_figures(&path));
    }
    let markdown = table.markdown(&per_position);
    println!("{markdown}");
    println!("average increment per position (cached): {average}");
    if let Some(path) = std::env::var_os("XMARGIN_CU_TABLE") {
        std::fs::write(path, &markdown).unwrap();
    }
    assert!(
        worst_cached <= MARGIN_CHECK_BUDGET,
        "worst-case margin check {worst_cached} > {MARGIN_CHECK_BUDGET}"
    );
    assert!(
        liquidation <= LIQUIDATION_BUDGET,
        "worst-case liquidation {liquidation} > {LIQUIDATION_BUDGET}"
    );
    assert!(
        pair_step <= PAIR_LIQUIDATION_BUDGET,
        "worst-case pair step {pair_step} > {PAIR_LIQUIDATION_BUDGET}"
    );
    assert!(
        average <= AVERAGE_POSITION_BUDGET,
        "average per added position {average} > {AVERAGE_POSITION_BUDGET} ({increments:?})"
    );
    for (k, (increment, new_underlying)) in increments.iter().enumerate() {
        let budget = if *new_underlying {
            NEW_UNDERLYING_POSITION_BUDGET
        } else {
            HELD_UNDERLYING_POSITION_BUDGET
        };
        assert!(
            *increment <= budget,
            "position {} added {increment} CU > {budget} (new underlying: {new_underlying})",
            k + 2
        );
    }
}
