//! One event per state change, with enough fields for an indexer to follow balances and
//! positions without re-reading accounts.
use anchor_lang::prelude::*;

use crate::instructions::{LiquidationParams, RiskChange};
use crate::state::Role;

/// `emit!`, plus, off chain, the same "Program data: <base64>" line written through the
/// runtime's log stub: Anchor's native `sol_log_data` is a no-op, so without this the events of
/// a natively run program (solana-program-test) would be invisible to its tests.
#[macro_export]
macro_rules! emit_event {
    ($event:expr) => {{
        let event = $event;
        #[cfg(not(target_os = "solana"))]
        $crate::events::log_natively(&event);
        anchor_lang::prelude::emit!(event);
    }};
}

#[cfg(not(target_os = "solana"))]
pub fn log_natively<E: anchor_lang::Event>(event: &E) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(event.data());
    solana_sysvar::program_stubs::sol_log(&format!("Program data: {encoded}"));
}

use crate::state::{AssetWeights, OracleGuard, StoredRiskParams, StoredVolSurface, UnderlyingRisk};

#[event]
#[derive(Debug)]
pub struct ClearinghouseInitialized {
    pub admin: Pubkey,
    pub risk_authority: Pubkey,
    pub quote_mint: Pubkey,
    pub taker_fee_bps: u16,
    pub maker_fee_bps: u16,
    pub liquidation_fee_bps: u16,
}

#[event]
#[derive(Debug)]
pub struct CollateralAssetAdded {
    pub index: u8,
    pub mint: Pubkey,
    pub vault: Pubkey,
    pub oracle: Pubkey,
    pub weights: AssetWeights,
    pub liquidity_depth: u64,
    pub deposit_cap: u64,
}

#[event]
#[derive(Debug)]
pub struct CollateralAssetUpdated {
    pub index: u8,
    pub weights: AssetWeights,
    pub liquidity_depth: u64,
    pub deposit_cap: u64,
}

#[event]
#[derive(Debug)]
pub struct MarketAdded {
    pub index: u8,
    pub market: Pubkey,
    pub oracle: Pubkey,
    pub contract_size: u64,
    pub contract_decimals: u8,
}

#[event]
#[derive(Debug)]
pub struct SeriesAdded {
    pub market: u8,
    pub series: u8,
    pub kind: u8,
    pub strike: u64,
    pub expiry: i64,
}

#[event]
#[derive(Debug)]
pub struct VolSurfaceUpdated {
    pub market: u8,
    pub previous: StoredVolSurface,
    pub surface: StoredVolSurface,
}

#[event]
#[derive(Debug)]
pub struct MarketRiskUpdated {
    pub market: u8,
    pub risk: UnderlyingRisk,
}

#[event]
#[derive(Debug)]
pub struct RiskParamsUpdated {
    pub risk_params: StoredRiskParams,
    pub strict_oracle: OracleGuard,
    pub tolerant_oracle: OracleGuard,
    pub max_vol_step_bits: i64,
}

/// A role's holder proposed a key for it (`Pubkey::default()`: a proposal withdrawn).
#[event]
#[derive(Debug)]
pub struct RoleProposed {
    pub role: Role,
    pub holder: Pubkey,
    pub proposed: Pubkey,
}

/// The proposed key accepted the role: `previous` no longer holds it.
#[event]
#[derive(Debug)]
pub struct RoleAccepted {
    pub role: Role,
    pub previous: Pubkey,
    pub holder: Pubkey,
}

#[event]
#[derive(Debug)]
pub struct PauseFlagsSet {
    pub previous: u8,
    pub pause_flags: u8,
    /// The pause lapses at this Unix time unless renewed.
    pub expires_at: i64,
}

/// A change larger than a step waits in the timelock until `executable_at`.
#[event]
#[derive(Debug)]
pub struct ChangeQueued {
    pub id: u64,
    pub proposer: Pubkey,
    pub executable_at: i64,
    pub change: RiskChange,
}

/// A queued change applied (its own update event precedes this one).
#[event]
#[derive(Debug)]
pub struct ChangeExecuted {
    pub id: u64,
}

#[event]
#[derive(Debug)]
pub struct ChangeCancelled {
    pub id: u64,
    pub by: Pubkey,
}

/// Trade fees paid from the quote vault to a treasury.
#[event]
#[derive(Debug)]
pub struct FeesWithdrawn {
    pub amount: u64,
    /// Still accrued after this withdrawal.
    pub fees_accrued: u64,
    pub treasury: Pubkey,
}

#[event]
#[derive(Debug)]
pub struct LiquidationParamsUpdated {
    pub params: LiquidationParams,
}

#[event]
#[derive(Debug)]
pub struct MarginAccountCreated {
    pub account: Pubkey,
    pub owner: Pubkey,
    pub id: u16,
    pub mode: u8,
    pub isolated_market: u8,
}

#[event]
#[derive(Debug)]
pub struct MarginAccountClosed {
    pub account: Pubkey,
    pub owner: Pubkey,
}

#[event]
#[derive(Debug)]
pub struct DelegateSet {
    pub account: Pubkey,
    pub delegate: Pubkey,
}

#[event]
#[derive(Debug)]
pub struct Deposited {
    pub account: Pubkey,
    pub asset: u8,
    pub amount: u64,
    pub balance: i64,
}

#[event]
#[derive(Debug)]
pub struct Withdrawn {
    pub account: Pubkey,
    pub asset: u8,
    pub amount: u64,
    pub balance: i64,
    /// Initial health left after the withdrawal (conservative prices).
    pub init_health: i64,
}

