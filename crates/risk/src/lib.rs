//! xmargin-risk: the pure portfolio-margin engine of xmargin.
//!
//! Deterministic fixed-point arithmetic (`fixed::types::I32F32` for normalised quantities, `i128`
//! for money) with no floating point and no Solana types, so the program, the SDK, the keeper
//! and the frontends all compute the same numbers.
//!
//! Flow: `Market::new` prepares the grid constants of each underlying; `series::series_risk`
//! turns a series into its mark and bounds; `portfolio::margin` aggregates an account's
//! positions per underlying, evaluates every scenario, nets underlyings through the factor
//! correlation (`grid::aggregate`) and values the collateral (`collateral`). `window` turns an
//! option's bounds into ones valid over a window of spot and time, which a crank caches.
pub mod bs;
pub mod collateral;
pub mod error;
pub mod fill;
pub mod fx;
pub mod grid;
pub mod liquidation;
pub mod math;
pub mod model;
pub mod portfolio;
pub mod price_band;
pub mod series;
pub mod window;
#[rustfmt::skip]
mod tables;

pub use error::{RiskError, RiskResult};
pub use fx::Fx;
pub use model::{
    Collateral, Instrument, Position, RiskParams, ScenarioGrid, Underlying, VolSurface,
};
pub use portfolio::{margin, margin_priced, MarginReport, MarginScratch, Market, PricedPosition};
