//! Decoding the program's accounts from raw bytes (any source: RPC, the bank, a file).
use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountDeserialize, Discriminator};
use solana_account::Account;
use solana_clock::Clock;
use xmargin::instructions::PendingChange;
use xmargin::state::{Clearinghouse, CollateralRegistry, MarginAccount, Market, RiskCache};

use crate::error::{ClientError, ClientResult};

/// A zero-copy account `T` of this program: owner, exact size and discriminator checked.
pub fn zero_copy<T>(address: &Pubkey, account: &Account) -> ClientResult<T>
where
    T: bytemuck::Pod + Discriminator,
{
    let size = 8 + core::mem::size_of::<T>();
    if account.owner != xmargin::ID
        || account.data.len() != size
        || !account.data.starts_with(T::DISCRIMINATOR)
    {
        return Err(ClientError::WrongAccount(format!(
            "{address} is not a {} of the xmargin program",
            core::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("account")
        )));
    }
    Ok(bytemuck::pod_read_unaligned(&account.data[8..size]))
}

pub fn margin_account(address: &Pubkey, account: &Account) -> ClientResult<MarginAccount> {
    zero_copy(address, account)
}

pub fn market(address: &Pubkey, account: &Account) -> ClientResult<Market> {
    zero_copy(address, account)
}

pub fn registry(address: &Pubkey, account: &Account) -> ClientResult<CollateralRegistry> {
    zero_copy(address, account)
}

pub fn risk_cache(address: &Pubkey, account: &Account) -> ClientResult<RiskCache> {
    zero_copy(address, account)
}

pub fn clearinghouse(address: &Pubkey, account: &Account) -> ClientResult<Clearinghouse> {
    if account.owner != xmargin::ID {
        return Err(ClientError::WrongAccount(format!(
            "{address} is not owned by the xmargin program"
        )));
    }
    Clearinghouse::try_deserialize(&mut account.data.as_slice())
        .map_err(|_| ClientError::WrongAccount(format!("{address} is not the clearinghouse")))
}

pub fn pending_change(address: &Pubkey, account: &Account) -> ClientResult<PendingChange> {
    if account.owner != xmargin::ID {
        return Err(ClientError::WrongAccount(format!(
            "{address} is not owned by the xmargin program"
        )));
    }
    PendingChange::try_deserialize(&mut account.data.as_slice())
        .map_err(|_| ClientError::WrongAccount(format!("{address} is not a queued change")))
}

/// The Clock sysvar's bytes: slot, epoch start timestamp, epoch, leader schedule epoch, unix
/// timestamp (little-endian 8-byte fields).
pub fn clock_from_sysvar(data: &[u8]) -> ClientResult<Clock> {
    let field = |i: usize| -> ClientResult<[u8; 8]> {
        data.get(8 * i..8 * i + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ClientError::WrongAccount("clock sysvar too short".into()))
    };
    Ok(Clock {
        slot: u64::from_le_bytes(field(0)?),
        epoch_start_timestamp: i64::from_le_bytes(field(1)?),
        epoch: u64::from_le_bytes(field(2)?),
        leader_schedule_epoch: u64::from_le_bytes(field(3)?),
        unix_timestamp: i64::from_le_bytes(field(4)?),
    })
}
