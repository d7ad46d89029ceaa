//! Trader commands against a cluster: account create, deposit, withdraw, trade (co-signed),
//! show, what-if. Human tables by default, `--output json` for scripts.
use std::path::Path;
use std::str::FromStr;

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use xmargin::instructions::ClearTradeParams;
use xmargin::state::MODE_CROSS;
use xmargin_client::config::{read_keypair, Args, CliConfig};
use xmargin_client::instructions::{self as ix, TradeSides};
use xmargin_client::preview::AccountSummary;
use xmargin_client::{compose, Chain, ClientError, ClientResult, Protocol};

use crate::table::{percent, render, usd};

pub const OPTIONS: &[&str] = &[
    "url",
    "keypair",
    "config",
    "output",
    "account",
    "id",
    "asset",
    "amount",
    "source",
    "destination",
    "market",
    "series",
    "size",
    "price",
    "maker-keypair",
    "maker-account",
];

/// What every trader command works with.
pub struct Session<C: Chain> {
    pub chain: C,
    pub wallet: Keypair,
    pub json: bool,
}

pub fn address(text: &str) -> ClientResult<Pubkey> {
    Pubkey::from_str(text).map_err(|_| ClientError::Input(format!("not an address: {text}")))
}

fn required<'a>(args: &'a Args, name: &str) -> ClientResult<&'a str> {
    args.option(name)
        .ok_or_else(|| ClientError::Input(format!("missing --{name}")))
}

fn number<T: FromStr>(args: &Args, name: &str) -> ClientResult<T> {
    let text = required(args, name)?;
    text.parse()
        .map_err(|_| ClientError::Input(format!("--{name}: not a number: {text}")))
}

/// The wallet and cluster from flags and the Solana CLI config.
/// The cluster's URL (`--url`, else the config's), without opening a wallet.
pub fn cluster_url(args: &Args) -> ClientResult<String> {
    let config = CliConfig::load(args.option("config").map(Path::new))?;
    Ok(config.url(args.option("url")))
}

pub fn open_wallet(args: &Args) -> ClientResult<(String, Keypair)> {
    let config = CliConfig::load(args.option("config").map(Path::new))?;
    let wallet = read_keypair(&config.keypair_path(args.option("keypair")))?;
    Ok((config.url(args.option("url")), wallet))
}

/// The margin account the command acts on: `--account`, else the wallet's account `--id` (0).
fn account_address<C: Chain>(s: &Session<C>, args: &Args) -> ClientResult<Pubkey> {
    match args.option("account") {
        Some(text) => address(text),
        None => Ok(xmargin_client::pda::margin_account(
            &s.wallet.pubkey(),
            args.number("id", 0u16)?,
        )),
    }
}

pub fn summary_json(address: &Pubkey, s: &AccountSummary) -> String {
    let lines: Vec<String> = s
        .underlyings
        .iter()
        .map(|u| {
            format!(
                "{{\"market\":{},\"positions\":{},\"net_delta\":{},\"worst_loss\":{},\"worst_move_bps\":{},\"worst_vol\":\"{}\"}}",
                u.market,
                u.positions,
                u.net_delta,
                u.worst_loss,
                u.worst_move_bps,
                u.worst_vol.map_or("none".to_string(), |v| format!("{v:?}").to_lowercase())
            )
        })
        .collect();
    format!(
        "{{\"account\":\"{address}\",\"collateral\":{},\"unrealized_pnl\":{},\"equity\":{},\"initial\":{},\"maintenance\":{},\"free_collateral\":{},\"maint_health\":{},\"distance_to_liquidation_bps\":{},\"isolated\":{},\"underlyings\":[{}]}}",
        s.collateral,
        s.unrealized_pnl,
        s.equity,
        s.initial,
        s.maintenance,
        s.free_collateral,
        s.maint_health,
        s.distance_to_liquidation_bps,
        s.isolated,
        lines.join(",")
    )
}

