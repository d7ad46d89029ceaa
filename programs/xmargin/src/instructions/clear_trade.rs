use anchor_lang::prelude::*;
use xmargin_risk::fill::FillBand;

use crate::error::{risk_error, XmarginError};
use crate::events::TradeCleared;
use crate::health::{Needs, RiskContext};
use crate::oracle::OracleUse;
use crate::state::{
    Clearinghouse, CollateralRegistry, MarginAccount, Market, SeriesKind, BPS_DENOMINATOR,
    PAUSE_TRADE, QUOTE_ASSET, SERIES_ACTIVE,
};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClearTradeParams {
    pub series: u8,
    /// Contracts the taker buys; negative sells.
    pub size: i64,
    /// Quote-native per contract, agreed and signed by both sides.
    pub price: u64,
}

impl ClearTradeParams {
    /// |size| x price in quote-native units, refused beyond i64.
    pub fn notional(&self) -> Result<u64> {
        self.size
            .unsigned_abs()
            .checked_mul(self.price)
            .filter(|n| *n <= i64::MAX as u64)
            .ok_or_else(|| error!(XmarginError::AmountTooLarge))
    }
}

#[derive(Accounts)]
pub struct ClearTrade<'info> {
    /// Owner or delegate of `taker_account`.
    pub taker: Signer<'info>,
    /// Owner or delegate of `maker_account`.
    pub maker: Signer<'info>,
    #[account(seeds = [Clearinghouse::SEED], bump = clearinghouse.bump)]
    pub clearinghouse: Account<'info, Clearinghouse>,
    #[account(mut, seeds = [CollateralRegistry::SEED], bump)]
    pub collateral_registry: AccountLoader<'info, CollateralRegistry>,
    #[account(mut)]
    pub market: AccountLoader<'info, Market>,
    #[account(mut)]
    pub taker_account: AccountLoader<'info, MarginAccount>,
    /// Anchor's duplicate-mutable check does not cover zero-copy loaders: checked here.
    #[account(
        mut,
        constraint = maker_account.key() != taker_account.key() @ XmarginError::DuplicateAccount
    )]
    pub maker_account: AccountLoader<'info, MarginAccount>,
    // remaining: the other markets and every oracle both accounts' checks need.
}

/// The fee on a trade of `notional` quote-native units at `bps`, rounded up.
pub fn trade_fee(notional: u64, bps: u16) -> Result<u64> {
    let fee = (notional as u128 * bps as u128).div_ceil(BPS_DENOMINATOR as u128);
    u64::try_from(fee).map_err(|_| error!(XmarginError::AmountTooLarge))
}

