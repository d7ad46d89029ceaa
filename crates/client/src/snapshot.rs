//! A protocol snapshot as a file: every account a margin preview reads, the clock, and the
//! account to show (addresses base58, data base64, JSON). The demo exports one; the dashboard
//! opens on it offline, and the SDK's WebAssembly build of this crate computes the figures
//! below from it in the browser, the same code as here.
use std::collections::HashMap;
use std::str::FromStr;

use anchor_lang::prelude::Pubkey;
use base64::Engine;
use serde::{Deserialize, Serialize};
use solana_account::Account;
use solana_clock::Clock;
use xmargin::oracle::OracleUse;
use xmargin::state::MarginAccount;
use xmargin_risk::bs::OptionKind;
use xmargin_risk::collateral::{market_value, weighted_values};
use xmargin_risk::grid::{VolShock, CORE_NODES, NODES, VOL_SHOCK_ORDER};
use xmargin_risk::model::Instrument;
use xmargin_risk::portfolio::position_value;

use crate::error::{ClientError, ClientResult};
use crate::preview::AccountSummary;
use crate::protocol::Protocol;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotClock {
    pub slot: u64,
    pub epoch_start_timestamp: i64,
    pub epoch: u64,
    pub leader_schedule_epoch: u64,
    pub unix_timestamp: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotAccount {
    pub address: String,
    pub owner: String,
    pub lamports: u64,
    /// base64
    pub data: String,
}

/// Display names the chain does not store (a frontend's listing), by market and asset index.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Labels {
    pub markets: Vec<String>,
    pub assets: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    pub clock: SnapshotClock,
    /// The margin account the figures are about.
    pub margin_account: String,
    pub accounts: Vec<SnapshotAccount>,
    #[serde(default)]
    pub labels: Labels,
}

fn pubkey(text: &str) -> ClientResult<Pubkey> {
    Pubkey::from_str(text).map_err(|_| ClientError::Input(format!("not an address: {text}")))
}

impl Snapshot {
    /// `accounts` at `clock`, about `margin_account`.
    pub fn new(clock: &Clock, margin_account: &Pubkey, accounts: &[(Pubkey, Account)]) -> Self {
        let base64 = base64::engine::general_purpose::STANDARD;
        Self {
            clock: SnapshotClock {
                slot: clock.slot,
                epoch_start_timestamp: clock.epoch_start_timestamp,
                epoch: clock.epoch,
                leader_schedule_epoch: clock.leader_schedule_epoch,
                unix_timestamp: clock.unix_timestamp,
            },
            margin_account: margin_account.to_string(),
            accounts: accounts
                .iter()
                .map(|(address, account)| SnapshotAccount {
                    address: address.to_string(),
                    owner: account.owner.to_string(),
                    lamports: account.lamports,
                    data: base64.encode(&account.data),
                })
                .collect(),
            labels: Labels::default(),
        }
    }

    /// Everything a check of `margin_account` reads, from `chain` now.
    #[cfg(feature = "chain")]
    pub async fn take(chain: &impl crate::Chain, margin_account: &Pubkey) -> ClientResult<Self> {
        let (protocol, mut accounts) = Protocol::fetch_recorded(chain).await?;
        let account = chain
            .account(margin_account)
            .await?
            .ok_or_else(|| ClientError::AccountNotFound(margin_account.to_string()))?;
        accounts.push((*margin_account, account));
        Ok(Self::new(&protocol.clock, margin_account, &accounts))
    }

    pub fn from_json(text: &str) -> ClientResult<Self> {
        serde_json::from_str(text).map_err(|e| ClientError::Input(format!("snapshot: {e}")))
    }

    fn decoded(&self) -> ClientResult<HashMap<Pubkey, Account>> {
        let base64 = base64::engine::general_purpose::STANDARD;
        self.accounts
            .iter()
            .map(|a| {
                let data = base64.decode(&a.data).map_err(|_| {
                    ClientError::Input(format!("{}: data is not base64", a.address))
                })?;
                let account = Account {
                    lamports: a.lamports,
                    data,
                    owner: pubkey(&a.owner)?,
                    executable: false,
                    rent_epoch: 0,
                };
                Ok((pubkey(&a.address)?, account))
            })
            .collect()
    }

    fn clock(&self) -> Clock {
        let c = &self.clock;
        Clock {
            slot: c.slot,
            epoch_start_timestamp: c.epoch_start_timestamp,
            epoch: c.epoch,
            leader_schedule_epoch: c.leader_schedule_epoch,
            unix_timestamp: c.unix_timestamp,
        }
    }

    /// The protocol state and the margin account it holds.
    pub fn open(&self) -> ClientResult<(Protocol, MarginAccount)> {
        let accounts = self.decoded()?;
        let protocol = Protocol::from_accounts(|key| accounts.get(key).cloned(), self.clock())?;
        let address = pubkey(&self.margin_account)?;
        let account = accounts
            .get(&address)
            .ok_or_else(|| ClientError::AccountNotFound(self.margin_account.clone()))?;
        Ok((
            protocol,
            crate::accounts::margin_account(&address, account)?,
        ))
    }
}

/// One collateral balance, quote-native values.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CollateralLine {
    pub asset: u8,
    pub amount: i64,
    pub value: i64,
    /// After the maintenance / initial haircut (volatility weight and the size haircut).
    pub maintenance_value: i64,
    pub initial_value: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PositionLine {
    pub market: u8,
    pub series: u8,
    /// perpetual, future, call, put
    pub kind: &'static str,
    /// Quote-native per contract; 0 for perpetuals and futures.
    pub strike: u64,
    /// Unix seconds; 0 for perpetuals.
    pub expiry: i64,
    pub size: i64,
    pub cost_basis: i64,
    /// Worth at the engine's mark, quote-native (rounded against the holder).
    pub value: i64,
}

