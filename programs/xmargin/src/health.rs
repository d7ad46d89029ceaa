//! Account plumbing for margin checks: reads markets, oracles and the collateral registry into
//! the engine's inputs, then asks `xmargin-risk` for the verdict. No risk math lives here.
//!
//! A check receives every account it may need in one slice (named accounts plus remaining
//! accounts): one `Market` per underlying the margin accounts touch and one oracle per distinct
//! price feed (markets and non-quote collateral). Order does not matter; accounts are found by
//! address and verified by owner, discriminator and registered key.
use core::cell::Ref;

use anchor_lang::prelude::*;
use xmargin_risk::portfolio::{margin_priced, UnderlyingConstants};
use xmargin_risk::price_band::initial_health_in_band;
use xmargin_risk::series::SeriesRisk;
use xmargin_risk::{
    Collateral, Fx, Instrument, MarginReport, Position, PricedPosition, Underlying,
};

use crate::error::{risk_error, XmarginError};
use crate::oracle::{read_oracle, scale_pow10_floor, scaled_fx_floor, OraclePrice, OracleUse};
use crate::state::{
    Clearinghouse, CollateralRegistry, MarginAccount, Market, OracleKind, RiskCache, QUOTE_ASSET,
};

/// A margin account's verdict.
#[derive(Clone, Debug)]
pub struct Health {
    pub report: MarginReport,
    /// Initial health at conservative prices (`price_band`).
    pub init_health: i128,
}

impl Health {
    pub fn maint_health(&self) -> i64 {
        self.report.maint_health()
    }
}

struct LoadedMarket {
    index: u8,
    underlying: Underlying,
    constants: UnderlyingConstants,
    band: Fx,
}

#[derive(Clone, Copy)]
struct SeriesInfo {
    market: u8,
    series: u8,
    instrument: Instrument,
    funding_index: i64,
    loss_index: i64,
    /// Whether `risk` came from the market's `RiskCache`.
    cached: bool,
    /// Computed (or read from the cache) once per instruction and shared by every account and
    /// evaluation using it.
    risk: SeriesRisk,
}

struct LoadedAsset {
    index: u8,
    price: Fx,
    low: Fx,
}

/// Prices and parameters of everything the accounts under check refer to, read once.
pub struct RiskContext {
    markets: Vec<LoadedMarket>,
    /// Every series the accounts hold or trade.
    instruments: Vec<SeriesInfo>,
    assets: Vec<LoadedAsset>,
    engine: xmargin_risk::Market,
    registry_assets: Vec<(u8, crate::state::CollateralAsset)>,
}

/// What a check needs: markets and series from positions, assets from balances.
#[derive(Default)]
pub struct Needs {
    pub series: Vec<(u8, u8)>,
    pub assets: Vec<u8>,
}

impl Needs {
    pub fn add_account(&mut self, account: &MarginAccount) {
        for slot in account.open_positions() {
            self.add_series(slot.market, slot.series);
        }
        for balance in account.collateral.iter().filter(|b| b.in_use != 0) {
            if !self.assets.contains(&balance.asset) {
                self.assets.push(balance.asset);
            }
        }
    }

    pub fn add_series(&mut self, market: u8, series: u8) {
        if !self.series.contains(&(market, series)) {
            self.series.push((market, series));
        }
    }

    fn markets(&self) -> Vec<u8> {
        let mut markets: Vec<u8> = Vec::with_capacity(self.series.len());
        for (market, _) in &self.series {
            if !markets.contains(market) {
                markets.push(*market);
            }
        }
        markets
    }
}

/// Where a check finds markets and oracle prices: the instruction's accounts on chain
/// (`InstructionAccounts`); decoded snapshots in the SDK, keeper and tests.
pub trait StateSource {
    /// The `Market` of `index`, or `UnknownMarket`.
    fn market(&self, index: u8) -> Result<Ref<'_, Market>>;
    /// The unchecked price of the oracle at `key`, or `MissingOracle`.
    fn oracle(&self, key: &Pubkey, kind: OracleKind, feed_id: &[u8; 32]) -> Result<OraclePrice>;
    /// The `RiskCache` at `key` if it was passed (it is optional: without it the check computes
    /// every option's bounds itself).
    fn risk_cache(&self, key: &Pubkey) -> Option<Ref<'_, RiskCache>>;
}

