//! Account plumbing for margin checks: reads markets, oracles and the collateral registry into
//! the engine's inputs, then asks `xmargin-risk` for the verdict. No risk math lives here.
//!
//! A check receives every account it may need in one slice (named accounts plus remaining
//! accounts): one `Market` per underlying the margin accounts touch and one oracle per distinct
//! price feed (markets and non-quote collateral). Order does not matter; accounts are found by
//! address and verified by owner, discriminator and registered key.
use core::cell::{Cell, Ref, RefCell};
use std::borrow::Cow;

use anchor_lang::prelude::*;
use xmargin_risk::fill::FillBand;
use xmargin_risk::fx::mul_u64_wide;
use xmargin_risk::grid::{GridConstants, LevelSpan, FACTOR_LEVELS};
use xmargin_risk::model::MAX_UNDERLYINGS;
use xmargin_risk::portfolio::{
    margin_totals, underlying_result, Book, UnderlyingResult, UnderlyingSweep,
};
use xmargin_risk::price_band::initial_health_in_band;
use xmargin_risk::series::{linear, settled, SeriesRisk};
use xmargin_risk::{
    Collateral, Fx, Instrument, MarginReport, Position, PricedPosition, Underlying,
};

use crate::error::{risk_error, XmarginError};
use crate::oracle::{
    read_oracle, scale_pow10_floor, scaled_fx_floor, CollateralPricing, OraclePrice, OracleUse,
};
use crate::state::{
    Clearinghouse, CollateralRegistry, MarginAccount, Market, OracleKind, PositionSlot, RiskCache,
    MAX_ACCOUNT_POSITIONS, QUOTE_ASSET,
};

/// A margin account's verdict.
#[derive(Clone, Debug)]
pub struct Health {
    /// Totals only (`margin_totals`): `evaluate` has the per-underlying results.
    pub report: MarginReport,
    /// Initial health at conservative prices (`price_band`).
    pub init_health: i128,
}

impl Health {
    pub fn maint_health(&self) -> i64 {
        self.report.maint_health()
    }
}

/// The markets of a check, by engine index, built in place: what becomes the engine's
/// snapshot, plus each market's index and price band.
struct LoadedMarkets {
    indices: Vec<u8>,
    bands: Vec<Fx>,
    underlyings: Vec<Underlying>,
    grids: Vec<GridConstants>,
    spans: Vec<[LevelSpan; FACTOR_LEVELS]>,
}

impl LoadedMarkets {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            indices: Vec::with_capacity(capacity),
            bands: Vec::with_capacity(capacity),
            underlyings: Vec::with_capacity(capacity),
            grids: Vec::with_capacity(capacity),
            spans: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, index: u8, market: &Market, oracle: &OraclePrice, spot: u64) -> Result<()> {
        self.grids.push(GridConstants::default());
        if let Some(grid) = self.grids.last_mut() {
            market.read_grid_constants(grid)?;
        }
        self.spans.push(market.factor_spans());
        self.underlyings.push(market.underlying(spot));
        self.bands.push(oracle.band()?);
        self.indices.push(index);
        Ok(())
    }
}

struct SeriesInfo {
    market: u8,
    series: u8,
    /// The engine's index of `market`.
    local: u8,
    instrument: Instrument,
    funding_index: i64,
    loss_index: i64,
    /// Computed once per instruction (or read from the cache where used) and shared by every
    /// account and evaluation using it.
    terms: SeriesTerms,
}

/// A series' risk as a check keeps it. The heap allocator never frees and the heap is 32 KB:
/// only an option computed in the check gets an allocation for its ~540 bytes of bounds.
enum SeriesTerms {
    /// `xmargin_risk::series::linear(delta, error)` with the future's carry shocks
    /// (`carry: [rise, fall]`), rebuilt where used.
    Linear {
        delta: Fx,
        error: Fx,
        carry: [Fx; 2],
    },
    /// In the market's risk cache (slot = series index), decoded where used.
    Cached,
    /// Computed at load, for a series several evaluations use (`Needs::reused`).
    Live(Box<SeriesRisk>),
    /// Computed where used: one evaluation uses it.
    Deferred,
    /// A settled series, or one with a settlement price proposed: a fixed claim of `payoff`
    /// per contract (`xmargin_risk::series::settled`).
    Settled { payoff: u64 },
}

struct LoadedAsset {
    index: u8,
    price: Fx,
    low: Fx,
    pricing: CollateralPricing,
    weights: crate::state::AssetWeights,
    liquidity_depth: u64,
}

/// Prices and parameters of everything the accounts under check refer to, read once; `'s` is
/// the source's (the instruction's accounts'), whose risk caches it reads in place.
pub struct RiskContext<'s> {
    /// Market index of each engine underlying.
    markets: Vec<u8>,
    /// Price band of each engine underlying (`OraclePrice::band`).
    bands: Vec<Fx>,
    /// Every series the accounts hold or trade.
    instruments: Vec<SeriesInfo>,
    /// (market << 8 | series, index in `instruments`), sorted: positions find their series in
    /// O(log n) (a linear scan per position made a check quadratic in its positions).
    series_lookup: Vec<(u16, u16)>,
    assets: Vec<LoadedAsset>,
    /// Each engine underlying's risk cache, when one was passed and holds any series in use.
    caches: Vec<Option<Ref<'s, RiskCache>>>,
    engine: xmargin_risk::Market,
    /// What `health` margins in.
    scratch: RefCell<Option<Check>>,
}

