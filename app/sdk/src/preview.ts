// The margin preview: the program's own margin check compiled to WebAssembly (crates/wasm over
// the Rust SDK's snapshot module), fed a snapshot of the accounts it reads. Figures are the
// program's, not a re-implementation.
import { type Address, getBase64Decoder } from "@solana/kit";
import { decodeClearinghouse, decodeCollateralRegistry, decodeMarket } from "./generated.js";
import { clearinghouseAddress, marketAddress, registryAddress } from "./pda.js";
import { QUOTE_ASSET } from "./protocol.js";

export interface SnapshotAccount {
  address: string;
  owner: string;
  lamports: number;
  /** base64 */
  data: string;
}

export interface Snapshot {
  clock: {
    slot: number;
    epoch_start_timestamp: number;
    epoch: number;
    leader_schedule_epoch: number;
    unix_timestamp: number;
  };
  margin_account: string;
  accounts: SnapshotAccount[];
  /** Display names the chain does not store, by market and asset index. */
  labels?: { markets: string[]; assets: string[] };
}

export interface UnderlyingLine {
  market: number;
  positions: number;
  net_delta: number;
  worst_loss: number;
  worst_move_bps: number;
  worst_vol: "down" | "flat" | "up" | null;
}

export interface AccountSummary {
  collateral: number;
  unrealized_pnl: number;
  equity: number;
  initial: number;
  maintenance: number;
  free_collateral: number;
  maint_health: number;
  distance_to_liquidation_bps: number;
  isolated: number;
  underlyings: UnderlyingLine[];
}

export interface CollateralLine {
  asset: number;
  amount: number;
  value: number;
  maintenance_value: number;
  initial_value: number;
}

export interface PositionLine {
  market: number;
  series: number;
  kind: "perpetual" | "future" | "call" | "put";
  strike: number;
  expiry: number;
  size: number;
  cost_basis: number;
  value: number;
}

export interface ScenarioGrid {
  market: number;
  moves_bps: number[];
  vol_shocks: string[];
  core: number[][];
  extended: number[];
}

/** Everything the dashboard shows about one margin account; amounts quote-native. */
export interface AccountPicture {
  summary: AccountSummary;
  collateral: CollateralLine[];
  positions: PositionLine[];
  grids: ScenarioGrid[];
}

interface Exports {
  memory: WebAssembly.Memory;
  xm_alloc(len: number): number;
  xm_free(ptr: number, len: number): void;
  xm_picture(ptr: number, len: number): bigint;
}

export class MarginPreview {
  private constructor(private readonly exports: Exports) {}

  /** Instantiates the module from its bytes (`xmargin.wasm`, built by scripts/build-wasm.sh). */
  static async load(wasm: BufferSource): Promise<MarginPreview> {
    const module = await WebAssembly.compile(wasm);
    // Solana crates compiled for wasm32 declare wasm-bindgen imports (JS randomness, iterators)
    // that the preview never calls: each is a function that refuses loudly if it ever is.
    const imports: Record<string, Record<string, () => never>> = {};
    for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
      if (kind !== "function") throw new Error(`xmargin.wasm imports a ${kind} (${from}.${name})`);
      imports[from] ??= {};
      imports[from][name] = () => {
        throw new Error(`xmargin.wasm called ${from}.${name}, which the preview does not provide`);
      };
    }
    const instance = await WebAssembly.instantiate(module, imports);
    return new MarginPreview(instance.exports as unknown as Exports);
  }

  /** The program's figures for the snapshot's margin account; throws with the program's refusal. */
  picture(snapshot: Snapshot): AccountPicture {
    const input = new TextEncoder().encode(JSON.stringify(snapshot));
    const e = this.exports;
    const ptr = e.xm_alloc(input.length);
    new Uint8Array(e.memory.buffer, ptr, input.length).set(input);
    const packed = e.xm_picture(ptr, input.length);
    e.xm_free(ptr, input.length);
    const outPtr = Number(packed >> 32n);
    const outLen = Number(packed & 0xffffffffn);
    const text = new TextDecoder().decode(new Uint8Array(e.memory.buffer, outPtr, outLen));
    e.xm_free(outPtr, outLen);
    const answer = JSON.parse(text) as { ok?: AccountPicture; error?: string };
    if (answer.error !== undefined) throw new Error(answer.error);
    return answer.ok as AccountPicture;
  }
}

/** What reading accounts takes: addresses in, each account's owner, lamports and data out. */
export type AccountReader = (
  addresses: Address[],
) => Promise<({ owner: Address; lamports: bigint; data: Uint8Array } | null)[]>;

const base64 = getBase64Decoder();

/**
 * A snapshot of everything `marginAccount`'s check reads, in three rounds of reads: the
 * clearinghouse and registry; the markets; their oracles, risk caches and the collateral oracles.
 */
export async function takeSnapshot(
  read: AccountReader,
  marginAccount: Address,
  clock: Snapshot["clock"],
): Promise<Snapshot> {
  const accounts: SnapshotAccount[] = [];
  const keep = async (addresses: Address[]) => {
    const found = await read(addresses);
    found.forEach((account, i) => {
      if (!account) return;
      accounts.push({
        address: addresses[i],
        owner: account.owner,
        lamports: Number(account.lamports),
        data: base64.decode(account.data),
      });
    });
    return found.map((a) => a?.data ?? null);
  };
  const [clearinghouseData, registryData] = await keep([
    await clearinghouseAddress(),
    await registryAddress(),
    marginAccount,
  ]);
  if (!clearinghouseData || !registryData) throw new Error("the protocol is not initialized on this cluster");
  const clearinghouse = decodeClearinghouse(clearinghouseData);
  const registry = decodeCollateralRegistry(registryData);
  const marketKeys = await Promise.all(Array.from({ length: clearinghouse.marketCount }, (_, i) => marketAddress(i)));
  const markets = (await keep(marketKeys)).map((data, i) => {
    if (!data) throw new Error(`market ${i} is missing`);
    return decodeMarket(data);
  });
  const dependents: Address[] = [];
  const add = (a: Address) => {
    if (a !== "11111111111111111111111111111111" && !dependents.includes(a)) dependents.push(a);
  };
  markets.forEach((m) => add(m.oracle));
  registry.assets.slice(0, registry.assetCount).forEach((a, i) => i !== QUOTE_ASSET && add(a.oracle));
  markets.forEach((m) => add(m.riskCache));
  await keep(dependents);
  return { clock, margin_account: marginAccount, accounts };
}
