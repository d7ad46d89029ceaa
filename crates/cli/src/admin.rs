//! Role hand-over for operators (docs/security.md, "Actors"):
//!
//! xmargin admin propose --role admin|risk-authority --key ADDRESS [--dry-run [--signer ADDRESS]]
//! xmargin admin accept  --role admin|risk-authority [--dry-run [--signer ADDRESS]]
//!
//! `--dry-run` signs and sends nothing: it prints the instruction as JSON (program, accounts
//! with their signer and writable flags, data in base64) for a multisig or a governance
//! program to wrap; `--signer` names the role's key when it is not the wallet's.
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use solana_keypair::Keypair;
use xmargin::state::Role;
use xmargin_client::config::Args;
use xmargin_client::instructions as ix;
use xmargin_client::{Chain, ClientError, ClientResult};

use crate::trader::address;

pub const USAGE: &str = "usage: xmargin admin <propose --key ADDRESS | accept> \
     --role admin|risk-authority [--dry-run [--signer ADDRESS]]";

pub const OPTIONS: &[&str] = &[
    "url", "keypair", "config", "role", "key", "signer", "dry-run",
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

/// The instruction of `action` (`propose` or `accept`), signed by `signer`.
pub fn instruction(action: &str, args: &Args, signer: Pubkey) -> ClientResult<Instruction> {
    let role = role(args)?;
    match action {
        "propose" => {
            let key = args
                .option("key")
                .ok_or_else(|| ClientError::Input("missing --key".into()))?;
            Ok(ix::propose_role(signer, role, address(key)?))
        }
        "accept" => Ok(ix::accept_role(signer, role)),
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
