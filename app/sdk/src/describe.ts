// Readable instructions and account sizes for this program, from the generated IDL tables.
import { type Instruction, describeInstructionWith, sizeOf } from "./coder.js";
import { INSTRUCTIONS, PROGRAM_ADDRESS, SCHEMA } from "./generated.js";

/** Name, named accounts with roles and decoded arguments of an instruction (dry runs, logs). */
export function describeInstruction(ix: Instruction): string {
  return describeInstructionWith(SCHEMA, PROGRAM_ADDRESS, INSTRUCTIONS, ix);
}

/** Bytes of a zero-copy account of type `name`, discriminator included (what to allocate). */
export function sizeOfAccount(name: string): number {
  return 8 + sizeOf(SCHEMA, { defined: { name } });
}
