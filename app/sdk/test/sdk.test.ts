// The TypeScript SDK against the Rust SDK: golden vectors written by
// crates/sandbox/tests/golden_vectors.rs, and the demo's example snapshot (real account bytes
// from the in-process runtime) with the figures the native Rust build computed from it.
import { readFileSync, existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type Address, address, getBase64Encoder } from "@solana/kit";
import {
  DecodeError,
  type IdlType,
  MarginPreview,
  PROGRAM_ADDRESS,
  PROGRAM_ERRORS,
  type Snapshot,
  clearTradeIxs,
  clearinghouseAddress,
  createMarginAccountInstruction,
  decodeClearinghouse,
  decodeCollateralRegistry,
  decodeMarginAccount,
  decodeMarket,
  depositIxs,
  estimateUnits,
  insuranceVaultAddress,
  marginAccountAddress,
  marketAddress,
  registryAddress,
  vaultAddress,
  withdrawIxs,
} from "../src/index.js";
import * as generated from "../src/generated.js";
import { Reader, camel, decodeValue } from "../src/coder.js";
import idl from "../src/idl/xmargin.json" with { type: "json" };

const vectors = JSON.parse(readFileSync(new URL("./golden/vectors.json", import.meta.url), "utf8"));
const examplePath = new URL("../../dashboard/public/example.json", import.meta.url);
const example = JSON.parse(readFileSync(examplePath, "utf8")) as Snapshot & { expected: unknown };
const base64 = getBase64Encoder();
const bytesOf = (addr: string) => {
  const a = example.accounts.find((x) => x.address === addr);
  if (!a) throw new Error(`no ${addr} in the example`);
  return Uint8Array.from(base64.encode(a.data));
};
const hex = (b: Uint8Array | undefined) => [...(b ?? [])].map((x) => x.toString(16).padStart(2, "0")).join("");
type Meta = { address: string; writable: boolean; signer: boolean };
const plain = (ix: { programAddress: string; accounts?: readonly { address: string; role: number }[]; data?: Uint8Array }) => ({
  program: ix.programAddress,
  accounts: (ix.accounts ?? []).map((m) => ({ address: m.address, writable: (m.role & 1) === 1, signer: (m.role & 2) === 2 })),
  data: hex(ix.data),
});

async function state() {
  const registry = decodeCollateralRegistry(bytesOf(await registryAddress()));
  const clearinghouse = decodeClearinghouse(bytesOf(await clearinghouseAddress()));
  const markets = [];
  for (let i = 0; i < clearinghouse.marketCount; i++) markets.push(decodeMarket(bytesOf(await marketAddress(i))));
  return { registry, markets, clearinghouse };
}

describe("addresses", () => {
  it("program id and PDAs equal the Rust SDK's", async () => {
    expect(PROGRAM_ADDRESS).toBe(vectors.program);
    expect(await clearinghouseAddress()).toBe(vectors.pdas.clearinghouse);
    expect(await registryAddress()).toBe(vectors.pdas.registry);
    expect(await insuranceVaultAddress()).toBe(vectors.pdas.insurance_vault);
    for (const [i, want] of vectors.pdas.markets.entries()) expect(await marketAddress(i)).toBe(want);
    for (const v of vectors.pdas.vaults) expect(await vaultAddress(address(v.mint))).toBe(v.vault);
    for (const m of vectors.pdas.margin_accounts)
      expect(await marginAccountAddress(address(m.owner), m.id)).toBe(m.address);
  });

  it("refuses indices out of range", async () => {
    expect(() => marketAddress(256)).toThrow(RangeError);
    await expect(marginAccountAddress(address(vectors.program), 70_000)).rejects.toThrow(RangeError);
  });
});

