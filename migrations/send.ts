// Sending a bootstrap step: compile with the admin as fee payer, sign with the admin and any
// account created in the step, send, wait until confirmed.
import {
  type Instruction,
  type KeyPairSigner,
  type Blockhash,
  appendTransactionMessageInstructions,
  compileTransaction,
  createTransactionMessage,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransaction,
} from "../app/sdk/src/index.ts";

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

export async function sendInstructions(
  url: string,
  payer: KeyPairSigner,
  extraSigners: KeyPairSigner[],
  instructions: Instruction[],
): Promise<string> {
  const { value } = await rpcCall<{ value: { blockhash: string; lastValidBlockHeight: number } }>(url, "getLatestBlockhash", [
    { commitment: "confirmed" },
  ]);
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(payer.address, m),
    (m) =>
      setTransactionMessageLifetimeUsingBlockhash(
        { blockhash: value.blockhash as Blockhash, lastValidBlockHeight: BigInt(value.lastValidBlockHeight) },
        m,
      ),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  const signed = await signTransaction(
    [payer.keyPair, ...extraSigners.map((s) => s.keyPair)],
    compileTransaction(message),
  );
  const signature = getSignatureFromTransaction(signed);
  await rpcCall<string>(url, "sendTransaction", [getBase64EncodedWireTransaction(signed), { encoding: "base64" }]);
  for (let attempt = 0; attempt < 60; attempt++) {
    const { value: [status] } = await rpcCall<{ value: ({ err: unknown; confirmationStatus?: string } | null)[] }>(
      url,
      "getSignatureStatuses",
      [[signature]],
    );
    if (status?.err) throw new Error(`${signature} failed: ${JSON.stringify(status.err)}`);
    if (status?.confirmationStatus === "confirmed" || status?.confirmationStatus === "finalized") return signature;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${signature} not confirmed after 60 s`);
}
