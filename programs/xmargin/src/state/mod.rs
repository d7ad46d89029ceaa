pub mod clearinghouse;
pub mod collateral_registry;
pub mod margin_account;
pub mod market;

pub use clearinghouse::*;
pub use collateral_registry::*;
pub use margin_account::*;
pub use market::*;
