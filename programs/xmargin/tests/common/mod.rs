//! Shared harness: the program under the real runtime (natively; SBF mode comes with the SBF
//! build), the real SPL Token program, and Pyth accounts written straight into the bank.
#![allow(dead_code)]

pub mod world;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{AccountDeserialize, InstructionData, ToAccountMetas};
use anchor_spl::token::spl_token;
use solana_account::Account;
use solana_clock::Clock;
use solana_keypair::Keypair;
use solana_program_test::{BanksClientError, ProgramTestContext};
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

/// A processed transaction: its result and the compute units it consumed.
pub struct Outcome {
    pub result: Result<(), TransactionError>,
    pub units: u64,
    pub logs: Vec<String>,
}

/// 2033-05-18: ahead of any genesis the wall clock gives, so a new bank never moves the
/// clock (it only moves forward from its parent's).
pub const START_TIME: i64 = 2_000_000_000;

pub struct Harness {
    pub ctx: ProgramTestContext,
    /// Makes every transaction unique: the bank answers a repeated signature with the first
    /// result instead of executing it again.
    sent: u32,
}

use xmargin_client::budget::set_compute_unit_limit as compute_unit_limit;

pub use xmargin_sandbox::pyth::{LegacyPrice, PullPrice};

impl Harness {
    /// A fresh bank whose clock starts at `START_TIME`, not at the wall clock's genesis: a
    /// run (a fuzzer's seed above all) replays at the same times every time (funding steps
    /// are fixed in absolute time).
    pub async fn start() -> Self {
        let program_test = xmargin_sandbox::program_test();
        let ctx = program_test.start_with_context().await;
        let mut clock = ctx.banks_client.get_sysvar::<Clock>().await.unwrap();
        clock.unix_timestamp = START_TIME;
        ctx.set_sysvar(&clock);
        Self { ctx, sent: 0 }
    }

    pub fn payer(&self) -> Keypair {
        self.ctx.payer.insecure_clone()
    }

    pub async fn send(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        self.send_for_logs(instructions, signers).await.map(|_| ())
    }

