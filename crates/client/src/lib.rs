//! xmargin's Rust SDK: addresses ([`pda`]), one builder per instruction ([`instructions`]),
//! account decoding ([`accounts`]), a protocol snapshot that runs the program's own margin check
//! off chain ([`Protocol`], [`preview`]), compute-budget estimates ([`budget`]) and one
//! [`Chain`] trait over a real RPC node and the in-process runtime.
pub mod accounts;
pub mod budget;
#[cfg(feature = "chain")]
pub mod chain;
pub mod compose;
#[cfg(feature = "chain")]
pub mod config;
pub mod error;
pub mod instructions;
pub mod pda;
pub mod preview;
pub mod protocol;
pub mod snapshot;

#[cfg(feature = "chain")]
pub use chain::{BanksChain, Chain, RpcChain, Sent};
pub use error::{ClientError, ClientResult};
pub use protocol::Protocol;
