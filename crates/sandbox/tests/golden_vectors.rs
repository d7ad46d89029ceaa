//! Golden vectors for the TypeScript SDK (app/sdk/test/golden/vectors.json): addresses, the
//! instructions the Rust SDK builds for fixed inputs (margin-checked ones from the dashboard's
//! example snapshot, so both SDKs compose remaining accounts from the same state), compute
//! budgets, and fields of the example's accounts as the Rust decoders read them. The TypeScript
//! tests build the same from the same inputs and compare byte for byte.
//!
//! The committed file must equal what this test produces; `XMARGIN_BLESS=1` rewrites it.
use std::path::PathBuf;

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use serde_json::{json, Value};
use xmargin::instructions::{
    AddMarketParams, ClearTradeParams, LiquidateCollateralParams, LiquidatePositionParams,
    RiskChange,
};
use xmargin::state::{MarginAccount, OracleKind, QUOTE_ASSET};
use xmargin_client::budget::{estimate_units, CheckShape, TradeSide, Work};
use xmargin_client::instructions::{self as ix, Liquidation, TradeSides};
use xmargin_client::pda;
use xmargin_client::snapshot::Snapshot;
use xmargin_client::Protocol;
use xmargin_sandbox::params;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reducing(shape: CheckShape) -> TradeSide {
    TradeSide {
        shape,
        reduces: true,
    }
}

