use anchor_lang::prelude::*;

use crate::error::XmarginError;
use crate::state::QUOTE_ASSET;

pub const MAX_ACCOUNT_COLLATERAL: usize = 8;
pub const MAX_ACCOUNT_POSITIONS: usize = 32;

/// `last_liquidated_market` of an account never liquidated.
pub const NO_MARKET: u8 = u8::MAX;

pub const MODE_CROSS: u8 = 0;
/// Only positions of `isolated_market` are allowed.
pub const MODE_ISOLATED: u8 = 1;

/// One collateral balance. Slot 0 always holds the quote asset: realized PnL and fees settle
/// there, and only it may go negative.
#[zero_copy]
#[derive(Debug, PartialEq, Eq, Default)]
pub struct CollateralBalance {
    /// Native units of the asset.
    pub amount: i64,
    /// Registry index.
    pub asset: u8,
    pub in_use: u8,
    pub _padding: [u8; 6],
}

#[zero_copy]
#[derive(Debug, PartialEq, Eq, Default)]
pub struct PositionSlot {
    /// Contracts, positive long; never 0 while in use.
    pub size: i64,
    /// Quote-native amount paid to open what is still open (signed).
    pub cost_basis: i64,
    /// Series funding index when funding was last settled.
    pub funding_snapshot: i64,
    /// Series socialized-loss index when losses were last settled.
    pub loss_snapshot: i64,
    pub market: u8,
    pub series: u8,
    pub in_use: u8,
    pub _padding: [u8; 5],
}

impl PositionSlot {
    /// Funding owed since the snapshot (longs pay a rising index); moves the snapshot to
    /// `index`. The caller debits it.
    pub fn accrue_funding(&mut self, index: i64) -> Result<i64> {
        let owed = if self.size == 0 {
            0
        } else {
            let change = index
                .checked_sub(self.funding_snapshot)
                .ok_or_else(|| error!(XmarginError::MathOverflow))?;
            self.size
                .checked_mul(change)
                .ok_or_else(|| error!(XmarginError::MathOverflow))?
        };
        self.funding_snapshot = index;
        Ok(owed)
    }

    /// Socialized loss owed since the snapshot (|size| x index change); moves the snapshot to
    /// `index`. The caller debits it.
    pub fn accrue_loss(&mut self, index: i64) -> Result<i64> {
        let change = index
            .checked_sub(self.loss_snapshot)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        let owed = (self.size.unsigned_abs() as i64)
            .checked_mul(change)
            .ok_or_else(|| error!(XmarginError::MathOverflow))?;
        self.loss_snapshot = index;
        Ok(owed)
    }
}

/// A trader's margin account, PDA `["margin", owner, id]`.
#[account(zero_copy)]
#[derive(Debug)]
pub struct MarginAccount {
    pub owner: Pubkey,
    /// May trade for the owner; may not withdraw or close.
    pub delegate: Pubkey,
    pub id: u16,
    pub bump: u8,
    /// `MODE_*`.
    pub mode: u8,
    pub isolated_market: u8,
    /// Set once found below maintenance; cleared above the liquidation-end level.
    pub being_liquidated: u8,
    /// The series of the last position liquidation (`NO_MARKET` if none): a loss the account
    /// cannot pay is socialized across that series' open interest.
    pub last_liquidated_market: u8,
    pub last_liquidated_series: u8,
    /// That series' expiry: a slot reused for a new series (`Market::free_series_slot`) has a
    /// later one, so an old loss is never socialized onto the new series' holders.
    pub last_liquidated_expiry: i64,
    pub collateral: [CollateralBalance; MAX_ACCOUNT_COLLATERAL],
    pub positions: [PositionSlot; MAX_ACCOUNT_POSITIONS],
}

impl MarginAccount {
    pub const SEED: &'static [u8] = b"margin";
    pub const SPACE: usize = 8 + core::mem::size_of::<MarginAccount>();

