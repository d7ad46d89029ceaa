//! f64 reference for `xmargin-risk`: closed-form Black–Scholes and full revaluation of every
//! position on the engine's scenario grid. Used by tests, the strategy report and benchmarks;
//! never by the program.
pub mod accuracy;
pub mod bs;
pub mod fixtures;
pub mod portfolio;