describe("decoders read the runtime's account bytes as the Rust SDK does", () => {
  it("margin account, markets, registry, clearinghouse", async () => {
    const { registry, markets, clearinghouse } = await state();
    const want = vectors.decoded;
    const account = decodeMarginAccount(bytesOf(example.margin_account));
    expect(account.owner).toBe(want.margin_account.owner);
    expect(account.id).toBe(want.margin_account.id);
    expect(account.collateral.filter((b) => b.inUse).map((b) => ({ asset: b.asset, amount: String(b.amount) }))).toEqual(
      want.margin_account.collateral,
    );
    expect(
      account.positions
        .filter((p) => p.inUse)
        .map((p) => ({ market: p.market, series: p.series, size: String(p.size), cost_basis: String(p.costBasis) })),
    ).toEqual(want.margin_account.positions);
    expect(
      markets.map((m) => ({
        index: m.index,
        oracle: m.oracle,
        risk_cache: m.riskCache,
        contract_size: String(m.contractSize),
        series_count: m.seriesCount,
        risk_generation: String(m.riskGeneration),
        series_kinds: m.series.slice(0, m.seriesCount).map((s) => s.kind),
        grid_constants_0: String(m.gridConstants[0]),
      })),
    ).toEqual(want.markets);
    expect(registry.assetCount).toBe(want.registry.asset_count);
    expect(
      registry.assets.slice(0, registry.assetCount).map((a) => ({
        mint: a.mint,
        oracle: a.oracle,
        decimals: a.decimals,
        deposited: String(a.deposited),
      })),
    ).toEqual(want.registry.assets);
    expect(clearinghouse.quoteMint).toBe(want.clearinghouse.quote_mint);
    expect(clearinghouse.marketCount).toBe(want.clearinghouse.market_count);
    expect(clearinghouse.takerFeeBps).toBe(want.clearinghouse.taker_fee_bps);
  });

  it("refuses a wrong discriminator, a short and a long zero-copy account", () => {
    const data = bytesOf(example.margin_account);
    const wrong = data.slice();
    wrong[0] ^= 1;
    expect(() => decodeMarginAccount(wrong)).toThrow(DecodeError);
    expect(() => decodeMarginAccount(data.subarray(0, data.length - 1))).toThrow(DecodeError);
    expect(() => decodeMarginAccount(Uint8Array.from([...data, 0]))).toThrow(DecodeError);
    expect(() => decodeMarket(data)).toThrow(DecodeError);
  });
});

describe("instructions equal the Rust SDK's for the same inputs", () => {
  const byName = (name: string) => vectors.cases.find((c: { name: string }) => c.name === name);

  it("deposit", async () => {
    const { registry, markets } = await state();
    const c = byName("deposit");
    const i = c.inputs;
    const ixs = await depositIxs({ registry, markets }, i.depositor, i.margin_account, i.source, i.asset, BigInt(i.amount));
    // The Rust builder is the bare instruction; the TS composition adds the unit limit first.
    expect(plain(ixs[ixs.length - 1])).toEqual(c.instructions[0]);
    const units = new Uint8Array(4);
    new DataView(units.buffer).setUint32(0, estimateUnits({ kind: "deposit" }), true);
    expect(hex(ixs[0].data)).toBe("02" + hex(units));
  });

  it("withdraw with the margin check's remaining accounts and budget", async () => {
    const { registry, markets } = await state();
    const c = byName("withdraw_ixs");
    const i = c.inputs;
    const account = decodeMarginAccount(bytesOf(i.margin_account));
    const ixs = await withdrawIxs({ registry, markets }, i.owner, [i.margin_account, account], i.destination, i.asset, BigInt(i.amount));
    expect(ixs.map(plain)).toEqual(c.instructions);
  });

  it("clear_trade with both sides' remaining accounts and budget", async () => {
    const { registry, markets } = await state();
    const c = byName("clear_trade_ixs");
    const i = c.inputs;
    const account = decodeMarginAccount(bytesOf(i.taker_account));
    const ixs = await clearTradeIxs(
      { registry, markets },
      { taker: i.taker, takerAccount: i.taker_account, maker: i.maker, makerAccount: i.maker_account },
      [account, account],
      i.market,
      { series: i.series, size: BigInt(i.size), price: BigInt(i.price) },
    );
    expect(ixs.map(plain)).toEqual(c.instructions);
  });

  it("create_margin_account", () => {
    const c = byName("create_margin_account");
    const [want] = c.instructions;
    const accounts = want.accounts.map((m: Meta) => m.address as Address);
    const ix = createMarginAccountInstruction(
      { owner: accounts[0], clearinghouse: accounts[1], marginAccount: accounts[2], systemProgram: accounts[3] },
      { id: c.inputs.id, mode: c.inputs.mode, isolatedMarket: c.inputs.isolated_market },
    );
    expect(plain(ix)).toEqual(want);
  });

  // Every other builder: the arguments are read back from the Rust bytes with the IDL, then the
  // generated builder must produce the same bytes and the same accounts in the same order.
  type IdlAccount = { name: string; accounts?: IdlAccount[]; optional?: boolean };
  type IdlIx = { name: string; discriminator: number[]; accounts: IdlAccount[]; args: { name: string; type: IdlType }[] };
  const instructions = (idl as unknown as { instructions: IdlIx[] }).instructions;
  for (const want of vectors.generic) {
    const data = Uint8Array.from(want.data.match(/../g).map((h: string) => parseInt(h, 16)));
    const spec = instructions.find((ix) => ix.discriminator.every((b, k) => b === data[k]));
    it(`${spec?.name ?? "unknown instruction"}`, () => {
      expect(spec).toBeDefined();
      if (!spec) return;
      const metas: Meta[] = want.accounts;
      let at = 0;
      const named = (list: IdlAccount[]): Record<string, unknown> =>
        Object.fromEntries(
          list.map((a) => {
            if (a.accounts) return [camel(a.name), named(a.accounts)];
            const m = metas[at++];
            return [camel(a.name), a.optional && m.address === vectors.program ? null : m.address];
          }),
        );
      const accounts = named(spec.accounts);
      const r = new Reader(data.subarray(8));
      const args = Object.fromEntries(spec.args.map((a) => [camel(a.name), decodeValue(generated.SCHEMA, a.type, r)]));
      expect(r.remaining).toBe(0);
      const remaining = metas.slice(at).map((m) => ({ address: m.address as Address, role: (m.writable ? 1 : 0) | (m.signer ? 2 : 0) }));
      const builder = (generated as unknown as Record<string, Function>)[`${camel(spec.name)}Instruction`];
      expect(plain(builder(accounts, args, remaining))).toEqual(want);
    });
  }
});