/// The accounts passed to an instruction, in any order.
pub struct InstructionAccounts<'a, 'info>(pub &'a [AccountInfo<'info>]);

/// `info` as a zero-copy account `T` of this program if it is one: owned by the program, exactly
/// `8 + size_of::<T>()` bytes, with `T`'s discriminator. Only this program writes those
/// (`Market`s one per index at their PDA, `RiskCache`s adopted by a market), so no address
/// derivation is needed; which one it is comes from its contents or the market's key.
fn as_zero_copy<'a, T>(info: &'a AccountInfo) -> Option<Ref<'a, T>>
where
    T: bytemuck::Pod + anchor_lang::Discriminator,
{
    if *info.owner != crate::ID {
        return None;
    }
    let data = info.try_borrow_data().ok()?;
    if data.len() != 8 + core::mem::size_of::<T>() || !data.starts_with(T::DISCRIMINATOR) {
        return None;
    }
    Ref::filter_map(data, |d| bytemuck::try_from_bytes::<T>(&d[8..]).ok()).ok()
}

impl StateSource for InstructionAccounts<'_, '_> {
    fn market(&self, index: u8) -> Result<Ref<'_, Market>> {
        self.0
            .iter()
            .filter_map(as_zero_copy::<Market>)
            .find(|market| market.index == index)
            .ok_or_else(|| error!(XmarginError::UnknownMarket))
    }

    fn oracle(&self, key: &Pubkey, kind: OracleKind, feed_id: &[u8; 32]) -> Result<OraclePrice> {
        let info = self
            .0
            .iter()
            .find(|info| same_key(info.key, key))
            .ok_or_else(|| error!(XmarginError::MissingOracle))?;
        read_oracle(info, kind, feed_id)
    }

    fn risk_cache(&self, key: &Pubkey) -> Option<Ref<'_, RiskCache>> {
        let info = self.0.iter().find(|info| same_key(info.key, key))?;
        as_zero_copy::<RiskCache>(info)
    }
}

/// `a == b`, deciding on the first eight bytes where they differ: a full 32-byte comparison is a
/// `memcmp` syscall on SBF, and lookups scan every account of the instruction.
fn same_key(a: &Pubkey, b: &Pubkey) -> bool {
    let prefix = |key: &Pubkey| {
        let bytes = key.as_ref();
        u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ])
    };
    prefix(a) == prefix(b) && a == b
}

impl RiskContext {
    /// From the instruction's accounts.
    pub fn load(
        clearinghouse: &Clearinghouse,
        registry: &CollateralRegistry,
        accounts: &[AccountInfo],
        needs: &Needs,
        oracle_use: OracleUse,
        clock: &Clock,
    ) -> Result<Self> {
        Self::from_source(
            clearinghouse,
            registry,
            &InstructionAccounts(accounts),
            needs,
            oracle_use,
            clock,
        )
    }

