//! One file per instruction: its accounts, parameters and handler. The glob re-exports give
//! `#[program]` the generated account modules at the crate root; each `handler` is only ever
//! called through its module path, so their shared name is harmless.
#![allow(ambiguous_glob_reexports)]

pub mod add_collateral_asset;
pub mod add_market;
pub mod add_series;
pub mod clear_trade;
pub mod close_margin_account;
pub mod crank_funding;
pub mod create_insurance_fund;
pub mod create_margin_account;
pub mod create_risk_cache;
pub mod deposit;
pub mod fund_insurance;
pub mod initialize;
pub mod liquidate_collateral;
pub mod liquidate_position;
pub mod refresh_risk_cache;
pub mod resolve_bankruptcy;
pub mod set_delegate;
pub mod set_pause;
pub mod settle_expired_series;
pub mod settle_position;
pub mod timelock;
pub mod transfer_role;
pub mod update_collateral_asset;
pub mod update_market_risk;
pub mod update_risk_params;
pub mod update_vol_surface;
pub mod withdraw;
pub mod withdraw_fees;
pub mod withdraw_insurance;

pub use add_collateral_asset::*;
pub use add_market::*;
pub use add_series::*;
pub use clear_trade::*;
pub use close_margin_account::*;
pub use create_insurance_fund::*;
pub use create_margin_account::*;
pub use create_risk_cache::*;
pub use deposit::*;
pub use fund_insurance::*;
pub use initialize::*;
pub use liquidate_collateral::*;
pub use liquidate_position::*;
pub use refresh_risk_cache::*;
pub use resolve_bankruptcy::*;
pub use set_delegate::*;
pub use set_pause::*;
pub use settle_position::*;
pub use timelock::*;
pub use transfer_role::*;
pub use update_collateral_asset::*;
pub use update_market_risk::*;
pub use update_risk_params::*;
pub use update_vol_surface::*;
pub use withdraw::*;
pub use withdraw_fees::*;
pub use withdraw_insurance::*;
