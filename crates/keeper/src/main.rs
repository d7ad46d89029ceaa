//! `xmargin-keeper`: runs keeper passes against a cluster.
//!
//! xmargin-keeper [--url URL] [--keypair PATH] [--liquidator-account ADDRESS]
//!                [--interval SECS] [--once]
use std::process::ExitCode;
use std::str::FromStr;

use anchor_lang::prelude::Pubkey;
use solana_signer::Signer;
use xmargin_client::config::{read_keypair, Args, CliConfig};
use xmargin_client::{ClientError, ClientResult, RpcChain};
use xmargin_keeper::Keeper;

async fn run() -> ClientResult<()> {
    let args = Args::parse(std::env::args().skip(1), &["once"])?;
    args.only(&[
        "url",
        "keypair",
        "liquidator-account",
        "interval",
        "once",
        "config",
    ])?;
    let config = CliConfig::load(args.option("config").map(std::path::Path::new))?;
    let chain = RpcChain::new(&config.url(args.option("url")));
    let signer = read_keypair(&config.keypair_path(args.option("keypair")))?;
    let liquidator_account = match args.option("liquidator-account") {
        Some(address) => Pubkey::from_str(address)
            .map_err(|_| ClientError::Input(format!("not an address: {address}")))?,
        None => xmargin_client::pda::margin_account(&signer.pubkey(), 0),
    };
    let interval = args.number::<u64>("interval", 10)?;
    let mut keeper = Keeper::new(
        &chain,
        signer,
        liquidator_account,
        Box::new(|line| eprintln!("{line}")),
    );
    loop {
        if let Err(error) = keeper.run_pass().await {
            eprintln!("keeper event=pass_failed error=\"{error}\"");
        }
        eprintln!("keeper event=counters {}", keeper.counters);
        if args.flag("once") {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