pub fn handler<'info>(
    ctx: Context<'info, ClearTrade<'info>>,
    params: ClearTradeParams,
) -> Result<()> {
    let clearinghouse = &ctx.accounts.clearinghouse;
    require!(params.size != 0, XmarginError::ZeroAmount);
    require!(params.price > 0, XmarginError::InvalidPrice);
    let notional = params.notional()?;
    let clock = Clock::get()?;
    let market_index = {
        let market = ctx.accounts.market.load()?;
        let series = market.series(params.series)?;
        require!(
            series.status == SERIES_ACTIVE && !series.is_expired(clock.unix_timestamp),
            XmarginError::SeriesExpired
        );
        market.index
    };

    let (taker_reduces, maker_reduces, needs) = {
        let taker = ctx.accounts.taker_account.load()?;
        let maker = ctx.accounts.maker_account.load()?;
        require!(
            taker.is_owner_or_delegate(ctx.accounts.taker.key),
            XmarginError::NotAccountOwner
        );
        require!(
            maker.is_owner_or_delegate(ctx.accounts.maker.key),
            XmarginError::NotAccountOwner
        );
        require!(
            taker.allows_market(market_index) && maker.allows_market(market_index),
            XmarginError::MarketNotAllowedInIsolatedMode
        );
        let taker_reduces = taker.fill_only_reduces(market_index, params.series, params.size);
        let maker_reduces = maker.fill_only_reduces(market_index, params.series, -params.size);
        let mut needs = Needs::default();
        needs.add_account(&taker);
        needs.add_account(&maker);
        needs.add_series(market_index, params.series);
        // A reducing side is checked before the fill too.
        if taker_reduces {
            needs.reuse_account(&taker);
        }
        if maker_reduces {
            needs.reuse_account(&maker);
        }
        (taker_reduces, maker_reduces, needs)
    };
    // A trade pause stops new risk, never a fill that only reduces both sides.
    if !(taker_reduces && maker_reduces) {
        clearinghouse.require_not_paused(PAUSE_TRADE, clock.unix_timestamp)?;
    }
    let oracle_use = if taker_reduces && maker_reduces {
        OracleUse::ReduceRisk
    } else {
        OracleUse::OpenRisk
    };
    let mut risk = {
        let registry = ctx.accounts.collateral_registry.load()?;
        RiskContext::load(
            clearinghouse,
            &registry,
            Some(ctx.accounts.market.as_ref()),
            ctx.remaining_accounts,
            &needs,
            oracle_use,
            &clock,
        )?
    };
    // Value moves between the two sides only through the price: it must lie in the band
    // around the program's own valuation of the series.
    let band = {
        let market = ctx.accounts.market.load()?;
        risk.fill_band(market_index, params.series, market.fill_band_widening())?
    };
    require!(band.contains(params.price), XmarginError::FillOutsideBand);
    // Funding up to now at the rate in force, before the fill changes who holds what.
    let index_price = risk.spot(market_index)?;
    risk.accrue_funding(
        &mut *ctx.accounts.market.load_mut()?,
        params.series,
        clock.unix_timestamp,
    )?;
    {
        let mut taker = ctx.accounts.taker_account.load_mut()?;
        risk.settle_accruals(&mut taker, &[(market_index, params.series)])?;
        let mut maker = ctx.accounts.maker_account.load_mut()?;
        risk.settle_accruals(&mut maker, &[(market_index, params.series)])?;
    }
    // A side that only reduces may end below initial margin if it ends no worse than it began
    // (`passes`).
    let taker_before = health_if(&risk, &ctx.accounts.taker_account, taker_reduces)?;
    let maker_before = health_if(&risk, &ctx.accounts.maker_account, maker_reduces)?;

    let taker_fee = trade_fee(notional, clearinghouse.taker_fee_bps)?;
    let maker_fee = trade_fee(notional, clearinghouse.maker_fee_bps)?;
    let (taker_fill, maker_fill) = {
        let mut taker = ctx.accounts.taker_account.load_mut()?;
        let mut maker = ctx.accounts.maker_account.load_mut()?;
        let taker_fill =
            taker.apply_fill(market_index, params.series, params.size, params.price)?;
        let maker_fill =
            maker.apply_fill(market_index, params.series, -params.size, params.price)?;
        taker.add_quote(-(taker_fee as i64))?;
        maker.add_quote(-(maker_fee as i64))?;
        let mut market = ctx.accounts.market.load_mut()?;
        let (max_open_interest, max_position) =
            (market.risk.max_open_interest, market.risk.max_position);
        let series = market.series_mut(params.series)?;
        if series.kind == SeriesKind::Perpetual as u8 {
            series.record_premium(params.size, params.price, index_price, clock.unix_timestamp)?;
        }
        let open_interest_before = series.open_interest_long;
        series.record_fill(&taker_fill, params.size)?;
        series.record_fill(&maker_fill, -params.size)?;
        series.check_open_interest()?;
        series.check_open_interest_cap(open_interest_before, max_open_interest)?;
        taker_fill.check_position_cap(params.size, max_position)?;
        maker_fill.check_position_cap(-params.size, max_position)?;
        (taker_fill, maker_fill)
    };
    {
        let mut registry = ctx.accounts.collateral_registry.load_mut()?;
        let quote = registry.asset_mut(QUOTE_ASSET)?;
        quote.accrue_fees(taker_fee)?;
        quote.accrue_fees(maker_fee)?;
    }

    let fill = (&band, params.price);
    let taker_after = judge(
        &risk,
        &ctx.accounts.taker_account,
        taker_before,
        fill,
        params.size,
        taker_fee,
    )?;
    require!(taker_after.passes(), XmarginError::TakerBelowInitialMargin);
    let maker_after = judge(
        &risk,
        &ctx.accounts.maker_account,
        maker_before,
        fill,
        -params.size,
        maker_fee,
    )?;
    require!(maker_after.passes(), XmarginError::MakerBelowInitialMargin);

    crate::emit_event!(TradeCleared {
        market: market_index,
        series: params.series,
        taker: ctx.accounts.taker_account.key(),
        maker: ctx.accounts.maker_account.key(),
        size: params.size,
        price: params.price,
        taker_fee,
        maker_fee,
        taker_position: taker_fill.size_after,
        maker_position: maker_fill.size_after,
        taker_realized: taker_fill.realized,
        maker_realized: maker_fill.realized,
    });
    Ok(())
}

/// The account's initial health now, when `wanted`.
fn health_if(
    risk: &RiskContext<'_>,
    account: &AccountLoader<MarginAccount>,
    wanted: bool,
) -> Result<Option<i128>> {
    if !wanted {
        return Ok(None);
    }
    Ok(Some(risk.health(&*account.load()?)?.init_health))
}

