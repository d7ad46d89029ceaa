//! Trader commands through the same code the binary runs, on the in-process runtime (no RPC
//! node here), and the binary's refusals of bad input.
use std::process::Command;

use anchor_lang::prelude::Pubkey;

use solana_signer::Signer;
use xmargin_cli::trader::Session;
use xmargin_client::config::Args;
use xmargin_client::BanksChain;
use xmargin_sandbox::exchange::{Exchange, SOL};
use xmargin_sandbox::params::USDC;

fn args(words: &[&str]) -> Args {
    Args::parse(words.iter().map(|w| w.to_string()), &[]).unwrap()
}

fn json_number(json: &serde_json::Value, key: &str) -> i64 {
    json[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} in {json}"))
}

#[tokio::test]
async fn show_what_if_and_withdraw_agree_with_the_program() {
    let e = Exchange::open().await.unwrap();
    let maker = e.trader("maker", &[(0, 1_000_000 * USDC)]).await.unwrap();
    let trader = e.trader("trader", &[(0, 20_000 * USDC)]).await.unwrap();
    let perp = e.underlyings[SOL].series[0].index;
    e.trade((&trader, &maker), SOL, perp, 50, 150 * USDC)
        .await
        .unwrap();
    let session = Session {
        chain: BanksChain::new(e.sandbox.ctx.banks_client.clone()),
        wallet: trader.key.insecure_clone(),
        json: true,
    };

    let shown: serde_json::Value = serde_json::from_str(
        &session
            .run("show", &args(&["--output", "json"]))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shown["account"], trader.account.to_string());
    let maintenance = json_number(&shown, "maintenance");
    assert!(maintenance > 0 && json_number(&shown, "initial") > maintenance);
    assert_eq!(shown["underlyings"][0]["market"], 0);

    // Buying 50 more doubles the net delta and raises the requirement.
    let what_if = args(&[
        "--market",
        "0",
        "--series",
        "0",
        "--size",
        "50",
        "--price",
        "150000000",
    ]);
    let after: serde_json::Value =
        serde_json::from_str(&session.run("what-if", &what_if).await.unwrap()).unwrap();
    assert!(json_number(&after, "maintenance") > maintenance);
    let delta = |v: &serde_json::Value| v["underlyings"][0]["net_delta"].as_i64().unwrap();
    assert!(
        (delta(&after) - 2 * delta(&shown)).abs() <= 2,
        "{after} vs {shown}"
    );

    // Withdrawing more than the preview allows is refused before anything is sent; the most it
    // allows goes through.
    let protocol = e.protocol().await.unwrap();
    let account = e.margin_account(&trader.account).await.unwrap();
    let largest = protocol.largest_withdrawal(&account, 0).unwrap();
    let destination = trader.tokens[0].to_string();
    let withdraw = |amount: u64| {
        let amount = amount.to_string();
        args(&[
            "--asset",
            "0",
            "--amount",
            &amount,
            "--destination",
            &destination,
        ])
    };
    let refused = session
        .run("withdraw", &withdraw(largest + 1))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.starts_with("insufficient collateral"), "{refused}");
    session.run("withdraw", &withdraw(largest)).await.unwrap();
    assert_eq!(
        e.sandbox.token_balance(trader.tokens[0]).await.unwrap(),
        largest
    );

    // An address that holds no margin account is a one-line error.
    let stranger = solana_keypair::Keypair::new().pubkey().to_string();
    let missing = session
        .run("show", &args(&["--account", &stranger]))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.starts_with("account not found"), "{missing}");
}

