// What the program's margin checks read, and the remaining accounts of a checked instruction in
// the program's fixed order (crates/client/src/protocol.rs `risk_accounts`): the markets the
// accounts hold or trade, by index, without the market the instruction names itself; then every
// oracle those markets and the collateral need (first use first); then the markets' risk caches.
import { AccountRole, type AccountMeta, type Address } from "@solana/kit";
import type { CollateralRegistry, MarginAccount, Market } from "./generated.js";
import { marketAddress } from "./pda.js";

export const QUOTE_ASSET = 0;
const DEFAULT_ADDRESS = "11111111111111111111111111111111";

/** Markets and series from positions, assets from balances. */
export interface Needs {
  series: [number, number][];
  assets: number[];
}

export function needsOf(accounts: MarginAccount[], also?: [number, number]): Needs {
  const needs: Needs = { series: [], assets: [] };
  const addSeries = (market: number, series: number) => {
    if (!needs.series.some(([m, s]) => m === market && s === series)) needs.series.push([market, series]);
  };
  for (const account of accounts) {
    for (const slot of account.positions) if (slot.inUse !== 0) addSeries(slot.market, slot.series);
    for (const balance of account.collateral)
      if (balance.inUse !== 0 && !needs.assets.includes(balance.asset)) needs.assets.push(balance.asset);
  }
  if (also) addSeries(also[0], also[1]);
  return needs;
}

/** The state a check's accounts come from: decoded markets (by index) and the registry. */
export interface ProtocolState {
  registry: CollateralRegistry;
  markets: Market[];
}

export async function riskAccounts(
  state: ProtocolState,
  needs: Needs,
  namedMarket?: number,
): Promise<AccountMeta[]> {
  const markets = [...new Set(needs.series.map(([m]) => m))].sort((a, b) => a - b);
  const metas: AccountMeta[] = [];
  for (const m of markets) {
    if (m !== namedMarket) metas.push({ address: await marketAddress(m), role: AccountRole.READONLY });
  }
  const oracles: Address[] = [];
  const caches: Address[] = [];
  for (const index of markets) {
    const market = state.markets[index];
    if (!market) throw new Error(`no market ${index}`);
    oracles.push(market.oracle);
    if (market.riskCache !== DEFAULT_ADDRESS) caches.push(market.riskCache);
  }
  const assets = [...needs.assets].sort((a, b) => a - b).filter((a) => a !== QUOTE_ASSET);
  for (const asset of assets) {
    if (asset >= state.registry.assetCount) throw new Error(`no collateral asset ${asset}`);
    oracles.push(state.registry.assets[asset].oracle);
  }
  for (const address of [...oracles, ...caches]) {
    if (!metas.some((m) => m.address === address)) metas.push({ address, role: AccountRole.READONLY });
  }
  return metas;
}
