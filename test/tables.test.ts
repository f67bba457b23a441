/** Tables for people: long paths cut in the middle so rows stay distinguishable; --no-trunc shows them whole. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli, runJson, SAMPLES } from './helpers/cli.js';
import { layerTar, writeImage } from './helpers/layout.js';

const DIR = '/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm';
const NAMES = ['_main_binary-amd64_Packages', '_updates_main_binary-amd64_Packages'];

let work: string;
let layout: string;
beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-tables-'));
  layout = path.join(work, 'layout');
  // Each file written in layer 0 and again in layer 1: both are waste entries, with paths that differ at the end.
  const files = NAMES.map((name) => ({ name: `${DIR}${name}`.slice(1), content: 'x'.repeat(5000) + name }));
  writeImage(layout, 'latest', [await layerTar(files), await layerTar(files.map((file) => ({ ...file, content: file.content + ' v2' })))]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('waste rows keep the end of long paths (cut in the middle), and fit 100 columns', async () => {
  const result = await runCli(['waste', `oci:${layout}`, '--no-color']);
  expect(result.code).toBe(0);
  const rows = result.stdout.split('\n').filter((line) => line.includes('…') && line.includes('Packages'));
  expect(rows.length).toBeGreaterThanOrEqual(2);
  for (const name of NAMES) expect(rows.some((row) => row.trimEnd().endsWith(name))).toBe(true);
  for (const line of result.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
});

test('--no-trunc prints whole paths', async () => {
  const result = await runCli(['waste', `oci:${layout}`, '--no-color', '--no-trunc']);
  expect(result.code).toBe(0);
  for (const name of NAMES) expect(result.stdout).toContain(`${DIR}${name}`);
});

test('the Image ID and digest lines stay within 100 columns, --no-trunc too; the Image ID is the config digest', async () => {
  const image = `oci:${path.join(ROOT, 'samples', 'busybox-oci')}`;
  const { json } = await runJson<{ configDigest: string }>(['inspect', image, '--platform', 'linux/arm64']);
  for (const extra of [[], ['--no-trunc']]) {
    const result = await runCli(['inspect', image, '--platform', 'linux/arm64', '--no-color', ...extra]);
    expect(result.code).toBe(0);
    const line = result.stdout.split('\n').find((text) => text.startsWith('Image ID'))!;
    expect(line).toBe(`Image ID         ${json.configDigest}  (config)`);
    for (const text of result.stdout.split('\n').filter((row) => /digest|Image ID/.test(row))) expect([text, text.length <= 100]).toEqual([text, true]);
  }
});

test('one percent style in every table: "12.34 %", never "12.34%"', async () => {
  const waste = await runCli(['waste', `oci:${layout}`, '--no-color']);
  expect(waste.stdout).toMatch(/^Efficiency +\d+\.\d\d % /m);
  const check = await runCli(['check', `oci:${layout}`, '--no-color', '--lowest-efficiency', '10%', '--config', '/dev/null']);
  expect(check.stdout).toMatch(/\d+\.\d\d %/);
  // A growth threshold is `5%` in the JSON (the contract's value) and `5 %` in the table.
  const growth = await runCli(['check', `oci:${layout}`, '--no-color', '--baseline', `oci:${layout}`, '--max-growth', '5%', '--config', '/dev/null']);
  expect(growth.stdout).toMatch(/\b5 %/);
  for (const text of [waste.stdout, check.stdout, growth.stdout]) expect(text).not.toMatch(/\d%/);
});

test('files with a filter: the footer counts the paths the filter selects, not the directories shown to lead to them', async () => {
  const archive = path.join(SAMPLES, 'busybox-amd64.tar');
  const glob = await runCli(['files', archive, '--glob', '**/*.sh', '--no-color']);
  expect(glob.stdout).toMatch(/^ {2}drwxr-xr-x .* app\/$|^drwxr-xr-x .*└── app\/$/m); // shown, as the way to the match
  expect(glob.stdout.trimEnd().split('\n').at(-1)).toBe('1 of 1 paths');
  const changed = await runJson<{ files: unknown[] }>(['files', archive, '--layer', '2', '--changed', '--json']);
  const table = await runCli(['files', archive, '--layer', '2', '--changed', '--no-color']);
  expect(table.stdout.trimEnd().split('\n').at(-1)).toBe(`${changed.json.files.length} of ${changed.json.files.length} paths`);
});
