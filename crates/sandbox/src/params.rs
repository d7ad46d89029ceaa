//! Risk and listing parameters a fresh exchange starts with (the tests' and the demo's).
use anchor_lang::prelude::Pubkey;
use xmargin::instructions::{AddCollateralAssetParams, InitializeParams};
use xmargin::state::{
    AssetWeights, OracleGuard, OracleKind, StoredGrid, StoredRiskParams, StoredVolSurface,
    UnderlyingRisk,
};
use xmargin_risk::fx::fx_ratio;

/// USDC native units per USDC.
pub const USDC: u64 = 1_000_000;

/// numerator / denominator as I32F32 bits.
pub fn fx(numerator: i64, denominator: i64) -> i64 {
    fx_ratio(numerator, denominator).to_bits()
}

/// Prices for opening risk: at most 60 s / 150 slots old, confidence within 1 %.
pub fn strict_guard() -> OracleGuard {
    OracleGuard {
        max_age_secs: 60,
        max_age_slots: 150,
        max_conf_bps: 100,
    }
}

/// Prices for reducing risk: at most 10 min / 1,500 slots old, confidence within 5 %.
pub fn tolerant_guard() -> OracleGuard {
    OracleGuard {
        max_age_secs: 600,
        max_age_slots: 1_500,
        max_conf_bps: 500,
    }
}

/// Changes larger than a step wait a day.
pub const TIMELOCK_SECS: u32 = 86_400;

/// Fees 5/2 bps, liquidation 2.5 % (half to the liquidator), initial = 1.25 x maintenance.
pub fn initialize_params(risk_authority: Pubkey, quote_mint: Pubkey) -> InitializeParams {
    InitializeParams {
        risk_authority,
        quote_mint,
        taker_fee_bps: 5,
        maker_fee_bps: 2,
        liquidation_fee_bps: 250,
        risk_params: StoredRiskParams {
            initial_factor_bits: fx(5, 4),
            concentration_factor_bits: fx(1, 10),
            theta_horizon_secs: 86_400,
        },
        strict_oracle: strict_guard(),
        tolerant_oracle: tolerant_guard(),
        max_vol_step_bits: fx(10, 100),
        liquidation_end_fraction_bits: fx(1, 2),
        liquidator_fee_share_bps: 5_000,
        timelock_secs: TIMELOCK_SECS,
    }
}

/// A flat smile at `vol_percent`, clamped to 20 %–250 %.
pub fn flat_surface(vol_percent: i64) -> StoredVolSurface {
    StoredVolSurface {
        atm: fx(vol_percent, 100),
        skew: 0,
        smile: 0,
        min: fx(20, 100),
        max: fx(250, 100),
    }
}

/// Fills clear within 2 % of spot beyond the series' valuation.
pub const FILL_BAND_BPS: u16 = 200;
/// Open interest and position caps per series, in contracts: far above any scenario here.
pub const MAX_OPEN_INTEREST: u64 = 1_000_000_000_000;
pub const MAX_POSITION: u64 = 100_000_000_000;

/// Price ±15 % core grid, vol -20 %/+30 %, extended -50 %/+100 % at 30 % weight, fill band 2 %,
/// basis shock 10 %/year, calendar spread 0.5 %, caps far above any scenario.
pub fn underlying_risk(correlation_group: u8, beta_percent: i64) -> UnderlyingRisk {
    UnderlyingRisk {
        grid: StoredGrid {
            price_range: fx(15, 100),
            vol_down: fx(20, 100),
            vol_up: fx(30, 100),
            extended_down: fx(50, 100),
            extended_up: fx(100, 100),
            extended_weight: fx(30, 100),
        },
        rate: 0,
        beta: fx(beta_percent, 100),
        short_option_minimum: fx(1, 100),
        concentration_threshold: 1_000_000 * USDC,
        correlation_group,
        _padding: [0; 1],
        cache_spot_tolerance_bps: 50,
        cache_max_age_secs: 300,
        fill_band_bps: FILL_BAND_BPS,
        _band_padding: [0; 6],
        max_open_interest: MAX_OPEN_INTEREST,
        max_position: MAX_POSITION,
        basis_shock: fx(BASIS_SHOCK_PERCENT, 100),
        calendar_spread_minimum: fx(CALENDAR_SPREAD_MINIMUM_BPS, 10_000),
    }
}

/// A dated future may move against spot by 10 % of itself per year to expiry; each contract netted across tenors is
/// charged 0.5 % of its delta-notional.
pub const BASIS_SHOCK_PERCENT: i64 = 10;
pub const CALENDAR_SPREAD_MINIMUM_BPS: i64 = 50;

/// A volatile asset: 80 % / 90 % of its value as collateral, liabilities at 120 % / 110 %.
pub fn volatile_weights() -> AssetWeights {
    AssetWeights {
        init_asset: fx(80, 100),
        maint_asset: fx(90, 100),
        init_liab: fx(120, 100),
        maint_liab: fx(110, 100),
    }
}

/// The exponent of every price the sandbox publishes (`pyth`).
pub const PRICE_EXPONENT: i32 = -8;

/// A volatile collateral asset of `decimals` on a Pyth legacy oracle.
pub fn volatile_collateral(
    decimals: u8,
    liquidity_depth: u64,
    deposit_cap: u64,
) -> AddCollateralAssetParams {
    AddCollateralAssetParams {
        oracle_kind: OracleKind::PythLegacy,
        feed_id: [0; 32],
        weights: volatile_weights(),
        liquidity_depth,
        deposit_cap,
        decimals,
        exponent: PRICE_EXPONENT,
    }
}

/// The quote asset: no oracle, no haircut.
pub fn quote_params() -> AddCollateralAssetParams {
    AddCollateralAssetParams {
        oracle_kind: OracleKind::None,
        feed_id: [0; 32],
        weights: AssetWeights::unit(),
        liquidity_depth: 0,
        deposit_cap: u64::MAX / 4,
        decimals: 6,
        exponent: 0,
    }
}
