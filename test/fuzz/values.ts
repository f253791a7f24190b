import fc from 'fast-check';

/**
 * Hostile JSON values. Objects are kept as entry lists (`Obj`) so that duplicate keys and keys such as `__proto__`
 * survive into the serialised text, which `JSON.stringify` of a plain object would drop or turn into prototypes.
 */
export type Obj = { entries: [string, Jv][] };
export type Jv = null | boolean | number | string | Jv[] | Obj;

export function isObj(v: Jv): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Serialises a value; non-finite numbers become bare literals (`NaN`, `1e999`) that JSON.parse refuses. */
export function toJson(v: Jv): string {
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : Number.isNaN(v) ? 'NaN' : '1e999';
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (isObj(v)) return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  return JSON.stringify(v);
}

export const obj = (entries: [string, Jv][]): Obj => ({ entries });

/** Keys aimed at prototype pollution and at code that trusts key names. */
export const evilKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', ''];

/** Strings aimed at path handling. */
export const traversal = [
  '../../../../etc/passwd',
  '..',
  '.',
  '/',
  '//',
  '/etc/shadow',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e/%2e%2e/',
  '....//....//',
  'a/../../b',
  '/mnt/session/../../root',
  '\\..\\..\\windows',
  '~root',
  'C:\\x',
  '/proc/self/environ',
];

/** Short strings with awkward code points: NUL, control, bidi, lone surrogates, emoji, latin-1, RTL. */
export const oddStrings = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0001\u001f\u007f',
  '\r\n\r\nHTTP/1.1 200 OK',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u2066',
  '\ufeff',
  '\uffff',
  'ǅ',
  '𝕏😀👩‍👩‍👧',
  'ÿþ',
  "'; DROP TABLE agents; --",
  '${jndi:ldap://x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  'NaN',
  '-1',
  '0x10',
  '1e309',
  'true',
  '[]',
  '{}',
];

const hugeString = fc.integer({ min: 1_000, max: 70_000 }).map((n) => 'x'.repeat(n));

/** Any hostile string, weighted towards the hand-picked ones. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...oddStrings, ...traversal, ...evilKeys), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ maxLength: 20 }), weight: 2 },
  { arbitrary: hugeString, weight: 1 },
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-1, 0, -0, 1, 0.5, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.NaN, Number.POSITIVE_INFINITY),
  fc.integer(),
  fc.double(),
);

/** Deeply nested arrays or objects as text (parsers, validators and loggers that recurse). */
export const deep: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 50, max: 20_000 }), fc.boolean())
  .map(([n, arrays]) => (arrays ? `${'['.repeat(n)}1${']'.repeat(n)}` : `${'{"a":'.repeat(n)}null${'}'.repeat(n)}`));

/** Any JSON-ish value, with hostile leaves and evil keys. */
export const hostileValue: fc.Arbitrary<Jv> = fc.letrec<{ v: Jv }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { arbitrary: fc.constant(null), weight: 2 },
    { arbitrary: fc.boolean(), weight: 2 },
    { arbitrary: hostileNumber, weight: 3 },
    { arbitrary: hostileString, weight: 5 },
    { arbitrary: fc.array(tie('v'), { maxLength: 5 }), weight: 2 },
    {
      arbitrary: fc
        .array(fc.tuple(fc.oneof(fc.constantFrom(...evilKeys), fc.string({ maxLength: 12 })), tie('v')), {
          maxLength: 5,
        })
        .map(obj),
      weight: 2,
    },
  ),
})).v;

/** Either a plausible value (so validation goes deeper) or a hostile one; `undefined` drops the field. */
export function field(plausible: fc.Arbitrary<Jv>): fc.Arbitrary<Jv | undefined> {
  return fc.oneof(
    { arbitrary: plausible, weight: 12 },
    { arbitrary: hostileValue, weight: 2 },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
}

/** An object from named field arbitraries, plus sometimes evil or unknown extra keys. */
export function record(fields: Record<string, fc.Arbitrary<Jv | undefined>>): fc.Arbitrary<Jv> {
  const names = Object.keys(fields);
  return fc
    .tuple(
      fc.tuple(...names.map((n) => fields[n]!)),
      fc.array(fc.tuple(fc.constantFrom(...evilKeys, 'unknown_field', 'id', 'type'), hostileValue), { maxLength: 2 }),
    )
    .map(([vals, extra]) => {
      const entries: [string, Jv][] = [];
      names.forEach((n, i) => {
        const v = vals[i];
        if (v !== undefined) entries.push([n, v]);
      });
      return obj([...entries, ...extra]);
    });
}
