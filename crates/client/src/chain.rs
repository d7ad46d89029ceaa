//! One interface to a cluster: a real RPC node ([`RpcChain`]) or the in-process runtime
//! ([`BanksChain`]). Everything above it (SDK, CLI, keeper) is written once against [`Chain`].
use std::sync::{Arc, Mutex};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use solana_account::Account;
use solana_clock::Clock;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

use crate::error::{ClientError, ClientResult};

/// What a confirmed transaction left behind.
#[derive(Clone, Debug)]
pub struct Sent {
    pub signature: Signature,
    pub logs: Vec<String>,
}

#[allow(async_fn_in_trait)]
pub trait Chain {
    async fn account(&self, address: &Pubkey) -> ClientResult<Option<Account>>;

    async fn accounts(&self, addresses: &[Pubkey]) -> ClientResult<Vec<Option<Account>>> {
        let mut out = Vec::with_capacity(addresses.len());
        for address in addresses {
            out.push(self.account(address).await?);
        }
        Ok(out)
    }

    /// Accounts of `owner` exactly `size` bytes long starting with `prefix`
    /// (getProgramAccounts with a data-size and a memcmp filter).
    async fn program_accounts(
        &self,
        owner: &Pubkey,
        size: usize,
        prefix: &[u8],
    ) -> ClientResult<Vec<(Pubkey, Account)>>;

    async fn clock(&self) -> ClientResult<Clock>;

    /// Signs with `payer` (fee payer) and `signers`, sends, waits for confirmation.
    async fn send(
        &self,
        instructions: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> ClientResult<Sent>;

    /// Lamports to make `size` bytes rent-exempt.
    async fn rent_exempt(&self, size: usize) -> ClientResult<u64>;
}

/// The custom error code of a failed instruction.
fn custom_code(error: &TransactionError) -> Option<u32> {
    match error {
        TransactionError::InstructionError(_, InstructionError::Custom(code)) => Some(*code),
        _ => None,
    }
}

fn signers_of<'a>(payer: &'a Keypair, signers: &[&'a Keypair]) -> Vec<&'a Keypair> {
    let mut all: Vec<&Keypair> = vec![payer];
    for signer in signers {
        if !all.iter().any(|s| s.pubkey() == signer.pubkey()) {
            all.push(signer);
        }
    }
    all
}

/// The in-process runtime (solana-program-test's bank).
///
/// The bank offers no getProgramAccounts, so this chain indexes every account its own
/// transactions touch and answers `program_accounts` from that index: complete as long as every
/// transaction of the session goes through it (the demo's and the tests' do).
/// Clones share the index.
#[derive(Clone)]
pub struct BanksChain {
    client: solana_banks_client::BanksClient,
    touched: Arc<Mutex<Vec<Pubkey>>>,
    sent: Arc<Mutex<u32>>,
}

impl BanksChain {
    pub fn new(client: solana_banks_client::BanksClient) -> Self {
        Self {
            client,
            touched: Arc::new(Mutex::new(Vec::new())),
            sent: Arc::new(Mutex::new(0)),
        }
    }

    /// Identical transactions within one blockhash would be answered with the first result
    /// instead of running: each send sets a distinct compute-unit limit (a few units below the
    /// requested or the maximum one).
    fn unique(&self, instructions: &[Instruction]) -> Vec<Instruction> {
        let n = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            *sent = sent.wrapping_add(1);
            *sent % 10_000
        };
        let mut out = instructions.to_vec();
        match out.iter_mut().find(|ix| crate::budget::is_unit_limit(ix)) {
            Some(limit) => {
                let units = crate::budget::unit_limit_of(limit).saturating_sub(n);
                *limit = crate::budget::set_compute_unit_limit(units);
            }
            None => out.insert(
                0,
                crate::budget::set_compute_unit_limit(crate::budget::MAX_UNITS - n),
            ),
        }
        out
    }

    fn remember(&self, instructions: &[Instruction]) {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        for meta in instructions.iter().flat_map(|ix| ix.accounts.iter()) {
            if meta.is_writable && !touched.contains(&meta.pubkey) {
                touched.push(meta.pubkey);
            }
        }
    }
}

fn transport(error: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(error.to_string())
}

impl Chain for BanksChain {
    async fn account(&self, address: &Pubkey) -> ClientResult<Option<Account>> {
        self.client.get_account(*address).await.map_err(transport)
    }

    async fn program_accounts(
        &self,
        owner: &Pubkey,
        size: usize,
        prefix: &[u8],
    ) -> ClientResult<Vec<(Pubkey, Account)>> {
        let known = self
            .touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = Vec::new();
        for address in known {
            if let Some(account) = self.account(&address).await? {
                if account.owner == *owner
                    && account.data.len() == size
                    && account.data.starts_with(prefix)
                {
                    out.push((address, account));
                }
            }
        }
        Ok(out)
    }

    async fn clock(&self) -> ClientResult<Clock> {
        self.client.get_sysvar::<Clock>().await.map_err(transport)
    }

