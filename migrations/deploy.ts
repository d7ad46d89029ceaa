// Deploy-and-bootstrap: after `solana program deploy` of target/deploy/xmargin.so, lists what
// listing.json describes: initialize, the quote asset (USDC) and its insurance fund, SOL/BTC/ETH
// collateral with their Pyth feeds, one market per underlying with its risk cache, and its series;
// then proposes the roles to the keys in listing.json (each accepts with `xmargin admin accept`).
// Only the program's upgrade authority may initialize: run it with the deployer's keypair (it is
// checked against the program-data account before anything is sent).
// Steps already on chain are skipped (re-runnable). `--dry-run` prints the transactions instead of
// sending them (without `--url` it assumes a fresh cluster and reads nothing).
//
//   npx --prefix app tsx migrations/deploy.ts --dry-run [--listing migrations/listing.json]
//   npx --prefix app tsx migrations/deploy.ts --url https://api.devnet.solana.com --keypair ~/.config/solana/id.json
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import {
  type Address,
  AccountRole,
  type Instruction,
  type KeyPairSigner,
  PROGRAM_ADDRESS,
  address,
  addCollateralAssetInstruction,
  addMarketInstruction,
  addSeriesInstruction,
  clearinghouseAddress,
  createInsuranceFundInstruction,
  createKeyPairSignerFromBytes,
  createRiskCacheInstruction,
  decodeClearinghouse,
  decodeCollateralRegistry,
  decodeMarket,
  describeInstruction,
  generateKeyPairSigner,
  getAddressDecoder,
  getAddressEncoder,
  initializeInstruction,
  insuranceVaultAddress,
  marketAddress,
  programDataAddress,
  proposeRoleInstruction,
  registryAddress,
  Role,
  rpcCall,
  sizeOfAccount,
  vaultAddress,
  OracleKind,
  SeriesKind,
} from "../app/sdk/src/index.ts";
import { sendInstructions } from "./send.ts";

const SYSTEM_PROGRAM = address("11111111111111111111111111111111");
const TOKEN_PROGRAM = address("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");

type Listing = ReturnType<typeof readListing>;

function readListing(path: string) {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** A decimal string as I32F32 bits, to the nearest. */
export function fixedBits(decimal: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal.trim());
  if (!m) throw new Error(`not a decimal: ${decimal}`);
  const digits = m[3] ?? "";
  const scale = 10n ** BigInt(digits.length);
  const magnitude = BigInt(m[2]) * scale + BigInt(digits || "0");
  const bits = (magnitude * (1n << 32n) * 2n + scale) / (2n * scale);
  return m[1] ? -bits : bits;
}

const unix = (iso?: string) => (iso ? BigInt(Math.floor(Date.parse(iso) / 1000)) : 0n);
const feed = (hex?: string) => Uint8Array.from((hex ?? "").padEnd(64, "0").match(/../g)!.map((h) => parseInt(h, 16)));

/** The quote asset: its full value, no haircut. */
const UNIT_WEIGHTS = { initAsset: 1n << 32n, maintAsset: 1n << 32n, initLiab: 1n << 32n, maintLiab: 1n << 32n };

function weights(w: Record<string, string>) {
  return {
    initAsset: fixedBits(w.init_asset),
    maintAsset: fixedBits(w.maint_asset),
    initLiab: fixedBits(w.init_liab),
    maintLiab: fixedBits(w.maint_liab),
  };
}

export interface Step {
  label: string;
  instructions: Instruction[];
  /** Accounts created in this step that sign for themselves (a risk cache). */
  extraSigners: KeyPairSigner[];
}

/** What is already listed, read from the cluster (nothing on a fresh one). */
export interface Listed {
  initialized: boolean;
  /** Role holders and pending keys, once initialized. */
  admin?: Address;
  riskAuthority?: Address;
  pendingAdmin?: Address;
  pendingRiskAuthority?: Address;
  insurance: boolean;
  assetCount: number;
  marketCount: number;
  seriesCounts: number[];
  caches: boolean[];
}

export const FRESH: Listed = { initialized: false, insurance: false, assetCount: 0, marketCount: 0, seriesCounts: [], caches: [] };