describe("compute budget", () => {
  it("estimates equal the Rust model's", () => {
    for (const b of vectors.budgets) {
      const shape = {
        underlyings: b.shape.underlyings,
        linear: b.shape.linear,
        cachedOptions: b.shape.cached_options,
        liveOptions: b.shape.live_options,
      };
      const none = { underlyings: 0, linear: 0, cachedOptions: 0, liveOptions: 0 };
      expect(estimateUnits({ kind: "deposit" })).toBe(b.deposit);
      expect(estimateUnits({ kind: "withdraw", account: shape })).toBe(b.withdraw);
      expect(estimateUnits({ kind: "clearTrade", taker: shape, maker: none })).toBe(b.clear_trade);
      const bothReduce = { kind: "clearTrade", taker: shape, maker: shape, takerReduces: true, makerReduces: true } as const;
      expect(estimateUnits(bothReduce)).toBe(b.clear_trade_both_reducing);
    }
  });
});

describe("errors", () => {
  it("the program's error table comes from the IDL, codes from 6000", () => {
    const errors = (idl as unknown as { errors: { code: number; name: string }[] }).errors;
    expect(PROGRAM_ERRORS.size).toBe(errors.length);
    expect(PROGRAM_ERRORS.get(6000)?.name).toBe(errors[0].name);
  });
});

const wasmPath = new URL("../../dashboard/public/xmargin.wasm", import.meta.url);
describe.skipIf(!existsSync(wasmPath) && !process.env.CI)("margin preview (WebAssembly)", () => {
  it("computes the Rust engine's figures from the example's bytes", async () => {
    const preview = await MarginPreview.load(readFileSync(wasmPath));
    const { expected, ...snapshot } = example;
    expect(preview.picture(snapshot)).toEqual(expected);
  });

  it("refuses a snapshot without the margin account, with the SDK's error", async () => {
    const preview = await MarginPreview.load(readFileSync(wasmPath));
    const { expected: _, ...snapshot } = example;
    const without = { ...snapshot, accounts: snapshot.accounts.filter((a) => a.address !== snapshot.margin_account) };
    expect(() => preview.picture(without)).toThrow(/account not found/);
  });
});
