//! The `xmargin` command line: [`demo`] (the main job) and [`trader`] commands.
pub mod admin;
pub mod console;
pub mod demo;
pub mod table;
pub mod trader;
