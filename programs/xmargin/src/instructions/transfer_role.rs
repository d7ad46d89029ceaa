//! Two-step hand-over of a role: its holder proposes a key, the key accepts. Until it accepts
//! the holder keeps the role, and may propose another key or none (`Pubkey::default()`) to
//! cancel. Any signer can hold a role: a multisig's vault PDA or a governance program's signer
//! as well as a wallet. The admin may also propose a risk authority (a lost risk key must be
//! replaceable); the risk authority cannot touch the admin role. docs/security.md, "Roles".
use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::events::{RoleAccepted, RoleProposed};
use crate::state::{Clearinghouse, Role};

#[derive(Accounts)]
pub struct ProposeRole<'info> {
    /// The role's holder (or, for the risk authority, the admin).
    pub holder: Signer<'info>,
    #[account(mut, seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
}

pub fn propose(ctx: Context<ProposeRole>, role: Role, proposed: Pubkey) -> Result<()> {
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    let signer = ctx.accounts.holder.key();
    require!(
        clearinghouse.may_propose(role, &signer),
        XmarginError::Unauthorized
    );
    *clearinghouse.pending_mut(role) = proposed;
    crate::emit_event!(RoleProposed {
        role,
        holder: clearinghouse.holder(role),
        proposed,
    });
    Ok(())
}

#[derive(Accounts)]
pub struct AcceptRole<'info> {
    /// The key proposed for the role.
    pub proposed: Signer<'info>,
    #[account(mut, seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
}

pub fn accept(ctx: Context<AcceptRole>, role: Role) -> Result<()> {
    let clearinghouse = &mut ctx.accounts.clearinghouse;
    let signer = ctx.accounts.proposed.key();
    let pending = clearinghouse.pending_mut(role);
    require!(
        *pending != Pubkey::default() && *pending == signer,
        XmarginError::NotProposedForRole
    );
    *pending = Pubkey::default();
    let previous = clearinghouse.holder(role);
    *clearinghouse.holder_mut(role) = signer;
    crate::emit_event!(RoleAccepted {
        role,
        previous,
        holder: signer,
    });
    Ok(())
}
