//! xmargin's keeper: [`scan`] evaluates every margin account with the program's own check (pure,
//! benchmarked), [`keeper`] acts on the results through any [`xmargin_client::Chain`].
pub mod keeper;
pub mod scan;

pub use keeper::{Counters, Keeper, KeeperConfig, Logger};