pub fn summary_table(address: &Pubkey, s: &AccountSummary) -> String {
    let mut out = format!("margin account {address}\n");
    let rows = vec![
        vec!["collateral (after haircuts)".to_string(), usd(s.collateral)],
        vec!["unrealized PnL".to_string(), usd(s.unrealized_pnl)],
        vec!["equity".to_string(), usd(s.equity)],
        vec!["initial requirement".to_string(), usd(s.initial)],
        vec!["maintenance requirement".to_string(), usd(s.maintenance)],
        vec!["isolated (leg by leg)".to_string(), usd(s.isolated)],
        vec!["free collateral".to_string(), usd(s.free_collateral)],
        vec![
            "distance to liquidation".to_string(),
            format!(
                "{} ({})",
                usd(s.maint_health),
                percent(s.distance_to_liquidation_bps)
            ),
        ],
    ];
    out.push_str(&render(&["", "amount"], &rows));
    if !s.underlyings.is_empty() {
        let rows: Vec<Vec<String>> = s
            .underlyings
            .iter()
            .map(|u| {
                vec![
                    format!("market {}", u.market),
                    u.positions.to_string(),
                    usd(u.net_delta),
                    usd(u.worst_loss),
                    format!(
                        "{} / vol {}",
                        percent(u.worst_move_bps),
                        u.worst_vol
                            .map_or("-".to_string(), |v| format!("{v:?}").to_lowercase())
                    ),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&render(
            &[
                "underlying",
                "positions",
                "net delta",
                "worst loss",
                "worst scenario",
            ],
            &rows,
        ));
    }
    out
}

impl<C: Chain> Session<C> {
    fn done(&self, what: &str, signature: impl std::fmt::Display) -> String {
        if self.json {
            format!("{{\"ok\":true,\"action\":\"{what}\",\"signature\":\"{signature}\"}}")
        } else {
            format!("{what}: confirmed {signature}")
        }
    }

    pub async fn run(&self, command: &str, args: &Args) -> ClientResult<String> {
        match command {
            "account" => {
                let id = args.number("id", 0u16)?;
                let create = ix::create_margin_account(self.wallet.pubkey(), id, MODE_CROSS, 0);
                let sent = self.chain.send(&[create], &self.wallet, &[]).await?;
                let address = xmargin_client::pda::margin_account(&self.wallet.pubkey(), id);
                Ok(self.done(&format!("account create {address}"), sent.signature))
            }
            "deposit" => {
                let protocol = Protocol::fetch(&self.chain).await?;
                let asset: u8 = number(args, "asset")?;
                let amount: u64 = number(args, "amount")?;
                let source = address(required(args, "source")?)?;
                let deposit = ix::deposit(
                    self.wallet.pubkey(),
                    account_address(self, args)?,
                    protocol.mint_of(asset)?,
                    source,
                    asset,
                    amount,
                );
                let sent = self.chain.send(&[deposit], &self.wallet, &[]).await?;
                Ok(self.done("deposit", sent.signature))
            }
            "withdraw" => {
                let protocol = Protocol::fetch(&self.chain).await?;
                let address_ = account_address(self, args)?;
                let account = compose::margin_account(&self.chain, &address_).await?;
                let asset: u8 = number(args, "asset")?;
                let amount: u64 = number(args, "amount")?;
                let largest = protocol.largest_withdrawal(&account, asset)?;
                if amount > largest {
                    return Err(ClientError::Input(format!(
                        "insufficient collateral: at most {largest} of asset {asset} can be withdrawn now"
                    )));
                }
                let destination = address(required(args, "destination")?)?;
                let ixs = protocol.withdraw_ixs(
                    self.wallet.pubkey(),
                    (address_, &account),
                    destination,
                    asset,
                    amount,
                )?;
                let sent = self.chain.send(&ixs, &self.wallet, &[]).await?;
                Ok(self.done("withdraw", sent.signature))
            }
            "trade" => {
                let protocol = Protocol::fetch(&self.chain).await?;
                let taker_address = account_address(self, args)?;
                let maker_key = read_keypair(Path::new(required(args, "maker-keypair")?))?;
                let maker_address = match args.option("maker-account") {
                    Some(text) => address(text)?,
                    None => xmargin_client::pda::margin_account(&maker_key.pubkey(), 0),
                };
                let taker = compose::margin_account(&self.chain, &taker_address).await?;
                let maker = compose::margin_account(&self.chain, &maker_address).await?;
                let market: u8 = number(args, "market")?;
                let params = trade_params(args)?;
                let band = protocol.fill_band(market, params.series)?;
                if !band.contains(params.price) {
                    return Err(ClientError::Input(format!(
                        "price {} is outside the fill band [{}, {}]",
                        params.price, band.low, band.high
                    )));
                }
                let ixs = protocol.clear_trade_ixs(
                    TradeSides {
                        taker: self.wallet.pubkey(),
                        taker_account: taker_address,
                        maker: maker_key.pubkey(),
                        maker_account: maker_address,
                    },
                    (&taker, &maker),
                    market,
                    params,
                )?;
                let sent = self.chain.send(&ixs, &self.wallet, &[&maker_key]).await?;
                Ok(self.done("trade", sent.signature))
            }
            "show" | "what-if" => {
                let protocol = Protocol::fetch(&self.chain).await?;
                let address_ = account_address(self, args)?;
                let account = compose::margin_account(&self.chain, &address_).await?;
                let summary = if command == "show" {
                    protocol.summary(&account)?
                } else {
                    let market: u8 = number(args, "market")?;
                    protocol.what_if_trade(&account, market, trade_params(args)?, true)?
                };
                Ok(if self.json {
                    summary_json(&address_, &summary)
                } else {
                    summary_table(&address_, &summary)
                })
            }
            other => Err(ClientError::Input(format!("unknown command: {other}"))),
        }
    }
}

fn trade_params(args: &Args) -> ClientResult<ClearTradeParams> {
    Ok(ClearTradeParams {
        series: number(args, "series")?,
        size: number(args, "size")?,
        price: number(args, "price")?,
    })
}