    pub fn is_owner_or_delegate(&self, signer: &Pubkey) -> bool {
        *signer == self.owner || (self.delegate != Pubkey::default() && *signer == self.delegate)
    }

    pub fn quote_balance(&self) -> i64 {
        self.collateral[0].amount
    }

    pub fn balance_of(&self, asset: u8) -> Option<&CollateralBalance> {
        self.collateral
            .iter()
            .find(|slot| slot.in_use != 0 && slot.asset == asset)
    }

    /// The slot of `asset`, opening a free one if needed.
    pub fn balance_slot_mut(&mut self, asset: u8) -> Result<&mut CollateralBalance> {
        let existing = self
            .collateral
            .iter()
            .position(|slot| slot.in_use != 0 && slot.asset == asset);
        let index = match existing {
            Some(index) => index,
            None => {
                let free = self
                    .collateral
                    .iter()
                    .position(|slot| slot.in_use == 0)
                    .ok_or_else(|| error!(XmarginError::TooManyCollateralAssets))?;
                self.collateral[free] = CollateralBalance {
                    amount: 0,
                    asset,
                    in_use: 1,
                    _padding: [0; 6],
                };
                free
            }
        };
        Ok(&mut self.collateral[index])
    }

    /// Frees a non-quote slot whose balance reached zero, so the slot can hold another asset.
    pub fn release_empty_balances(&mut self) {
        for slot in self.collateral.iter_mut().skip(1) {
            if slot.in_use != 0 && slot.amount == 0 {
                *slot = CollateralBalance::default();
            }
        }
    }

    pub fn position(&self, market: u8, series: u8) -> Option<&PositionSlot> {
        self.positions
            .iter()
            .find(|slot| slot.in_use != 0 && slot.market == market && slot.series == series)
    }

    /// The slot of a series, opening a free one if needed.
    pub fn position_slot_mut(&mut self, market: u8, series: u8) -> Result<&mut PositionSlot> {
        let existing = self
            .positions
            .iter()
            .position(|slot| slot.in_use != 0 && slot.market == market && slot.series == series);
        let index = match existing {
            Some(index) => index,
            None => {
                let free = self
                    .positions
                    .iter()
                    .position(|slot| slot.in_use == 0)
                    .ok_or_else(|| error!(XmarginError::TooManyPositions))?;
                self.positions[free] = PositionSlot {
                    market,
                    series,
                    in_use: 1,
                    ..PositionSlot::default()
                };
                free
            }
        };
        Ok(&mut self.positions[index])
    }

    pub fn open_positions(&self) -> impl Iterator<Item = &PositionSlot> {
        self.positions.iter().filter(|slot| slot.in_use != 0)
    }

    pub fn has_positions(&self) -> bool {
        self.open_positions().next().is_some()
    }

    /// Positions or a quote debt: something a deposit can make safer.
    pub fn has_exposure(&self) -> bool {
        self.has_positions() || self.quote_balance() < 0
    }

    /// Whether a position in `market` is allowed by the account's mode.
    pub fn allows_market(&self, market: u8) -> bool {
        self.mode == MODE_CROSS || self.isolated_market == market
    }

    pub fn is_empty(&self) -> bool {
        !self.has_positions()
            && self
                .collateral
                .iter()
                .all(|slot| slot.in_use == 0 || slot.amount == 0)
    }

    /// No positions, no collateral but quote, and a quote debt: what `resolve_bankruptcy`
    /// settles.
    pub fn is_bankrupt(&self) -> bool {
        let no_collateral = self
            .collateral
            .iter()
            .skip(1)
            .all(|slot| slot.in_use == 0 || slot.amount == 0);
        !self.has_positions() && no_collateral && self.quote_balance() < 0
    }

    pub fn init_quote_slot(&mut self) {
        self.collateral[0] = CollateralBalance {
            amount: 0,
            asset: QUOTE_ASSET,
            in_use: 1,
            _padding: [0; 6],
        };
    }
}

