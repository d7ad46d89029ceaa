// @xmargin/sdk: the typed client generated from the program's IDL, with PDA helpers, the
// remaining accounts of margin checks, whole-transaction composition, and the margin preview.
export * from "./generated.js";
export * from "./coder.js";
export * from "./pda.js";
export * from "./protocol.js";
export * from "./budget.js";
export * from "./compose.js";
export * from "./preview.js";
export * from "./kit.js";
export * from "./describe.js";
export * from "./rpc.js";
