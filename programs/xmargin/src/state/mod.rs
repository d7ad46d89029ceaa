pub mod clearinghouse;
pub mod collateral_registry;
pub mod margin_account;
pub mod market;
pub mod risk_cache;

pub use clearinghouse::*;
pub use collateral_registry::*;
pub use margin_account::*;
pub use market::*;
pub use risk_cache::*;
