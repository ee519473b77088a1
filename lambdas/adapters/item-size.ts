/**
 * DynamoDB's size of an item as the document client writes it (the sum of attribute names and values, as AWS
 * documents it: strings and binaries by UTF-8 length, numbers by significant digits, 1 byte for booleans and nulls,
 * 3 bytes plus 1 per element for maps and lists), so a write that would exceed the 400 KB limit is refused with a
 * named error before it reaches the table.
 */
export const MAX_ITEM_BYTES = 400 * 1024;

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

function numberSize(n: number): number {
  const digits = String(Math.abs(n)).replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

function valueSize(v: unknown): number {
  if (v === null || typeof v === 'boolean') return 1;
  if (typeof v === 'string') return utf8(v);
  if (typeof v === 'number') return numberSize(v);
  if (v instanceof Uint8Array) return v.byteLength;
  if (v instanceof Set) return [...(v as Set<unknown>)].reduce<number>((n, x) => n + valueSize(x), 0);
  if (Array.isArray(v)) return v.reduce<number>((n, x) => n + valueSize(x) + 1, 3);
  if (typeof v === 'object') {
    let n = 3;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x !== undefined) n += utf8(k) + valueSize(x) + 1;
    }
    return n;
  }
  return 0;
}

/** The item's size in bytes, as DynamoDB counts it against the 400 KB limit. */
export function itemSize(item: Readonly<Record<string, unknown>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) if (v !== undefined) n += utf8(k) + valueSize(v);
  return n;
}

/** A lead item that would exceed DynamoDB's item size limit: not written (a bug or an unbounded field, never input). */
export class ItemTooLargeError extends Error {
  override readonly name = 'ItemTooLargeError';
  constructor(
    readonly key: string,
    readonly bytes: number,
  ) {
    super(`item ${key} would be ${bytes} bytes, over DynamoDB's ${MAX_ITEM_BYTES}-byte limit`);
  }
}

/** Throws ItemTooLargeError if the item would not fit. */
export function assertItemFits(item: Readonly<Record<string, unknown>>): void {
  const bytes = itemSize(item);
  if (bytes > MAX_ITEM_BYTES) throw new ItemTooLargeError(`${String(item.pk)}/${String(item.sk)}`, bytes);
}
