//! One builder per program instruction: the exact account list the program expects, then, for
//! instructions that margin-check, the remaining accounts from [`crate::Protocol::risk_accounts`]
//! (markets, oracles, risk caches, in that fixed order).
use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{InstructionData, ToAccountMetas};
use xmargin::instructions::*;
use xmargin::state::{Role, StoredVolSurface, UnderlyingRisk};

use crate::pda;

/// `ix` as JSON, for a multisig or governance program to wrap: the program, each account with
/// its signer and writable flags, and the data in base64.
pub fn to_json(ix: &Instruction) -> String {
    use base64::Engine;
    let accounts: Vec<serde_json::Value> = ix
        .accounts
        .iter()
        .map(|meta| {
            serde_json::json!({
                "pubkey": meta.pubkey.to_string(),
                "isSigner": meta.is_signer,
                "isWritable": meta.is_writable,
            })
        })
        .collect();
    serde_json::json!({
        "programId": ix.program_id.to_string(),
        "accounts": accounts,
        "data": base64::engine::general_purpose::STANDARD.encode(&ix.data),
    })
    .to_string()
}

fn build(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: xmargin::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

fn with_remaining(mut ix: Instruction, remaining: &[AccountMeta]) -> Instruction {
    ix.accounts.extend_from_slice(remaining);
    ix
}

const TOKEN_PROGRAM: Pubkey = anchor_spl::token::ID;
const SYSTEM_PROGRAM: Pubkey = anchor_lang::system_program::ID;

// ---- administration -------------------------------------------------------------------------

pub fn initialize(admin: Pubkey, params: InitializeParams) -> Instruction {
    build(
        xmargin::accounts::Initialize {
            admin,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            program_data: pda::program_data(),
            system_program: SYSTEM_PROGRAM,
        },
        xmargin::instruction::Initialize { params },
    )
}

/// Lists collateral `mint` (the quote mint first, without oracle) and creates its vault.
pub fn add_collateral_asset(
    admin: Pubkey,
    mint: Pubkey,
    oracle: Option<Pubkey>,
    params: AddCollateralAssetParams,
) -> Instruction {
    build(
        xmargin::accounts::AddCollateralAsset {
            admin,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            mint,
            vault: pda::vault(&mint),
            oracle,
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        xmargin::instruction::AddCollateralAsset { params },
    )
}

pub fn update_collateral_asset(admin: Pubkey, params: UpdateCollateralAssetParams) -> Instruction {
    build(
        xmargin::accounts::UpdateCollateralAsset {
            admin,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
        },
        xmargin::instruction::UpdateCollateralAsset { params },
    )
}

/// Lists market `index` (the next free one) priced by `oracle`.
pub fn add_market(
    admin: Pubkey,
    index: u8,
    oracle: Pubkey,
    params: AddMarketParams,
) -> Instruction {
    build(
        xmargin::accounts::AddMarket {
            admin,
            clearinghouse: pda::clearinghouse(),
            market: pda::market(index),
            oracle,
            system_program: SYSTEM_PROGRAM,
        },
        xmargin::instruction::AddMarket { params },
    )
}

pub fn add_series(admin: Pubkey, market: u8, params: AddSeriesParams) -> Instruction {
    build(
        xmargin::accounts::AddSeries {
            admin,
            clearinghouse: pda::clearinghouse(),
            market: pda::market(market),
        },
        xmargin::instruction::AddSeries { params },
    )
}

pub fn update_vol_surface(
    risk_authority: Pubkey,
    market: u8,
    surface: StoredVolSurface,
) -> Instruction {
    build(
        xmargin::accounts::UpdateVolSurface {
            risk_authority,
            clearinghouse: pda::clearinghouse(),
            market: pda::market(market),
        },
        xmargin::instruction::UpdateVolSurface { surface },
    )
}

pub fn update_market_risk(risk_authority: Pubkey, market: u8, risk: UnderlyingRisk) -> Instruction {
    build(
        xmargin::accounts::UpdateMarketRisk {
            risk_authority,
            clearinghouse: pda::clearinghouse(),
            market: pda::market(market),
        },
        xmargin::instruction::UpdateMarketRisk { risk },
    )
}

pub fn update_risk_params(risk_authority: Pubkey, params: UpdateRiskParamsParams) -> Instruction {
    build(
        xmargin::accounts::UpdateRiskParams {
            risk_authority,
            clearinghouse: pda::clearinghouse(),
        },
        xmargin::instruction::UpdateRiskParams { params },
    )
}

/// Pauses `pause_flags` for `duration_secs` (renewing an earlier pause); `(0, 0)` unpauses.
pub fn set_pause(admin: Pubkey, pause_flags: u8, duration_secs: u32) -> Instruction {
    build(
        xmargin::accounts::SetPause {
            admin,
            clearinghouse: pda::clearinghouse(),
        },
        xmargin::instruction::SetPause {
            pause_flags,
            duration_secs,
        },
    )
}

/// Queues `change` as change `id` (the clearinghouse's `changes_queued`), signed by the role
/// that owns the parameter.
pub fn queue_change(proposer: Pubkey, id: u64, change: RiskChange) -> Instruction {
    build(
        xmargin::accounts::QueueChange {
            proposer,
            clearinghouse: pda::clearinghouse(),
            pending_change: pda::pending_change(id),
            system_program: SYSTEM_PROGRAM,
        },
        xmargin::instruction::QueueChange { change },
    )
}

/// Applies queued change `id` once its delay has passed; anyone may send it. The rent goes
/// back to `proposer`.
pub fn execute_change(id: u64, proposer: Pubkey, change: &RiskChange) -> Instruction {
    let (market, collateral_registry) = match change {
        RiskChange::MarketRisk { market, .. } | RiskChange::VolSurface { market, .. } => {
            (Some(pda::market(*market)), None)
        }
        RiskChange::CollateralAsset(_) | RiskChange::Liquidation(_) => {
            (None, Some(pda::registry()))
        }
        RiskChange::RiskParams(_) | RiskChange::Timelock { .. } => (None, None),
    };
    build(
        xmargin::accounts::ExecuteChange {
            clearinghouse: pda::clearinghouse(),
            pending_change: pda::pending_change(id),
            proposer,
            market,
            collateral_registry,
        },
        xmargin::instruction::ExecuteChange {},
    )
}

/// Withdraws queued change `id`, signed by its proposer or the role's holder.
pub fn cancel_change(signer: Pubkey, id: u64, proposer: Pubkey) -> Instruction {
    build(
        xmargin::accounts::CancelChange {
            signer,
            clearinghouse: pda::clearinghouse(),
            pending_change: pda::pending_change(id),
            proposer,
        },
        xmargin::instruction::CancelChange {},
    )
}

/// Proposes `proposed` for `role`, signed by its holder (or the admin, for the risk
/// authority); `Pubkey::default()` withdraws a proposal.
pub fn propose_role(holder: Pubkey, role: Role, proposed: Pubkey) -> Instruction {
    build(
        xmargin::accounts::ProposeRole {
            holder,
            clearinghouse: pda::clearinghouse(),
        },
        xmargin::instruction::ProposeRole { role, proposed },
    )
}

/// Takes `role`, signed by the key proposed for it.
pub fn accept_role(proposed: Pubkey, role: Role) -> Instruction {
    build(
        xmargin::accounts::AcceptRole {
            proposed,
            clearinghouse: pda::clearinghouse(),
        },
        xmargin::instruction::AcceptRole { role },
    )
}

/// Pays `amount` of the accrued trade fees from the quote vault to `treasury`.
pub fn withdraw_fees(
    admin: Pubkey,
    quote_mint: Pubkey,
    treasury: Pubkey,
    amount: u64,
) -> Instruction {
    build(
        xmargin::accounts::WithdrawFees {
            admin,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            vault: pda::vault(&quote_mint),
            treasury,
            token_program: TOKEN_PROGRAM,
        },
        xmargin::instruction::WithdrawFees { amount },
    )
}

pub fn create_insurance_fund(admin: Pubkey, quote_mint: Pubkey) -> Instruction {
    build(
        xmargin::accounts::CreateInsuranceFund {
            admin,
            clearinghouse: pda::clearinghouse(),
            quote_mint,
            insurance_vault: pda::insurance_vault(),
            token_program: TOKEN_PROGRAM,
            system_program: SYSTEM_PROGRAM,
        },
        xmargin::instruction::CreateInsuranceFund {},
    )
}

pub fn withdraw_insurance(admin: Pubkey, destination: Pubkey, amount: u64) -> Instruction {
    build(
        xmargin::accounts::WithdrawInsurance {
            admin,
            clearinghouse: pda::clearinghouse(),
            insurance_vault: pda::insurance_vault(),
            destination,
            token_program: TOKEN_PROGRAM,
        },
        xmargin::instruction::WithdrawInsurance { amount },
    )
}

/// Adopts `risk_cache` (a zeroed, program-owned account of `RiskCache::SPACE` bytes the client
/// created in the same transaction) as `market`'s option risk cache.
pub fn create_risk_cache(admin: Pubkey, market: u8, risk_cache: Pubkey) -> Instruction {
    build(
        xmargin::accounts::CreateRiskCache {
            admin,
            clearinghouse: pda::clearinghouse(),
            market: pda::market(market),
            risk_cache,
        },
        xmargin::instruction::CreateRiskCache {},
    )
}

// ---- traders --------------------------------------------------------------------------------

pub fn create_margin_account(owner: Pubkey, id: u16, mode: u8, isolated_market: u8) -> Instruction {
    build(
        xmargin::accounts::CreateMarginAccount {
            owner,
            clearinghouse: pda::clearinghouse(),
            margin_account: pda::margin_account(&owner, id),
            system_program: SYSTEM_PROGRAM,
        },
        xmargin::instruction::CreateMarginAccount {
            id,
            mode,
            isolated_market,
        },
    )
}

pub fn close_margin_account(owner: Pubkey, margin_account: Pubkey) -> Instruction {
    build(
        xmargin::accounts::CloseMarginAccount {
            owner,
            margin_account,
        },
        xmargin::instruction::CloseMarginAccount {},
    )
}

pub fn set_delegate(owner: Pubkey, margin_account: Pubkey, delegate: Pubkey) -> Instruction {
    build(
        xmargin::accounts::SetDelegate {
            owner,
            margin_account,
        },
        xmargin::instruction::SetDelegate { delegate },
    )
}

/// Moves `amount` of collateral `asset` (registry index, minted by `mint`) from the
/// depositor's token account `source` into `margin_account`.
pub fn deposit(
    depositor: Pubkey,
    margin_account: Pubkey,
    mint: Pubkey,
    source: Pubkey,
    asset: u8,
    amount: u64,
) -> Instruction {
    build(
        xmargin::accounts::Deposit {
            depositor,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            margin_account,
            vault: pda::vault(&mint),
            source,
            token_program: TOKEN_PROGRAM,
        },
        xmargin::instruction::Deposit {
            asset_index: asset,
            amount,
        },
    )
}

/// Withdraws `amount` of `asset` to `destination`; margin-checked with `risk_accounts`.
pub fn withdraw(
    owner: Pubkey,
    margin_account: Pubkey,
    mint: Pubkey,
    destination: Pubkey,
    (asset, amount): (u8, u64),
    risk_accounts: &[AccountMeta],
) -> Instruction {
    let ix = build(
        xmargin::accounts::Withdraw {
            owner,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            margin_account,
            vault: pda::vault(&mint),
            destination,
            token_program: TOKEN_PROGRAM,
        },
        xmargin::instruction::Withdraw {
            asset_index: asset,
            amount,
        },
    );
    with_remaining(ix, risk_accounts)
}

/// Both sides of a trade: who signs and which margin account it fills.
#[derive(Clone, Copy, Debug)]
pub struct TradeSides {
    pub taker: Pubkey,
    pub taker_account: Pubkey,
    pub maker: Pubkey,
    pub maker_account: Pubkey,
}

/// Clears `params.size` contracts of `market`'s series (positive: the taker buys) at
/// `params.price`, co-signed by both sides; both accounts are margin-checked with
/// `risk_accounts` (which must not repeat `market`).
pub fn clear_trade(
    sides: TradeSides,
    market: u8,
    params: ClearTradeParams,
    risk_accounts: &[AccountMeta],
) -> Instruction {
    let ix = build(
        xmargin::accounts::ClearTrade {
            taker: sides.taker,
            maker: sides.maker,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            market: pda::market(market),
            taker_account: sides.taker_account,
            maker_account: sides.maker_account,
        },
        xmargin::instruction::ClearTrade { params },
    );
    with_remaining(ix, risk_accounts)
}

pub fn fund_insurance(funder: Pubkey, source: Pubkey, amount: u64) -> Instruction {
    build(
        xmargin::accounts::FundInsurance {
            funder,
            clearinghouse: pda::clearinghouse(),
            insurance_vault: pda::insurance_vault(),
            source,
            token_program: TOKEN_PROGRAM,
        },
        xmargin::instruction::FundInsurance { amount },
    )
}

// ---- keepers --------------------------------------------------------------------------------

/// Who liquidates whom, paid in the quote mint.
#[derive(Clone, Copy, Debug)]
pub struct Liquidation {
    pub liquidator: Pubkey,
    pub liquidator_account: Pubkey,
    pub target_account: Pubkey,
    pub quote_mint: Pubkey,
}

impl Liquidation {
    fn accounts(&self) -> xmargin::accounts::LiquidationAccounts {
        xmargin::accounts::LiquidationAccounts {
            liquidator: self.liquidator,
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            liquidator_account: self.liquidator_account,
            target_account: self.target_account,
            quote_vault: pda::vault(&self.quote_mint),
            insurance_vault: pda::insurance_vault(),
            token_program: TOKEN_PROGRAM,
        }
    }
}

/// Takes over up to `params.max_quantity` contracts of the target's position in `market`
/// (`risk_accounts` must not repeat `market`), and with a pair its paired leg in proportion.
pub fn liquidate_position(
    who: Liquidation,
    market: u8,
    params: LiquidatePositionParams,
    risk_accounts: &[AccountMeta],
) -> Instruction {
    let ix = build(
        xmargin::accounts::LiquidatePosition {
            common: who.accounts(),
            market: pda::market(market),
        },
        xmargin::instruction::LiquidatePosition { params },
    );
    let mut ix = with_remaining(ix, risk_accounts);
    // A pair's leg in another market changes hands there: that market is written.
    if let Some(paired) = params.paired_market.filter(|index| *index != market) {
        let key = pda::market(paired);
        match ix.accounts.iter_mut().find(|meta| meta.pubkey == key) {
            Some(meta) => meta.is_writable = true,
            None => ix.accounts.push(AccountMeta::new(key, false)),
        }
    }
    ix
}

/// Buys up to `params.max_amount` of the target's collateral `params.asset` at a discount.
pub fn liquidate_collateral(
    who: Liquidation,
    params: LiquidateCollateralParams,
    risk_accounts: &[AccountMeta],
) -> Instruction {
    let ix = build(
        xmargin::accounts::LiquidateCollateral {
            common: who.accounts(),
        },
        xmargin::instruction::LiquidateCollateral { params },
    );
    with_remaining(ix, risk_accounts)
}

/// Resolves a bankrupt account (`xmargin::bankruptcy`): `market` is the market of the series it
/// was last liquidated in (any market if none); `risk_accounts` the oracles of any dust it
/// holds (`Protocol::resolve_bankruptcy_ixs` picks both).
pub fn resolve_bankruptcy(
    bankrupt_account: Pubkey,
    market: u8,
    quote_mint: Pubkey,
    risk_accounts: &[AccountMeta],
) -> Instruction {
    let ix = build(
        xmargin::accounts::ResolveBankruptcy {
            clearinghouse: pda::clearinghouse(),
            collateral_registry: pda::registry(),
            market: pda::market(market),
            bankrupt_account,
            quote_vault: pda::vault(&quote_mint),
            insurance_vault: pda::insurance_vault(),
            token_program: TOKEN_PROGRAM,
        },
        xmargin::instruction::ResolveBankruptcy {},
    );
    with_remaining(ix, risk_accounts)
}

fn market_oracle(market: u8, oracle: Pubkey) -> xmargin::accounts::MarketOracle {
    xmargin::accounts::MarketOracle {
        clearinghouse: pda::clearinghouse(),
        collateral_registry: pda::registry(),
        market: pda::market(market),
        oracle,
    }
}

/// Fixes an expired series' settlement price from `market`'s oracle.
pub fn settle_expired_series(market: u8, oracle: Pubkey, series: u8) -> Instruction {
    build(
        market_oracle(market, oracle),
        xmargin::instruction::SettleExpiredSeries { series },
    )
}

/// Pays out one account's position in a settled series.
pub fn settle_position(market: u8, margin_account: Pubkey, series: u8) -> Instruction {
    build(
        xmargin::accounts::SettlePosition {
            market: pda::market(market),
            margin_account,
        },
        xmargin::instruction::SettlePosition { series },
    )
}

/// Accrues a perpetual's funding up to now.
pub fn crank_funding(market: u8, oracle: Pubkey, series: u8) -> Instruction {
    build(
        market_oracle(market, oracle),
        xmargin::instruction::CrankFunding { series },
    )
}

/// Recomputes `count` series of `market` from `first` into its risk cache.
pub fn refresh_risk_cache(
    market: u8,
    oracle: Pubkey,
    risk_cache: Pubkey,
    first: u8,
    count: u8,
) -> Instruction {
    build(
        xmargin::accounts::RefreshRiskCache {
            market_oracle: market_oracle(market, oracle),
            risk_cache,
        },
        xmargin::instruction::RefreshRiskCache { first, count },
    )
}