const _: () = {
    assert!(core::mem::size_of::<CollateralBalance>() == 16);
    assert!(core::mem::size_of::<PositionSlot>() == 40);
    assert!(core::mem::offset_of!(MarginAccount, last_liquidated_expiry) == 72);
    assert!(core::mem::offset_of!(MarginAccount, collateral) == 80);
    assert!(core::mem::offset_of!(MarginAccount, positions) == 80 + 8 * 16);
    assert!(core::mem::size_of::<MarginAccount>() == 80 + 8 * 16 + 32 * 40);
    assert!(core::mem::align_of::<MarginAccount>() == 8);
};

/// Effect of one fill on a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    pub size_after: i64,
    pub cost_basis_after: i64,
    /// Quote moved into the balance: the closed part's trade value minus its share of the basis.
    pub realized: i64,
}

impl Fill {
    /// The position after filling `size` is within `cap` contracts, or on the same side and no
    /// larger than before (a fill that flips the side opens a new position: capped).
    pub fn check_position_cap(&self, size: i64, cap: u64) -> Result<()> {
        let after = self.size_after as i128;
        let before = after - size as i128;
        let only_reduced =
            after == 0 || (after.signum() == before.signum() && after.abs() <= before.abs());
        require!(
            after.unsigned_abs() <= cap as u128 || only_reduced,
            XmarginError::PositionCapExceeded
        );
        Ok(())
    }
}

/// Fill `size` contracts (positive buys) at `price` on a position of `size_before` with
/// `cost_basis`.
pub fn fill(size_before: i64, cost_basis: i64, size: i64, price: u64) -> Result<Fill> {
    let value = (size as i128)
        .checked_mul(price as i128)
        .ok_or_else(|| error!(XmarginError::AmountTooLarge))?;
    fill_value(size_before, cost_basis, size, value)
}

/// Fill `size` contracts for a total signed `value` (size x price; a liquidation's value is the
/// engine's mark, not a whole price per contract). The part that closes realizes its PnL; the
/// part that stays keeps its proportional basis, and a flip opens the rest at its share of the
/// value (both rounded down; realized takes the remainder, so basis + quote is exact).
pub fn fill_value(size_before: i64, cost_basis: i64, size: i64, value: i128) -> Result<Fill> {
    let overflow = || error!(XmarginError::AmountTooLarge);
    if size == 0 {
        return err!(XmarginError::ZeroAmount);
    }
    let total = (cost_basis as i128)
        .checked_add(value)
        .ok_or_else(overflow)?;
    let size_after = size_before.checked_add(size).ok_or_else(overflow)?;
    let reduces = size_before != 0 && (size_before > 0) == (size < 0);
    let kept: i128 = if size_after == 0 {
        0
    } else if !reduces {
        total
    } else if (size_after > 0) == (size_before > 0) {
        (cost_basis as i128 * size_after as i128).div_euclid(size_before as i128)
    } else {
        value
            .checked_mul(size_after as i128)
            .ok_or_else(overflow)?
            .div_euclid(size as i128)
    };
    Ok(Fill {
        size_after,
        cost_basis_after: i64::try_from(kept).map_err(|_| overflow())?,
        realized: i64::try_from(kept - total).map_err(|_| overflow())?,
    })
}

impl MarginAccount {
    /// Applies a fill to the account's position and quote balance; returns the fill.
    pub fn apply_fill(&mut self, market: u8, series: u8, size: i64, price: u64) -> Result<Fill> {
        let value = (size as i128)
            .checked_mul(price as i128)
            .ok_or_else(|| error!(XmarginError::AmountTooLarge))?;
        self.apply_value_fill(market, series, size, value)
    }

