// migrations/deploy.ts: what it would send to a fresh cluster and to a partly listed one.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type Blockhash,
  address,
  appendTransactionMessageInstructions,
  compileTransaction,
  createTransactionMessage,
  getBase64EncodedWireTransaction,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  describeInstruction,
  PROGRAM_ADDRESS,
  programDataAddress,
} from "../src/index.js";
import { FRESH, fixedBits, plan } from "../../../migrations/deploy.ts";

const listing = JSON.parse(readFileSync(new URL("../../../migrations/listing.json", import.meta.url), "utf8"));
const admin = address("Admin11111111111111111111111111111111111111");
const rent = async (space: number) => BigInt(space) * 6960n;

/** Wire size of a step's transaction (signatures included): at most 1,232 bytes. */
function wireSize(ixs: Parameters<typeof appendTransactionMessageInstructions>[0]): number {
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(admin, m),
    (m) =>
      setTransactionMessageLifetimeUsingBlockhash(
        { blockhash: "11111111111111111111111111111111" as Blockhash, lastValidBlockHeight: 0n },
        m,
      ),
    (m) => appendTransactionMessageInstructions(ixs, m),
  );
  return Buffer.from(getBase64EncodedWireTransaction(compileTransaction(message)), "base64").length;
}

describe("bootstrap plan", () => {
  it("lists everything on a fresh cluster, each step one transaction that fits", async () => {
    const steps = await plan(listing, admin, FRESH, rent);
    const labels = steps.map((s) => s.label);
    expect(labels[0]).toBe("initialize");
    expect(labels.filter((l) => l.startsWith("collateral"))).toHaveLength(1 + listing.collateral.length);
    expect(labels).toContain("insurance fund (quote)");
    expect(labels.filter((l) => l.startsWith("market"))).toHaveLength(listing.markets.length);
    for (const step of steps) {
      expect(wireSize(step.instructions), step.label).toBeLessThanOrEqual(1232);
      for (const ix of step.instructions)
        if (ix.programAddress === PROGRAM_ADDRESS) expect(describeInstruction(ix)).not.toContain("data=");
    }
    const init = describeInstruction(steps[0].instructions[0]);
    expect(init).toContain("initialize");
    expect(init).toContain(`"takerFeeBps":${listing.fees.taker_bps}`);
    expect(init).toContain(`"timelockSecs":${listing.governance.timelock_secs}`);
    // The program-data account, so the program can check the deployer is its upgrade authority.
    expect(steps[0].instructions[0].accounts?.map((a) => a.address)).toContain(await programDataAddress());
    // Last, the roles go to the listing's keys: the admin key here is the deployer's, so only
    // the risk authority is proposed.
    const roles = steps[steps.length - 1];
    expect(roles.label).toBe("roles: propose the listing's keys");
    expect(roles.instructions.map((ix) => describeInstruction(ix))).toEqual([
      expect.stringContaining(listing.roles.risk_authority),
    ]);
  });

  it("skips what the cluster already has", async () => {
    const listed = {
      initialized: true,
      admin,
      riskAuthority: admin,
      pendingRiskAuthority: address(listing.roles.risk_authority),
      insurance: true,
      assetCount: 1 + listing.collateral.length,
      marketCount: 1,
      seriesCounts: [2],
      caches: [true],
    };
    const steps = await plan(listing, admin, listed, rent);
    expect(steps.map((s) => s.label)).toEqual(listing.markets.map((m: { symbol: string }, i: number) => `market ${i}: ${m.symbol}`));
    // Market 0 only needs its last series.
    expect(steps[0].instructions.map((ix) => describeInstruction(ix).trim().split(" ")[0])).toEqual(
      Array(listing.markets[0].series.length - 2).fill("add_series"),
    );
  });

  it("reads decimals as I32F32 to the nearest", () => {
    expect(fixedBits("1.25")).toBe(5n << 30n);
    expect(fixedBits("0.5")).toBe(1n << 31n);
    expect(fixedBits("-2")).toBe(-(2n << 32n));
    expect(fixedBits("0.1")).toBe(429496730n);
    expect(() => fixedBits("1e3")).toThrow();
  });
});
