// Borsh (instruction arguments, Borsh accounts, events) and zero-copy (bytemuck, `repr(C)`, no
// implicit padding: every padding byte is a named field) encoding driven by the IDL's type
// definitions. For fixed-size fields both are the same little-endian sequence of fields.
import {
  AccountRole,
  type AccountMeta,
  type Address,
  type Instruction,
  getAddressDecoder,
  getAddressEncoder,
} from "@solana/kit";

export type { AccountMeta, Instruction };

export type IdlType =
  | string
  | { array: [IdlType, number] }
  | { vec: IdlType }
  | { option: IdlType }
  | { defined: { name: string } };

export interface IdlField {
  name: string;
  type: IdlType;
}

export interface IdlTypeDef {
  name: string;
  serialization?: string;
  type:
    | { kind: "struct"; fields?: IdlField[] }
    | { kind: "enum"; variants: { name: string; fields?: IdlField[] | IdlType[] }[] };
}

export type Schema = Record<string, IdlTypeDef>;

export class DecodeError extends Error {}

const addressEncoder = getAddressEncoder();
const addressDecoder = getAddressDecoder();

/** snake_case (IDL) -> camelCase (TypeScript field names). */
export function camel(name: string): string {
  const parts = name.replace(/^_+/, "").split("_").filter(Boolean);
  return parts.map((p, i) => (i === 0 ? p : p[0].toUpperCase() + p.slice(1))).join("");
}

const INT_SIZES: Record<string, number> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, u128: 16, i128: 16,
};

function isUnitEnum(def: IdlTypeDef): boolean {
  return def.type.kind === "enum" && def.type.variants.every((v) => !v.fields);
}

export class Writer {
  private bytes: number[] = [];

  int(kind: string, value: number | bigint): void {
    const size = INT_SIZES[kind];
    const signed = kind.startsWith("i");
    let v = BigInt(value);
    const bits = BigInt(size * 8);
    const min = signed ? -(1n << (bits - 1n)) : 0n;
    const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    if (v < min || v > max) throw new RangeError(`${value} does not fit ${kind}`);
    if (v < 0n) v += 1n << bits;
    for (let i = 0; i < size; i++) {
      this.bytes.push(Number(v & 0xffn));
      v >>= 8n;
    }
  }

