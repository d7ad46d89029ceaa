// Sending a bootstrap step: compile with the admin as fee payer, sign with the admin and any
// account created in the step, send, wait until confirmed.
import {
  type Instruction,
  type KeyPairSigner,
  compileInstructions,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  latestBlockhash,
  rpcCall,
  signTransaction,
} from "../app/sdk/src/index.ts";

export async function sendInstructions(
  url: string,
  payer: KeyPairSigner,
  extraSigners: KeyPairSigner[],
  instructions: Instruction[],
): Promise<string> {
  const transaction = compileInstructions(payer.address, await latestBlockhash(url), instructions);
  const signed = await signTransaction([payer.keyPair, ...extraSigners.map((s) => s.keyPair)], transaction);
  const signature = getSignatureFromTransaction(signed);
  await rpcCall<string>(url, "sendTransaction", [getBase64EncodedWireTransaction(signed), { encoding: "base64" }]);
  for (let attempt = 0; attempt < 60; attempt++) {
    const {
      value: [status],
    } = await rpcCall<{ value: ({ err: unknown; confirmationStatus?: string } | null)[] }>(url, "getSignatureStatuses", [
      [signature],
    ]);
    if (status?.err) throw new Error(`${signature} failed: ${JSON.stringify(status.err)}`);
    if (status?.confirmationStatus === "confirmed" || status?.confirmationStatus === "finalized") return signature;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${signature} not confirmed after 60 s`);
}
