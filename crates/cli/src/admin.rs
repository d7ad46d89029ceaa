//! Administration for operators (docs/security.md, "Roles and bounds"):
//!
//! xmargin admin propose --role admin|risk-authority --key ADDRESS   hand a role over (step 1)
//! xmargin admin accept  --role admin|risk-authority                 take it (step 2)
//! xmargin admin propose --change FILE   queue a change larger than a step (JSON `RiskChange`)
//! xmargin admin execute --id N          apply queued change N once its delay has passed
//! xmargin admin cancel  --id N          withdraw queued change N
//! xmargin admin pause   --flags deposit,withdraw,trade,liquidate|none --secs S
//! xmargin admin withdraw-fees --amount A --treasury ADDRESS
//!
//! Each takes `--dry-run [--signer ADDRESS]`: it signs and sends nothing and prints the
//! instruction as JSON (program, accounts with their signer and writable flags, data in base64)
//! for a multisig or a governance program to wrap; `--signer` names the role's key when it is not
//! the wallet's. `--change` files hold a `RiskChange` in serde's JSON form (fixed-point fields as
//! I32F32 bits, as in the IDL), e.g. `{"Timelock": {"secs": 172800}}`; `propose`, `execute` and
//! `cancel` read the clearinghouse or the queued change from the cluster.
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use solana_keypair::Keypair;
use xmargin::instructions::RiskChange;
use xmargin::state::{Role, PAUSE_DEPOSIT, PAUSE_LIQUIDATE, PAUSE_TRADE, PAUSE_WITHDRAW};
use xmargin_client::config::Args;
use xmargin_client::instructions as ix;
use xmargin_client::{accounts, pda, Chain, ClientError, ClientResult};

use crate::trader::address;

pub const USAGE: &str = "usage: xmargin admin <propose (--role R --key ADDRESS | --change FILE) \
     | accept --role R | execute --id N | cancel --id N | pause --flags F --secs S \
     | withdraw-fees --amount A --treasury ADDRESS> [--dry-run [--signer ADDRESS]] \
     (R: admin or risk-authority)";

pub const OPTIONS: &[&str] = &[
    "url", "keypair", "config", "role", "key", "signer", "dry-run", "change", "id", "flags",
    "secs", "amount", "treasury",
];

/// Options that take no value.
pub const FLAGS: &[&str] = &["dry-run"];

fn role(args: &Args) -> ClientResult<Role> {
    match args.option("role") {
        Some("admin") => Ok(Role::Admin),
        Some("risk-authority") => Ok(Role::RiskAuthority),
        Some(other) => Err(ClientError::Input(format!(
            "--role: admin or risk-authority, not {other}"
        ))),
        None => Err(ClientError::Input("missing --role".into())),
    }
}

fn required<'a>(args: &'a Args, name: &str) -> ClientResult<&'a str> {
    args.option(name)
        .ok_or_else(|| ClientError::Input(format!("missing --{name}")))
}

fn number<T: std::str::FromStr>(args: &Args, name: &str) -> ClientResult<T> {
    required(args, name)?
        .parse()
        .map_err(|_| ClientError::Input(format!("--{name}: not a number")))
}

/// `--flags` as pause bits: a comma-separated list of actions, or `none`.
pub fn pause_flags(text: &str) -> ClientResult<u8> {
    if text == "none" {
        return Ok(0);
    }
    text.split(',').try_fold(0u8, |flags, action| {
        let bit = match action.trim() {
            "deposit" => PAUSE_DEPOSIT,
            "withdraw" => PAUSE_WITHDRAW,
            "trade" => PAUSE_TRADE,
            "liquidate" => PAUSE_LIQUIDATE,
            other => {
                return Err(ClientError::Input(format!(
                    "--flags: deposit, withdraw, trade, liquidate or none, not {other}"
                )))
            }
        };
        Ok(flags | bit)
    })
}

/// A `RiskChange` from its JSON text.
pub fn parse_change(text: &str) -> ClientResult<RiskChange> {
    serde_json::from_str(text).map_err(|e| ClientError::Input(format!("--change: {e}")))
}

async fn changes_queued<C: Chain>(chain: &C) -> ClientResult<u64> {
    let address = pda::clearinghouse();
    let account = chain
        .account(&address)
        .await?
        .ok_or_else(|| ClientError::WrongAccount("the clearinghouse is not initialized".into()))?;
    Ok(accounts::clearinghouse(&address, &account)?.changes_queued)
}

async fn pending_change<C: Chain>(
    chain: &C,
    id: u64,
) -> ClientResult<xmargin::instructions::PendingChange> {
    let address = pda::pending_change(id);
    let account = chain
        .account(&address)
        .await?
        .ok_or_else(|| ClientError::WrongAccount(format!("no queued change {id}")))?;
    accounts::pending_change(&address, &account)
}

/// The instruction of `action`, signed by `signer`; the cluster is read for `propose
/// --change`, `execute` and `cancel`.
pub async fn instruction<C: Chain>(
    action: &str,
    args: &Args,
    signer: Pubkey,
    chain: &C,
) -> ClientResult<Instruction> {
    match action {
        "propose" => match args.option("change") {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ClientError::Input(format!("--change {path}: {e}")))?;
                let change = parse_change(&text)?;
                Ok(ix::queue_change(
                    signer,
                    changes_queued(chain).await?,
                    change,
                ))
            }
            None => Ok(ix::propose_role(
                signer,
                role(args)?,
                address(required(args, "key")?)?,
            )),
        },
        "accept" => Ok(ix::accept_role(signer, role(args)?)),
        "execute" => {
            let id = number(args, "id")?;
            let pending = pending_change(chain, id).await?;
            Ok(ix::execute_change(id, pending.proposer, &pending.change))
        }
        "cancel" => {
            let id = number(args, "id")?;
            let pending = pending_change(chain, id).await?;
            Ok(ix::cancel_change(signer, id, pending.proposer))
        }
        "pause" => {
            let flags = pause_flags(required(args, "flags")?)?;
            let secs = if flags == 0 { 0 } else { number(args, "secs")? };
            Ok(ix::set_pause(signer, flags, secs))
        }
        "withdraw-fees" => {
            let quote_mint = {
                let address = pda::clearinghouse();
                let account = chain.account(&address).await?.ok_or_else(|| {
                    ClientError::WrongAccount("the clearinghouse is not initialized".into())
                })?;
                accounts::clearinghouse(&address, &account)?.quote_mint
            };
            let amount = number(args, "amount")?;
            let treasury = address(required(args, "treasury")?)?;
            Ok(ix::withdraw_fees(signer, quote_mint, treasury, amount))
        }
        _ => Err(ClientError::Input(USAGE.into())),
    }
}

/// Signs `ix` with `wallet`, sends it and says so.
pub async fn send<C: Chain>(
    chain: &C,
    wallet: &Keypair,
    action: &str,
    ix: Instruction,
) -> ClientResult<String> {
    let sent = chain.send(&[ix], wallet, &[]).await?;
    Ok(format!("admin {action}: confirmed {}", sent.signature))
}