fn xmargin(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xmargin"))
        .args(args)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_is_a_one_line_error_and_a_failure_exit() {
    let bad_key = std::env::temp_dir().join(format!("xmargin-cli-bad-{}.json", std::process::id()));
    std::fs::write(&bad_key, "not a keypair").unwrap();
    let bad_key = bad_key.to_string_lossy().into_owned();
    for (args, expected) in [
        (vec![], "usage"),
        (
            vec!["frobnicate", "--keypair", &bad_key],
            "cannot read keypair",
        ),
        (vec!["show", "--keypair", &bad_key], "cannot read keypair"),
        (
            vec!["show", "--keypair", "/nonexistent/id.json"],
            "cannot read keypair",
        ),
        (vec!["show", "--bogus", "1"], "unknown option --bogus"),
        (vec!["show", "--output", "xml"], "--output"),
        (vec!["account"], "usage: xmargin account create"),
        (vec!["show", "--url"], "--url needs a value"),
    ] {
        let (ok, stdout, stderr) = xmargin(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"));
    }
}

/// `trade` refuses off chain a price outside the program's fill band (with the band in the
/// message) and clears one inside it.
#[tokio::test]
async fn trade_refuses_a_price_outside_the_fill_band() {
    let e = Exchange::open().await.unwrap();
    let maker = e.trader("maker", &[(0, 1_000_000 * USDC)]).await.unwrap();
    let trader = e.trader("trader", &[(0, 20_000 * USDC)]).await.unwrap();
    let perp = e.underlyings[SOL].series[0].index;
    let maker_file = std::env::temp_dir().join(format!("maker-{}.json", maker.key.pubkey()));
    std::fs::write(
        &maker_file,
        serde_json::to_string(&maker.key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let session = Session {
        chain: BanksChain::new(e.sandbox.ctx.banks_client.clone()),
        wallet: trader.key.insecure_clone(),
        json: true,
    };
    let trade = |price: u64| {
        args(&[
            "--market",
            "0",
            "--series",
            &perp.to_string(),
            "--size",
            "1",
            "--price",
            &price.to_string(),
            "--maker-keypair",
            maker_file.to_str().unwrap(),
        ])
    };
    let refused = session.run("trade", &trade(200 * USDC)).await.unwrap_err();
    assert!(
        refused.to_string().contains("outside the fill band"),
        "{refused}"
    );
    session.run("trade", &trade(150 * USDC)).await.unwrap();
    let _ = std::fs::remove_file(&maker_file);
}

/// `admin propose` and `accept` hand a role over on the runtime; `--dry-run` prints the very
/// instruction the builder makes, for a multisig to wrap, and needs no wallet.
#[tokio::test]
async fn admin_hands_a_role_over_and_dry_run_prints_the_instruction() {
    use xmargin::state::Role;
    use xmargin_cli::admin;
    let e = Exchange::open().await.unwrap();
    let successor = solana_keypair::Keypair::new();
    e.sandbox
        .fund(successor.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    let key = successor.pubkey().to_string();
    let signer = e.admin.pubkey().to_string();
    let (ok, stdout, stderr) = xmargin(&[
        "admin",
        "propose",
        "--role",
        "admin",
        "--key",
        &key,
        "--signer",
        &signer,
        "--dry-run",
    ]);
    assert!(ok, "{stderr}");
    let expected = xmargin_client::instructions::propose_role(
        e.admin.pubkey(),
        Role::Admin,
        successor.pubkey(),
    );
    assert_eq!(
        stdout.trim(),
        xmargin_client::instructions::to_json(&expected)
    );
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["accounts"][0]["pubkey"], signer);
    assert_eq!(printed["accounts"][0]["isSigner"], true);

    let chain = BanksChain::new(e.sandbox.ctx.banks_client.clone());
    let propose = admin::instruction(
        "propose",
        &args(&["--role", "admin", "--key", &key]),
        e.admin.pubkey(),
        &chain,
    )
    .await
    .unwrap();
    admin::send(&chain, &e.admin, "propose", propose)
        .await
        .unwrap();
    assert_eq!(
        holders(&chain).await,
        (e.admin.pubkey(), successor.pubkey())
    );
    let accept = admin::instruction(
        "accept",
        &args(&["--role", "admin"]),
        successor.pubkey(),
        &chain,
    )
    .await
    .unwrap();
    admin::send(&chain, &successor, "accept", accept)
        .await
        .unwrap();
    assert_eq!(
        holders(&chain).await,
        (successor.pubkey(), Pubkey::default())
    );
    for (words, expected) in [
        (
            vec![
                "admin",
                "propose",
                "--role",
                "owner",
                "--dry-run",
                "--signer",
                &signer,
            ],
            "--role",
        ),
        (
            vec![
                "admin",
                "propose",
                "--role",
                "admin",
                "--dry-run",
                "--signer",
                &signer,
            ],
            "missing --key",
        ),
        (
            vec![
                "admin",
                "resign",
                "--role",
                "admin",
                "--dry-run",
                "--signer",
                &signer,
            ],
            "usage: xmargin admin",
        ),
    ] {
        let (ok, _, stderr) = xmargin(&words);
        assert!(!ok && stderr.contains(expected), "{words:?}: {stderr}");
    }
}

/// (admin, pending admin) as the clearinghouse stores them.
async fn holders(chain: &BanksChain) -> (Pubkey, Pubkey) {
    use xmargin_client::{pda, Chain};
    let address = pda::clearinghouse();
    let account = chain.account(&address).await.unwrap().unwrap();
    let c = xmargin_client::accounts::clearinghouse(&address, &account).unwrap();
    (c.admin, c.pending_admin)
}

/// A change larger than a step goes through the timelock from the command line: `propose
/// --change` queues it (the id read from the cluster), `execute` applies it after the delay,
/// `cancel` withdraws another; `pause` and `withdraw-fees` build what the program expects, and
/// `--dry-run` prints the very instruction.
#[tokio::test]
async fn admin_queues_executes_and_cancels_changes_from_the_command_line() {
    use xmargin::instructions::RiskChange;
    use xmargin::state::{PAUSE_TRADE, PAUSE_WITHDRAW};
    use xmargin_cli::admin;
    use xmargin_client::instructions as ix;
    use xmargin_client::{accounts, pda, Chain};
    let mut e = Exchange::open().await.unwrap();
    let chain = BanksChain::new(e.sandbox.ctx.banks_client.clone());
    let admin_key = e.admin.pubkey();
    let file = std::env::temp_dir().join(format!("xmargin-change-{}.json", std::process::id()));
    std::fs::write(&file, r#"{"Timelock": {"secs": 172800}}"#).unwrap();
    let path = file.to_str().unwrap();
    let queue = admin::instruction("propose", &args(&["--change", path]), admin_key, &chain)
        .await
        .unwrap();
    assert_eq!(
        queue,
        ix::queue_change(admin_key, 0, RiskChange::Timelock { secs: 172_800 })
    );
    admin::send(&chain, &e.admin, "propose", queue)
        .await
        .unwrap();
    let second = admin::instruction("propose", &args(&["--change", path]), admin_key, &chain)
        .await
        .unwrap();
    assert_eq!(second.accounts[2].pubkey, pda::pending_change(1));
    admin::send(&chain, &e.admin, "propose", second)
        .await
        .unwrap();

    // Execute: refused before the delay, applied after it, sent by someone else.
    let execute = admin::instruction("execute", &args(&["--id", "0"]), admin_key, &chain)
        .await
        .unwrap();
    assert_eq!(
        execute,
        ix::execute_change(0, admin_key, &RiskChange::Timelock { secs: 172_800 })
    );
    let keeper = solana_keypair::Keypair::new();
    e.sandbox
        .fund(keeper.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    assert!(admin::send(&chain, &keeper, "execute", execute.clone())
        .await
        .is_err());
    e.sandbox.advance(86_400).await.unwrap();
    admin::send(&chain, &keeper, "execute", execute)
        .await
        .unwrap();
    let address = pda::clearinghouse();
    let stored = |account| accounts::clearinghouse(&address, &account).unwrap();
    let clearinghouse = stored(chain.account(&address).await.unwrap().unwrap());
    assert_eq!(clearinghouse.timelock_secs, 172_800);

    // Cancel the second; nothing is left to execute.
    let cancel = admin::instruction("cancel", &args(&["--id", "1"]), admin_key, &chain)
        .await
        .unwrap();
    admin::send(&chain, &e.admin, "cancel", cancel)
        .await
        .unwrap();
    assert!(chain
        .account(&pda::pending_change(1))
        .await
        .unwrap()
        .is_none());
    let gone = admin::instruction("execute", &args(&["--id", "1"]), admin_key, &chain).await;
    assert!(gone.unwrap_err().to_string().contains("no queued change 1"));

    let treasury = Pubkey::new_unique().to_string();
    let fees = admin::instruction(
        "withdraw-fees",
        &args(&["--amount", "5", "--treasury", &treasury]),
        admin_key,
        &chain,
    )
    .await
    .unwrap();
    assert_eq!(
        fees,
        ix::withdraw_fees(
            admin_key,
            clearinghouse.quote_mint,
            treasury.parse().unwrap(),
            5
        )
    );
    let signer = admin_key.to_string();
    let (ok, stdout, stderr) = xmargin(&[
        "admin",
        "pause",
        "--flags",
        "trade,withdraw",
        "--secs",
        "3600",
        "--signer",
        &signer,
        "--dry-run",
    ]);
    assert!(ok, "{stderr}");
    let expected = ix::set_pause(admin_key, PAUSE_TRADE | PAUSE_WITHDRAW, 3_600);
    assert_eq!(stdout.trim(), ix::to_json(&expected));
    for (words, expected) in [
        (
            vec!["admin", "pause", "--flags", "everything", "--secs", "1"],
            "--flags",
        ),
        (vec!["admin", "pause", "--flags", "trade"], "missing --secs"),
        (vec!["admin", "execute"], "missing --id"),
    ] {
        let mut words = words;
        words.extend(["--dry-run", "--signer", &signer]);
        let (ok, _, stderr) = xmargin(&words);
        assert!(!ok && stderr.contains(expected), "{words:?}: {stderr}");
    }
    let _ = std::fs::remove_file(&file);
}