/** Every step still to do, in order. */
export async function plan(
  listing: Listing,
  admin: Address,
  listed: Listed,
  rentFor: (space: number) => Promise<bigint>,
): Promise<Step[]> {
  const steps: Step[] = [];
  const clearinghouse = await clearinghouseAddress();
  const collateralRegistry = await registryAddress();
  const quoteMint = address(listing.quote.mint);
  if (!listed.initialized) {
    const r = listing.risk;
    const g = listing.oracle_guards;
    steps.push({
      label: "initialize",
      extraSigners: [],
      instructions: [
        initializeInstruction(
          { admin, clearinghouse, collateralRegistry, programData: await programDataAddress(), systemProgram: SYSTEM_PROGRAM },
          {
            params: {
              riskAuthority: admin,
              quoteMint,
              takerFeeBps: listing.fees.taker_bps,
              makerFeeBps: listing.fees.maker_bps,
              liquidationFeeBps: listing.fees.liquidation_bps,
              riskParams: {
                initialFactorBits: fixedBits(r.initial_factor),
                concentrationFactorBits: fixedBits(r.concentration_factor),
                thetaHorizonSecs: BigInt(r.theta_horizon_secs),
              },
              strictOracle: { maxAgeSecs: g.strict.max_age_secs, maxAgeSlots: g.strict.max_age_slots, maxConfBps: g.strict.max_conf_bps },
              tolerantOracle: { maxAgeSecs: g.tolerant.max_age_secs, maxAgeSlots: g.tolerant.max_age_slots, maxConfBps: g.tolerant.max_conf_bps },
              maxVolStepBits: fixedBits(r.max_vol_step),
              liquidationEndFractionBits: fixedBits(r.liquidation_end_fraction),
              liquidatorFeeShareBps: listing.fees.liquidator_share_bps,
              timelockSecs: listing.governance.timelock_secs,
            },
          },
        ),
      ],
    });
  }
  const assets = [
    { symbol: listing.quote.symbol, mint: listing.quote.mint, oracle: null, oracle_kind: "None", weights: null, liquidity_depth: "0", deposit_cap: listing.quote.deposit_cap, decimals: listing.quote.decimals, exponent: 0 },
    ...listing.collateral,
  ];
  for (const [index, a] of assets.entries()) {
    if (index < listed.assetCount) continue;
    const mint = address(a.mint);
    const ix = addCollateralAssetInstruction(
      {
        admin,
        clearinghouse,
        collateralRegistry,
        mint,
        vault: await vaultAddress(mint),
        oracle: a.oracle ? address(a.oracle) : null,
        tokenProgram: TOKEN_PROGRAM,
        systemProgram: SYSTEM_PROGRAM,
      },
      {
        params: {
          oracleKind: OracleKind[a.oracle_kind as keyof typeof OracleKind],
          feedId: feed(a.feed_id),
          weights: a.weights ? weights(a.weights) : UNIT_WEIGHTS,
          liquidityDepth: BigInt(a.liquidity_depth),
          depositCap: BigInt(a.deposit_cap),
          decimals: a.decimals,
          exponent: a.exponent,
        },
      },
    );
    steps.push({ label: `collateral ${index}: ${a.symbol}`, extraSigners: [], instructions: [ix] });
  }
  if (!listed.insurance) {
    steps.push({
      label: "insurance fund (quote)",
      extraSigners: [],
      instructions: [
        createInsuranceFundInstruction({
          admin,
          clearinghouse,
          quoteMint,
          insuranceVault: await insuranceVaultAddress(),
          tokenProgram: TOKEN_PROGRAM,
          systemProgram: SYSTEM_PROGRAM,
        }, {}),
      ],
    });
  }
  for (const [index, m] of (listing.markets as Record<string, any>[]).entries()) {
    const market = await marketAddress(index);
    const instructions: Instruction[] = [];
    const extraSigners: KeyPairSigner[] = [];
    if (index >= listed.marketCount) {
      instructions.push(
        addMarketInstruction(
          { admin, clearinghouse, market, oracle: address(m.oracle), systemProgram: SYSTEM_PROGRAM },
          {
            params: {
              oracleKind: OracleKind[m.oracle_kind as keyof typeof OracleKind],
              feedId: feed(m.feed_id),
              contractSize: BigInt(m.contract_size),
              contractDecimals: m.contract_decimals,
              surface: { atm: fixedBits(m.vol.atm), skew: fixedBits(m.vol.skew), smile: fixedBits(m.vol.smile), min: fixedBits(m.vol.min), max: fixedBits(m.vol.max) },
              risk: {
                grid: {
                  priceRange: fixedBits(m.grid.price_range),
                  volDown: fixedBits(m.grid.vol_down),
                  volUp: fixedBits(m.grid.vol_up),
                  extendedDown: fixedBits(m.grid.extended_down),
                  extendedUp: fixedBits(m.grid.extended_up),
                  extendedWeight: fixedBits(m.grid.extended_weight),
                },
                rate: 0n,
                beta: fixedBits(m.beta),
                shortOptionMinimum: fixedBits(m.short_option_minimum),
                concentrationThreshold: BigInt(m.concentration_threshold),
                correlationGroup: m.correlation_group,
                padding: new Uint8Array(1),
                cacheSpotToleranceBps: m.cache_spot_tolerance_bps,
                cacheMaxAgeSecs: m.cache_max_age_secs,
                fillBandBps: m.fill_band_bps,
                bandPadding: new Uint8Array(6),
                maxOpenInterest: BigInt(m.max_open_interest),
                maxPosition: BigInt(m.max_position),
                basisShock: fixedBits(m.basis_shock),
                calendarSpreadMinimum: fixedBits(m.calendar_spread_minimum),
              },
            },
          },
        ),
      );
    }
    const seriesDone = listed.seriesCounts[index] ?? 0;
    for (const s of (m.series as Record<string, string>[]).slice(seriesDone)) {
      instructions.push(
        addSeriesInstruction(
          { admin, clearinghouse, market },
          { params: { kind: SeriesKind[s.kind as keyof typeof SeriesKind], strike: BigInt(s.strike ?? 0), expiry: unix(s.expiry) } },
        ),
      );
    }
    if (!listed.caches[index]) {
      const cache = await generateKeyPairSigner();
      const space = sizeOfAccount("RiskCache");
      instructions.push(
        createAccount(admin, cache.address, await rentFor(space), space),
        createRiskCacheInstruction({ admin, clearinghouse, market, riskCache: cache.address }, {}),
      );
      extraSigners.push(cache);
    }
    if (instructions.length) steps.push({ label: `market ${index}: ${m.symbol}`, instructions, extraSigners });
  }
  const handOver = [
    { role: Role.Admin, key: listing.roles.admin, holder: listed.admin ?? admin, pending: listed.pendingAdmin },
    { role: Role.RiskAuthority, key: listing.roles.risk_authority, holder: listed.riskAuthority ?? admin, pending: listed.pendingRiskAuthority },
  ].filter((r) => r.key && r.key !== r.holder && r.key !== r.pending);
  if (handOver.length) {
    // The admin proposes both: the deployer holds both roles after `initialize`.
    steps.push({
      label: "roles: propose the listing's keys",
      extraSigners: [],
      instructions: handOver.map((r) => proposeRoleInstruction({ holder: admin, clearinghouse }, { role: r.role, proposed: address(r.key) })),
    });
  }
  return steps;
}

