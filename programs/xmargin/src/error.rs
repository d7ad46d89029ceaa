use anchor_lang::prelude::*;

/// Every refusal of the program. Codes are `6000 + position`: append, never reorder.
#[error_code]
pub enum XmarginError {
    #[msg("parameter out of its allowed range")]
    InvalidParameter,
    #[msg("risk authority must differ from the default pubkey")]
    InvalidAuthority,
    #[msg("signer is not the authority this instruction requires")]
    Unauthorized,
    #[msg("this action is paused")]
    Paused,
    #[msg("the quote mint must be the first collateral asset")]
    QuoteAssetMustComeFirst,
    #[msg("the collateral registry is full")]
    CollateralRegistryFull,
    #[msg("no such collateral asset")]
    UnknownCollateralAsset,
    #[msg("mint is not the registered one")]
    WrongMint,
    #[msg("vault is not the registered one")]
    WrongVault,
    #[msg("no more markets can be listed")]
    TooManyMarkets,
    #[msg("the market has no room for another series")]
    MarketFull,
    #[msg("no such series")]
    UnknownSeries,
    #[msg("market account missing or not the one a position refers to")]
    UnknownMarket,
    #[msg("series has expired")]
    SeriesExpired,
    #[msg("invalid series definition")]
    InvalidSeries,
    #[msg("vol surface moved by more than the allowed step")]
    VolStepTooLarge,
    #[msg("amount must be positive")]
    ZeroAmount,
    #[msg("amount too large")]
    AmountTooLarge,
    #[msg("deposit cap of this asset reached")]
    DepositCapExceeded,
    #[msg("balance too small")]
    InsufficientBalance,
    #[msg("the withdrawal would break initial margin")]
    InsufficientFreeCollateral,
    #[msg("the taker would break initial margin")]
    TakerBelowInitialMargin,
    #[msg("the maker would break initial margin")]
    MakerBelowInitialMargin,
    #[msg("no free position slot")]
    TooManyPositions,
    #[msg("no free collateral slot")]
    TooManyCollateralAssets,
    #[msg("an isolated account only trades its own market")]
    MarketNotAllowedInIsolatedMode,
    #[msg("account still holds positions or balances")]
    AccountNotEmpty,
    #[msg("oracle account is not owned by the Pyth program")]
    OracleWrongOwner,
    #[msg("oracle feed id does not match")]
    OracleFeedMismatch,
    #[msg("oracle price is too old")]
    OracleStale,
    #[msg("oracle confidence interval too wide")]
    OracleConfidenceTooWide,
    #[msg("oracle is not trading")]
    OracleNotTrading,
    #[msg("oracle account data is invalid")]
    OracleInvalid,
    #[msg("oracle update is not fully verified")]
    OracleNotVerified,
    #[msg("an oracle the margin check needs was not passed")]
    MissingOracle,
    #[msg("arithmetic overflow")]
    MathOverflow,
    #[msg("the risk engine refused its inputs")]
    RiskEngine,
    #[msg("trade price must be positive")]
    InvalidPrice,
    #[msg("open interest no longer balances")]
    OpenInterestMismatch,
    #[msg("margin account belongs to another owner")]
    NotAccountOwner,
    #[msg("the same account was passed for two roles")]
    DuplicateAccount,
    #[msg("the account is not below maintenance margin")]
    NotLiquidatable,
    #[msg("an account cannot be liquidated by its own owner")]
    SelfLiquidation,
    #[msg("the account holds no position in this series")]
    NoPosition,
    #[msg("the liquidation would not raise the account's health")]
    LiquidationDidNotImproveHealth,
    #[msg("the liquidator would break initial margin")]
    LiquidatorBelowInitialMargin,
    #[msg("the insurance fund does not exist yet, or this is not it")]
    WrongInsuranceVault,
    #[msg("insurance withdrawal beyond the cap or too soon after the last one")]
    InsuranceWithdrawalLimited,
    #[msg("the series has not expired, or never expires")]
    SeriesNotExpired,
    #[msg("the series is already settled")]
    SeriesAlreadySettled,
    #[msg("the oracle price was published before the series expired")]
    OutsideSettlementWindow,
    #[msg("the series is not settled yet")]
    SeriesNotSettled,
    #[msg("the account owes no quote: there is no debt to repay with its collateral")]
    NoQuoteDebt,
    #[msg("the account is not bankrupt: it still holds positions or collateral, or owes nothing")]
    NotBankrupt,
    #[msg("no open interest to socialize the loss across")]
    NoSeriesToSocialize,
    #[msg("the market already has a risk cache")]
    RiskCacheExists,
    #[msg("this is not the market's risk cache")]
    WrongRiskCache,
    #[msg("the market's risk cache is disabled (tolerance or age is 0)")]
    RiskCacheDisabled,
    #[msg("a risk cache account must be exactly RiskCache::SPACE bytes")]
    RiskCacheWrongSize,
    #[msg("the fill price is outside the series' band around the program's own valuation")]
    FillOutsideBand,
    #[msg("the market has a risk cache and the check reads its options: pass the cache account")]
    RiskCacheRequired,
    #[msg("the fill would raise the series' open interest past its cap")]
    OpenInterestCapExceeded,
    #[msg("the fill would raise the account's position in the series past its cap")]
    PositionCapExceeded,
    #[msg(
        "the collateral's feed fails the strict guard: it cannot change hands until it is fresh"
    )]
    CollateralUnpriced,
    #[msg("a liquidated pair is two different positions held on opposite sides")]
    NotAnOffsettingPair,
    #[msg("a settlement price already proposed was published no later than this one")]
    SettlementPriceNotEarlier,
    #[msg("the signer is not the key proposed for this role")]
    NotProposedForRole,
    #[msg("only the program's upgrade authority may initialize the clearinghouse")]
    NotUpgradeAuthority,
    #[msg("a change this large waits in the timelock: queue it")]
    StepTooLarge,
    #[msg("one step per parameter set per window: wait, or queue the change")]
    StepTooSoon,
    #[msg("the queued change's delay has not passed")]
    ChangeNotYetExecutable,
    #[msg("the queued change was not executed in its window")]
    ChangeExpired,
    #[msg("the accounts given are not the ones the queued change targets")]
    ChangeTargetMismatch,
    #[msg(
        "an asset whose maintenance weight is at least 1 - liquidation fee can never be liquidated"
    )]
    AssetNotLiquidatable,
    #[msg("the oracle's exponent is not the one listed")]
    OracleExponentMismatch,
    #[msg("the mint's decimals are not the ones listed")]
    MintDecimalsMismatch,
    #[msg("a pause lasts at most governance::MAX_PAUSE_SECS")]
    PauseTooLong,
    #[msg("more than the fees accrued")]
    FeesExceeded,
}

impl From<xmargin_risk::RiskError> for XmarginError {
    fn from(error: xmargin_risk::RiskError) -> Self {
        use xmargin_risk::RiskError;
        match error {
            RiskError::Overflow | RiskError::NotionalOutOfRange => XmarginError::MathOverflow,
            RiskError::CapacityExceeded => XmarginError::TooManyPositions,
            _ => XmarginError::RiskEngine,
        }
    }
}

/// Engine errors surface as named program errors.
pub fn risk_error(error: xmargin_risk::RiskError) -> Error {
    msg!("risk engine: {}", error);
    error!(XmarginError::from(error))
}

/// A token amount as a positive i64 balance change.
pub fn positive_amount(amount: u64) -> Result<i64> {
    require!(amount > 0, XmarginError::ZeroAmount);
    i64::try_from(amount).map_err(|_| error!(XmarginError::AmountTooLarge))
}