/// What a check needs: markets and series from positions, assets from balances.
#[derive(Default)]
pub struct Needs {
    pub series: Vec<(u8, u8)>,
    /// Series more than one evaluation uses: the one traded or liquidated, those two accounts
    /// share, those of an account checked before and after. A live option among them is
    /// priced once and kept; any other is priced where used, and the heap keeps no bounds.
    pub reused: Vec<(u8, u8)>,
    pub assets: Vec<u8>,
}

impl Needs {
    pub fn add_account(&mut self, account: &MarginAccount) {
        // An account holds each series in one slot: the first account's series need no
        // duplicate check (a scan per position made this quadratic in the positions).
        let first = self.series.is_empty();
        for slot in account.open_positions() {
            let key = (slot.market, slot.series);
            if first || !self.series.contains(&key) {
                self.series.push(key);
            } else {
                self.reuse(key);
            }
        }
        for balance in account.collateral.iter().filter(|b| b.in_use != 0) {
            if !self.assets.contains(&balance.asset) {
                self.assets.push(balance.asset);
            }
        }
    }

    /// A series about to be traded or liquidated: evaluated with both accounts.
    pub fn add_series(&mut self, market: u8, series: u8) {
        if !self.series.contains(&(market, series)) {
            self.series.push((market, series));
        }
        self.reuse((market, series));
    }

    /// `account` (already added) is evaluated twice: before and after a trade.
    pub fn reuse_account(&mut self, account: &MarginAccount) {
        for slot in account.open_positions() {
            self.reuse((slot.market, slot.series));
        }
    }

    fn reuse(&mut self, key: (u8, u8)) {
        if !self.reused.contains(&key) {
            self.reused.push(key);
        }
    }

    fn markets(&self) -> Vec<u8> {
        let mut markets: Vec<u8> = Vec::with_capacity(self.series.len());
        for (market, _) in &self.series {
            if !markets.contains(market) {
                markets.push(*market);
            }
        }
        // By index: the order clients pass them in (`InstructionAccounts` hints).
        markets.sort_unstable();
        markets
    }
}

/// Where a check finds markets and oracle prices: the instruction's accounts on chain
/// (`InstructionAccounts`); decoded snapshots in the SDK, keeper and tests.
pub trait StateSource<'s> {
    /// The `Market` of `index`, or `UnknownMarket`.
    fn market(&self, index: u8) -> Result<Ref<'_, Market>>;
    /// The unchecked price of the oracle at `key`, or `MissingOracle`.
    fn oracle(&self, key: &Pubkey, kind: OracleKind, feed_id: &[u8; 32]) -> Result<OraclePrice>;
    /// The `RiskCache` at `key` if it was passed. A check reading options of a market that has
    /// a cache refuses to run without it (`RiskCacheRequired`): the cache's contents, not the
    /// caller, decide which options are valued from it. Borrowed for as long as the source
    /// (`'s`): the check reads cached bounds where it uses them.
    fn risk_cache(&self, key: &Pubkey) -> Option<Ref<'s, RiskCache>>;
}

/// The accounts passed to an instruction, in any order, indexed once: each market by its
/// index, every account by the first eight bytes of its key (lookups then scan a few words per
/// account instead of comparing owners and keys account by account).
pub struct InstructionAccounts<'a, 'info> {
    /// The market the instruction names (clear_trade, liquidate_position), as if it came
    /// first in `accounts` (joining them in a new list would cost ~50 heap bytes an account).
    named: Option<&'a AccountInfo<'info>>,
    accounts: &'a [AccountInfo<'info>],
    /// (market index, position in `accounts`) of every `Market` passed.
    markets: Vec<(u8, usize)>,
    key_prefixes: Vec<u64>,
    /// Where the next oracle and the next risk cache are looked for first: clients pass them
    /// in the order a check reads them (markets by index, then their oracles, the collateral
    /// oracles, the caches), so each lookup is a step or two instead of a scan from the start.
    oracle_hint: Cell<usize>,
    cache_hint: Cell<usize>,
}