    /// From any source of markets and prices, with the same checks as on chain.
    pub fn from_source(
        clearinghouse: &Clearinghouse,
        registry: &CollateralRegistry,
        source: &impl StateSource,
        needs: &Needs,
        oracle_use: OracleUse,
        clock: &Clock,
    ) -> Result<Self> {
        let guard = match oracle_use {
            OracleUse::OpenRisk => &clearinghouse.strict_oracle,
            OracleUse::ReduceRisk => &clearinghouse.tolerant_oracle,
        };
        let quote_decimals = registry.asset(QUOTE_ASSET)?.decimals as i32;
        let mut markets = Vec::new();
        let mut instruments = Vec::with_capacity(needs.series.len());
        for index in needs.markets() {
            let market = source.market(index)?;
            let oracle = source.oracle(&market.oracle, market.oracle_kind()?, &market.feed_id)?;
            oracle.check(guard, clock)?;
            let spot = spot_per_contract(&oracle, &market, quote_decimals)?;
            let cache = (market.risk_cache != Pubkey::default())
                .then(|| source.risk_cache(&market.risk_cache))
                .flatten();
            markets.push(LoadedMarket {
                index,
                underlying: market.underlying(spot),
                constants: market.constants()?,
                band: oracle.band()?,
            });
            for (_, series) in needs.series.iter().filter(|(m, _)| *m == index) {
                push_series(
                    &mut instruments,
                    &market,
                    *series,
                    cache.as_deref(),
                    spot,
                    clock.unix_timestamp,
                )?;
            }
        }
        let mut assets = Vec::with_capacity(needs.assets.len());
        let mut registry_assets = Vec::with_capacity(needs.assets.len());
        for index in &needs.assets {
            let asset = registry.asset(*index)?;
            registry_assets.push((*index, *asset));
            if *index == QUOTE_ASSET {
                assets.push(LoadedAsset {
                    index: *index,
                    price: Fx::ONE,
                    low: Fx::ONE,
                });
                continue;
            }
            let oracle = source.oracle(&asset.oracle, asset.oracle_kind()?, &asset.feed_id)?;
            oracle.check(guard, clock)?;
            let exponent = oracle.expo + quote_decimals - asset.decimals as i32;
            assets.push(LoadedAsset {
                index: *index,
                price: scaled_fx_floor(oracle.price, exponent)?,
                low: scaled_fx_floor(oracle.low(), exponent)?,
            });
        }
        let underlyings: Vec<Underlying> = markets.iter().map(|m| m.underlying).collect();
        let constants: Vec<UnderlyingConstants> = markets.iter().map(|m| m.constants).collect();
        let engine = xmargin_risk::Market::with_constants(
            &underlyings,
            &constants,
            clearinghouse.risk_params.to_risk(),
            clock.unix_timestamp,
        )
        .map_err(risk_error)?;
        for info in instruments.iter_mut().filter(|info| !info.cached) {
            let local = markets
                .iter()
                .position(|m| m.index == info.market)
                .ok_or_else(|| error!(XmarginError::UnknownMarket))?;
            info.risk = series_risk(&engine, local as u8, info.instrument)?;
        }
        Ok(Self {
            markets,
            instruments,
            assets,
            engine,
            registry_assets,
        })
    }

    /// The market index of the engine's underlying `local` (breakdowns are by local index).
    pub fn market_of(&self, local: u8) -> Option<u8> {
        self.markets.get(local as usize).map(|m| m.index)
    }

    fn local_market(&self, index: u8) -> Result<u8> {
        self.markets
            .iter()
            .position(|m| m.index == index)
            .map(|local| local as u8)
            .ok_or_else(|| error!(XmarginError::UnknownMarket))
    }

    fn series_info(&self, market: u8, series: u8) -> Result<&SeriesInfo> {
        self.instruments
            .iter()
            .find(|info| info.market == market && info.series == series)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))
    }

    /// Settles what every position owes since it was last touched (perp funding, socialized
    /// losses), and opens `also` (the series about to be filled) at the current indices so a
    /// new position owes nothing from before. Returns the total paid.
    pub fn settle_accruals(
        &self,
        account: &mut MarginAccount,
        also: Option<(u8, u8)>,
    ) -> Result<i64> {
        let mut keys: Vec<(u8, u8)> = account
            .open_positions()
            .map(|slot| (slot.market, slot.series))
            .collect();
        if let Some(key) = also {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let mut paid: i64 = 0;
        for (market, series) in keys {
            let info = self.series_info(market, series)?;
            let mut owed = account.settle_loss(market, series, info.loss_index)?;
            if info.instrument == Instrument::Perpetual {
                owed = owed
                    .checked_add(account.settle_funding(market, series, info.funding_index)?)
                    .ok_or_else(|| error!(XmarginError::MathOverflow))?;
            }
            paid = paid
                .checked_add(owed)
                .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        }
        Ok(paid)
    }

    /// The engine's view of `account`: positions with their series risk, collateral (the
    /// quote balance first) and the collateral's low prices.
    pub fn view(&self, account: &MarginAccount) -> Result<AccountView> {
        let mut positions = Vec::with_capacity(account.positions.len());
        let mut keys = Vec::with_capacity(account.positions.len());
        for slot in account.open_positions() {
            let info = self.series_info(slot.market, slot.series)?;
            let position = Position {
                underlying: self.local_market(slot.market)?,
                instrument: info.instrument,
                size: slot.size,
                cost_basis: slot.cost_basis,
            };
            positions.push(PricedPosition {
                position,
                risk: info.risk,
            });
            keys.push((slot.market, slot.series));
        }
        let mut collateral = Vec::with_capacity(account.collateral.len());
        let mut low_prices = Vec::with_capacity(account.collateral.len());
        let mut assets = Vec::with_capacity(account.collateral.len());
        for balance in account.collateral.iter().filter(|b| b.in_use != 0) {
            assets.push(balance.asset);
            let loaded = self
                .assets
                .iter()
                .find(|a| a.index == balance.asset)
                .ok_or_else(|| error!(XmarginError::MissingOracle))?;
            let (_, asset) = self
                .registry_assets
                .iter()
                .find(|(index, _)| *index == balance.asset)
                .ok_or_else(|| error!(XmarginError::UnknownCollateralAsset))?;
            collateral.push(asset.weights.collateral(
                balance.amount,
                loaded.price,
                asset.liquidity_depth,
            ));
            low_prices.push(loaded.low);
        }
        Ok(AccountView {
            positions,
            keys,
            collateral,
            assets,
            low_prices,
        })
    }

    pub fn health(&self, account: &MarginAccount) -> Result<Health> {
        let view = self.view(account)?;
        let report =
            margin_priced(&self.engine, &view.collateral, &view.positions).map_err(risk_error)?;
        let bands: Vec<Fx> = self.markets.iter().map(|m| m.band).collect();
        let init_health =
            initial_health_in_band(&report, &view.collateral, &view.low_prices, &bands)
                .map_err(risk_error)?;
        Ok(Health {
            report,
            init_health,
        })
    }

    pub fn engine(&self) -> &xmargin_risk::Market {
        &self.engine
    }

    /// How many of the series under check use cached risk.
    pub fn cached_series(&self) -> usize {
        self.instruments.iter().filter(|info| info.cached).count()
    }
}