    /// Signed by the payer and `signers`, made unique by its compute-unit limit.
    async fn transaction(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Transaction, BanksClientError> {
        let blockhash = self.ctx.banks_client.get_latest_blockhash().await?;
        self.sent += 1;
        // No heap frame: the program runs in the default 32 KB.
        let mut all_instructions = vec![compute_unit_limit(1_400_000 - self.sent)];
        all_instructions.extend_from_slice(instructions);
        let payer = self.payer();
        let mut all_signers: Vec<&Keypair> = vec![&payer];
        all_signers.extend_from_slice(signers);
        Ok(Transaction::new_signed_with_payer(
            &all_instructions,
            Some(&payer.pubkey()),
            &all_signers,
            blockhash,
        ))
    }

    /// Sends and returns the transaction's log lines.
    pub async fn send_for_logs(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Vec<String>, BanksClientError> {
        let tx = self.transaction(instructions, signers).await?;
        let outcome =
            xmargin_client::chain::process_retrying_locks(&self.ctx.banks_client, tx).await?;
        outcome
            .result
            .clone()
            .map_err(BanksClientError::TransactionError)?;
        Ok(outcome.metadata.map(|m| m.log_messages).unwrap_or_default())
    }

    /// Sends and returns what the transaction did, refused or not: `Err` only when it could
    /// not be processed at all.
    pub async fn send_measured(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Outcome, BanksClientError> {
        let tx = self.transaction(instructions, signers).await?;
        let outcome =
            xmargin_client::chain::process_retrying_locks(&self.ctx.banks_client, tx).await?;
        let (units, logs) = outcome.metadata.map_or((0, Vec::new()), |m| {
            (m.compute_units_consumed, m.log_messages)
        });
        Ok(Outcome {
            result: outcome.result,
            units,
            logs,
        })
    }

    /// Runs the transaction against the current bank without committing it.
    pub async fn simulate(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Result<(), TransactionError>, BanksClientError> {
        let tx = self.transaction(instructions, signers).await?;
        let simulated = self.ctx.banks_client.simulate_transaction(tx).await?;
        Ok(simulated
            .result
            .unwrap_or(Err(TransactionError::AccountNotFound)))
    }

    /// Sends and returns every Anchor event of type `E` the transaction logged.
    pub async fn send_for_events<E: anchor_lang::Event + anchor_lang::AnchorDeserialize>(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Vec<E>, BanksClientError> {
        Ok(events(&self.send_for_logs(instructions, signers).await?))
    }

    pub async fn clock(&mut self) -> Clock {
        self.ctx.banks_client.get_sysvar::<Clock>().await.unwrap()
    }

    /// Moves the bank clock forward by `secs` seconds (and a few slots).
    pub async fn advance(&mut self, secs: i64) {
        xmargin_sandbox::advance_clock(&mut self.ctx, secs)
            .await
            .unwrap();
    }

    /// Moves the clock's Unix time `secs` back (slots stay): undoes an `advance` that only
    /// served to let a timelock pass.
    pub async fn rewind(&mut self, secs: i64) {
        let mut clock = self.clock().await;
        clock.unix_timestamp -= secs;
        self.ctx.set_sysvar(&clock);
    }

    pub async fn account(&mut self, address: Pubkey) -> Option<Account> {
        self.ctx
            .banks_client
            .get_account(address)
            .await
            .ok()
            .flatten()
    }

    pub async fn data(&mut self, address: Pubkey) -> Option<Vec<u8>> {
        self.account(address).await.map(|a| a.data)
    }

    pub async fn lamports(&mut self, address: Pubkey) -> u64 {
        self.account(address).await.map_or(0, |a| a.lamports)
    }

    /// Raw data of every address, to show a refused transaction changed nothing.
    pub async fn snapshot(&mut self, addresses: &[Pubkey]) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::with_capacity(addresses.len());
        for address in addresses {
            out.push(self.data(*address).await);
        }
        out
    }

    /// Sends, expects the custom error `code`, and checks that none of `watched` changed.
    pub async fn assert_refused(
        &mut self,
        watched: &[Pubkey],
        instructions: &[Instruction],
        signers: &[&Keypair],
        code: u32,
    ) {
        let before = self.snapshot(watched).await;
        let result = self.send(instructions, signers).await;
        assert_error(&result, code);
        assert_eq!(
            self.snapshot(watched).await,
            before,
            "refusal changed state"
        );
    }

    pub async fn anchor_account<T: AccountDeserialize>(&mut self, address: Pubkey) -> Option<T> {
        let data = self.data(address).await?;
        T::try_deserialize(&mut data.as_slice()).ok()
    }

    /// A zero-copy account's body after its 8-byte discriminator.
    pub async fn zero_copy<T: bytemuck::Pod>(&mut self, address: Pubkey) -> T {
        let data = self.data(address).await.expect("account exists");
        bytemuck::pod_read_unaligned(&data[8..8 + std::mem::size_of::<T>()])
    }

    pub fn set_account(&mut self, address: Pubkey, owner: Pubkey, data: Vec<u8>) {
        xmargin_sandbox::write_account(&mut self.ctx, address, owner, data);
    }

    pub async fn fund(&mut self, to: Pubkey, lamports: u64) {
        let payer = self.payer();
        let ix = anchor_lang::solana_program::system_instruction::transfer(
            &payer.pubkey(),
            &to,
            lamports,
        );
        self.send(&[ix], &[]).await.unwrap();
    }

    pub async fn create_mint(&mut self, decimals: u8) -> Pubkey {
        self.create_mint_owned_by(decimals, spl_token::ID).await
    }

    /// A mint of `token_program` (the SPL Token program, or Token-2022 to test refusals).
    pub async fn create_mint_owned_by(&mut self, decimals: u8, token_program: Pubkey) -> Pubkey {
        let payer = self.payer().pubkey();
        let initialize_mint2 = if token_program == anchor_spl::token_2022::ID {
            anchor_spl::token_2022::spl_token_2022::instruction::initialize_mint2
        } else {
            spl_token::instruction::initialize_mint2
        };
        self.create_token_program_account(82, token_program, |mint| {
            initialize_mint2(&token_program, mint, &payer, None, decimals).unwrap()
        })
        .await
    }

    pub async fn create_token_account(&mut self, mint: Pubkey, owner: Pubkey) -> Pubkey {
        self.create_token_program_account(165, spl_token::ID, |account| {
            spl_token::instruction::initialize_account3(&spl_token::ID, account, &mint, &owner)
                .unwrap()
        })
        .await
    }

    /// A rent-exempt account of `space` bytes owned by `token_program`, initialized by `init`.
    /// A new keypair and the system instruction creating its rent-exempt, zeroed account of
    /// `space` bytes owned by `owner` (the payer pays).
    pub async fn create_account_ix(
        &mut self,
        space: usize,
        owner: Pubkey,
    ) -> (Keypair, Instruction) {
        let account = Keypair::new();
        let payer = self.payer();
        let rent = self.ctx.banks_client.get_rent().await.unwrap();
        let create = anchor_lang::solana_program::system_instruction::create_account(
            &payer.pubkey(),
            &account.pubkey(),
            rent.minimum_balance(space),
            space as u64,
            &owner,
        );
        (account, create)
    }

    async fn create_token_program_account(
        &mut self,
        space: usize,
        token_program: Pubkey,
        init: impl FnOnce(&Pubkey) -> Instruction,
    ) -> Pubkey {
        let (account, create) = self.create_account_ix(space, token_program).await;
        let init = init(&account.pubkey());
        self.send(&[create, init], &[&account]).await.unwrap();
        account.pubkey()
    }

    pub async fn mint_to(&mut self, mint: Pubkey, account: Pubkey, amount: u64) {
        let payer = self.payer();
        let ix = spl_token::instruction::mint_to(
            &spl_token::ID,
            &mint,
            &account,
            &payer.pubkey(),
            &[],
            amount,
        )
        .unwrap();
        self.send(&[ix], &[]).await.unwrap();
    }

    pub async fn token_balance(&mut self, account: Pubkey) -> u64 {
        let data = self.data(account).await.expect("token account exists");
        u64::from_le_bytes(data[64..72].try_into().unwrap())
    }

    pub fn write_legacy_oracle(&mut self, address: Pubkey, p: LegacyPrice) {
        self.write_legacy_oracle_owned_by(address, p, xmargin::oracle::PYTH_LEGACY_PROGRAM_ID);
    }

    pub fn write_legacy_oracle_owned_by(&mut self, address: Pubkey, p: LegacyPrice, owner: Pubkey) {
        self.set_account(address, owner, p.account_data());
    }

    pub fn write_pull_oracle(&mut self, address: Pubkey, p: PullPrice) {
        self.set_account(
            address,
            xmargin::oracle::PYTH_RECEIVER_PROGRAM_ID,
            p.account_data(),
        );
    }
}

/// The Anchor events of type `E` in a transaction's logs (natively the program writes them
/// through the log stub, on SBF through `sol_log_data`: both lines carry "Program data: ").
pub fn events<E: anchor_lang::Event + anchor_lang::AnchorDeserialize>(logs: &[String]) -> Vec<E> {
    use base64::Engine;
    logs.iter()
        .filter_map(|line| line.split_once("Program data: ").map(|(_, data)| data))
        .filter_map(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
        .filter(|bytes| bytes.starts_with(E::DISCRIMINATOR))
        .filter_map(|bytes| E::deserialize(&mut &bytes[E::DISCRIMINATOR.len()..]).ok())
        .collect()
}

pub fn anchor_ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: xmargin::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

/// The custom program error a failed transaction ended with, if it ended with one.
pub fn custom_error_code(result: &Result<(), BanksClientError>) -> Option<u32> {
    use solana_instruction_error::InstructionError;
    use solana_transaction_error::TransactionError;
    match result {
        Err(BanksClientError::TransactionError(TransactionError::InstructionError(
            _,
            InstructionError::Custom(code),
        ))) => Some(*code),
        Err(BanksClientError::SimulationError {
            err: TransactionError::InstructionError(_, InstructionError::Custom(code)),
            ..
        }) => Some(*code),
        _ => None,
    }
}

/// Anchor's code for one of our `#[error_code]` variants.
pub fn program_error(error: xmargin::error::XmarginError) -> u32 {
    anchor_lang::error::ERROR_CODE_OFFSET + error as u32
}

/// Anchor's own code for a framework error (`ErrorCode`).
pub fn anchor_error(error: anchor_lang::error::ErrorCode) -> u32 {
    error as u32
}

#[track_caller]
pub fn assert_error(result: &Result<(), BanksClientError>, expected: u32) {
    assert_eq!(
        custom_error_code(result),
        Some(expected),
        "expected error {expected}, got {result:?}"
    );
}

/// Distinct accounts a transaction of `ixs` loads: the instructions' accounts and programs, the
/// fee payer and the compute-budget program the harness adds (the limit is 64).
pub fn loaded_accounts(ixs: &[Instruction], payer: Pubkey) -> usize {
    let mut keys: Vec<Pubkey> = ixs
        .iter()
        .flat_map(|ix| ix.accounts.iter().map(|m| m.pubkey).chain([ix.program_id]))
        .collect();
    keys.push(payer);
    keys.push(anchor_lang::prelude::pubkey!(
        "ComputeBudget111111111111111111111111111111"
    ));
    keys.sort();
    keys.dedup();
    keys.len()
}
