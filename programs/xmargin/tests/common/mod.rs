//! Shared harness: the program under the real runtime, natively (default) or as an SBF `.so`
//! when `SBF_OUT_DIR` holds `xmargin.so`.
#![allow(dead_code)]

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{AccountDeserialize, InstructionData, ToAccountMetas};
use solana_keypair::Keypair;
use solana_program_test::{processor, BanksClient, BanksClientError, ProgramTest};
use solana_signer::Signer;
use solana_transaction::Transaction;

/// `processor!` wants a function over four independent lifetimes; Anchor's `entry` ties the
/// account slice to the `AccountInfo` lifetime. The runtime keeps both alive for the whole call.
fn process_instruction<'a, 'b, 'c, 'd>(
    program_id: &'a Pubkey,
    accounts: &'b [AccountInfo<'c>],
    data: &'d [u8],
) -> ProgramResult {
    // SAFETY: the runtime keeps the program id, the account slice and the data alive for the
    // whole call; only the lifetime parameters are unified.
    let (program_id, accounts, data): (&'c Pubkey, &'c [AccountInfo<'c>], &'c [u8]) =
        unsafe { std::mem::transmute((program_id, accounts, data)) };
    xmargin::entry(program_id, accounts, data)
}

pub struct Harness {
    pub banks: BanksClient,
    pub payer: Keypair,
}

impl Harness {
    pub async fn start() -> Self {
        let program_test =
            ProgramTest::new("xmargin", xmargin::ID, processor!(process_instruction));
        let (banks, payer, _blockhash) = program_test.start().await;
        Self { banks, payer }
    }

    pub async fn send(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        let blockhash = self.banks.get_latest_blockhash().await?;
        let mut all_signers: Vec<&Keypair> = vec![&self.payer];
        all_signers.extend_from_slice(signers);
        let tx = Transaction::new_signed_with_payer(
            instructions,
            Some(&self.payer.pubkey()),
            &all_signers,
            blockhash,
        );
        self.banks.process_transaction(tx).await
    }

    pub async fn anchor_account<T: AccountDeserialize>(&mut self, address: Pubkey) -> Option<T> {
        let account = self.banks.get_account(address).await.ok()??;
        T::try_deserialize(&mut account.data.as_slice()).ok()
    }
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
