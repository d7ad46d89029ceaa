//! Initial margin at conservative prices. An oracle publishes a price with a confidence
//! interval and a slower average; opening risk must survive the whole band: collateral valued at
//! the band's low end, and each underlying's net delta charged for the band's width.
use crate::collateral::{weighted_value, Level};
use crate::error::{RiskError, RiskResult};
use crate::fx::{money_mul_ceil, Fx};
use crate::model::Collateral;
use crate::portfolio::{MarginReport, UnderlyingBreakdown};

/// Initial health (equity_init - initial) after the price-band adjustments, with `breakdown`
/// the report's per-underlying lines (`MarginReport::breakdown` or the results'
/// `margin_totals` was given).
///
/// `low_prices[i]` is the low end for `collateral[i]` (used for assets; only the quote asset,
/// priced exactly, may be negative). `bands[u]` is the relative band width of underlying `u`
/// (index as in the report's breakdown), charged on |net delta|.
pub fn initial_health_in_band<'a>(
    report: &MarginReport,
    breakdown: impl IntoIterator<Item = &'a UnderlyingBreakdown>,
    collateral: &[Collateral],
    low_prices: &[Fx],
    bands: &[Fx],
) -> RiskResult<i128> {
    if low_prices.len() != collateral.len() {
        return Err(RiskError::InvalidParameter);
    }
    let mut collateral_loss: i128 = 0;
    for (c, low) in collateral.iter().zip(low_prices) {
        if c.amount > 0 && *low < c.price {
            let at_low = Collateral { price: *low, ..*c };
            collateral_loss +=
                weighted_value(c, Level::Initial)? - weighted_value(&at_low, Level::Initial)?;
        }
    }
    let mut band_charge: i128 = 0;
    for entry in breakdown {
        let band = *bands
            .get(entry.underlying as usize)
            .ok_or(RiskError::UnknownUnderlying)?;
        if band < 0 {
            return Err(RiskError::InvalidParameter);
        }
        // net_delta is floored: one more unit covers the rounding.
        let delta = (entry.net_delta as i128).abs() + 1;
        band_charge += money_mul_ceil(delta, band)?;
    }
    Ok(report.equity_init as i128 - collateral_loss - report.initial as i128 - band_charge)
}