impl<'a, 'info> InstructionAccounts<'a, 'info> {
    pub fn new(named: Option<&'a AccountInfo<'info>>, accounts: &'a [AccountInfo<'info>]) -> Self {
        let all = named.into_iter().chain(accounts);
        let markets = all
            .clone()
            .enumerate()
            .filter_map(|(at, info)| as_zero_copy::<Market>(info).map(|m| (m.index, at)))
            .collect();
        let key_prefixes = all.map(|info| key_prefix(info.key)).collect();
        Self {
            named,
            accounts,
            markets,
            key_prefixes,
            oracle_hint: Cell::new(0),
            cache_hint: Cell::new(0),
        }
    }

    /// The account with `key`, searched from `hint` on and then from the start; `hint` moves
    /// past it.
    fn find(&self, key: &Pubkey, hint: &Cell<usize>) -> Option<&'a AccountInfo<'info>> {
        let prefix = key_prefix(key);
        let len = self.key_prefixes.len();
        let start = hint.get().min(len);
        let at = (start..len).chain(0..start).find(|at| {
            self.key_prefixes.get(*at) == Some(&prefix)
                && self.get(*at).is_some_and(|info| info.key == key)
        })?;
        hint.set(at + 1);
        self.get(at)
    }

    /// The account at `at`, counting `named` first.
    fn get(&self, at: usize) -> Option<&'a AccountInfo<'info>> {
        match (self.named, at) {
            (Some(named), 0) => Some(named),
            (Some(_), at) => self.accounts.get(at - 1),
            (None, at) => self.accounts.get(at),
        }
    }
}

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

impl<'a> StateSource<'a> for InstructionAccounts<'a, '_> {
    fn market(&self, index: u8) -> Result<Ref<'_, Market>> {
        self.markets
            .iter()
            .find(|(i, _)| *i == index)
            .and_then(|(_, at)| as_zero_copy::<Market>(self.get(*at)?))
            .ok_or_else(|| error!(XmarginError::UnknownMarket))
    }

    fn oracle(&self, key: &Pubkey, kind: OracleKind, feed_id: &[u8; 32]) -> Result<OraclePrice> {
        let info = self
            .find(key, &self.oracle_hint)
            .ok_or_else(|| error!(XmarginError::MissingOracle))?;
        read_oracle(info, kind, feed_id)
    }

    fn risk_cache(&self, key: &Pubkey) -> Option<Ref<'a, RiskCache>> {
        as_zero_copy::<RiskCache>(self.find(key, &self.cache_hint)?)
    }
}