/** System program CreateAccount owned by xmargin (the risk cache the program then adopts). */
function createAccount(payer: Address, account: Address, lamports: bigint, space: number): Instruction {
  const data = new Uint8Array(4 + 8 + 8 + 32);
  const view = new DataView(data.buffer);
  view.setUint32(0, 0, true);
  view.setBigUint64(4, lamports, true);
  view.setBigUint64(12, BigInt(space), true);
  data.set(getAddressEncoder().encode(PROGRAM_ADDRESS), 20);
  return {
    programAddress: SYSTEM_PROGRAM,
    accounts: [
      { address: payer, role: AccountRole.WRITABLE_SIGNER },
      { address: account, role: AccountRole.WRITABLE_SIGNER },
    ],
    data,
  };
}


/** The program-data account's upgrade authority must be the key that initializes. */
async function requireUpgradeAuthority(url: string, admin: Address) {
  const programData = await programDataAddress();
  const info = await rpcCall<{ value: { data: [string, string] } | null }>(url, "getAccountInfo", [programData, { encoding: "base64", dataSlice: { offset: 0, length: 45 } }]);
  if (!info.value) throw new Error(`no program data at ${programData}: deploy the program with the upgradeable loader first`);
  const data = Buffer.from(info.value.data[0], "base64");
  const authority = data[12] === 1 ? getAddressDecoder().decode(data.subarray(13, 45)) : null;
  if (authority !== admin) throw new Error(`only the upgrade authority (${authority ?? "none"}) may initialize; the keypair is ${admin}`);
}