#[event]
#[derive(Debug)]
pub struct TradeCleared {
    pub market: u8,
    pub series: u8,
    pub taker: Pubkey,
    pub maker: Pubkey,
    /// Contracts the taker bought (negative: sold).
    pub size: i64,
    pub price: u64,
    pub taker_fee: u64,
    pub maker_fee: u64,
    pub taker_position: i64,
    pub maker_position: i64,
    /// Quote realized into each side's balance by this trade (before fees).
    pub taker_realized: i64,
    pub maker_realized: i64,
}

#[event]
#[derive(Debug)]
pub struct InsuranceFundCreated {
    pub vault: Pubkey,
}

#[event]
#[derive(Debug)]
pub struct InsuranceFunded {
    pub funder: Pubkey,
    pub amount: u64,
    pub balance: u64,
}

#[event]
#[derive(Debug)]
pub struct InsuranceWithdrawn {
    pub amount: u64,
    pub balance: u64,
    pub destination: Pubkey,
}

#[event]
#[derive(Debug)]
pub struct PositionLiquidated {
    pub target: Pubkey,
    pub liquidator: Pubkey,
    pub market: u8,
    pub series: u8,
    /// Contracts moved from the target to the liquidator (signed as the target held them).
    pub quantity: i64,
    /// Quote value of the moved contracts at the target-adverse mark.
    pub value: i64,
    /// A pair step's second leg (`LiquidatePositionParams::paired_series`): its market and
    /// series, contracts and value as above; the fee is the pair's.
    pub paired_market: Option<u8>,
    pub paired_series: Option<u8>,
    pub paired_quantity: i64,
    pub paired_value: i64,
    pub fee: u64,
    pub liquidator_fee: u64,
    pub insurance_fee: u64,
    pub maint_health_before: i64,
    pub maint_health_after: i64,
    /// Health against the liquidation-end level after this step; the flag stays while < 0.
    pub end_health_after: i64,
}

#[event]
#[derive(Debug)]
pub struct SeriesSettled {
    pub market: u8,
    pub series: u8,
    /// Quote-native per contract.
    pub settlement_price: u64,
    pub publish_time: i64,
    /// Published after the settlement window: nobody proposed a price inside it.
    pub fallback: bool,
}

/// A settlement price proposed for an expired series: final at `final_at` unless a valid
/// price published earlier (still at or after expiry) replaces it first.
#[event]
#[derive(Debug)]
pub struct SettlementPriceProposed {
    pub market: u8,
    pub series: u8,
    /// Quote-native per contract.
    pub settlement_price: u64,
    pub publish_time: i64,
    pub final_at: i64,
    pub fallback: bool,
}

#[event]
#[derive(Debug)]
pub struct PositionSettled {
    pub account: Pubkey,
    pub market: u8,
    pub series: u8,
    pub size: i64,
    /// Quote-native per contract paid to longs.
    pub payoff: u64,
    /// Quote moved into the account's balance: size x payoff - cost basis.
    pub realized: i64,
}

#[event]
#[derive(Debug)]
pub struct FundingUpdated {
    pub market: u8,
    pub series: u8,
    /// The premium of recent banded volume over the index after this crank, ppm
    /// (`Series::premium_ppm_at`).
    pub premium_ppm: i64,
    pub index_price: u64,
    /// The clamped premium this crank accrued at, on average over its interval, ppm of the
    /// index per day (positive: longs pay).
    pub rate_ppm_per_day: i64,
    /// Accrued by this crank per long contract, quote-native.
    pub per_contract: i64,
    pub funding_index: i64,
}

#[event]
#[derive(Debug)]
pub struct CollateralLiquidated {
    pub target: Pubkey,
    pub liquidator: Pubkey,
    pub asset: u8,
    /// Native units moved from the target to the liquidator.
    pub amount: u64,
    /// Quote credited to the target's debt: amount x price x (1 - discount).
    pub paid: u64,
    pub liquidator_fee: u64,
    pub insurance_fee: u64,
    pub maint_health_before: i64,
    pub maint_health_after: i64,
    pub end_health_after: i64,
}

#[event]
#[derive(Debug)]
pub struct BankruptcyInsuranceCovered {
    pub account: Pubkey,
    /// Quote paid by the insurance fund into the account's debt.
    pub amount: u64,
    pub fund_balance_after: u64,
}

/// A bankrupt account's non-quote balance worth less than one quote unit to a liquidator,
/// taken into the protocol's fees of that asset so that dust cannot block the resolution.
#[event]
#[derive(Debug)]
pub struct DustSwept {
    pub account: Pubkey,
    pub asset: u8,
    pub amount: u64,
}

/// Debt left after the insurance fund with no open interest to socialize it across: the
/// protocol's accrued quote fees pay `from_fees`, `unbacked` is recorded in the registry.
#[event]
#[derive(Debug)]
pub struct BadDebtAbsorbed {
    pub account: Pubkey,
    pub from_fees: u64,
    pub unbacked: u64,
    pub unbacked_debt_after: u64,
}

#[event]
#[derive(Debug)]
pub struct LossSocialized {
    pub account: Pubkey,
    pub market: u8,
    pub series: u8,
    /// Debt left after the insurance fund, written off the account.
    pub amount: u64,
    /// Charged to every contract held on either side of the series, on its next touch.
    pub per_contract: u64,
    pub contracts: u64,
    /// per_contract x contracts - amount, credited to protocol fees.
    pub rounding: u64,
}

#[event]
#[derive(Debug)]
pub struct RiskCacheCreated {
    pub market: u8,
    pub risk_cache: Pubkey,
}

#[event]
#[derive(Debug)]
pub struct RiskCacheRefreshed {
    pub market: u8,
    pub first: u8,
    pub count: u8,
    /// Options whose entry was written (the rest of the range is not cacheable).
    pub refreshed: u8,
    pub spot_low: u64,
    pub spot_high: u64,
    pub valid_until: i64,
}
