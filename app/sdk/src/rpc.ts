// The few JSON-RPC calls the SDK's users make (plain fetch: the same in browsers and Node), and a
// transaction compiled from instructions with a fee payer and a recent blockhash.
import {
  type Address,
  type Blockhash,
  type Instruction,
  appendTransactionMessageInstructions,
  compileTransaction,
  createTransactionMessage,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
} from "@solana/kit";

export async function rpcCall<T>(url: string, method: string, params: unknown[]): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

export interface RecentBlockhash {
  blockhash: Blockhash;
  lastValidBlockHeight: bigint;
}

export async function latestBlockhash(url: string): Promise<RecentBlockhash> {
  const { value } = await rpcCall<{ value: { blockhash: string; lastValidBlockHeight: number } }>(
    url,
    "getLatestBlockhash",
    [{ commitment: "confirmed" }],
  );
  return { blockhash: value.blockhash as Blockhash, lastValidBlockHeight: BigInt(value.lastValidBlockHeight) };
}

/** A v0 transaction of `instructions` paid by `feePayer`, unsigned. */
export function compileInstructions(feePayer: Address, recent: RecentBlockhash, instructions: readonly Instruction[]) {
  return compileTransaction(
    pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayer(feePayer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash(recent, m),
      (m) => appendTransactionMessageInstructions(instructions, m),
    ),
  );
}
