// Compute budget of a transaction, the Rust SDK's model (crates/client/src/budget.rs, fitted to
// the SBF measurements in docs/compute-units.md; a golden test keeps the two equal).
import { type Address, address, type Instruction } from "@solana/kit";
import type { MarginAccount, Market } from "./generated.js";

export const COMPUTE_BUDGET_PROGRAM: Address = address("ComputeBudget111111111111111111111111111111");
export const MAX_UNITS = 1_400_000;
function u32le(tag: number, value: number): Uint8Array {
  const data = new Uint8Array(5);
  data[0] = tag;
  new DataView(data.buffer).setUint32(1, value, true);
  return data;
}

export const setComputeUnitLimit = (units: number): Instruction => ({
  programAddress: COMPUTE_BUDGET_PROGRAM,
  accounts: [],
  data: u32le(2, units),
});

/** What one margin-checked account costs to evaluate. */
export interface CheckShape {
  underlyings: number;
  linear: number;
  cachedOptions: number;
  liveOptions: number;
}

const CALL = 2;
const PUT = 3;

/**
 * The shape of `account`'s check. Without a way to tell a fresh risk-cache entry (`cached`),
 * every option counts as computed in the check: the estimate is then an upper bound.
 */
export function checkShape(
  account: MarginAccount,
  markets: Market[],
  cached: (market: number, series: number) => boolean = () => false,
): CheckShape {
  const shape: CheckShape = { underlyings: 0, linear: 0, cachedOptions: 0, liveOptions: 0 };
  const seen = new Set<number>();
  for (const slot of account.positions) {
    if (slot.inUse === 0) continue;
    seen.add(slot.market);
    const kind = markets[slot.market]?.series[slot.series]?.kind;
    if (kind !== CALL && kind !== PUT) shape.linear += 1;
    else if (cached(slot.market, slot.series)) shape.cachedOptions += 1;
    else shape.liveOptions += 1;
  }
  shape.underlyings = seen.size;
  return shape;
}

function checkUnits(s: CheckShape): number {
  return 46_000 + 5_600 * s.underlyings + 1_900 * s.linear + 3_400 * s.cachedOptions + 45_000 * s.liveOptions;
}

/** A side whose fill only reduces its position is checked before the fill too; the second check
 * prices no option again (live bounds are kept from the first). */
function sideUnits(s: CheckShape, reduces = false): number {
  const again = { ...s, cachedOptions: s.cachedOptions + s.liveOptions, liveOptions: 0 };
  return checkUnits(s) + (reduces ? checkUnits(again) : 0);
}

export type Work =
  | { kind: "deposit" }
  | { kind: "withdraw"; account: CheckShape }
  | {
      kind: "clearTrade";
      taker: CheckShape;
      maker: CheckShape;
      takerReduces?: boolean;
      makerReduces?: boolean;
    };

/** Units to request: the estimate plus a quarter for headroom, at most the maximum. */
export function estimateUnits(work: Work): number {
  let units: number;
  switch (work.kind) {
    case "deposit":
      units = 16_000;
      break;
    case "withdraw":
      units = checkUnits(work.account);
      break;
    case "clearTrade":
      units = 10_000 + sideUnits(work.taker, work.takerReduces) + sideUnits(work.maker, work.makerReduces);
      break;
  }
  return Math.min(units + Math.floor(units / 4), MAX_UNITS);
}

/** The unit limit (every instruction runs in the default 32 KB heap: no heap frame). */
export function budgetInstructions(work: Work): Instruction[] {
  return [setComputeUnitLimit(estimateUnits(work))];
}

/** Whether a fill of `size` contracts (positive buys) only reduces `account`'s position in the
 * series (`MarginAccount::fill_only_reduces`). */
export function fillOnlyReduces(account: MarginAccount, market: number, series: number, size: bigint): boolean {
  const slot = account.positions.find((p) => p.inUse !== 0 && p.market === market && p.series === series);
  const before = slot?.size ?? 0n;
  const magnitude = (v: bigint) => (v < 0n ? -v : v);
  return before !== 0n && before > 0n === size < 0n && magnitude(size) <= magnitude(before);
}
