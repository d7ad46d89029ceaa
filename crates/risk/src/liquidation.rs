//! Liquidation sizing (below).