/// The first eight bytes of a key: lookups compare them before the full 32 bytes (a `memcmp`
/// syscall on SBF).
fn key_prefix(key: &Pubkey) -> u64 {
    let bytes = key.as_ref();
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

impl<'s> RiskContext<'s> {
    /// From the instruction's accounts: the market it names, if any, and the others.
    pub fn load<'info>(
        clearinghouse: &Clearinghouse,
        registry: &CollateralRegistry,
        named_market: Option<&'s AccountInfo<'info>>,
        accounts: &'s [AccountInfo<'info>],
        needs: &Needs,
        oracle_use: OracleUse,
        clock: &Clock,
    ) -> Result<Self> {
        Self::from_source(
            clearinghouse,
            registry,
            &InstructionAccounts::new(named_market, accounts),
            needs,
            oracle_use,
            clock,
        )
    }

    /// From any source of markets and prices, with the same checks as on chain.
    pub fn from_source(
        clearinghouse: &Clearinghouse,
        registry: &CollateralRegistry,
        source: &impl StateSource<'s>,
        needs: &Needs,
        oracle_use: OracleUse,
        clock: &Clock,
    ) -> Result<Self> {
        let guard = match oracle_use {
            OracleUse::OpenRisk | OracleUse::Liquidate => &clearinghouse.strict_oracle,
            OracleUse::ReduceRisk => &clearinghouse.tolerant_oracle,
        };
        let quote_decimals = registry.asset(QUOTE_ASSET)?.decimals as i32;
        let market_indices = needs.markets();
        // Sized by markets, not series: a grid's constants are ~1 KB of a bump heap that
        // never frees.
        let mut markets = LoadedMarkets::with_capacity(market_indices.len());
        let mut instruments = Vec::with_capacity(needs.series.len());
        let mut caches = Vec::with_capacity(market_indices.len());
        for index in market_indices {
            let market = source.market(index)?;
            let oracle = source.oracle(&market.oracle, market.oracle_kind()?, &market.feed_id)?;
            oracle.check(guard, clock)?;
            let spot = spot_per_contract(&oracle, &market, quote_decimals)?;
            let cache = (market.risk_cache != Pubkey::default())
                .then(|| source.risk_cache(&market.risk_cache))
                .flatten();
            // One valuation whoever calls: where the market has a cache, whether an option is
            // valued from it depends on the cache's contents, never on the caller passing it.
            require!(
                cache.is_some()
                    || market.risk_cache == Pubkey::default()
                    || !reads_options(&market, needs, index)?,
                XmarginError::RiskCacheRequired
            );
            markets.push(index, &market, &oracle, spot)?;
            let mut cache_used = false;
            for (_, series) in needs.series.iter().filter(|(m, _)| *m == index) {
                cache_used |= push_series(
                    &mut instruments,
                    &market,
                    markets.indices.len() as u8 - 1,
                    *series,
                    cache.as_deref(),
                    needs.reused.contains(&(index, *series)),
                    spot,
                    clock.unix_timestamp,
                )?;
            }
            caches.push(cache.filter(|_| cache_used));
        }
        let mut assets = Vec::with_capacity(needs.assets.len());
        for index in &needs.assets {
            let asset = registry.asset(*index)?;
            if *index == QUOTE_ASSET {
                assets.push(LoadedAsset {
                    index: *index,
                    price: Fx::ONE,
                    low: Fx::ONE,
                    pricing: CollateralPricing::Valid,
                    weights: asset.weights,
                    liquidity_depth: asset.liquidity_depth,
                });
                continue;
            }
            // A missing account is an error in every mode: only a feed the caller cannot
            // choose (presented, but halted or stale) lowers a value.
            let oracle = source.oracle(&asset.oracle, asset.oracle_kind()?, &asset.feed_id)?;
            let exponent = oracle.expo + quote_decimals - asset.decimals as i32;
            let pricing = collateral_pricing(&oracle, oracle_use, clearinghouse, clock)?;
            let (price, low) = match pricing {
                CollateralPricing::Valid => (
                    scaled_fx_floor(oracle.price, exponent)?,
                    scaled_fx_floor(oracle.low(), exponent)?,
                ),
                CollateralPricing::Low => {
                    let low = scaled_fx_floor(oracle.low(), exponent)?;
                    (low, low)
                }
                CollateralPricing::Zero => (Fx::ZERO, Fx::ZERO),
            };
            assets.push(LoadedAsset {
                index: *index,
                price,
                low,
                pricing,
                weights: asset.weights,
                liquidity_depth: asset.liquidity_depth,
            });
        }
        let engine = xmargin_risk::Market::from_parts(
            markets.underlyings,
            markets.grids,
            markets.spans,
            clearinghouse.risk_params.to_risk(),
            clock.unix_timestamp,
        )
        .map_err(risk_error)?;
        for info in instruments.iter_mut() {
            match &mut info.terms {
                SeriesTerms::Linear {
                    delta,
                    error,
                    carry,
                } => {
                    let risk = series_risk(&engine, info.local, info.instrument)?;
                    *delta = risk.delta;
                    *error = risk.mark_high - risk.delta;
                    *carry = [risk.carry_rise, risk.carry_fall];
                }
                SeriesTerms::Live(slot) => {
                    **slot = series_risk(&engine, info.local, info.instrument)?
                }
                SeriesTerms::Cached | SeriesTerms::Deferred | SeriesTerms::Settled { .. } => {}
            }
        }
        let mut series_lookup: Vec<(u16, u16)> = instruments
            .iter()
            .enumerate()
            .map(|(at, info)| (series_key(info.market, info.series), at as u16))
            .collect();
        series_lookup.sort_unstable();
        Ok(Self {
            markets: markets.indices,
            bands: markets.bands,
            instruments,
            series_lookup,
            assets,
            caches,
            engine,
            scratch: RefCell::new(None),
        })
    }

    /// How collateral `asset` was priced (`Valid` for an asset the check did not load).
    pub fn collateral_pricing(&self, asset: u8) -> CollateralPricing {
        self.assets
            .iter()
            .find(|a| a.index == asset)
            .map_or(CollateralPricing::Valid, |a| a.pricing)
    }

    /// The market index of the engine's underlying `local` (breakdowns are by local index).
    pub fn market_of(&self, local: u8) -> Option<u8> {
        self.markets.get(local as usize).copied()
    }

    /// Where (market, series) sits in `instruments`.
    fn series_at(&self, market: u8, series: u8) -> Result<usize> {
        let key = series_key(market, series);
        self.series_lookup
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()
            .and_then(|found| self.series_lookup.get(found))
            .map(|(_, at)| *at as usize)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))
    }

    fn series_info(&self, market: u8, series: u8) -> Result<&SeriesInfo> {
        let at = self.series_at(market, series)?;
        self.instruments
            .get(at)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))
    }

    /// The engine's position for an account's slot, and its series risk.
    pub fn position_of(&self, slot: &PositionSlot) -> Result<(Position, Cow<'_, SeriesRisk>)> {
        let info = self.series_info(slot.market, slot.series)?;
        Ok((engine_position(info, slot), self.risk_of(info)?))
    }

    fn risk_of<'c>(&'c self, info: &'c SeriesInfo) -> Result<Cow<'c, SeriesRisk>> {
        match &info.terms {
            SeriesTerms::Linear {
                delta,
                error,
                carry: [carry_rise, carry_fall],
            } => {
                let mut risk = linear(*delta, *error).map_err(risk_error)?;
                risk.carry_rise = *carry_rise;
                risk.carry_fall = *carry_fall;
                Ok(Cow::Owned(risk))
            }
            SeriesTerms::Cached => self
                .caches
                .get(info.local as usize)
                .and_then(Option::as_deref)
                .ok_or_else(|| error!(XmarginError::WrongRiskCache))?
                .risk(info.series)
                .map(Cow::Owned),
            SeriesTerms::Live(risk) => Ok(Cow::Borrowed(risk)),
            SeriesTerms::Settled { payoff } => Ok(Cow::Owned(settled(*payoff))),
            SeriesTerms::Deferred => {
                series_risk(&self.engine, info.local, info.instrument).map(Cow::Owned)
            }
        }
    }

    /// Settles what every position owes since it was last touched (perp funding, socialized
    /// losses), and opens `also` (the series about to be filled) at the current indices so a
    /// new position owes nothing from before. Returns the total paid.
    pub fn settle_accruals(&self, account: &mut MarginAccount, also: &[(u8, u8)]) -> Result<i64> {
        for &(market, series) in also {
            // Opened (size 0) so it takes the current indices below.
            account.position_slot_mut(market, series)?;
        }
        let mut paid: i64 = 0;
        for slot in account.positions.iter_mut().filter(|slot| slot.in_use != 0) {
            let info = self.series_info(slot.market, slot.series)?;
            let mut owed = slot.accrue_loss(info.loss_index)?;
            if info.instrument == Instrument::Perpetual {
                owed = owed
                    .checked_add(slot.accrue_funding(info.funding_index)?)
                    .ok_or_else(|| error!(XmarginError::MathOverflow))?;
            }
            paid = paid
                .checked_add(owed)
                .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        }
        let debit = paid
            .checked_neg()
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        account.add_quote(debit)?;
        Ok(paid)
    }

    /// The engine's view of `account`: positions with their series risk, collateral (the
    /// quote balance first) and the collateral's low prices.
    // Out of line: a perp's or future's rebuilt `SeriesRisk` (~600 bytes) lives in this frame.
    #[inline(never)]
    pub fn view(&self, account: &MarginAccount) -> Result<AccountView> {
        let mut positions = Vec::with_capacity(account.positions.len());
        let mut keys = Vec::with_capacity(account.positions.len());
        for slot in account.open_positions() {
            let (position, risk) = self.position_of(slot)?;
            positions.push(PricedPosition {
                position,
                risk: risk.into_owned(),
            });
            keys.push((slot.market, slot.series));
        }
        let collateral = self.collateral_values(account)?;
        Ok(AccountView {
            positions,
            keys,
            collateral: collateral.values,
            assets: collateral.assets,
            low_prices: collateral.low_prices,
        })
    }

    /// The account's collateral after haircuts, quote balance first.
    pub fn collateral_values(&self, account: &MarginAccount) -> Result<CollateralView> {
        let mut view = CollateralView::default();
        self.collateral_into(account, &mut view)?;
        Ok(view)
    }

    /// `collateral_values` written into `view`, reusing its allocations.
    fn collateral_into(&self, account: &MarginAccount, view: &mut CollateralView) -> Result<()> {
        let held = account.collateral.iter().filter(|b| b.in_use != 0);
        // Exact: the heap never frees.
        let count = held.clone().count();
        reserve_for(&mut view.values, count);
        reserve_for(&mut view.assets, count);
        reserve_for(&mut view.low_prices, count);
        for balance in held {
            let loaded = self
                .assets
                .iter()
                .find(|a| a.index == balance.asset)
                .ok_or_else(|| error!(XmarginError::MissingOracle))?;
            // Only an asset may be priced down: a liability needs a valid price.
            require!(
                balance.amount >= 0 || loaded.pricing == CollateralPricing::Valid,
                XmarginError::OracleStale
            );
            view.values.push(loaded.weights.collateral(
                balance.amount,
                loaded.price,
                loaded.liquidity_depth,
            ));
            view.assets.push(balance.asset);
            view.low_prices.push(loaded.low);
        }
        Ok(())
    }

    /// Margins `account`, keeping what a later re-margin of the same account can reuse (a
    /// `Book`: an exposure per underlying held).
    // Out of line: a perp's or future's rebuilt `SeriesRisk` (~600 bytes) lives in this frame.
    #[inline(never)]
    pub fn evaluate(&self, account: &MarginAccount) -> Result<AccountRisk> {
        let mut into = AccountRisk::empty(self.engine.underlyings.len());
        reserve_for(&mut into.held, account.open_positions().count());
        for slot in account.open_positions() {
            let (position, risk) = self.position_of(slot)?;
            into.book
                .add_position(&self.engine, &position, &risk)
                .map_err(risk_error)?;
            into.held.push(HeldPosition::of(slot));
        }
        into.book
            .results_into(&self.engine, &mut into.results)
            .map_err(risk_error)?;
        self.total_into(&mut into, account)?;
        Ok(into)
    }

    /// The collateral of `account` and the report of `into`'s results with it.
    fn total_into(&self, into: &mut AccountRisk, account: &MarginAccount) -> Result<()> {
        into.report = self.totals(
            &into.results,
            into.book.unrealized,
            account,
            &mut into.collateral,
        )?;
        Ok(())
    }

    /// `account`'s collateral, written into `collateral`, and the report of per-underlying
    /// `results` and `unrealized` PnL with it (totals only: no breakdown is allocated).
    fn totals(
        &self,
        results: &[Option<UnderlyingResult>],
        unrealized: i128,
        account: &MarginAccount,
        collateral: &mut CollateralView,
    ) -> Result<MarginReport> {
        self.collateral_into(account, collateral)?;
        margin_totals(
            &self.engine,
            results.iter().flatten(),
            unrealized,
            &collateral.values,
        )
        .map_err(risk_error)
    }

    /// `evaluate(account)` from an earlier evaluation of the same account: only the positions
    /// that changed are swapped in the book and only their underlyings re-evaluated. Exact:
    /// the book's sums are integers, so the outcome equals a fresh evaluation (tests).
    // Out of line: a perp's or future's rebuilt `SeriesRisk` (~600 bytes) lives in this frame.
    #[inline(never)]
    pub fn reevaluate(&self, prior: &mut AccountRisk, account: &MarginAccount) -> Result<()> {
        let mut dirty = [false; xmargin_risk::model::MAX_UNDERLYINGS];
        // Which of the positions held before the account still holds; `prior.held` is updated
        // in place (the heap never frees).
        let mut kept = [false; MAX_ACCOUNT_POSITIONS];
        let held_before = prior.held.len();
        for slot in account.open_positions() {
            let now = HeldPosition::of(slot);
            let before = prior.held[..held_before]
                .iter()
                .position(|h| h.key() == now.key());
            if let Some(at) = before {
                *kept
                    .get_mut(at)
                    .ok_or_else(|| error!(XmarginError::TooManyPositions))? = true;
                if prior.held[at] == now {
                    continue;
                }
            }
            let (position, risk) = self.position_of(slot)?;
            let own = prior
                .book
                .add_position(&self.engine, &position, &risk)
                .map_err(risk_error)?;
            mark_dirty(&mut dirty, own)?;
            match before {
                Some(at) => {
                    let gone = core::mem::replace(&mut prior.held[at], now);
                    self.remove_from_book(&mut prior.book, &gone, &mut dirty)?;
                }
                None => prior.held.push(now),
            }
        }
        // What was not kept was closed. From the end: `swap_remove` only moves positions
        // already looked at.
        for at in (0..held_before).rev() {
            if !kept[at] {
                let gone = prior.held.swap_remove(at);
                self.remove_from_book(&mut prior.book, &gone, &mut dirty)?;
            }
        }
        if let Some(last) = dirty.iter().rposition(|d| *d) {
            if prior.results.len() <= last {
                prior.results.resize(last + 1, None);
            }
        }
        for (own, result) in prior.results.iter_mut().enumerate() {
            if dirty.get(own).copied().unwrap_or(false) {
                let exposure = prior
                    .book
                    .exposure(own)
                    .ok_or_else(|| error!(XmarginError::UnknownMarket))?;
                *result = underlying_result(&self.engine, own, exposure).map_err(risk_error)?;
            }
        }
        self.total_into(prior, account)
    }

    /// Takes `gone` out of `book`.
    // Out of line: a perp's or future's rebuilt `SeriesRisk` (~600 bytes) lives in this frame.
    #[inline(never)]
    fn remove_from_book(
        &self,
        book: &mut Book,
        gone: &HeldPosition,
        dirty: &mut [bool; xmargin_risk::model::MAX_UNDERLYINGS],
    ) -> Result<()> {
        let (position, risk) = self.position_of(&gone.slot())?;
        let own = book
            .remove_position(&self.engine, &position, &risk)
            .map_err(risk_error)?;
        mark_dirty(dirty, own)
    }

    /// Initial health at conservative prices and the report of `account`, margined once: in the
    /// context's scratch sweep (one exposure, filled with one underlying's positions at a
    /// time), which the accounts an instruction checks one after the other share.
    pub fn health(&self, account: &MarginAccount) -> Result<Health> {
        let mut scratch = self
            .scratch
            .try_borrow_mut()
            // Not reentrant: nothing margins inside a margin check.
            .map_err(|_| error!(XmarginError::RiskEngine))?;
        let check = scratch.get_or_insert_with(Check::default);
        self.sweep_into(&mut check.sweep, account)?;
        let unrealized = check.sweep.unrealized;
        let results = check.sweep.results(&self.engine).map_err(risk_error)?;
        let report = self.totals(results, unrealized, account, &mut check.collateral)?;
        let collateral = &check.collateral;
        let init_health = initial_health_in_band(
            &report,
            results.iter().flatten().map(|r| &r.breakdown),
            &collateral.values,
            &collateral.low_prices,
            &self.bands,
        )
        .map_err(risk_error)?;
        Ok(Health {
            report,
            init_health,
        })
    }

    /// Gives `evaluated`'s memory to the scratch `health` margins in, if it has none yet: a
    /// liquidation's target evaluation, once checked, holds the liquidator's check.
    pub fn recycle(&self, evaluated: AccountRisk) {
        if let Ok(mut scratch) = self.scratch.try_borrow_mut() {
            if scratch.is_none() {
                *scratch = Some(Check {
                    sweep: UnderlyingSweep::reusing(evaluated.book, evaluated.results),
                    collateral: evaluated.collateral,
                });
            }
        }
    }

    /// Adds `account`'s positions to `sweep` by engine underlying, in ascending order, from one
    /// pass over the slots: each position is chained behind the one before it on its
    /// underlying.
    // Out of line: a perp's or future's rebuilt `SeriesRisk` (~600 bytes) lives in this frame.
    #[inline(never)]
    fn sweep_into(&self, sweep: &mut UnderlyingSweep, account: &MarginAccount) -> Result<()> {
        const END: u8 = u8::MAX;
        let mut first = [END; MAX_UNDERLYINGS];
        let mut next = [END; MAX_ACCOUNT_POSITIONS];
        let mut held: [Option<(&PositionSlot, &SeriesInfo)>; MAX_ACCOUNT_POSITIONS] =
            [None; MAX_ACCOUNT_POSITIONS];
        for (at, slot) in account.open_positions().enumerate() {
            let info = self.series_info(slot.market, slot.series)?;
            let head = first
                .get_mut(info.local as usize)
                .ok_or_else(|| error!(XmarginError::UnknownMarket))?;
            let entry = held
                .get_mut(at)
                .ok_or_else(|| error!(XmarginError::TooManyPositions))?;
            *entry = Some((slot, info));
            next[at] = *head;
            *head = at as u8;
        }
        // Results up to the last underlying held (sized exactly: the heap never frees).
        let used = first
            .iter()
            .rposition(|head| *head != END)
            .map_or(0, |last| last + 1);
        sweep.begin(used);
        for head in first {
            // Each link points to an earlier slot: the chain ends (at END, out of `held`).
            let mut at = head;
            while let Some(Some((slot, info))) = held.get(at as usize) {
                let risk = self.risk_of(info)?;
                sweep
                    .add_position(&self.engine, &engine_position(info, slot), &risk)
                    .map_err(risk_error)?;
                at = next[at as usize];
            }
        }
        Ok(())
    }

    /// The oracle price of one contract of `market`, quote-native: the spot this check values
    /// at and the index perp funding is paid against.
    pub fn spot(&self, market: u8) -> Result<u64> {
        self.markets
            .iter()
            .position(|m| *m == market)
            .and_then(|local| self.engine.underlyings.get(local))
            .map(|underlying| underlying.spot)
            .ok_or_else(|| error!(XmarginError::UnknownMarket))
    }

    /// Brings (market, series)'s funding up to now if it is a perp, before a fill or a
    /// liquidation changes its positions (`Series::accrue_funding`), and settles accounts
    /// against the new index from here on. `market` is the account of `market`'s index.
    pub fn accrue_funding(&mut self, market: &mut Market, series: u8, now: i64) -> Result<()> {
        if market.series(series)?.instrument()? != Instrument::Perpetual {
            return Ok(());
        }
        let index_price = self.spot(market.index)?;
        let stored = market.series_mut(series)?;
        stored.accrue_funding(index_price, now)?;
        let funding_index = stored.funding_index;
        let at = self.series_at(market.index, series)?;
        let info = self
            .instruments
            .get_mut(at)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))?;
        info.funding_index = funding_index;
        Ok(())
    }

    /// The prices one contract of (market, series) may fill at: the band around the model's
    /// value of the series at the current spot, widened by `widening` x spot
    /// (`xmargin_risk::fill`). A cached option is priced live here: the cache's marks are its
    /// window's corners, as far apart as the window is wide, which would widen the band.
    // Out of line: a live option's `SeriesRisk` (~600 bytes) lives in this frame.
    #[inline(never)]
    pub fn fill_band(&self, market: u8, series: u8, widening: Fx) -> Result<FillBand> {
        let info = self.series_info(market, series)?;
        let spot = self.spot(market)?;
        let risk = match info.terms {
            SeriesTerms::Cached => {
                Cow::Owned(series_risk(&self.engine, info.local, info.instrument)?)
            }
            _ => self.risk_of(info)?,
        };
        FillBand::of(&risk, spot, widening).map_err(risk_error)
    }

    pub fn engine(&self) -> &xmargin_risk::Market {
        &self.engine
    }

    /// How many of the series under check use cached risk.
    pub fn cached_series(&self) -> usize {
        self.instruments
            .iter()
            .filter(|info| matches!(info.terms, SeriesTerms::Cached))
            .count()
    }
}