/// The verdict on the side holding `account` after it filled `size` at `price` in `band`
/// (`reducing_before`: its initial health before, if the fill only reduced).
fn judge(
    risk: &RiskContext<'_>,
    account: &AccountLoader<MarginAccount>,
    reducing_before: Option<i128>,
    (band, price): (&FillBand, u64),
    size: i64,
    fee: u64,
) -> Result<Judged> {
    let health = risk.health(&*account.load()?)?;
    Ok(Judged {
        after: health.init_health,
        equity_after: health.report.equity_maint as i128,
        reducing_before,
        shortfall: band
            .shortfall_to_adverse_edge(size, price)
            .map_err(risk_error)?,
        fee,
    })
}

/// One side's initial health after a fill, and what judging it needs.
struct Judged {
    after: i128,
    /// Maintenance-weighted equity after the fill.
    equity_after: i128,
    /// Initial health before the fill, for a side whose fill only reduces.
    reducing_before: Option<i128>,
    /// What the side would have lost more at its adverse band edge
    /// (`FillBand::shortfall_to_adverse_edge`).
    shortfall: i128,
    fee: u64,
}

impl Judged {
    /// Initial margin holds after the fill; or the side only reduced and, with its fill valued
    /// at its own adverse band edge, ends no lower than it began less its fee, and solvent.
    /// Valued at the edge, the verdict does not depend on where in the band the price was
    /// agreed: a side below initial margin cannot pay its counterparty with the requirement it
    /// frees, and an insolvent one cannot pay it at all (what it gave would be owed by the
    /// insurance fund and the other traders); it is left to liquidation.
    fn passes(&self) -> bool {
        self.after >= 0
            || self.reducing_before.is_some_and(|before| {
                self.after.saturating_sub(self.shortfall) >= before.saturating_sub(self.fee as i128)
                    && self.equity_after.saturating_sub(self.shortfall) >= 0
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmargin_risk::fill::FillBand;

    const BAND: FillBand = FillBand {
        low: 100,
        high: 110,
    };

    /// A seller of 10 below initial margin: its health after a fill at `price` is its health
    /// at the low edge plus what the better price paid it.
    fn seller_at(price: u64, at_low_edge: i128, before: i128, fee: u64) -> Judged {
        Judged {
            after: at_low_edge + (price as i128 - BAND.low as i128) * 10,
            equity_after: 1_000 + (price as i128 - BAND.low as i128) * 10,
            reducing_before: Some(before),
            shortfall: BAND.shortfall_to_adverse_edge(-10, price).unwrap(),
            fee,
        }
    }

    #[test]
    fn a_reducing_verdict_is_the_same_at_every_price_in_the_band() {
        // Ends at its fee below where it began (passes), one unit lower (refused), and far
        // below while the favourable edge alone would bring it back above (refused).
        for (at_low_edge, before, fee, expected) in [
            (-1_005, -1_000, 5, true),
            (-1_006, -1_000, 5, false),
            (-1_090, -1_000, 5, false),
        ] {
            for price in BAND.low..=BAND.high {
                assert_eq!(
                    seller_at(price, at_low_edge, before, fee).passes(),
                    expected,
                    "{price} {at_low_edge} {before}"
                );
            }
        }
    }

    #[test]
    fn initial_margin_after_passes_and_an_adding_side_below_it_fails() {
        let above = Judged {
            after: 0,
            equity_after: 0,
            reducing_before: None,
            shortfall: 0,
            fee: 0,
        };
        assert!(above.passes());
        let adding = Judged {
            after: -1,
            equity_after: 1_000,
            reducing_before: None,
            shortfall: 0,
            fee: 1_000,
        };
        assert!(!adding.passes());
        // A buyer reducing a short is judged at the high edge.
        let buyer = Judged {
            after: -50,
            equity_after: 1_000,
            reducing_before: Some(-60),
            shortfall: BAND.shortfall_to_adverse_edge(10, 109).unwrap(),
            fee: 0,
        };
        assert_eq!(buyer.shortfall, 10);
        assert!(buyer.passes());
        let buyer = Judged {
            shortfall: BAND.shortfall_to_adverse_edge(10, 108).unwrap(),
            ..buyer
        };
        assert!(!buyer.passes());
    }

    #[test]
    fn an_insolvent_reducing_side_is_refused_at_any_price() {
        // Health no worse at the adverse edge, but equity below zero there.
        for price in BAND.low..=BAND.high {
            let judged = Judged {
                equity_after: -1 + (price as i128 - BAND.low as i128) * 10,
                ..seller_at(price, -1_000, -1_000, 0)
            };
            assert!(!judged.passes(), "{price}");
        }
        let solvent_at_edge = Judged {
            equity_after: 0,
            ..seller_at(BAND.low, -1_000, -1_000, 0)
        };
        assert!(solvent_at_edge.passes());
    }
}
