// Wallets through the Solana wallet standard: list what the browser offers, connect, and have the
// wallet sign a transaction the dashboard composed, then send it through the RPC node.
import {
  type Address,
  type Instruction,
  address,
  compileInstructions,
  getBase64EncodedWireTransaction,
  getTransactionDecoder,
  getTransactionEncoder,
  latestBlockhash,
  rpcCall,
} from "@xmargin/sdk";
import { getWallets } from "@wallet-standard/app";
import type { Wallet as StandardWallet, WalletAccount } from "@wallet-standard/base";

export interface Wallet {
  name: string;
  address: Address;
  account: WalletAccount;
  standard: StandardWallet;
}

type ConnectFeature = { connect(): Promise<{ accounts: readonly WalletAccount[] }> };
type SignFeature = {
  signTransaction(input: { account: WalletAccount; transaction: Uint8Array }): Promise<readonly { signedTransaction: Uint8Array }[]>;
};

/** Wallets that can connect and sign Solana transactions. */
export function listWallets(): StandardWallet[] {
  return getWallets()
    .get()
    .filter((w) => "standard:connect" in w.features && "solana:signTransaction" in w.features);
}

export async function connectWallet(standard: StandardWallet | undefined): Promise<Wallet> {
  if (!standard) throw new Error("no Solana wallet in this browser");
  const { accounts } = await (standard.features["standard:connect"] as ConnectFeature).connect();
  const account = accounts[0];
  if (!account) throw new Error(`${standard.name} shared no account`);
  return { name: standard.name, address: address(account.address), account, standard };
}

/** Compiles `ixs` with the wallet as fee payer, has the wallet sign, sends; returns the signature. */
export async function sendWithWallet(wallet: Wallet, url: string, ixs: Instruction[]): Promise<string> {
  const unsigned = getTransactionEncoder().encode(compileInstructions(wallet.address, await latestBlockhash(url), ixs));
  const sign = wallet.standard.features["solana:signTransaction"] as SignFeature;
  const [signed] = await sign.signTransaction({ account: wallet.account, transaction: Uint8Array.from(unsigned) });
  const transaction = getTransactionDecoder().decode(signed.signedTransaction);
  return rpcCall<string>(url, "sendTransaction", [getBase64EncodedWireTransaction(transaction), { encoding: "base64" }]);
}
