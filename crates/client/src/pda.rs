//! Program-derived addresses, with the program's own seeds.
use anchor_lang::prelude::Pubkey;
use xmargin::instructions::PendingChange;
use xmargin::state::{Clearinghouse, CollateralRegistry, MarginAccount, Market};

fn derive(seeds: &[&[u8]]) -> Pubkey {
    Pubkey::find_program_address(seeds, &xmargin::ID).0
}

pub fn clearinghouse() -> Pubkey {
    derive(&[Clearinghouse::SEED])
}

/// The program's program-data account under the upgradeable loader (its upgrade authority
/// is the only key that may initialize).
pub fn program_data() -> Pubkey {
    Pubkey::find_program_address(
        &[xmargin::ID.as_ref()],
        &anchor_lang::solana_program::bpf_loader_upgradeable::ID,
    )
    .0
}

/// Queued change `id` (`queue_change`).
pub fn pending_change(id: u64) -> Pubkey {
    derive(&[PendingChange::SEED, &id.to_le_bytes()])
}

pub fn registry() -> Pubkey {
    derive(&[CollateralRegistry::SEED])
}

pub fn market(index: u8) -> Pubkey {
    derive(&[Market::SEED, &[index]])
}

/// The program's token vault for collateral `mint`.
pub fn vault(mint: &Pubkey) -> Pubkey {
    derive(&[b"vault", mint.as_ref()])
}

/// The insurance fund's quote token account.
pub fn insurance_vault() -> Pubkey {
    derive(&[Clearinghouse::INSURANCE_SEED])
}

/// Margin account `id` of `owner` (an owner may hold several).
pub fn margin_account(owner: &Pubkey, id: u16) -> Pubkey {
    derive(&[MarginAccount::SEED, owner.as_ref(), &id.to_le_bytes()])
}
