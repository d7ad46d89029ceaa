//! `xmargin`: the in-process demo and trader commands.
//!
//! xmargin demo [--export-example PATH]
//! xmargin account create [--id N]
//! xmargin deposit  --asset N --amount NATIVE --source TOKEN_ACCOUNT [--account ADDRESS]
//! xmargin withdraw --asset N --amount NATIVE --destination TOKEN_ACCOUNT [--account ADDRESS]
//! xmargin trade    --market M --series S --size N --price NATIVE --maker-keypair PATH
//!                  [--maker-account ADDRESS] [--account ADDRESS]
//! xmargin show     [--account ADDRESS]
//! xmargin what-if  --market M --series S --size N --price NATIVE [--account ADDRESS]
//! xmargin admin    propose --role R --key ADDRESS | accept --role R | propose --change FILE
//!                  | execute --id N | cancel --id N | pause --flags F --secs S
//!                  | withdraw-fees --amount A --treasury ADDRESS  [--dry-run [--signer ADDRESS]]
//!                  (crates/cli/src/admin.rs)
//! common: --url URL --keypair PATH --config PATH --output table|json
use std::process::ExitCode;

use solana_signer::Signer;
use xmargin_cli::admin;
use xmargin_cli::trader::{address, cluster_url, open_wallet, Session, OPTIONS};
use xmargin_client::config::Args;
use xmargin_client::{ClientError, ClientResult, RpcChain};

const USAGE: &str = "usage: xmargin <demo | account create | deposit | withdraw | trade | show | what-if | admin> [options]";

async fn run() -> ClientResult<String> {
    let args = Args::parse(std::env::args().skip(1), admin::FLAGS)?;
    let mut words = args.words.iter().map(String::as_str);
    match words.next() {
        Some("admin") => {
            args.only(admin::OPTIONS)?;
            let action = words.next().unwrap_or_default();
            if args.flag("dry-run") {
                let signer = match args.option("signer") {
                    Some(text) => address(text)?,
                    None => open_wallet(&args)?.1.pubkey(),
                };
                let chain = RpcChain::new(&cluster_url(&args)?);
                let ix = admin::instruction(action, &args, signer, &chain).await?;
                return Ok(xmargin_client::instructions::to_json(&ix));
            }
            let (url, wallet) = open_wallet(&args)?;
            let chain = RpcChain::new(&url);
            let ix = admin::instruction(action, &args, wallet.pubkey(), &chain).await?;
            admin::send(&chain, &wallet, action, ix).await
        }
        Some("demo") => {
            args.only(&["export-example"])?;
            let example = args.option("export-example").map(std::path::Path::new);
            xmargin_cli::demo::run_exporting(example)
                .await
                .map(|_| String::new())
        }
        Some(command) => {
            let command = match (command, words.next()) {
                ("account", Some("create")) => "account",
                ("account", _) => {
                    return Err(ClientError::Input(
                        "usage: xmargin account create [--id N]".into(),
                    ))
                }
                (other, _) => other,
            };
            args.only(OPTIONS)?;
            let json = match args.option("output") {
                None | Some("table") => false,
                Some("json") => true,
                Some(other) => {
                    return Err(ClientError::Input(format!(
                        "--output: table or json, not {other}"
                    )))
                }
            };
            let (url, wallet) = open_wallet(&args)?;
            let session = Session {
                chain: RpcChain::new(&url),
                wallet,
                json,
            };
            session.run(command, &args).await
        }
        None => Err(ClientError::Input(USAGE.into())),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(output) => {
            if !output.is_empty() {
                println!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}", error.to_string().lines().next().unwrap_or(""));
            ExitCode::FAILURE
        }
    }
}
