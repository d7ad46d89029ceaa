//! Fill price bands: the prices at which a fill may clear, from the engine's own valuation of
//! the series. Two colluding accounts can move value between them only through the price they
//! agree on; the band bounds that by a fraction of spot (docs/security.md, "Fills").
//!
//! The band of one contract is
//!   [ spot_v x mark_low - w x spot , spot_v x mark_high + w x spot ]
//! where `mark_low` / `mark_high` are the bounds on the series' value per unit of spot that
//! equity uses (perps and futures: the oracle-based mark, with the carry's rounding; options: the
//! model mark with its error; the program passes an option's live bounds, never a cache window's
//! corners, which would widen the band), `spot_v` the spot they are normalised by and `w` the
//! market's widening. The edges are rounded inwards: the band is never
//! wider than stated.
use crate::error::{RiskError, RiskResult};
use crate::fx::{ceil_money, floor_money, money_times, Fx};
use crate::series::SeriesRisk;

/// Prices (quote-native per contract) a fill may clear at, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillBand {
    pub low: u64,
    pub high: u64,
}

impl FillBand {
    /// The band of a series whose risk is `risk` when the underlying's spot is `spot`
    /// (quote-native per contract), widened by `widening` x spot on each side.
    pub fn of(risk: &SeriesRisk, spot: u64, widening: Fx) -> RiskResult<Self> {
        if spot == 0 || widening < Fx::ZERO || risk.mark_low > risk.mark_high {
            return Err(RiskError::InvalidParameter);
        }
        let valuation_spot = if risk.spot == 0 { spot } else { risk.spot } as i128;
        let spread = money_times(spot as i128, widening)?;
        let low = money_times(valuation_spot, risk.mark_low)?
            .checked_sub(spread)
            .ok_or(RiskError::Overflow)?;
        let high = money_times(valuation_spot, risk.mark_high)?
            .checked_add(spread)
            .ok_or(RiskError::Overflow)?;
        let low = ceil_money(low).max(0);
        let high = floor_money(high);
        Ok(Self {
            low: u64::try_from(low).map_err(|_| RiskError::Overflow)?,
            high: u64::try_from(high.max(0)).map_err(|_| RiskError::Overflow)?,
        })
    }

    pub fn contains(&self, price: u64) -> bool {
        self.low <= price && price <= self.high
    }

    /// The edge least favourable to a side that buys `size` contracts (sells when negative):
    /// the high edge for a buyer, the low edge for a seller.
    pub fn adverse_edge(&self, size: i64) -> u64 {
        if size > 0 {
            self.high
        } else {
            self.low
        }
    }

    /// What a side filling `size` at `price` (inside the band) would lose more at its adverse
    /// edge: |size| x |adverse edge - price|, never negative.
    pub fn shortfall_to_adverse_edge(&self, size: i64, price: u64) -> RiskResult<i128> {
        if !self.contains(price) {
            return Err(RiskError::InvalidParameter);
        }
        let gap = self.adverse_edge(size).abs_diff(price) as i128;
        gap.checked_mul(size.unsigned_abs() as i128)
            .ok_or(RiskError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fx::fx_ratio;
    use crate::series::{linear, MARK_ERROR};
    use proptest::prelude::*;

    const TWO_PERCENT: Fx = fx_ratio(2, 100);

    #[test]
    fn a_perp_band_is_spot_plus_or_minus_the_widening() {
        let perp = linear(Fx::ONE, Fx::ZERO).unwrap();
        let band = FillBand::of(&perp, 150_000_000, TWO_PERCENT).unwrap();
        // 2 % of 150: 3 (I32F32 rounds 0.02 down, so the spread is a hair under 3 and each edge
        // is rounded inwards).
        assert_eq!(
            band,
            FillBand {
                low: 147_000_001,
                high: 152_999_999
            }
        );
        assert!(band.contains(150_000_000) && band.contains(band.low) && band.contains(band.high));
        assert!(!band.contains(band.low - 1) && !band.contains(band.high + 1));
    }

    #[test]
    fn an_option_band_spans_its_mark_bounds_and_a_cached_spot() {
        let mut option = linear(fx_ratio(5, 100), MARK_ERROR).unwrap();
        option.is_option = true;
        // Normalised by a cached spot of 100 while the oracle says 150: marks at 5 % of 100.
        option.spot = 100_000_000;
        let band = FillBand::of(&option, 150_000_000, Fx::ZERO).unwrap();
        assert!(band.low <= 5_000_000 && 5_000_000 <= band.high);
        assert!(band.high - band.low <= 2, "{band:?}");
        // Deep out of the money with a wide spread: the low edge stops at zero.
        let band = FillBand::of(&option, 150_000_000, fx_ratio(10, 100)).unwrap();
        assert_eq!(band.low, 0);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let perp = linear(Fx::ONE, Fx::ZERO).unwrap();
        assert_eq!(
            FillBand::of(&perp, 0, TWO_PERCENT),
            Err(RiskError::InvalidParameter)
        );
        assert_eq!(
            FillBand::of(&perp, 1, -TWO_PERCENT),
            Err(RiskError::InvalidParameter)
        );
        let band = FillBand { low: 10, high: 20 };
        assert_eq!(
            band.shortfall_to_adverse_edge(1, 21),
            Err(RiskError::InvalidParameter)
        );
    }

    proptest! {
        /// The band contains the valuation of one contract at either mark, and the adverse
        /// edge is always the worst price in it for that side.
        #[test]
        fn the_band_holds_the_marks_and_the_adverse_edge_is_worst(
            spot in 1u64..1u64 << 40,
            mark_bits in 0i64..(4i64 << 32),
            error_bits in 0i64..1_000,
            widening_bits in 0i64..(Fx::ONE.to_bits() / 10),
            size in -1_000_000i64..1_000_000,
            at in 0u64..=1_000,
        ) {
            let risk = linear(Fx::from_bits(mark_bits), Fx::from_bits(error_bits)).unwrap();
            let widening = Fx::from_bits(widening_bits);
            let band = FillBand::of(&risk, spot, widening).unwrap();
            let value_low = floor_money(money_times(spot as i128, risk.mark_low).unwrap());
            let value_high = ceil_money(money_times(spot as i128, risk.mark_high).unwrap());
            let spread = floor_money(money_times(spot as i128, widening).unwrap());
            prop_assert!(band.low as i128 <= value_low.max(0) + 1);
            prop_assert!(band.high as i128 >= value_high - 1);
            prop_assert!(band.low as i128 >= value_low - spread - 1);
            prop_assert!(band.high as i128 <= value_high + spread + 1);
            if band.low <= band.high && size != 0 {
                let price = band.low + (band.high - band.low) / 1_000 * at;
                let shortfall = band.shortfall_to_adverse_edge(size, price).unwrap();
                prop_assert!(shortfall >= 0);
                // Paying `price` and then the shortfall is paying the adverse edge.
                let paid = size as i128 * price as i128;
                let at_edge = size as i128 * band.adverse_edge(size) as i128;
                prop_assert_eq!(paid + shortfall, at_edge);
            }
        }
    }
}