  raw(data: ArrayLike<number>): void {
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export class Reader {
  offset = 0;
  constructor(private readonly data: Uint8Array) {}

  take(n: number): Uint8Array {
    if (this.offset + n > this.data.length) throw new DecodeError("account data too short");
    const slice = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return slice;
  }

  int(kind: string): bigint {
    const size = INT_SIZES[kind];
    const bytes = this.take(size);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
    if (kind.startsWith("i") && bytes[size - 1] & 0x80) v -= 1n << BigInt(size * 8);
    return v;
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }
}

function small(kind: string): boolean {
  return INT_SIZES[kind] !== undefined && INT_SIZES[kind] <= 4;
}

export function encodeValue(schema: Schema, type: IdlType, value: unknown, w: Writer): void {
  if (typeof type === "string") {
    if (INT_SIZES[type] !== undefined) return w.int(type, value as number | bigint);
    switch (type) {
      case "bool":
        return w.raw([value ? 1 : 0]);
      case "pubkey":
        return w.raw(addressEncoder.encode(value as Address));
      case "string": {
        const bytes = new TextEncoder().encode(value as string);
        w.int("u32", bytes.length);
        return w.raw(bytes);
      }
      case "bytes":
        w.int("u32", (value as Uint8Array).length);
        return w.raw(value as Uint8Array);
      default:
        throw new Error(`unsupported type ${type}`);
    }
  }
  if ("array" in type) {
    const [inner, len] = type.array;
    const items = value as ArrayLike<unknown>;
    if (items.length !== len) throw new RangeError(`expected ${len} items, got ${items.length}`);
    for (let i = 0; i < len; i++) encodeValue(schema, inner, items[i], w);
    return;
  }
  if ("vec" in type) {
    const items = value as ArrayLike<unknown>;
    w.int("u32", items.length);
    for (let i = 0; i < items.length; i++) encodeValue(schema, type.vec, items[i], w);
    return;
  }
  if ("option" in type) {
    if (value === null || value === undefined) return w.raw([0]);
    w.raw([1]);
    return encodeValue(schema, type.option, value, w);
  }
  const def = schema[type.defined.name];
  if (!def) throw new Error(`unknown type ${type.defined.name}`);
  if (def.type.kind === "struct") {
    const record = value as Record<string, unknown>;
    for (const field of def.type.fields ?? []) encodeValue(schema, field.type, record[camel(field.name)], w);
    return;
  }
  if (isUnitEnum(def)) return w.int("u8", value as number);
  const tagged = value as { kind: string } & Record<string, unknown>;
  const index = def.type.variants.findIndex((v) => v.name === tagged.kind);
  if (index < 0) throw new Error(`${def.name} has no variant ${tagged.kind}`);
  w.int("u8", index);
  const fields = def.type.variants[index].fields ?? [];
  fields.forEach((f, i) => {
    if (typeof f === "object" && "name" in f) encodeValue(schema, f.type, tagged[camel(f.name)], w);
    else encodeValue(schema, f as IdlType, (tagged.fields as unknown[])[i], w);
  });
}

export function decodeValue(schema: Schema, type: IdlType, r: Reader): unknown {
  if (typeof type === "string") {
    if (INT_SIZES[type] !== undefined) {
      const v = r.int(type);
      return small(type) ? Number(v) : v;
    }
    switch (type) {
      case "bool":
        return r.take(1)[0] !== 0;
      case "pubkey":
        return addressDecoder.decode(r.take(32));
      case "string":
        return new TextDecoder().decode(r.take(Number(r.int("u32"))));
      case "bytes":
        return r.take(Number(r.int("u32"))).slice();
      default:
        throw new Error(`unsupported type ${type}`);
    }
  }
  if ("array" in type) {
    const [inner, len] = type.array;
    if (inner === "u8") return r.take(len).slice();
    return Array.from({ length: len }, () => decodeValue(schema, inner, r));
  }
  if ("vec" in type) {
    const len = Number(r.int("u32"));
    if (type.vec === "u8") return r.take(len).slice();
    return Array.from({ length: len }, () => decodeValue(schema, type.vec, r));
  }
  if ("option" in type) return r.take(1)[0] ? decodeValue(schema, type.option, r) : null;
  const def = schema[type.defined.name];
  if (!def) throw new Error(`unknown type ${type.defined.name}`);
  if (def.type.kind === "struct") {
    const record: Record<string, unknown> = {};
    for (const field of def.type.fields ?? []) record[camel(field.name)] = decodeValue(schema, field.type, r);
    return record;
  }
  const tag = r.take(1)[0];
  if (tag >= def.type.variants.length) throw new DecodeError(`${def.name}: no variant ${tag}`);
  if (isUnitEnum(def)) return tag;
  const variant = def.type.variants[tag];
  const out: Record<string, unknown> = { kind: variant.name };
  const fields = variant.fields ?? [];
  if (fields.length && typeof fields[0] === "object" && "name" in (fields[0] as object)) {
    for (const f of fields as IdlField[]) out[camel(f.name)] = decodeValue(schema, f.type, r);
  } else if (fields.length) {
    out.fields = (fields as IdlType[]).map((f) => decodeValue(schema, f, r));
  }
  return out;
}

function startsWith(data: ArrayLike<number>, prefix: ArrayLike<number>): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/**
 * An account of type `name`: its discriminator checked; a zero-copy account must be exactly its
 * struct's size (trailing bytes would mean a different layout), a Borsh one may have spare room.
 */
export function decodeAccount(schema: Schema, name: string, discriminator: Uint8Array, data: Uint8Array): unknown {
  if (!startsWith(data, discriminator)) throw new DecodeError(`not a ${name} account (discriminator)`);
  const r = new Reader(data.subarray(discriminator.length));
  const value = decodeValue(schema, { defined: { name } }, r);
  if (schema[name].serialization?.startsWith("bytemuck") && r.remaining !== 0)
    throw new DecodeError(`not a ${name} account (${r.remaining} bytes too many)`);
  return value;
}

export function decodeEvent(
  schema: Schema,
  discriminators: Record<string, Uint8Array>,
  data: Uint8Array,
): { name: string; data: unknown } | null {
  for (const [name, discriminator] of Object.entries(discriminators)) {
    if (startsWith(data, discriminator)) {
      const value = decodeValue(schema, { defined: { name } }, new Reader(data.subarray(discriminator.length)));
      return { name, data: value };
    }
  }
  return null;
}

function role(writable: boolean, signer: boolean): AccountRole {
  if (signer) return writable ? AccountRole.WRITABLE_SIGNER : AccountRole.READONLY_SIGNER;
  return writable ? AccountRole.WRITABLE : AccountRole.READONLY;
}

export interface InstructionLayout {
  discriminator: Uint8Array;
  args: [string, IdlType][];
  /** (address or null for an absent optional account, writable, signer), in the program's order. */
  accounts: [Address | null, boolean, boolean][];
}

/** An instruction: Anchor passes an absent optional account as the program id, read-only. */
export function encodeInstruction(
  schema: Schema,
  programAddress: Address,
  layout: InstructionLayout,
  args: object,
  remaining: readonly AccountMeta[],
): Instruction {
  const w = new Writer();
  w.raw(layout.discriminator);
  const record = args as Record<string, unknown>;
  for (const [name, type] of layout.args) encodeValue(schema, type, record[name], w);
  const accounts: AccountMeta[] = layout.accounts.map(([address, writable, signer]) =>
    address === null
      ? { address: programAddress, role: AccountRole.READONLY }
      : { address, role: role(writable, signer) },
  );
  return { programAddress, accounts: [...accounts, ...remaining], data: w.finish() };
}

/** An instruction as the IDL lists it (the generated `INSTRUCTIONS`). */
export interface InstructionSpec {
  name: string;
  discriminator: Uint8Array;
  /** Account names in the program's order; composite accounts as `outer.inner`. */
  accounts: string[];
  args: [string, IdlType][];
}

/** Bytes of a fixed-size type (zero-copy accounts); throws for variable-size ones. */
export function sizeOf(schema: Schema, type: IdlType): number {
  if (typeof type === "string") {
    if (INT_SIZES[type] !== undefined) return INT_SIZES[type];
    if (type === "bool") return 1;
    if (type === "pubkey") return 32;
    throw new Error(`${type} has no fixed size`);
  }
  if ("array" in type) return sizeOf(schema, type.array[0]) * type.array[1];
  if ("defined" in type) {
    const def = schema[type.defined.name];
    if (def?.type.kind !== "struct") throw new Error(`${type.defined.name} has no fixed size`);
    return (def.type.fields ?? []).reduce((sum, f) => sum + sizeOf(schema, f.type), 0);
  }
  throw new Error(`${JSON.stringify(type)} has no fixed size`);
}

function jsonValue(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return [...value].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (Array.isArray(value)) return value.map(jsonValue);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonValue(v)]));
  return value;
}

/**
 * A readable description of an instruction of this program (name, named accounts with their
 * roles, decoded arguments), or of another program's (address and raw data).
 */
export function describeInstructionWith(
  schema: Schema,
  programAddress: Address,
  specs: readonly InstructionSpec[],
  ix: Instruction,
): string {
  const data = Uint8Array.from(ix.data ?? []);
  const metas = ix.accounts ?? [];
  const roles = ["readonly", "writable", "signer", "writable signer"];
  const spec =
    ix.programAddress === programAddress ? specs.find((s) => startsWith(data, s.discriminator)) : undefined;
  if (!spec) {
    const hex = [...data].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `  ${ix.programAddress} data=${hex}\n${metas.map((m) => `    ${m.address} (${roles[m.role]})`).join("\n")}`;
  }
  const r = new Reader(data.subarray(spec.discriminator.length));
  const args = Object.fromEntries(spec.args.map(([name, type]) => [name, jsonValue(decodeValue(schema, type, r))]));
  const lines = metas.map((m, i) => `    ${spec.accounts[i] ?? "remaining"}: ${m.address} (${roles[m.role]})`);
  return `  ${spec.name} ${JSON.stringify(args)}\n${lines.join("\n")}`;
}
