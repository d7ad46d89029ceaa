// Program-derived addresses, with the program's own seeds (programs/xmargin/src/state).
import { type Address, getAddressEncoder, getProgramDerivedAddress } from "@solana/kit";
import { PROGRAM_ADDRESS } from "./generated.js";

const text = (s: string) => new TextEncoder().encode(s);
const addressBytes = (a: Address) => getAddressEncoder().encode(a);

async function derive(seeds: Uint8Array[]): Promise<Address> {
  const [address] = await getProgramDerivedAddress({ programAddress: PROGRAM_ADDRESS, seeds });
  return address;
}

export const clearinghouseAddress = () => derive([text("clearinghouse")]);

/** The upgradeable loader, which owns the program's program-data account. */
export const UPGRADEABLE_LOADER = "BPFLoaderUpgradeab1e11111111111111111111111" as Address;

/** The program's program-data account: its upgrade authority is the only key that may
 * initialize (docs/security.md, "Roles and bounds"). */
export async function programDataAddress(): Promise<Address> {
  const [address] = await getProgramDerivedAddress({
    programAddress: UPGRADEABLE_LOADER,
    seeds: [addressBytes(PROGRAM_ADDRESS)],
  });
  return address;
}

/** Queued change `id` (`queue_change`). */
export async function pendingChangeAddress(id: bigint): Promise<Address> {
  const seed = new Uint8Array(8);
  new DataView(seed.buffer).setBigUint64(0, id, true);
  return derive([text("change"), seed]);
}
export const registryAddress = () => derive([text("collateral_registry")]);
export const insuranceVaultAddress = () => derive([text("insurance")]);

export function marketAddress(index: number): Promise<Address> {
  if (!Number.isInteger(index) || index < 0 || index > 255) throw new RangeError(`market index ${index}`);
  return derive([text("market"), Uint8Array.of(index)]);
}

/** The program's token vault for collateral `mint`. */
export async function vaultAddress(mint: Address): Promise<Address> {
  return derive([text("vault"), Uint8Array.from(addressBytes(mint))]);
}

/** Margin account `id` of `owner` (an owner may hold several). */
export async function marginAccountAddress(owner: Address, id: number): Promise<Address> {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`account id ${id}`);
  return derive([text("margin"), Uint8Array.from(addressBytes(owner)), Uint8Array.of(id & 0xff, id >> 8)]);
}