    async fn send(
        &self,
        instructions: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> ClientResult<Sent> {
        let instructions = self.unique(instructions);
        let blockhash = self
            .client
            .get_latest_blockhash()
            .await
            .map_err(transport)?;
        let tx = Transaction::new_signed_with_payer(
            &instructions,
            Some(&payer.pubkey()),
            &signers_of(payer, signers),
            blockhash,
        );
        let signature = tx.signatures[0];
        let outcome = process_retrying_locks(&self.client, tx)
            .await
            .map_err(transport)?;
        let logs = outcome.metadata.map(|m| m.log_messages).unwrap_or_default();
        match outcome.result {
            Ok(()) => {
                self.remember(&instructions);
                Ok(Sent { signature, logs })
            }
            Err(error) => Err(ClientError::from_logs(
                custom_code(&error),
                error.to_string(),
                logs,
            )),
        }
    }

    async fn rent_exempt(&self, size: usize) -> ClientResult<u64> {
        let rent = self.client.get_rent().await.map_err(transport)?;
        Ok(rent.minimum_balance(size))
    }
}

/// Processes `tx` on the in-process bank, again while it is refused with `AccountInUse`: the
/// bank's send-transaction service re-sends earlier transactions in the background, and a
/// re-sent one holds its account locks for a moment even though it is then dropped as already
/// processed. A refused transaction did not execute, so sending it again is safe (validators
/// retry such transactions too).
pub async fn process_retrying_locks(
    client: &solana_banks_client::BanksClient,
    tx: Transaction,
) -> Result<
    solana_banks_interface::BanksTransactionResultWithMetadata,
    solana_banks_client::BanksClientError,
> {
    const ATTEMPTS: u32 = 20;
    let mut attempt = 1;
    loop {
        let outcome = client.process_transaction_with_metadata(tx.clone()).await?;
        if outcome.result != Err(TransactionError::AccountInUse) || attempt == ATTEMPTS {
            return Ok(outcome);
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt))).await;
    }
}

/// A real cluster through its JSON-RPC endpoint.
pub struct RpcChain {
    client: solana_rpc_client::nonblocking::rpc_client::RpcClient,
}

impl RpcChain {
    pub fn new(url: &str) -> Self {
        Self {
            client: solana_rpc_client::nonblocking::rpc_client::RpcClient::new_with_commitment(
                url.to_string(),
                solana_commitment_config::CommitmentConfig::confirmed(),
            ),
        }
    }
}

/// A refused transaction's error with the simulation logs the node returned.
fn rpc_refusal(error: solana_rpc_client_api::client_error::Error) -> ClientError {
    use solana_rpc_client_api::client_error::ErrorKind;
    use solana_rpc_client_api::request::{RpcError, RpcResponseErrorData};
    let code = error.get_transaction_error().as_ref().and_then(custom_code);
    if let ErrorKind::RpcError(RpcError::RpcResponseError {
        data: RpcResponseErrorData::SendTransactionPreflightFailure(result),
        ..
    }) = error.kind.as_ref()
    {
        return ClientError::from_logs(
            code,
            error.to_string(),
            result.logs.clone().unwrap_or_default(),
        );
    }
    match code {
        Some(_) => ClientError::from_logs(code, error.to_string(), Vec::new()),
        None => transport(error),
    }
}

impl Chain for RpcChain {
    async fn account(&self, address: &Pubkey) -> ClientResult<Option<Account>> {
        let response = self
            .client
            .get_account_with_commitment(address, self.client.commitment())
            .await
            .map_err(transport)?;
        Ok(response.value)
    }

    async fn accounts(&self, addresses: &[Pubkey]) -> ClientResult<Vec<Option<Account>>> {
        let mut out = Vec::with_capacity(addresses.len());
        // getMultipleAccounts answers at most 100 addresses per call.
        for chunk in addresses.chunks(100) {
            out.extend(
                self.client
                    .get_multiple_accounts(chunk)
                    .await
                    .map_err(transport)?,
            );
        }
        Ok(out)
    }

    async fn program_accounts(
        &self,
        owner: &Pubkey,
        size: usize,
        prefix: &[u8],
    ) -> ClientResult<Vec<(Pubkey, Account)>> {
        use solana_account_decoder_client_types::UiAccountEncoding;
        use solana_rpc_client_api::config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
        use solana_rpc_client_api::filter::{Memcmp, RpcFilterType};
        let config = RpcProgramAccountsConfig {
            filters: Some(vec![
                RpcFilterType::DataSize(size as u64),
                RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, prefix.to_vec())),
            ]),
            account_config: RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::Base64),
                ..RpcAccountInfoConfig::default()
            },
            ..RpcProgramAccountsConfig::default()
        };
        let found = self
            .client
            .get_program_ui_accounts_with_config(owner, config)
            .await
            .map_err(transport)?;
        Ok(found
            .into_iter()
            .filter_map(|(key, ui)| ui.decode::<Account>().map(|account| (key, account)))
            .collect())
    }

    async fn clock(&self) -> ClientResult<Clock> {
        let address = anchor_lang::prelude::pubkey!("SysvarC1ock11111111111111111111111111111111");
        let account = self
            .account(&address)
            .await?
            .ok_or_else(|| ClientError::AccountNotFound(address.to_string()))?;
        crate::accounts::clock_from_sysvar(&account.data)
    }

    async fn send(
        &self,
        instructions: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> ClientResult<Sent> {
        let blockhash = self
            .client
            .get_latest_blockhash()
            .await
            .map_err(transport)?;
        let tx = Transaction::new_signed_with_payer(
            instructions,
            Some(&payer.pubkey()),
            &signers_of(payer, signers),
            blockhash,
        );
        let signature = self
            .client
            .send_and_confirm_transaction(&tx)
            .await
            .map_err(rpc_refusal)?;
        Ok(Sent {
            signature,
            logs: Vec::new(),
        })
    }

    async fn rent_exempt(&self, size: usize) -> ClientResult<u64> {
        self.client
            .get_minimum_balance_for_rent_exemption(size)
            .await
            .map_err(transport)
    }
}