/// Whether a check with `needs` reads an option series of `market` (at `index`).
fn reads_options(market: &Market, needs: &Needs, index: u8) -> Result<bool> {
    for (_, series) in needs.series.iter().filter(|(m, _)| *m == index) {
        if matches!(
            market.series(*series)?.instrument()?,
            Instrument::Option { .. }
        ) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The engine's position for an account's slot of the series `info`.
fn engine_position(info: &SeriesInfo, slot: &PositionSlot) -> Position {
    Position {
        underlying: info.local,
        instrument: info.instrument,
        size: slot.size,
        cost_basis: slot.cost_basis,
    }
}

fn series_key(market: u8, series: u8) -> u16 {
    (market as u16) << 8 | series as u16
}

fn mark_dirty(dirty: &mut [bool], underlying: usize) -> Result<()> {
    *dirty
        .get_mut(underlying)
        .ok_or_else(|| error!(XmarginError::UnknownMarket))? = true;
    Ok(())
}

/// A position as an evaluation saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldPosition {
    pub market: u8,
    pub series: u8,
    pub size: i64,
    pub cost_basis: i64,
}

impl HeldPosition {
    fn of(slot: &PositionSlot) -> Self {
        Self {
            market: slot.market,
            series: slot.series,
            size: slot.size,
            cost_basis: slot.cost_basis,
        }
    }

    fn key(&self) -> (u8, u8) {
        (self.market, self.series)
    }

    fn slot(&self) -> PositionSlot {
        PositionSlot {
            market: self.market,
            series: self.series,
            size: self.size,
            cost_basis: self.cost_basis,
            in_use: 1,
            ..PositionSlot::default()
        }
    }
}

/// Collateral entries after haircuts, with their registry index and low price.
#[derive(Clone, Debug, Default)]
pub struct CollateralView {
    pub values: Vec<Collateral>,
    pub assets: Vec<u8>,
    pub low_prices: Vec<Fx>,
}

/// The memory `health` margins an account in.
#[derive(Default)]
struct Check {
    sweep: UnderlyingSweep,
    collateral: CollateralView,
}

/// An account margined by the engine, kept so a liquidation step can re-margin it by swapping
/// only what the step changed (the health cache of Mango v4, by position).
pub struct AccountRisk {
    pub book: Book,
    /// Per underlying (engine index), None where nothing is held.
    pub results: Vec<Option<UnderlyingResult>>,
    pub collateral: CollateralView,
    /// The positions in `book`.
    pub held: Vec<HeldPosition>,
    pub report: MarginReport,
}

impl AccountRisk {
    /// Nothing evaluated yet, nothing allocated.
    fn empty(underlyings: usize) -> Self {
        Self {
            book: Book::new(underlyings),
            results: Vec::new(),
            collateral: CollateralView::default(),
            held: Vec::new(),
            report: MarginReport::default(),
        }
    }
}

/// Empties `list` and makes room for exactly `count` items (the heap never frees: growing by
/// doubling would leave the smaller buffers behind).
fn reserve_for<T>(list: &mut Vec<T>, count: usize) {
    list.clear();
    list.reserve_exact(count);
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

/// How a collateral price is used under `oracle_use`: every mode but `Liquidate` requires its
/// guard; `Liquidate` falls back to the tolerant guard's low end, then to zero.
fn collateral_pricing(
    oracle: &OraclePrice,
    oracle_use: OracleUse,
    clearinghouse: &Clearinghouse,
    clock: &Clock,
) -> Result<CollateralPricing> {
    match oracle_use {
        OracleUse::OpenRisk => oracle.check(&clearinghouse.strict_oracle, clock)?,
        OracleUse::ReduceRisk => oracle.check(&clearinghouse.tolerant_oracle, clock)?,
        OracleUse::Liquidate => {
            return Ok(
                if oracle.check(&clearinghouse.strict_oracle, clock).is_ok() {
                    CollateralPricing::Valid
                } else if oracle.check(&clearinghouse.tolerant_oracle, clock).is_ok() {
                    CollateralPricing::Low
                } else {
                    CollateralPricing::Zero
                },
            )
        }
    }
    Ok(CollateralPricing::Valid)
}

/// Records one series of `market` for the check, as cached when `cache` holds a fresh entry
/// for it (then true), else an option is priced at load if `reused`, where used if not.
/// Out of line: its locals would push the caller's SBF frame past 4 KB.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn push_series(
    instruments: &mut Vec<SeriesInfo>,
    market: &Market,
    local: u8,
    series: u8,
    cache: Option<&RiskCache>,
    reused: bool,
    spot: u64,
    now: i64,
) -> Result<bool> {
    let stored = market.series(series)?;
    let instrument = stored.instrument()?;
    let terms = if let Some(payoff) = stored.fixed_payoff()? {
        // Settled, or a price proposed: a fixed claim that no longer moves with spot (an
        // expired series hedges nothing).
        SeriesTerms::Settled { payoff }
    } else if !matches!(instrument, Instrument::Option { .. }) {
        SeriesTerms::Linear {
            delta: Fx::ZERO,
            error: Fx::ZERO,
            carry: [Fx::ZERO; 2],
        }
    } else if cache
        .is_some_and(|cache| cache.holds(series, stored, market.risk_generation, spot, now))
    {
        SeriesTerms::Cached
    } else if reused {
        // An entry that does not apply is recomputed live.
        SeriesTerms::Live(Box::default())
    } else {
        SeriesTerms::Deferred
    };
    let cached = matches!(terms, SeriesTerms::Cached);
    instruments.push(SeriesInfo {
        market: market.index,
        series,
        local,
        instrument,
        funding_index: stored.funding_index,
        loss_index: stored.loss_index,
        terms,
    });
    Ok(cached)
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
    let price = u64::try_from(oracle.price)
        .ok()
        .filter(|price| *price > 0)
        .ok_or_else(|| error!(XmarginError::OracleInvalid))?;
    // Below 2^63 x 2^64: an i128. A 64 x 64 -> 128-bit product, where a checked 128-bit one is
    // a long library routine on SBF.
    let value = mul_u64_wide(price, market.contract_size) as i128;
    let spot = scale_pow10_floor(value, exponent)?;
    require!(spot > 0, XmarginError::OracleInvalid);
    u64::try_from(spot).map_err(|_| error!(XmarginError::MathOverflow))
}
