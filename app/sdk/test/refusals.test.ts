// What the SDK refuses, and the event decoder.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { getAddressDecoder, getBase64Encoder } from "@solana/kit";
import {
  EVENT_DISCRIMINATORS,
  type Market,
  SCHEMA,
  clearTradeInstruction,
  decodeCollateralRegistry,
  decodeMarginAccount,
  decodeMarket,
  decodeProgramEvent,
  marketAddress,
  needsOf,
  registryAddress,
  riskAccounts,
  withdrawIxs,
} from "../src/index.js";
import { Writer, encodeValue } from "../src/coder.js";

const example = JSON.parse(readFileSync(new URL("../../dashboard/public/example.json", import.meta.url), "utf8"));
const base64 = getBase64Encoder();
const bytesOf = (addr: string) =>
  Uint8Array.from(base64.encode(example.accounts.find((a: { address: string }) => a.address === addr).data));
const key = (n: number) => getAddressDecoder().decode(new Uint8Array(32).fill(n % 256).map((b, i) => (i === 0 ? n >> 8 : b)));

async function state() {
  const registry = decodeCollateralRegistry(bytesOf(await registryAddress()));
  const markets: Market[] = [];
  for (let i = 0; i < 3; i++) markets.push(decodeMarket(bytesOf(await marketAddress(i))));
  return { registry, markets };
}

describe("refusals", () => {
  it("a check naming a market or asset the protocol does not list", async () => {
    const s = await state();
    await expect(riskAccounts(s, { series: [[7, 0]], assets: [] })).rejects.toThrow(/no market 7/);
    await expect(riskAccounts(s, { series: [], assets: [9] })).rejects.toThrow(/no collateral asset 9/);
  });

  it("a transaction over 64 accounts", async () => {
    const s = await state();
    // 40 markets, each with its own oracle and risk cache: 120 remaining accounts.
    const distinct = (i: number, base: number) => (i === 0 ? s.markets[0].oracle : key(base + i));
    s.markets = Array.from({ length: 40 }, (_, i) => ({ ...s.markets[0], index: i, oracle: distinct(i, 100), riskCache: key(200 + i) }));
    const account = decodeMarginAccount(bytesOf(example.margin_account));
    account.positions = account.positions.map((p, i) => ({ ...p, inUse: 1, market: i % 32, series: 0 }));
    await expect(withdrawIxs(s, account.owner, [example.margin_account, account], key(3), 0, 1n)).rejects.toThrow(
      /would load \d+ accounts \(limit 64\)/,
    );
    expect(needsOf([account]).series).toHaveLength(32);
  });

  it("arguments out of their type's range", () => {
    const accounts = {
      taker: key(1), maker: key(2), clearinghouse: key(3), collateralRegistry: key(4), market: key(5),
      takerAccount: key(6), makerAccount: key(7),
    };
    expect(() => clearTradeInstruction(accounts, { params: { series: 256, size: 1n, price: 1n } })).toThrow(RangeError);
    expect(() => clearTradeInstruction(accounts, { params: { series: 0, size: 1n << 63n, price: 1n } })).toThrow(RangeError);
    expect(() => clearTradeInstruction(accounts, { params: { series: 0, size: 1n, price: -1n } })).toThrow(RangeError);
  });
});

describe("events", () => {
  it("decodes an event by its discriminator and ignores other data", () => {
    const event = {
      account: key(9), market: 2, series: 1, amount: 1_000_000n, perContract: 12_345n, contracts: 81n, rounding: 3n,
    };
    const w = new Writer();
    w.raw(EVENT_DISCRIMINATORS.LossSocialized);
    encodeValue(SCHEMA, { defined: { name: "LossSocialized" } }, event, w);
    expect(decodeProgramEvent(w.finish())).toEqual({ name: "LossSocialized", data: event });
    expect(decodeProgramEvent(new Uint8Array(16))).toBeNull();
  });
});