    /// Applies a fill of total signed `value` (see `fill_value`).
    pub fn apply_value_fill(
        &mut self,
        market: u8,
        series: u8,
        size: i64,
        value: i128,
    ) -> Result<Fill> {
        let slot = self.position_slot_mut(market, series)?;
        let result = fill_value(slot.size, slot.cost_basis, size, value)?;
        if result.size_after == 0 {
            *slot = PositionSlot::default();
        } else {
            slot.size = result.size_after;
            slot.cost_basis = result.cost_basis_after;
        }
        self.add_quote(result.realized)?;
        Ok(result)
    }

    /// Pays the funding a perp position owes since its snapshot (longs pay a rising index) and
    /// moves the snapshot to `index`. A new slot starts at `index` and owes nothing.
    pub fn settle_funding(&mut self, market: u8, series: u8, index: i64) -> Result<i64> {
        let owed = self
            .position_slot_mut(market, series)?
            .accrue_funding(index)?;
        self.add_quote(-owed)?;
        Ok(owed)
    }

    /// Pays the socialized loss a position owes since its snapshot (|size| x index change) and
    /// moves the snapshot to `index`. A new slot starts at `index` and owes nothing.
    pub fn settle_loss(&mut self, market: u8, series: u8, index: i64) -> Result<i64> {
        let owed = self.position_slot_mut(market, series)?.accrue_loss(index)?;
        self.add_quote(-owed)?;
        Ok(owed)
    }

    pub fn add_quote(&mut self, amount: i64) -> Result<()> {
        let quote = &mut self.collateral[0].amount;
        *quote = quote
            .checked_add(amount)
            .ok_or_else(|| error!(XmarginError::AmountTooLarge))?;
        Ok(())
    }

    /// Whether filling `size` only shrinks the existing position (no open, no flip, no growth).
    pub fn fill_only_reduces(&self, market: u8, series: u8, size: i64) -> bool {
        let before = self.position(market, series).map_or(0, |slot| slot.size);
        before != 0 && (before > 0) == (size < 0) && size.unsigned_abs() <= before.unsigned_abs()
    }
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fills_realize_only_the_closed_part() {
        // open, add, partial close, close
        assert_eq!(fill(0, 0, 2, 100).unwrap().cost_basis_after, 200);
        let add = fill(2, 200, 1, 130).unwrap();
        assert_eq!(
            (add.size_after, add.cost_basis_after, add.realized),
            (3, 330, 0)
        );
        let partial = fill(3, 330, -1, 120).unwrap();
        assert_eq!(
            (
                partial.size_after,
                partial.cost_basis_after,
                partial.realized
            ),
            (2, 220, 10)
        );
        let close = fill(2, 220, -2, 100).unwrap();
        assert_eq!(
            (close.size_after, close.cost_basis_after, close.realized),
            (0, 0, -20)
        );
    }

    #[test]
    fn a_flip_realizes_the_old_position_and_opens_the_rest_at_the_fill_price() {
        let flip = fill(1, 100, -3, 110).unwrap();
        assert_eq!(
            (flip.size_after, flip.cost_basis_after, flip.realized),
            (-2, -220, 10)
        );
        let short_cover = fill(-2, -200, 1, 90).unwrap();
        assert_eq!(
            (short_cover.cost_basis_after, short_cover.realized),
            (-100, 10)
        );
    }

    #[test]
    fn basis_plus_realized_moves_by_exactly_the_trade_value() {
        for (before, basis, size, price) in [(3, 301, -1, 7), (-7, -1000, 2, 33), (5, 1, -9, 3)] {
            let f = fill(before, basis, size, price).unwrap();
            let cash_view = f.cost_basis_after as i128 - f.realized as i128;
            assert_eq!(cash_view, basis as i128 + size as i128 * price as i128);
        }
    }

    #[test]
    fn overflowing_fills_are_refused() {
        assert!(fill(0, 0, i64::MAX, u64::MAX).is_err());
        assert!(fill(i64::MAX, 0, 1, 1).is_err());
    }
}
