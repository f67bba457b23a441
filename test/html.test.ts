/**
 * The HTML report, opened in a real headless Chromium (Debian's package, driven by playwright-core): the treemap
 * draws, clicking into a directory updates the breadcrumb, hovering shows path, size, layer and step, and the
 * page raises no script error. A screenshot is kept in test-artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT, runCli, SAMPLES } from './helpers/cli.js';

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
