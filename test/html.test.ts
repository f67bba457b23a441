/**
 * The HTML report, opened in a real headless Chromium (Debian's package, driven by playwright-core): the treemap
 * draws, clicking into a directory updates the breadcrumb, hovering shows path, size, layer and step, and the
 * page raises no script error. A screenshot is kept in test-artifacts/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT, runCli, SAMPLES } from './helpers/cli.js';
import { buildUnion } from '../src/analyze/union.js';
import type { LayerEntry } from '../src/model/layer.js';
import { sizeTree } from '../src/analyze/size-tree.js';

const DIVE_TAR = path.join(ROOT, '..', 'shared', 'fixtures', 'dive', '.data', 'test-docker-image.tar');

const ARTIFACTS = path.join(ROOT, 'test-artifacts');
let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => browser?.close());

/** A report opened in Chromium (at `hash`), with the script errors it raises collected. */
async function openPage(file: string, hash = ''): Promise<{ page: import('playwright-core').Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`file://${file}${hash}`);
  return { page, errors };
}

test('the report is one self-contained file that needs no network', async () => {
  const file = path.join(ARTIFACTS, 'sample-report.html');
  const result = await runCli(['analyze', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--platform', 'linux/amd64', '--format', 'html', '-o', file]);
  expect(result.code).toBe(0);
  const html = readFileSync(file, 'utf8');
  // Nothing is loaded from elsewhere: no external scripts, stylesheets, images or fonts.
  expect(html).not.toMatch(/<script[^>]+src=|<link[\s>]|<img[^>]+src=["']?https?:|url\(["']?https?:|@import/);
  expect(html).toContain('linux/arm64/v8'); // the platforms table
});

test('clicking into a directory of the treemap updates the breadcrumb; hovering shows the details', async () => {
  const file = path.join(ARTIFACTS, 'dive-report.html');
  expect((await runCli(['analyze', path.join(ROOT, '..', 'shared', 'fixtures', 'dive', '.data', 'test-docker-image.tar'), '--format', 'html', '-o', file])).code).toBe(0);
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  const external: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    external.push(url);
    return route.abort();
  });
  await page.goto(`file://${file}`);
  await page.waitForSelector('.cell');
  await expect(page.locator('.crumbs').first().textContent()).resolves.toBe('/');
  const root = page.locator('.cell.dir', { hasText: /^root$/ });
  await root.click({ position: { x: 8, y: 6 } });
  await expect(page.locator('.crumbs').first().textContent()).resolves.toBe('/ root');
  const saved = page.locator('.cell', { hasText: /^saved\.txt$/ });
  await saved.hover();
  const tip = await page.locator('.tip').textContent();
  expect(tip).toContain('/root/saved.txt');
  expect(tip).toContain('6.41 kB');
  expect(tip).toContain('layer 13');
  expect(tip).toContain('RUN chmod +x /root/saved.txt');
  await page.locator('.crumbs a').first().click();
  await expect(page.locator('.crumbs').first().textContent()).resolves.toBe('/');
  await page.screenshot({ path: path.join(ARTIFACTS, 'dive-report.png'), fullPage: true });
  expect(errors).toEqual([]);
  expect(external).toEqual([]);
  await page.close();
});

describe('the treemap colours bytes by the layer that wrote them', () => {
  const entry = (path: string, type: 'file' | 'dir', size = 0): LayerEntry => ({ path, type, size, mode: 0o755, uid: 0, gid: 0, linkTarget: null, contentHash: null });
  test('a directory made by one layer and filled by the next takes the colour of the next; a group of small files the colour of most of its bytes', () => {
    // /var/cache as a Debian image has it: the directory from the base layer, 42.9 MB of .debs from the next.
    const layers = [
      [entry('var', 'dir'), entry('var/cache', 'dir'), entry('var/cache/ldconfig', 'file', 100), entry('bin', 'dir'), entry('bin/sh', 'file', 900_000)],
      [entry('var/cache/apt', 'dir'), entry('var/cache/apt/a.deb', 'file', 500_000), entry('var/cache/apt/b.deb', 'file', 400_000)],
    ];
    const { tree } = sizeTree(buildUnion(layers));
    const child = (node: typeof tree, name: string) => node[3]!.find((candidate) => candidate[0] === name)!;
    const cache = child(child(tree, 'var'), 'cache');
    expect([cache[1], cache[2]]).toEqual([900_100, 1]);
    // Grouped small files: here ldconfig (100 B, layer 0) is below the grouping threshold only on a big image, so
    // it stands alone; the colour rule for groups is the same tally (analyze/size-tree.ts).
    expect(child(tree, 'bin')[2]).toBe(0);
    // The root: 900,100 bytes of layer 0 against 900,000 of layer 1.
    expect(tree[2]).toBe(0);
  });
});

/** Runs in the page (the test's TypeScript has no DOM types). */
const backgroundOf = (el: unknown): string => (globalThis as unknown as { getComputedStyle(node: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor;

test('the layer legend matches the cells; a layer bar opens that layer with every path it changed; one platform is named once', async () => {
  const file = path.join(ARTIFACTS, 'dive-report.html');
  if (!existsSync(file)) expect((await runCli(['analyze', DIVE_TAR, '--format', 'html', '-o', file])).code).toBe(0);
  const { page, errors } = await openPage(file);
  await page.waitForSelector('.cell');
  await page.locator('.cell.dir', { hasText: /^root$/ }).click({ position: { x: 8, y: 6 } });
  const cell = await page.locator('.cell', { hasText: /^saved\.txt$/ }).evaluate(backgroundOf);
  const swatch = await page.locator('.layer-legend .key[data-layer="13"] .swatch').evaluate(backgroundOf);
  expect(cell).toBe(swatch);
  const others = await page.locator('.layer-legend .swatch').evaluateAll((els) => els.map((el) => (globalThis as unknown as { getComputedStyle(node: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor));
  expect(others.filter((colour) => colour === swatch)).toHaveLength(1);
  // The bar of layer 13 opens its section, listing what it changed.
  await page.locator('a.bar', { hasText: 'L13' }).click();
  const details = page.locator('details#img0-layer13');
  await expect(details.evaluate((el) => (el as unknown as { open: boolean }).open)).resolves.toBe(true);
  const listed = await details.locator('.change-lists td.path').allTextContents();
  const json = JSON.parse((await runCli(['analyze', DIVE_TAR, '--json'])).stdout) as { layers: { changes: { added: string[]; modified: string[]; removed: string[] } }[] };
  const changes = json.layers[13]!.changes;
  expect(listed).toEqual([...changes.added, ...changes.modified, ...changes.removed]);
  expect(await page.locator('h2').first().textContent()).not.toMatch(/(linux\/amd64).*\1/);
  expect(errors).toEqual([]);
  await page.close();
});

test('a multi-platform report names each platform once in its heading', async () => {
  const file = path.join(ARTIFACTS, 'multi-report.html');
  expect((await runCli(['analyze', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--all-platforms', '--format', 'html', '-o', file])).code).toBe(0);
  const html = readFileSync(file, 'utf8');
  const headings = [...html.matchAll(/<h2>(.*?)<\/h2>/g)].map((match) => match[1]);
  expect(headings).toEqual(['linux/amd64', 'linux/arm64/v8']);
});

test('the search box finds every path of the image (as `files` lists them), and a result opens its directory in the treemap', async () => {
  const file = path.join(ARTIFACTS, 'dive-report-search.html');
  expect((await runCli(['analyze', DIVE_TAR, '--format', 'html', '-o', file])).code).toBe(0);
  const files = (JSON.parse((await runCli(['files', DIVE_TAR, '--json'])).stdout) as { files: { path: string }[] }).files.map((entry) => entry.path);
  const { page, errors } = await openPage(file);
  await page.waitForSelector('.cell');
  await page.locator('#search0').fill('SAVED');
  await page.waitForSelector('#results0 .count');
  const expected = files.filter((entry) => entry.toLowerCase().includes('saved'));
  expect(expected.length).toBeGreaterThan(3);
  await expect(page.locator('#results0 .count').textContent()).resolves.toBe(`${expected.length} paths`);
  expect(await page.locator('#results0 a').allTextContents()).toEqual(expected);
  await page.locator('#results0 a', { hasText: /^\/root\/saved\.txt$/ }).click();
  await expect(page.locator('.crumbs').first().textContent()).resolves.toBe('/ root');
  expect(errors).toEqual([]);
  await page.close();
});

interface ListedRow {
  name: string;
  bytes: number;
  own: number;
}

/** The directory listing under the treemap, with the exact bytes each row carries. */
async function listing(page: import('playwright-core').Page): Promise<ListedRow[]> {
  return page.locator('#listing0 tbody tr').evaluateAll((rows) =>
    rows.map((row) => {
      const element = row as unknown as { getAttribute(name: string): string };
      return { name: element.getAttribute('data-name'), bytes: Number(element.getAttribute('data-bytes')), own: Number(element.getAttribute('data-own')) };
    }),
  );
}

/** What `files --layer N --json` says is below each entry of a directory: its bytes, and those layer N wrote. */
function expectedListing(files: { path: string; type: string; size: number; layer: number }[], directory: string, layer: number | null): Map<string, { bytes: number; own: number }> {
  const below = new Map<string, { bytes: number; own: number }>();
  const prefix = directory === '/' ? '/' : `${directory}/`;
  for (const file of files) {
    if (!file.path.startsWith(prefix) || file.type !== 'file') continue; // only regular files hold bytes
    const name = file.path.slice(prefix.length).split('/')[0]!;
    const entry = below.get(name) ?? { bytes: 0, own: 0 };
    entry.bytes += file.size;
    if (file.layer === layer) entry.own += file.size;
    below.set(name, entry);
  }
  for (const [name, entry] of below) if (entry.bytes === 0) below.delete(name); // nothing to draw
  return below;
}

test('the layer selector shows the filesystem as of each layer, with what that layer wrote, as `files --layer` lists it', async () => {
  const file = path.join(ARTIFACTS, 'dive-report-layers.html');
  expect((await runCli(['analyze', DIVE_TAR, '--format', 'html', '-o', file])).code).toBe(0);
  const { page, errors } = await openPage(file);
  await page.waitForSelector('.cell');
  type Files = { files: { path: string; type: string; size: number; layer: number }[] };
  const asOf = async (layer: number) => (JSON.parse((await runCli(['files', DIVE_TAR, '--layer', String(layer), '--json'])).stdout) as Files).files;
  // Every row of a listing is a name of `files --layer`, with its exact bytes; rows the page grouped (too small to
  // draw apart) hold exactly the bytes of the names not shown.
  const compare = (rows: ListedRow[], expected: Map<string, { bytes: number; own: number }>) => {
    const named = rows.filter((row) => !row.name.startsWith('('));
    for (const row of named) expect({ name: row.name, ...expected.get(row.name) }).toEqual({ name: row.name, bytes: row.bytes, own: row.own });
    const rest = [...expected].filter(([name]) => !named.some((row) => row.name === name));
    const grouped = rows.filter((row) => row.name.startsWith('('));
    expect(grouped.reduce((sum, row) => sum + row.bytes, 0)).toBe(rest.reduce((sum, [, entry]) => sum + entry.bytes, 0));
    expect(grouped.reduce((sum, row) => sum + row.own, 0)).toBe(rest.reduce((sum, [, entry]) => sum + entry.own, 0));
    expect(named.length).toBeGreaterThan(0);
  };
  for (const layer of [0, 5, 9, 13]) {
    await page.selectOption('#layer0', String(layer));
    await page.locator('.crumbs a').first().click();
    const files = await asOf(layer);
    const top = await listing(page);
    compare(top, expectedListing(files, '/', layer));
    // Layer 0 (busybox) has nothing in /root; the later ones do.
    expect(top.some((row) => row.name === 'root')).toBe(layer > 0);
    if (layer === 0) continue;
    // Into /root: the tree changes with the layer (layer 9 ran `rm -rf /root/example`).
    await page.locator('#listing0 td.dir', { hasText: /^root\/$/ }).click();
    await expect(page.locator('.crumbs').first().textContent()).resolves.toBe('/ root');
    const rows = await listing(page);
    compare(rows, expectedListing(files, '/root', layer));
    expect(rows.some((row) => row.name === 'example')).toBe(layer === 5);
    // What the layer wrote is what stands out: the cells of its bytes are the opaque ones.
    if (layer === 13) {
      const saved = page.locator('.cell', { hasText: /^saved\.txt$/ });
      await expect(saved.evaluate((el) => Number((el as unknown as { style: { opacity: string } }).style.opacity))).resolves.toBe(1);
    }
  }
  // The whole image again: nothing highlighted, the listing as `files` has it.
  await page.selectOption('#layer0', 'all');
  await page.locator('.crumbs a').first().click();
  compare(await listing(page), expectedListing(await asOf(13), '/', null));
  // A layer's bar shows the filesystem as of that layer.
  await page.locator('a.bar', { hasText: 'L7' }).click();
  await expect(page.locator('#layer0').inputValue()).resolves.toBe('7');
  expect(errors).toEqual([]);
  await page.close();
});

test('change lists carry each path\'s size and sort by size or path; removals are sized as they were before', async () => {
  const file = path.join(ARTIFACTS, 'dive-report-layers.html');
  if (!existsSync(file)) expect((await runCli(['analyze', DIVE_TAR, '--format', 'html', '-o', file])).code).toBe(0);
  const { page, errors } = await openPage(file, '#img0-layer0');
  await page.waitForSelector('details#img0-layer0 table.change-list');
  type Files = { files: { path: string; type: string; size: number }[] };
  const sizesAsOf = async (layer: number) => {
    const files = (JSON.parse((await runCli(['files', DIVE_TAR, '--layer', String(layer), '--json'])).stdout) as Files).files;
    // The page's rule: a directory is -1 (shown "dir"), a hardlink 0 (a name, not content), a file its bytes.
    return new Map(files.map((entry) => [entry.path, entry.type === 'dir' ? -1 : entry.type === 'hardlink' ? 0 : entry.size]));
  };
  const rowsOf = (selector: string) =>
    page.locator(selector).evaluateAll((rows) =>
      rows.map((row) => {
        const element = row as unknown as { getAttribute(name: string): string; querySelector(s: string): { textContent: string } };
        return { path: element.querySelector('td.path').textContent, bytes: Number(element.getAttribute('data-bytes')) };
      }),
    );
  const added = page.locator('details#img0-layer0 table.change-list').first();
  const byPath = await rowsOf('details#img0-layer0 table.change-list >> nth=0 >> tbody tr');
  const layer0 = await sizesAsOf(0);
  expect(byPath.length).toBe(415);
  for (const row of byPath) expect([row.path, row.bytes]).toEqual([row.path, layer0.get(row.path)]);
  // Size, largest first; again, smallest first; path sorts back.
  await added.locator('th', { hasText: 'Size' }).click();
  const bySize = await rowsOf('details#img0-layer0 table.change-list >> nth=0 >> tbody tr');
  expect(bySize.map((row) => row.bytes)).toEqual([...byPath.map((row) => row.bytes)].sort((a, b) => b - a));
  expect(new Set(bySize.map((row) => row.path))).toEqual(new Set(byPath.map((row) => row.path)));
  await expect(added.locator('th', { hasText: 'Size' }).getAttribute('aria-sort')).resolves.toBe('descending');
  await added.locator('th', { hasText: 'Size' }).click();
  expect((await rowsOf('details#img0-layer0 table.change-list >> nth=0 >> tbody tr')).map((row) => row.bytes)).toEqual([...byPath.map((row) => row.bytes)].sort((a, b) => a - b));
  await added.locator('th', { hasText: 'Path' }).click();
  expect((await rowsOf('details#img0-layer0 table.change-list >> nth=0 >> tbody tr')).map((row) => row.path)).toEqual(byPath.map((row) => row.path));
  // Layer 9 (`rm -rf /root/example`): what it removed, sized as layer 8 had it.
  await page.locator('details#img0-layer9 summary').click();
  const removed = await rowsOf('details#img0-layer9 table.change-list tbody tr');
  const layer8 = await sizesAsOf(8);
  expect(removed.length).toBe(5);
  for (const row of removed) expect([row.path, row.bytes]).toEqual([row.path, layer8.get(row.path)]);
  expect(removed.some((row) => row.bytes > 0)).toBe(true);
  expect(errors).toEqual([]);
  await page.close();
});

test.each([
  ['the docker save', [path.join(SAMPLES, 'busybox-amd64.tar')]],
  ['both platforms of the OCI layout', [`oci:${path.join(SAMPLES, 'busybox-oci')}`, '--all-platforms']],
])('every layer of every image of %s can be selected, and shows its tree', async (name, args) => {
  const file = path.join(ARTIFACTS, `sample-layers-${name.replace(/\W+/g, '-')}.html`);
  expect((await runCli(['analyze', ...args, '--format', 'html', '-o', file])).code).toBe(0);
  const { page, errors } = await openPage(file);
  await page.waitForSelector('.cell');
  const sections = await page.locator('section.image').count();
  expect(sections).toBe(args.includes('--all-platforms') ? 2 : 1);
  for (let i = 0; i < sections; i++) {
    const layers = await page.locator(`#layer${i} option`).count();
    expect(layers).toBe(4); // "every layer", then the sample's three layers
    for (let layer = 0; layer < layers - 1; layer++) {
      await page.selectOption(`#layer${i}`, String(layer));
      await expect(page.locator(`#asof${i}`).textContent()).resolves.toMatch(new RegExp(`^layer ${layer} wrote `));
      expect(await page.locator(`#listing${i} tbody tr`).count()).toBeGreaterThan(0);
    }
  }
  expect(errors).toEqual([]);
  await page.close();
});
