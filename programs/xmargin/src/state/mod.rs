pub mod clearinghouse;

pub use clearinghouse::*;
