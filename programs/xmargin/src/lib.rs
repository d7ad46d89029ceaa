//! xmargin: one margin account, every kind of collateral, perps/futures/options on several
//! underlyings, margined as a portfolio by `xmargin-risk`.
//!
//! This module only routes instructions; each handler lives in `instructions/` with its accounts.
use anchor_lang::prelude::*;

pub mod error;
pub mod events;
pub mod instructions;
pub mod state;

use instructions::*;

declare_id!("CRNc2G47w4AqXa8ay95P97eH3sFQruNMypCsjkGTmjzQ");

#[program]
pub mod xmargin {
    use super::*;

    pub fn initialize(ctx: Context<Initialize>, params: InitializeParams) -> Result<()> {
        instructions::initialize::handler(ctx, params)
    }
}
