// Whole transactions' instructions for what a trader does from a wallet: the compute budget,
// then the program instruction with exactly the remaining accounts its margin check reads
// (the Rust SDK's crates/client/src/compose.rs).
import { type Address, address, type Instruction } from "@solana/kit";
import { budgetInstructions, checkShape, fillOnlyReduces } from "./budget.js";
import {
  type ClearTradeParams,
  type MarginAccount,
  clearTradeInstruction,
  depositInstruction,
  withdrawInstruction,
} from "./generated.js";
import { clearinghouseAddress, marketAddress, registryAddress, vaultAddress } from "./pda.js";
import { type ProtocolState, needsOf, riskAccounts } from "./protocol.js";

export const TOKEN_PROGRAM: Address = address("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/** Every account a transaction may load. */
export const MAX_TRANSACTION_ACCOUNTS = 64;

function mintOf(state: ProtocolState, asset: number): Address {
  if (asset >= state.registry.assetCount) throw new Error(`no collateral asset ${asset}`);
  return state.registry.assets[asset].mint;
}

/** Refuses a transaction over the account limit, counting the fee payer as one more (as the Rust SDK). */
function checkedSize(ixs: Instruction[]): Instruction[] {
  const keys = new Set<string>();
  for (const ix of ixs) {
    keys.add(ix.programAddress);
    for (const meta of ix.accounts ?? []) keys.add(meta.address);
  }
  if (keys.size + 1 > MAX_TRANSACTION_ACCOUNTS)
    throw new Error(`the transaction would load ${keys.size + 1} accounts (limit ${MAX_TRANSACTION_ACCOUNTS})`);
  return ixs;
}

export async function depositIxs(
  state: ProtocolState,
  depositor: Address,
  marginAccount: Address,
  source: Address,
  asset: number,
  amount: bigint,
): Promise<Instruction[]> {
  const ix = depositInstruction(
    {
      depositor,
      clearinghouse: await clearinghouseAddress(),
      collateralRegistry: await registryAddress(),
      marginAccount,
      vault: await vaultAddress(mintOf(state, asset)),
      source,
      tokenProgram: TOKEN_PROGRAM,
    },
    { assetIndex: asset, amount },
  );
  return checkedSize([...budgetInstructions({ kind: "deposit" }), ix]);
}

export async function withdrawIxs(
  state: ProtocolState,
  owner: Address,
  [marginAccount, account]: [Address, MarginAccount],
  destination: Address,
  asset: number,
  amount: bigint,
): Promise<Instruction[]> {
  const remaining = await riskAccounts(state, needsOf([account]));
  const ix = withdrawInstruction(
    {
      owner,
      clearinghouse: await clearinghouseAddress(),
      collateralRegistry: await registryAddress(),
      marginAccount,
      vault: await vaultAddress(mintOf(state, asset)),
      destination,
      tokenProgram: TOKEN_PROGRAM,
    },
    { assetIndex: asset, amount },
    remaining,
  );
  const work = { kind: "withdraw", account: checkShape(account, state.markets) } as const;
  return checkedSize([...budgetInstructions(work), ix]);
}

/** Who signs each side of a trade and which margin account it fills. */
export interface TradeSides {
  taker: Address;
  takerAccount: Address;
  maker: Address;
  makerAccount: Address;
}

/** A trade co-signed by both sides (the maker signs too: a wallet signs its part, the maker the rest). */
export async function clearTradeIxs(
  state: ProtocolState,
  sides: TradeSides,
  [taker, maker]: [MarginAccount, MarginAccount],
  market: number,
  params: ClearTradeParams,
): Promise<Instruction[]> {
  const remaining = await riskAccounts(state, needsOf([taker, maker], [market, params.series]), market);
  const ix = clearTradeInstruction(
    {
      taker: sides.taker,
      maker: sides.maker,
      clearinghouse: await clearinghouseAddress(),
      collateralRegistry: await registryAddress(),
      market: await marketAddress(market),
      takerAccount: sides.takerAccount,
      makerAccount: sides.makerAccount,
    },
    { params },
    remaining,
  );
  const work = {
    kind: "clearTrade",
    taker: checkShape(taker, state.markets),
    maker: checkShape(maker, state.markets),
    takerReduces: fillOnlyReduces(taker, market, params.series, params.size),
    makerReduces: fillOnlyReduces(maker, market, params.series, -params.size),
  } as const;
  return checkedSize([...budgetInstructions(work), ix]);
}
