//! The real Solana runtime in-process with xmargin loaded (natively, or the SBF `.so` when
//! `SBF_OUT_DIR` points at one), SPL Token, and Pyth price accounts written into the bank; plus a
//! listed exchange ([`exchange`]) the demo, the keeper's tests and its benchmark share.
pub mod exchange;
pub mod params;
pub mod pyth;

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_spl::token::spl_token;
use solana_account::{Account, AccountSharedData};
use solana_clock::Clock;
use solana_keypair::Keypair;
use solana_program_test::{processor, ProgramTest, ProgramTestContext};
use solana_signer::Signer;
use xmargin_client::{BanksChain, Chain, ClientResult, Sent};

/// `processor!` wants a function over four independent lifetimes; Anchor's `entry` ties the
/// account slice to the `AccountInfo` lifetime. The runtime keeps both alive for the whole call.
pub fn process_instruction<'a, 'b, 'c, 'd>(
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

/// The program test with xmargin: native, or the SBF build when `SBF_OUT_DIR` (or
/// `BPF_OUT_DIR`) holds `xmargin.so` (solana-program-test then prefers it).
pub fn program_test() -> ProgramTest {
    ProgramTest::new("xmargin", xmargin::ID, processor!(process_instruction))
}

/// Writes `data` owned by `owner` at `address` straight into the bank (rent-exempt).
pub fn write_account(ctx: &mut ProgramTestContext, address: Pubkey, owner: Pubkey, data: Vec<u8>) {
    let account = Account {
        lamports: 1_000_000_000,
        data,
        owner,
        executable: false,
        rent_epoch: 0,
    };
    ctx.set_account(&address, &AccountSharedData::from(account));
}

/// The loader-v3 program-data header naming `upgrade_authority` (no ELF follows: the program
/// itself is loaded by the test runtime; only `initialize` reads this account).
pub fn program_data_header(upgrade_authority: Option<Pubkey>) -> Vec<u8> {
    // bincode of `UpgradeableLoaderState::ProgramData { slot: 0, upgrade_authority_address }`.
    let mut data = vec![3, 0, 0, 0];
    data.extend_from_slice(&0u64.to_le_bytes());
    match upgrade_authority {
        Some(key) => {
            data.push(1);
            data.extend_from_slice(key.as_ref());
        }
        None => data.extend_from_slice(&[0; 33]),
    }
    data
}

/// Records `upgrade_authority` as the program's upgrade authority, as a deployment with the
/// upgradeable loader would.
pub fn set_upgrade_authority(ctx: &mut ProgramTestContext, upgrade_authority: Option<Pubkey>) {
    write_account(
        ctx,
        xmargin_client::pda::program_data(),
        anchor_lang::solana_program::bpf_loader_upgradeable::ID,
        program_data_header(upgrade_authority),
    );
}

/// Moves the bank's clock `secs` seconds forward (and two slots, so new blockhashes follow).
pub async fn advance_clock(ctx: &mut ProgramTestContext, secs: i64) -> Result<(), String> {
    let clock = |ctx: &ProgramTestContext| {
        let client = ctx.banks_client.clone();
        async move {
            client
                .get_sysvar::<Clock>()
                .await
                .map_err(|e| e.to_string())
        }
    };
    let slot = clock(ctx).await?.slot + 2;
    ctx.warp_to_slot(slot).map_err(|e| format!("{e:?}"))?;
    let mut now = clock(ctx).await?;
    now.unix_timestamp += secs;
    ctx.set_sysvar(&now);
    Ok(())
}

pub struct Sandbox {
    pub ctx: ProgramTestContext,
    pub chain: BanksChain,
}

impl Sandbox {
    pub async fn start() -> Self {
        let ctx = program_test().start_with_context().await;
        let chain = BanksChain::new(ctx.banks_client.clone());
        Self { ctx, chain }
    }

    /// The genesis account that pays for everything here.
    pub fn payer(&self) -> Keypair {
        self.ctx.payer.insecure_clone()
    }

    /// Sends with the payer paying (and signing), plus `signers`.
    pub async fn send(
        &self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> ClientResult<Sent> {
        let payer = self.payer();
        self.chain.send(instructions, &payer, signers).await
    }

    pub async fn clock(&self) -> ClientResult<Clock> {
        self.chain.clock().await
    }

    /// Moves the bank clock forward by `secs` seconds (and a few slots).
    pub async fn advance(&mut self, secs: i64) -> ClientResult<()> {
        advance_clock(&mut self.ctx, secs)
            .await
            .map_err(xmargin_client::ClientError::Transport)
    }

    /// Makes `key` the program's upgrade authority (the deployer, who initializes).
    pub fn set_upgrade_authority(&mut self, key: Pubkey) {
        set_upgrade_authority(&mut self.ctx, Some(key));
    }

    /// Writes an account straight into the bank (oracles).
    pub fn set_account(&mut self, address: Pubkey, owner: Pubkey, data: Vec<u8>) {
        write_account(&mut self.ctx, address, owner, data);
    }

    pub async fn fund(&self, to: Pubkey, lamports: u64) -> ClientResult<()> {
        let ix = anchor_lang::solana_program::system_instruction::transfer(
            &self.payer().pubkey(),
            &to,
            lamports,
        );
        self.send(&[ix], &[]).await.map(|_| ())
    }

    /// A rent-exempt zeroed account of `space` bytes owned by `owner`: its keypair and the
    /// instruction creating it.
    pub async fn create_account_ix(
        &self,
        space: usize,
        owner: Pubkey,
    ) -> ClientResult<(Keypair, Instruction)> {
        let account = Keypair::new();
        let lamports = self.chain.rent_exempt(space).await?;
        let ix = anchor_lang::solana_program::system_instruction::create_account(
            &self.payer().pubkey(),
            &account.pubkey(),
            lamports,
            space as u64,
            &owner,
        );
        Ok((account, ix))
    }

    pub async fn create_mint(&self, decimals: u8) -> ClientResult<Pubkey> {
        let (mint, create) = self.create_account_ix(82, spl_token::ID).await?;
        let init = spl_token::instruction::initialize_mint2(
            &spl_token::ID,
            &mint.pubkey(),
            &self.payer().pubkey(),
            None,
            decimals,
        )
        .map_err(|e| xmargin_client::ClientError::Input(e.to_string()))?;
        self.send(&[create, init], &[&mint]).await?;
        Ok(mint.pubkey())
    }

    pub async fn create_token_account(&self, mint: Pubkey, owner: Pubkey) -> ClientResult<Pubkey> {
        let (account, create) = self.create_account_ix(165, spl_token::ID).await?;
        let init = spl_token::instruction::initialize_account3(
            &spl_token::ID,
            &account.pubkey(),
            &mint,
            &owner,
        )
        .map_err(|e| xmargin_client::ClientError::Input(e.to_string()))?;
        self.send(&[create, init], &[&account]).await?;
        Ok(account.pubkey())
    }

    /// Mints `amount` of `mint` (the payer is every sandbox mint's authority).
    pub async fn mint_to(&self, mint: Pubkey, account: Pubkey, amount: u64) -> ClientResult<()> {
        let ix = spl_token::instruction::mint_to(
            &spl_token::ID,
            &mint,
            &account,
            &self.payer().pubkey(),
            &[],
            amount,
        )
        .map_err(|e| xmargin_client::ClientError::Input(e.to_string()))?;
        self.send(&[ix], &[]).await.map(|_| ())
    }

    /// An account's raw state (panics if absent: for tests and benchmarks).
    pub async fn chain_account(&self, address: &Pubkey) -> Account {
        match self.chain.account(address).await {
            Ok(Some(account)) => account,
            other => panic!("no account {address}: {other:?}"),
        }
    }

    /// A token account's balance.
    pub async fn token_balance(&self, account: Pubkey) -> ClientResult<u64> {
        let data = self
            .chain
            .account(&account)
            .await?
            .map(|a| a.data)
            .unwrap_or_default();
        Ok(data
            .get(64..72)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes))
    }
}