fn key(seed: u8) -> Pubkey {
    Pubkey::new_from_array([seed; 32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn metas(accounts: &[AccountMeta]) -> Value {
    accounts
        .iter()
        .map(|m| json!({ "address": m.pubkey.to_string(), "writable": m.is_writable, "signer": m.is_signer }))
        .collect()
}

fn instruction(ix: &Instruction) -> Value {
    json!({ "program": ix.program_id.to_string(), "accounts": metas(&ix.accounts), "data": hex(&ix.data) })
}

fn case(name: &str, inputs: Value, ixs: &[Instruction]) -> Value {
    json!({ "name": name, "inputs": inputs, "instructions": ixs.iter().map(instruction).collect::<Vec<_>>() })
}

fn example() -> (Protocol, Pubkey, MarginAccount) {
    let path = root().join("app/dashboard/public/example.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard's example snapshot");
    let snapshot = Snapshot::from_json(&text).expect("a snapshot");
    let (protocol, account) = snapshot.open().expect("opens");
    let address: Pubkey = snapshot.margin_account.parse().expect("an address");
    (protocol, address, account)
}

fn decoded(protocol: &Protocol, account: &MarginAccount) -> Value {
    let markets: Vec<Value> = (0..protocol.market_count())
        .map(|i| {
            let m = protocol.market(i).expect("market");
            json!({
                "index": m.index,
                "oracle": m.oracle.to_string(),
                "risk_cache": m.risk_cache.to_string(),
                "contract_size": m.contract_size.to_string(),
                "series_count": m.series_count,
                "risk_generation": m.risk_generation.to_string(),
                "series_kinds": m.series[..m.series_count as usize].iter().map(|s| s.kind).collect::<Vec<_>>(),
                "grid_constants_0": m.grid_constants[0].to_string(),
            })
        })
        .collect();
    let registry = &protocol.registry;
    let assets: Vec<Value> = registry.assets[..registry.asset_count as usize]
        .iter()
        .map(|a| json!({ "mint": a.mint.to_string(), "oracle": a.oracle.to_string(), "decimals": a.decimals, "deposited": a.deposited.to_string() }))
        .collect();
    json!({
        "margin_account": {
            "owner": account.owner.to_string(),
            "id": account.id,
            "collateral": account.collateral.iter().filter(|b| b.in_use != 0)
                .map(|b| json!({ "asset": b.asset, "amount": b.amount.to_string() })).collect::<Vec<_>>(),
            "positions": account.open_positions()
                .map(|p| json!({ "market": p.market, "series": p.series, "size": p.size.to_string(), "cost_basis": p.cost_basis.to_string() }))
                .collect::<Vec<_>>(),
        },
        "markets": markets,
        "registry": { "asset_count": registry.asset_count, "assets": assets },
        "clearinghouse": {
            "quote_mint": protocol.clearinghouse.quote_mint.to_string(),
            "market_count": protocol.clearinghouse.market_count,
            "taker_fee_bps": protocol.clearinghouse.taker_fee_bps,
        },
    })
}

fn vectors() -> Value {
    let (protocol, address, account) = example();
    let owner = account.owner;
    let mint = protocol.mint_of(1).expect("asset 1");
    let markets: Vec<String> = (0..4u8).map(|i| pda::market(i).to_string()).collect();
    let margin_accounts: Vec<Value> = [0u16, 7, 513]
        .iter()
        .map(|id| json!({ "owner": owner.to_string(), "id": id, "address": pda::margin_account(&owner, *id).to_string() }))
        .collect();
    let pdas = json!({
        "clearinghouse": pda::clearinghouse().to_string(),
        "registry": pda::registry().to_string(),
        "insurance_vault": pda::insurance_vault().to_string(),
        "markets": markets,
        "vaults": [{ "mint": mint.to_string(), "vault": pda::vault(&mint).to_string() }],
        "margin_accounts": margin_accounts,
    });

    let mut cases = Vec::new();
    cases.push(case(
        "deposit",
        json!({ "depositor": key(1).to_string(), "margin_account": address.to_string(), "source": key(3).to_string(), "asset": 1, "amount": "5000000" }),
        &[ix::deposit(key(1), address, mint, key(3), 1, 5_000_000)],
    ));
    let withdraw = protocol
        .withdraw_ixs(owner, (address, &account), key(3), QUOTE_ASSET, 1_000_000)
        .expect("withdraw composes");
    cases.push(case(
        "withdraw_ixs",
        json!({ "owner": owner.to_string(), "margin_account": address.to_string(), "destination": key(3).to_string(), "asset": 0, "amount": "1000000" }),
        &withdraw,
    ));
    let sides = TradeSides {
        taker: owner,
        taker_account: address,
        maker: key(4),
        maker_account: key(5),
    };
    let trade = ClearTradeParams {
        series: 1,
        size: -3,
        price: 1_250_000,
    };
    let clear = protocol
        .clear_trade_ixs(sides, (&account, &account), 2, trade)
        .expect("trade composes");
    cases.push(case(
        "clear_trade_ixs",
        json!({ "taker": owner.to_string(), "taker_account": address.to_string(), "maker": key(4).to_string(),
                "maker_account": key(5).to_string(), "market": 2, "series": 1, "size": "-3", "price": "1250000" }),
        &clear,
    ));
    cases.push(case(
        "create_margin_account",
        json!({ "owner": key(1).to_string(), "id": 7, "mode": 1, "isolated_market": 2 }),
        &[ix::create_margin_account(key(1), 7, 1, 2)],
    ));

    // Every other builder, for the generic check (arguments decoded back by the IDL coder).
    let who = Liquidation {
        liquidator: key(6),
        liquidator_account: key(7),
        target_account: address,
        quote_mint: protocol.quote_mint(),
    };
    let risk = protocol
        .risk_accounts(&Protocol::needs(&[&account], None), Some(0))
        .expect("risk accounts");
    let market0 = protocol.market(0).expect("market 0");
    let generic = vec![
        ix::initialize(key(1), params::initialize_params(key(2), key(3))),
        ix::add_collateral_asset(
            key(1),
            key(8),
            Some(key(9)),
            params::volatile_collateral(9, 1_000, 2_000),
        ),
        ix::add_collateral_asset(key(1), key(8), None, params::quote_params()),
        ix::add_market(
            key(1),
            3,
            key(9),
            AddMarketParams {
                oracle_kind: OracleKind::PythPull,
                feed_id: [7; 32],
                contract_size: 1_000,
                contract_decimals: 3,
                surface: market0.surface,
                risk: market0.risk,
            },
        ),
        ix::update_vol_surface(key(2), 0, market0.surface),
        ix::update_market_risk(key(2), 0, params::underlying_risk(1, 60)),
        ix::set_pause(key(1), 3, 3_600),
        ix::queue_change(
            key(2),
            5,
            RiskChange::MarketRisk {
                market: 0,
                risk: params::underlying_risk(1, 60),
            },
        ),
        ix::execute_change(
            5,
            key(2),
            &RiskChange::VolSurface {
                market: 1,
                surface: market0.surface,
            },
        ),
        ix::execute_change(6, key(1), &RiskChange::Timelock { secs: 7_200 }),
        ix::cancel_change(key(1), 6, key(2)),
        ix::withdraw_fees(key(1), key(3), key(4), 77),
        ix::create_insurance_fund(key(1), key(3)),
        ix::withdraw_insurance(key(1), key(3), 42),
        ix::create_risk_cache(key(1), 0, key(10)),
        ix::close_margin_account(key(1), address),
        ix::set_delegate(key(1), address, key(2)),
        ix::fund_insurance(key(1), key(3), 9),
        ix::liquidate_position(
            who,
            0,
            LiquidatePositionParams {
                series: 2,
                max_quantity: 17,
                paired_series: Some(0),
                paired_market: Some(1),
            },
            &risk,
        ),
        ix::liquidate_collateral(
            who,
            LiquidateCollateralParams {
                asset: 1,
                max_amount: 5,
            },
            &risk,
        ),
        ix::resolve_bankruptcy(address, 1, protocol.quote_mint(), &[]),
        ix::settle_expired_series(1, market0.oracle, 3),
        ix::settle_position(1, address, 3),
        ix::crank_funding(0, market0.oracle, 0),
        ix::refresh_risk_cache(0, market0.oracle, key(10), 1, 6),
    ];

    let shapes = [
        CheckShape::default(),
        CheckShape {
            underlyings: 3,
            linear: 4,
            cached_options: 0,
            live_options: 6,
        },
        CheckShape {
            underlyings: 8,
            linear: 8,
            cached_options: 24,
            live_options: 0,
        },
        CheckShape {
            underlyings: 8,
            linear: 0,
            cached_options: 0,
            live_options: 32,
        },
    ];
    let budgets: Vec<Value> = shapes
        .iter()
        .map(|s| json!({
            "shape": { "underlyings": s.underlyings, "linear": s.linear, "cached_options": s.cached_options, "live_options": s.live_options },
            "deposit": estimate_units(Work::Deposit),
            "withdraw": estimate_units(Work::Withdraw(*s)),
            "clear_trade": estimate_units(Work::ClearTrade((*s).into(), CheckShape::default().into())),
            "clear_trade_both_reducing": estimate_units(Work::ClearTrade(reducing(*s), reducing(*s))),
        }))
        .collect();

    json!({
        "program": xmargin::ID.to_string(),
        "pdas": pdas,
        "cases": cases,
        "generic": generic.iter().map(instruction).collect::<Vec<_>>(),
        "budgets": budgets,
        "decoded": decoded(&protocol, &account),
    })
}

#[test]
fn golden_vectors_are_committed() {
    let mut text = serde_json::to_string_pretty(&vectors()).expect("json");
    text.push('\n');
    let path = root().join("app/sdk/test/golden/vectors.json");
    if std::env::var_os("XMARGIN_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write vectors");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is out of date with the Rust SDK: rerun with XMARGIN_BLESS=1 and run `npm test` in app/",
        path.display()
    );
}