/// An account as the engine sees it; `keys[i]` is the (market, series) of `positions[i]`.
pub struct AccountView {
    pub positions: Vec<PricedPosition>,
    pub keys: Vec<(u8, u8)>,
    pub collateral: Vec<Collateral>,
    /// Registry index of `collateral[i]`.
    pub assets: Vec<u8>,
    pub low_prices: Vec<Fx>,
}

/// Records one series of `market` for the check, with its cached risk when `cache` holds a
/// fresh entry for it. Out of line: a `SeriesRisk` and its copies would push the caller's SBF
/// frame past 4 KB.
#[inline(never)]
fn push_series(
    instruments: &mut Vec<SeriesInfo>,
    market: &Market,
    series: u8,
    cache: Option<&RiskCache>,
    spot: u64,
    now: i64,
) -> Result<()> {
    let stored = market.series(series)?;
    let cached =
        cache.and_then(|cache| cache.lookup(series, stored, market.risk_generation, spot, now));
    instruments.push(SeriesInfo {
        market: market.index,
        series,
        instrument: stored.instrument()?,
        funding_index: stored.funding_index,
        loss_index: stored.loss_index,
        cached: cached.is_some(),
        risk: cached.unwrap_or_default(),
    });
    Ok(())
}

/// One series' risk. Kept out of line: on SBF its locals would push the caller's frame past the
/// 4 KB stack limit.
#[inline(never)]
fn series_risk(
    engine: &xmargin_risk::Market,
    underlying: u8,
    instrument: Instrument,
) -> Result<SeriesRisk> {
    let probe = Position {
        underlying,
        instrument,
        size: 0,
        cost_basis: 0,
    };
    engine.series_risk(&probe).map_err(risk_error)
}

/// Oracle price of one contract in quote-native units:
/// price x 10^expo x contract_size / 10^contract_decimals x 10^quote_decimals, rounded down.
pub fn spot_per_contract(
    oracle: &OraclePrice,
    market: &Market,
    quote_decimals: i32,
) -> Result<u64> {
    let exponent = oracle.expo + quote_decimals - market.contract_decimals as i32;
    let value = (oracle.price as i128)
        .checked_mul(market.contract_size as i128)
        .ok_or_else(|| error!(XmarginError::MathOverflow))?;
    let spot = scale_pow10_floor(value, exponent)?;
    require!(spot > 0, XmarginError::OracleInvalid);
    u64::try_from(spot).map_err(|_| error!(XmarginError::MathOverflow))
}
