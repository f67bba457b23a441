/**
 * The README's screenshots of both explorers, made the way the tests drive them: the terminal explorer under tmux
 * (its screen captured with colours, drawn as HTML by ansi-to-html, photographed by Chromium) and the HTML report
 * in Chromium, both on the realistic image with a layer selected. Each run writes them to test-artifacts/;
 * `npm run screenshots` (LAYERLENS_SCREENSHOTS=docs) also writes them to docs/, where the README shows them.
 */
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Convert from 'ansi-to-html';
import { chromium, type Browser } from 'playwright-core';
import { ROOT, runCli } from './helpers/cli.js';
import { realisticImage, REALISTIC_BUILD_TIMEOUT_MS, type RealisticImage } from './helpers/realistic.js';
import { startTmux, tmuxAvailable } from './helpers/tmux.js';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const DOCS = process.env.LAYERLENS_SCREENSHOTS ? path.resolve(ROOT, process.env.LAYERLENS_SCREENSHOTS) : null;
const BIN = path.join(ROOT, 'bin', 'layerlens.js');
/** The layers the pictures select: the realistic image's `COPY . /app` (explorer), its `apt-get install` (report). */
const LAYER = 4;
const REPORT_LAYER = 1;

let browser: Browser;
let image: RealisticImage;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  image = await realisticImage();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}, REALISTIC_BUILD_TIMEOUT_MS);
afterAll(async () => browser?.close());

/** Keep a picture: in test-artifacts/ always, in docs/ when asked. A picture of nothing fails the test. */
function keep(file: string): void {
  expect(statSync(file).size).toBeGreaterThan(20_000);
  if (DOCS) copyFileSync(file, path.join(DOCS, path.basename(file)));
}

const describeTmux = tmuxAvailable() ? describe : describe.skip;

describeTmux('the terminal explorer', () => {
  test('as of the app layer, in colour, at 100×30', async () => {
    // From the image's folder: the title names the image, not this machine's paths.
    const tmux = await startTmux({ command: [process.execPath, BIN, 'explore', path.basename(image.ociArchive)], cwd: path.dirname(image.ociArchive), cols: 100, rows: 30, env: { PATH: process.env.PATH, HOME: process.env.HOME, FORCE_COLOR: '1' } });
    try {
      await tmux.waitFor('Files as of layer 5', 120_000);
      await tmux.send('Tab', 'k');
      const screen = await tmux.waitFor(`Files as of layer ${LAYER}`);
      expect(screen).toMatch(/A drwxr-xr-x .*app\//); // what the layer added is marked
      const ansi = await tmux.captureAnsi();
      expect(ansi.includes("\u001b[")).toBe(true); // in colour: the picture shows what a user sees
      // The screen as HTML: one line per row, colours from the SGR codes, a terminal's font and background.
      const body = new Convert({ fg: '#e6e6e6', bg: '#1d2330', escapeXML: true }).toHtml(ansi.replace(/\n$/, ''));
      const page = await browser.newPage({ viewport: { width: 100 * 9 + 24, height: 30 * 18 + 24 } });
      await page.setContent(`<!doctype html><meta charset="utf-8"><body style="margin:0;background:#1d2330"><pre style="margin:0;padding:12px;font:15px/18px 'DejaVu Sans Mono',monospace;color:#e6e6e6;white-space:pre">${body}</pre></body>`);
      const file = path.join(ARTIFACTS, 'explore-screenshot.png');
      await page.locator('pre').screenshot({ path: file });
      await page.close();
      keep(file);
    } finally {
      await tmux.kill();
    }
  }, 180_000);
});

test('the HTML report, as of the layer that installs the packages', async () => {
  const report = path.join(ARTIFACTS, 'realistic-report.html');
  expect((await runCli(['analyze', image.ociArchive, '--format', 'html', '-o', report])).code).toBe(0);
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`file://${report}`);
  await page.waitForSelector('.cell');
  await page.selectOption('#layer0', String(REPORT_LAYER));
  await expect(page.locator('#asof0').textContent()).resolves.toMatch(new RegExp(`^layer ${REPORT_LAYER} wrote [\\d.]+ [kMG]B of the`));
  // From the search box to the listing under the treemap: what a user sees first.
  const top = await page.locator('#search0').boundingBox();
  const bottom = await page.locator('#listing0').boundingBox();
  const file = path.join(ARTIFACTS, 'report-screenshot.png');
  await page.screenshot({ path: file, fullPage: true, clip: { x: 0, y: top!.y - 40, width: 1200, height: Math.min(1000, bottom!.y + bottom!.height - top!.y + 60) } });
  await page.close();
  expect(errors).toEqual([]);
  keep(file);
  expect(readFileSync(report, 'utf8')).toContain(`as of layer ${REPORT_LAYER}, its changes highlighted`);
  writeFileSync(path.join(ARTIFACTS, 'screenshots.txt'), `made ${new Date().toISOString()} from ${image.ociArchive}\n`);
});
