/**
 * The chunked JSON writer (src/report/json-stream.ts) must write what JSON.stringify(value, null, 2) writes, byte
 * for byte: the contract's documents are compared as text by users' scripts (`diff <(…) <(…)`). Checked on the
 * real documents of the samples and on generated values with every JSON corner (undefined members, holes,
 * functions, toJSON, NaN, empty containers, strings with newlines and lone surrogates, deep nesting).
 */
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jsonChunks, jsonDocument } from '../src/report/json-stream.js';
import { runCli, SAMPLES } from './helpers/cli.js';
import { mulberry32 as prng } from './helpers/tar-fuzz.js';

const joined = (value: unknown) => [...jsonChunks(value)].join('');

const STRINGS = ['', 'a', 'line\nbreak', 'tab\tand "quotes" \\ back', '\u0000\u001f\u007f', 'é ü 漢字 😀', '\ud800 lone', '\udcff', '</script>'];

function randomValue(rand: () => number, depth: number): unknown {
  const pick = rand();
  if (depth > 7 || pick < 0.35) {
    const scalars = [null, true, false, 0, -1.5, 1e21, Number.NaN, Infinity, undefined, () => 1, STRINGS[Math.floor(rand() * STRINGS.length)], new Date(0)];
    return scalars[Math.floor(rand() * scalars.length)];
  }
  const count = Math.floor(rand() * 5);
  if (pick < 0.65) return Array.from({ length: count }, () => randomValue(rand, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) object[STRINGS[Math.floor(rand() * STRINGS.length)]! + i] = randomValue(rand, depth + 1);
  return object;
}

test('every JSON corner is written as JSON.stringify writes it', () => {
  const values: unknown[] = [
    null,
    0,
    'text',
    undefined,
    [],
    {},
    [undefined, () => 1, Symbol('s'), null],
    { a: undefined, b: () => 1 },
    { only: undefined },
    { toJSON: () => ({ replaced: true }) },
    { nested: { date: new Date(86_400_000), list: [[], {}, [[[[[[[[1]]]]]]]]] } },
    // eslint-disable-next-line no-sparse-arrays
    [1, , 3],
    { deep: JSON.parse('['.repeat(50) + ']'.repeat(50)) as unknown },
  ];
  // A top-level undefined has no JSON text: JSON.stringify gives undefined, the chunks nothing.
  for (const value of values) expect(joined(value)).toBe(JSON.stringify(value, null, 2) ?? '');
  const rand = prng(17);
  for (let i = 0; i < 2000; i++) {
    const value = randomValue(rand, 0);
    expect(joined(value)).toBe(JSON.stringify(value, null, 2) ?? '');
  }
});

test('long runs of scalars and flat objects, broken by nested members, are written as JSON.stringify writes them', () => {
  // The writer stringifies runs of an array's flat members together; runs cross its batch size and end at a member
  // it must walk. Each kind of member at every depth the walk reaches.
  const rand = prng(29);
  for (let i = 0; i < 60; i++) {
    const length = Math.floor(rand() * 700);
    const list = Array.from({ length }, (_, n) => {
      const pick = rand();
      if (pick < 0.5) return { path: `/p/${n}`, size: n, link: pick < 0.1 ? null : STRINGS[n % STRINGS.length], gone: undefined, fn: () => n };
      if (pick < 0.8) return randomValue(rand, 8); // a scalar (or a function, undefined: null in an array)
      if (pick < 0.9) return {};
      return randomValue(rand, 2);
    });
    let value: unknown = list;
    for (let depth = i % 6; depth > 0; depth--) value = depth % 2 ? { key: value, other: [1] } : [value, 'x'];
    expect(joined(value)).toBe(JSON.stringify(value, null, 2));
  }
});

test('a large document comes in many chunks of bounded size, with the text unchanged', () => {
  const files = Array.from({ length: 60_000 }, (_, i) => ({ path: `/srv/d${Math.floor(i / 1000)}/f${i % 1000}`, type: 'file', size: i, mode: '0644', uid: 0, gid: 0, linkTarget: null, layer: i % 3 }));
  const value = { schemaVersion: 2, image: { layers: [{ changes: { added: files.map((file) => file.path) } }], files } };
  const chunks = [...jsonChunks(value)];
  expect(chunks.length).toBeGreaterThan(4);
  for (const chunk of chunks) expect(chunk.length).toBeLessThan(3 << 20);
  expect(chunks.join('')).toBe(JSON.stringify(value, null, 2));
  expect([...jsonDocument(value).chunks()].join('')).toBe(`${JSON.stringify(value, null, 2)}\n`);
});

test('the CLI writes the same document to stdout and to a file, and it is the one JSON.stringify would write', async () => {
  const sample = path.join(SAMPLES, 'busybox-amd64.tar');
  const out = path.join(os.tmpdir(), `layerlens-json-stream-${process.pid}.json`);
  const stdout = await runCli(['analyze', '--json', sample]);
  expect(stdout.code).toBe(0);
  const toFile = await runCli(['analyze', sample, '--output', `json=${out}`]);
  expect(toFile.code).toBe(0);
  const written = readFileSync(out, 'utf8');
  rmSync(out);
  expect(written).toBe(stdout.stdout);
  expect(written).toBe(`${JSON.stringify(JSON.parse(written), null, 2)}\n`);
});