async function readListed(url: string): Promise<Listed> {
  type Info = { data: [string, string] } | null;
  const get = async (keys: Address[]) =>
    (await rpcCall<{ value: Info[] }>(url, "getMultipleAccounts", [keys, { encoding: "base64" }])).value.map((a) =>
      a ? Uint8Array.from(Buffer.from(a.data[0], "base64")) : null,
    );
  const [ch, reg, insurance] = await get([await clearinghouseAddress(), await registryAddress(), await insuranceVaultAddress()]);
  if (!ch || !reg) return FRESH;
  const clearinghouse = decodeClearinghouse(ch);
  const registry = decodeCollateralRegistry(reg);
  const markets = await get(await Promise.all(Array.from({ length: clearinghouse.marketCount }, (_, i) => marketAddress(i))));
  const decoded = markets.map((m) => (m ? decodeMarket(m) : null));
  return {
    initialized: true,
    admin: clearinghouse.admin,
    riskAuthority: clearinghouse.riskAuthority,
    pendingAdmin: clearinghouse.pendingAdmin,
    pendingRiskAuthority: clearinghouse.pendingRiskAuthority,
    insurance: insurance !== null,
    assetCount: registry.assetCount,
    marketCount: clearinghouse.marketCount,
    seriesCounts: decoded.map((m) => m?.seriesCount ?? 0),
    caches: decoded.map((m) => !!m && m.riskCache !== SYSTEM_PROGRAM),
  };
}

async function main(argv: string[]) {
  const option = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dryRun = argv.includes("--dry-run");
  const url = option("url");
  const listing = readListing(option("listing") ?? new URL("./listing.json", import.meta.url).pathname);
  const keypairPath = (option("keypair") ?? "~/.config/solana/id.json").replace(/^~/, homedir());
  let admin: KeyPairSigner | undefined;
  let adminAddress: Address;
  if (dryRun && option("admin")) adminAddress = address(option("admin")!);
  else {
    try {
      admin = await createKeyPairSignerFromBytes(Uint8Array.from(JSON.parse(readFileSync(keypairPath, "utf8"))));
      adminAddress = admin.address;
    } catch (e) {
      if (!dryRun) throw new Error(`cannot read the admin keypair ${keypairPath}: ${e}`);
      adminAddress = address("Admin11111111111111111111111111111111111111");
    }
  }
  const listed = url ? await readListed(url) : FRESH;
  if (url && !listed.initialized) await requireUpgradeAuthority(url, adminAddress);
  const rentFor = async (space: number) =>
    url ? BigInt(await rpcCall<number>(url, "getMinimumBalanceForRentExemption", [space])) : BigInt(Math.ceil((space + 128) * 6960));
  const steps = await plan(listing, adminAddress, listed, rentFor);
  console.log(`xmargin bootstrap: ${steps.length} transaction(s) ${dryRun ? "to send (dry run)" : "to send"}; admin ${adminAddress}${url ? ` on ${url}` : " (fresh cluster assumed)"}`);
  for (const [i, step] of steps.entries()) {
    console.log(`\n[${i + 1}/${steps.length}] ${step.label}`);
    for (const ix of step.instructions) console.log(describeInstruction(ix));
    if (!dryRun) {
      if (!url || !admin) throw new Error("--url and --keypair are needed to send");
      const signature = await sendInstructions(url, admin, step.extraSigners, step.instructions);
      console.log(`  sent ${signature}`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`bootstrap failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}
