use anchor_lang::prelude::*;
use xmargin_risk::series::{SeriesRisk, SERIES_RISK_WORDS};
use xmargin_risk::window::RiskWindow;

use crate::error::XmarginError;
use crate::state::{Series, MAX_SERIES};

/// One option series' windowed risk (`xmargin_risk::window`), as the refresh crank stored it.
#[zero_copy]
#[derive(Debug, PartialEq, Eq)]
pub struct CachedSeries {
    /// The series it was computed for: a slot whose series no longer matches is ignored.
    pub strike: u64,
    pub expiry: i64,
    /// The window: spot (quote-native per contract) and unix seconds.
    pub spot_low: u64,
    pub spot_high: u64,
    pub valid_from: i64,
    pub valid_until: i64,
    /// `Market::risk_generation` at computation.
    pub generation: u64,
    /// `SeriesKind` as u8.
    pub kind: u8,
    /// 1 once written.
    pub filled: u8,
    pub _padding: [u8; 6],
    /// `SeriesRisk::to_words`.
    pub risk: [i64; SERIES_RISK_WORDS],
}

/// Cached option risk of one market's series, refreshed by a permissionless crank so margin
/// checks skip the per-option bound computation. Too large for a program-created account: the
/// client creates it (system program, owner = this program, `RiskCache::SPACE` bytes) and
/// `create_risk_cache` adopts it.
#[account(zero_copy)]
#[derive(Debug)]
pub struct RiskCache {
    pub market: Pubkey,
    pub market_index: u8,
    pub _padding: [u8; 7],
    pub entries: [CachedSeries; MAX_SERIES],
}

impl RiskCache {
    pub const SPACE: usize = 8 + core::mem::size_of::<RiskCache>();

    pub fn entry_mut(&mut self, series: u8) -> Result<&mut CachedSeries> {
        self.entries
            .get_mut(series as usize)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))
    }

    /// The cached risk of `series` (slot `index`) if it holds at `spot` and `now` for this
    /// market generation.
    pub fn lookup(
        &self,
        index: u8,
        series: &Series,
        generation: u64,
        spot: u64,
        now: i64,
    ) -> Option<SeriesRisk> {
        if !self.holds(index, series, generation, spot, now) {
            return None;
        }
        self.risk(index).ok()
    }

    /// Whether slot `index` holds `series`' option risk for this market generation, valid at
    /// `spot` and `now`. Checks are made without decoding the bounds: a margin check decodes
    /// them where it uses them (`risk`), so they never sit on its heap.
    pub fn holds(&self, index: u8, series: &Series, generation: u64, spot: u64, now: i64) -> bool {
        let Some(entry) = self.entries.get(index as usize) else {
            return false;
        };
        entry.filled == 1
            && entry.strike == series.strike
            && entry.expiry == series.expiry
            && entry.kind == series.kind
            && entry.generation == generation
            && entry.window().contains(spot, now)
            && SeriesRisk::words_describe_option(&entry.risk)
    }

    /// The risk stored in slot `index`.
    pub fn risk(&self, index: u8) -> Result<SeriesRisk> {
        let entry = self
            .entries
            .get(index as usize)
            .ok_or_else(|| error!(XmarginError::UnknownSeries))?;
        SeriesRisk::from_words(&entry.risk).map_err(crate::error::risk_error)
    }
}

impl CachedSeries {
    pub fn window(&self) -> RiskWindow {
        RiskWindow {
            spot_low: self.spot_low,
            spot_high: self.spot_high,
            from: self.valid_from,
            until: self.valid_until,
        }
    }

    pub fn store(
        &mut self,
        series: &Series,
        window: &RiskWindow,
        generation: u64,
        risk: &SeriesRisk,
    ) {
        *self = CachedSeries {
            strike: series.strike,
            expiry: series.expiry,
            spot_low: window.spot_low,
            spot_high: window.spot_high,
            valid_from: window.from,
            valid_until: window.until,
            generation,
            kind: series.kind,
            filled: 1,
            _padding: [0; 6],
            risk: risk.to_words(),
        };
    }
}

const _: () = {
    assert!(core::mem::size_of::<CachedSeries>() == 64 + SERIES_RISK_WORDS * 8);
    assert!(core::mem::offset_of!(CachedSeries, risk) == 64);
    assert!(core::mem::offset_of!(RiskCache, entries) == 40);
    assert!(core::mem::size_of::<RiskCache>() == 40 + MAX_SERIES * (64 + SERIES_RISK_WORDS * 8));
    assert!(core::mem::align_of::<RiskCache>() == 8);
};