/// One underlying's scenario grid: the loss (quote-native, positive is a loss) at each price move
/// under each volatility shock, and at the extended moves.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ScenarioGrid {
    pub market: u8,
    /// Price move of each node in basis points of spot: the core nodes, then extended down, up.
    pub moves_bps: Vec<i64>,
    pub vol_shocks: Vec<&'static str>,
    /// `core[node][shock]`.
    pub core: Vec<Vec<i64>>,
    /// Extended down, extended up (counted at the grid's weight).
    pub extended: Vec<i64>,
}

/// What the dashboard shows about one margin account.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccountPicture {
    pub summary: AccountSummary,
    pub collateral: Vec<CollateralLine>,
    pub positions: Vec<PositionLine>,
    pub grids: Vec<ScenarioGrid>,
}

fn vol_name(shock: VolShock) -> &'static str {
    match shock {
        VolShock::Down => "down",
        VolShock::Flat => "flat",
        VolShock::Up => "up",
    }
}

/// A volatility shock by name in JSON.
pub(crate) fn serialize_vol<S: serde::Serializer>(
    shock: &Option<VolShock>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match shock {
        Some(shock) => serializer.serialize_str(vol_name(*shock)),
        None => serializer.serialize_none(),
    }
}

fn risk<T>(result: xmargin_risk::error::RiskResult<T>) -> ClientResult<T> {
    result.map_err(|e| ClientError::Risk(format!("{e:?}")))
}

fn narrow(value: i128) -> ClientResult<i64> {
    i64::try_from(value).map_err(|_| ClientError::Risk("value out of range".into()))
}

/// A relative move in basis points, to the nearest (display only).
fn bps(move_fraction: xmargin_risk::fx::Fx) -> i64 {
    ((move_fraction.to_bits() as i128 * 10_000 + (1 << 31)) >> 32) as i64
}

impl Protocol {
    /// Everything the dashboard shows about `account`, as the program would compute it now.
    pub fn picture(&self, account: &MarginAccount) -> ClientResult<AccountPicture> {
        let (context, settled) = self.settled(account)?;
        let summary = self.summarize_shown(&context, &settled, OracleUse::for_account(account))?;
        let view = context.view(&settled)?;
        let collateral = view
            .collateral
            .iter()
            .zip(&view.assets)
            .map(|(c, asset)| {
                let [maintenance, initial] = risk(weighted_values(c))?;
                Ok(CollateralLine {
                    asset: *asset,
                    amount: c.amount,
                    value: narrow(risk(market_value(c))?)?,
                    maintenance_value: narrow(maintenance)?,
                    initial_value: narrow(initial)?,
                })
            })
            .collect::<ClientResult<_>>()?;
        let engine = context.engine();
        let positions = view
            .positions
            .iter()
            .zip(&view.keys)
            .map(|(priced, (market, series))| {
                let (kind, strike, expiry) = match priced.position.instrument {
                    Instrument::Perpetual => ("perpetual", 0, 0),
                    Instrument::Future { expiry } => ("future", 0, expiry),
                    Instrument::Option {
                        kind,
                        strike,
                        expiry,
                    } => (
                        match kind {
                            OptionKind::Call => "call",
                            OptionKind::Put => "put",
                        },
                        strike,
                        expiry,
                    ),
                };
                let (_, notional) = risk(engine.notional(&priced.position, &priced.risk))?;
                Ok(PositionLine {
                    market: *market,
                    series: *series,
                    kind,
                    strike,
                    expiry,
                    size: priced.position.size,
                    cost_basis: priced.position.cost_basis,
                    value: narrow(risk(position_value(notional, &priced.risk))?)?,
                })
            })
            .collect::<ClientResult<_>>()?;
        let evaluated = context.evaluate(&settled)?;
        let mut grids = Vec::new();
        for (underlying, exposure) in evaluated.book.exposures() {
            if exposure.positions == 0 {
                continue;
            }
            let grid = &engine.grids[underlying];
            let (core, extended) = risk(exposure.scenario_losses(grid))?;
            grids.push(ScenarioGrid {
                market: context.market_of(underlying as u8).unwrap_or(u8::MAX),
                moves_bps: grid.moves[..NODES].iter().map(|m| bps(*m)).collect(),
                vol_shocks: VOL_SHOCK_ORDER.iter().map(|v| vol_name(*v)).collect(),
                core: core[..CORE_NODES].iter().map(|row| row.to_vec()).collect(),
                extended: extended.to_vec(),
            });
        }
        Ok(AccountPicture {
            summary,
            collateral,
            positions,
            grids,
        })
    }
}

/// The picture of a snapshot's margin account, as JSON (what the WebAssembly build exports).
pub fn picture_json(snapshot_json: &str) -> ClientResult<String> {
    let snapshot = Snapshot::from_json(snapshot_json)?;
    let (protocol, account) = snapshot.open()?;
    let picture = protocol.picture(&account)?;
    serde_json::to_string(&picture).map_err(|e| ClientError::Input(format!("picture: {e}")))
}

/// A snapshot with the figures this (native) build computes from it: the dashboard's bundled
/// example, whose browser test checks the WebAssembly build shows the same.
#[derive(Serialize)]
struct Example<'a> {
    #[serde(flatten)]
    snapshot: &'a Snapshot,
    expected: AccountPicture,
}

/// `snapshot` and its picture as JSON.
pub fn example_json(snapshot: &Snapshot) -> ClientResult<String> {
    let (protocol, account) = snapshot.open()?;
    let example = Example {
        snapshot,
        expected: protocol.picture(&account)?,
    };
    serde_json::to_string_pretty(&example).map_err(|e| ClientError::Input(format!("example: {e}")))
}
