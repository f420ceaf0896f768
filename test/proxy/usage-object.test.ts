import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { objectEnd, readUsageObject } from '../../src/proxy/usage-object.js';

const READ = ['prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens', 'cost'] as const;

/** A field as the gateway tells values apart: a number, null, absent, or anything else. */
const kind = (value: unknown) => (value === undefined || value === null || typeof value === 'number' ? value : 'other');

/** What cutting the object out and `JSON.parse` give: the read fields, or undefined for no object. */
function parsed(bytes: Buffer): Record<string, unknown> | undefined {
  const end = objectEnd(bytes, 0);
  if (end < 0) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8', 0, end));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return Object.fromEntries(READ.map((key) => [key, kind(Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined)]));
}

function read(bytes: Buffer): Record<string, unknown> | null | undefined {
  const fields = readUsageObject(bytes, 0);
  return fields && Object.fromEntries(READ.map((key) => [key, kind(fields[key])]));
}

/** Usage-like objects: the read keys among others, any JSON values, nested objects, strings with braces and escapes. */
const usageObject = fc.dictionary(
  fc.oneof(fc.constantFrom(...READ, 'total_tokens', 'prompt_tokens_details'), fc.string()),
  fc.oneof(fc.integer({ min: -5, max: 2 ** 53 }), fc.double(), fc.constantFrom(null, true, false, '}', '{"a"', 'x\\"y'), fc.jsonValue({ maxDepth: 3 })),
);
const spacing = fc.constantFrom(undefined, 0, 1, 2, '\t', '\r\n ');

describe('readUsageObject', () => {
  it('reads a usage object as JSON.parse does', () => {
    const bytes = Buffer.from('{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32,"cost":1.5e-5,"prompt_tokens_details":{"cached_tokens":0}}');
    expect(read(bytes)).toEqual({ prompt_tokens: 12, completion_tokens: 20, input_tokens: undefined, output_tokens: undefined, cost: 0.000015 });
    expect(parsed(bytes)).toEqual(read(bytes));
  });

  it.each([
    '{"prompt_tokens":1,}',
    '{"prompt_tokens":01}',
    '{"prompt_tokens":1.}',
    '{"prompt_tokens":-}',
    '{"prompt_tokens":1e}',
    '{"prompt_tokens":tru}',
    '{"prompt_tokens":"a\tb"}',
    '{"prompt_tokens":"\\x"}',
    '{"prompt_tokens":"\\u12g4"}',
    '{"prompt_tokens":[1,]}',
    '{"prompt_tokens" 1}',
    '{prompt_tokens:1}',
    '{"prompt_tokens":1',
  ])('finds no object in %s', (text) => {
    expect(readUsageObject(Buffer.from(text), 0)).toBeUndefined();
  });

  it('leaves keys with escapes and deep nesting to JSON.parse', () => {
    expect(readUsageObject(Buffer.from('{"prompt\\u005ftokens":3}'), 0)).toBeNull();
    expect(readUsageObject(Buffer.from(`{"a":${'['.repeat(100)}${']'.repeat(100)}}`), 0)).toBeNull();
    expect(read(Buffer.from('{"note\\"s":"\\"","prompt_tokens":2}'))).toBeNull();
  });

  it('agrees with JSON.parse on any usage-like object, however spaced', () => {
    fc.assert(
      fc.property(usageObject, spacing, (object, space) => {
        const bytes = Buffer.from(JSON.stringify(object, null, space));
        const fields = read(bytes);
        if (fields !== null) expect(fields).toEqual(parsed(bytes));
      }),
      { numRuns: 2_000 },
    );
  });

  it('agrees with JSON.parse on the same objects with a byte changed, cut short or run on', () => {
    const bytesOf = fc
      .tuple(usageObject, spacing, fc.nat(), fc.constantFrom(...'{}[]",:0-+.eE\\tfnu \t\n\x01x}'.split('')), fc.constantFrom('replace', 'insert', 'cut'))
      .map(([object, space, at, char, how]) => {
        const text = JSON.stringify(object, null, space);
        const i = at % (text.length + 1);
        return Buffer.from(how === 'cut' ? text.slice(0, i) : text.slice(0, i) + char + text.slice(how === 'replace' ? i + 1 : i));
      })
      // The tap hands the reader an opening brace (src/proxy/usage-tap.ts).
      .filter((bytes) => bytes[0] === 0x7b);
    fc.assert(
      fc.property(bytesOf, (bytes) => {
        const fields = read(bytes);
        if (fields !== null) expect(fields).toEqual(parsed(bytes));
      }),
      { numRuns: 5_000 },
    );
  });
});
