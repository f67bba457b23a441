/**
 * The whole-report cache (src/pipeline/report-cache.ts): a warm registry run prints the report a cold run computed,
 * byte for byte, without reading a layer. Against a real registry (Debian's docker-registry, images pushed by
 * skopeo). "Without reading a layer" is shown, not claimed: the layer blobs are taken out of the registry and the
 * scans and layer blobs out of the cache, and the warm run still answers (while a --no-cache run cannot).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { runCli } from './helpers/cli.js';
import { layerTar, writeImage } from './helpers/layout.js';
import { pushImage, startRegistry, type RunningRegistry } from './helpers/registry.js';
import { cachedAnalysis, reportKey, type ReportStore } from '../src/pipeline/report-cache.js';
import type { ResolvedImage } from '../src/model/source.js';
import type { AnalyzedImage } from '../src/pipeline/analyze.js';
import type { ImageReport } from '../src/report/report.js';

let work: string;
let registry: RunningRegistry;
let image: string;
let layerDigests: string[];

function env(): NodeJS.ProcessEnv {
  return { DOCKER_CONFIG: path.join(work, 'docker-empty'), XDG_CACHE_HOME: path.join(work, 'xdg-cache'), DOCKER_HOST: 'unix:///nonexistent.sock' };
}

async function run(args: string[], cache: string | null) {
  return runCli([...args, image, ...(cache ? ['--cache-dir', cache] : ['--no-cache'])], { env: env() });
}

/** The report files the cache holds now (find is the oracle, not our listing). */
function reportFiles(cache: string): string[] {
  const out = execFileSync('find', [cache, '-path', '*/reports/*', '-type', 'f', '-name', '*.json.gz'], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).sort();
}

/** Take the layer blobs out of the registry (and give them back): a run that reads a layer then fails. */
function withoutLayersInRegistry<T>(work: () => Promise<T>): Promise<T> {
  const moved = layerDigests.map((digest) => [registry.blobPath(digest), `${registry.blobPath(digest)}.away`] as const);
  for (const [from, to] of moved) renameSync(from, to);
  return work().finally(() => {
    for (const [from, to] of moved) renameSync(to, from);
  });
}

/** Leave the cache only its manifests, configs and reports: no scan, no layer blob. */
function dropScansAndLayers(cache: string): void {
  rmSync(path.join(cache, 'scans'), { recursive: true, force: true });
  for (const digest of layerDigests) rmSync(path.join(cache, 'blobs', 'sha256', digest.slice(7)), { force: true });
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-report-cache-'));
  mkdirSync(path.join(work, 'docker-empty'));
  const layout = path.join(work, 'layout');
  const same = 'the same bytes twice\n'.repeat(50);
  writeImage(
    layout,
    'img',
    [
      await layerTar([{ name: 'etc/' }, { name: 'etc/a.conf', content: 'a\n' }, { name: 'srv/one.txt', content: same }, { name: 'srv/two.txt', content: same }, { name: 'srv/gone.bin', content: Buffer.alloc(4096, 7) }]),
      await layerTar([{ name: 'srv/.wh.gone.bin', content: '' }, { name: 'etc/b.conf', content: 'b\n' }]),
    ],
    ['COPY rootfs /', 'RUN rm /srv/gone.bin'],
  );
  registry = await startRegistry('plain');
  await pushImage(registry, `oci:${layout}:img`, 'rc/img:1');
  image = `${registry.host}/rc/img:1`;
  const layers = await runCli(['layers', '--json', image, '--no-cache'], { env: env() });
  expect(layers.code).toBe(0);
  layerDigests = (JSON.parse(layers.stdout) as { layers: { digest: string }[] }).layers.map((layer) => layer.digest);
  expect(layerDigests).toHaveLength(2);
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

const COMMANDS: string[][] = [['analyze', '--json'], ['layers', '--json'], ['waste', '--json'], ['files', '--json', '--path', '/srv'], ['layers'], ['waste'], ['check', '--json', '--max-files', '3'], ['check', '--max-size', '1GB']];
/** check's verdicts: more than 3 paths fails (exit 1); under 1 GB passes. */
const EXIT: Record<string, number> = { 'check --json --max-files 3': 1 };

test('a warm run prints what the cold run printed, byte for byte, with no layer left to read in the registry or the cache', async () => {
  const cache = path.join(work, 'warm');
  const cold = new Map<string, string>();
  for (const args of COMMANDS) {
    const result = await run(args, cache);
    expect([args, result.code, result.stderr]).toEqual([args, EXIT[args.join(' ')] ?? 0, '']);
    // The cache adds nothing to what a run without it says.
    const plain = await run(args, null);
    expect(plain.stdout).toBe(result.stdout);
    cold.set(args.join(' '), result.stdout);
  }
  // One report per analysis and option set: analyze (check's too), layers, waste (table and JSON share each), files /srv.
  expect(reportFiles(cache)).toHaveLength(4);
  dropScansAndLayers(cache);
  await withoutLayersInRegistry(async () => {
    const blind = await run(['layers', '--json'], null);
    expect(blind.code).toBe(3); // the layers are really gone: reading them fails
    for (const args of COMMANDS) {
      const warm = await run([...args, '--debug'], cache);
      expect([args, warm.code]).toEqual([args, EXIT[args.join(' ')] ?? 0]);
      expect(warm.stdout).toBe(cold.get(args.join(' ')));
      expect(warm.stderr).toContain('from the cache: no layer read');
    }
    // files' tree draws the union, which no report holds: it reads the layers (here: cannot).
    const tree = await run(['files', '--path', '/srv'], cache);
    expect(tree.code).toBe(3);
    // Other options are another report: not in the cache, so the layers are needed.
    const other = await run(['files', '--json', '--path', '/etc'], cache);
    expect(other.code).toBe(3);
    // check against a baseline compares the two filesystems: it reads the layers.
    const baseline = await run(['check', '--baseline', image], cache);
    expect(baseline.code).toBe(3);
  });
}, 180_000);

test('a damaged or planted report is removed and the report computed again; --no-cache keeps none', async () => {
  const cache = path.join(work, 'damaged');
  const analyze = await run(['analyze', '--json'], cache);
  const layers = await run(['layers', '--json'], cache);
  expect([analyze.code, layers.code]).toEqual([0, 0]);
  const files = reportFiles(cache);
  expect(files).toHaveLength(2);
  // An entry: a header line (key, checksum), then the report's JSON text.
  const entry = (file: string) => {
    const text = gunzipSync(readFileSync(file)).toString('utf8');
    const newline = text.indexOf('\n');
    return { header: JSON.parse(text.slice(0, newline)) as { key: string; checksum: string }, payload: text.slice(newline + 1) };
  };
  const entries = files.map((file) => ({ key: entry(file).header.key }));
  const analyzeFile = files[entries.findIndex((entry) => entry.key.includes('"analysis":"analyze"'))]!;
  const layersFile = files[entries.findIndex((entry) => entry.key.includes('"analysis":"layers"'))]!;

  // Damaged: the bytes are not a gzip of a verifying entry.
  const damaged = readFileSync(analyzeFile);
  damaged[damaged.length >> 1] ^= 0xff;
  writeFileSync(analyzeFile, damaged);
  const again = await run(['analyze', '--json', '--debug'], cache);
  expect(again.code).toBe(0);
  expect(again.stdout).toBe(analyze.stdout);
  expect(again.stderr).toContain('did not verify; removed it');
  // A verifying entry replaced it: the next run needs no layer.
  dropScansAndLayers(cache);
  await withoutLayersInRegistry(async () => {
    expect((await run(['analyze', '--json'], cache)).stdout).toBe(analyze.stdout);
  });

  // Planted: a well-formed entry whose text was changed (checksum no longer matches), and the analyze entry under the
  // layers key's name (its key does not match the name's). Neither is believed.
  const forged = entry(layersFile);
  expect(forged.payload).toContain('"entries":');
  writeFileSync(layersFile, gzipSync(`${JSON.stringify(forged.header)}\n${forged.payload.replace('"entries":', '"entries":1')}`));
  const checked = await run(['layers', '--json'], cache);
  expect(checked.stdout).toBe(layers.stdout);
  writeFileSync(layersFile, readFileSync(analyzeFile));
  const keyed = await run(['layers', '--json'], cache);
  expect(keyed.code).toBe(0);
  expect(keyed.stdout).toBe(layers.stdout);

  const none = path.join(work, 'none');
  expect((await run(['analyze', '--json'], none)).code).toBe(0);
  rmSync(none, { recursive: true, force: true });
  expect((await runCli(['analyze', '--json', image, '--no-cache'], { env: { ...env(), XDG_CACHE_HOME: none } })).code).toBe(0);
  expect(existsSync(none)).toBe(false);
}, 180_000);

test('cache info counts reports as find does; another build\'s reports are outdated and pruned first', async () => {
  const cache = path.join(work, 'info');
  expect((await run(['analyze', '--json'], cache)).code).toBe(0);
  const [current] = reportFiles(cache);
  const otherBuild = path.join(cache, 'reports', `b-${'0'.repeat(32)}`, `${'a'.repeat(64)}.json.gz`);
  mkdirSync(path.dirname(otherBuild), { recursive: true });
  writeFileSync(otherBuild, Buffer.alloc(777, 1));
  const info = await runCli(['cache', 'info', '--json', '--cache-dir', cache], { env: env() });
  const json = JSON.parse(info.stdout) as Record<string, { files: number; bytes: number }>;
  expect(json.reports).toEqual({ files: 1, bytes: readFileSync(current!).length });
  expect(json.outdatedReports).toEqual({ files: 1, bytes: 777 });
  expect(json.prunable).toEqual({ files: 1, bytes: 777 });
  const table = await runCli(['cache', 'info', '--cache-dir', cache], { env: env() });
  expect(table.stdout).toMatch(/reports\s+1\s/);
  expect(table.stdout).toMatch(/outdated reports\s+1\s+777 B/);
  const prune = await runCli(['cache', 'prune', '--cache-dir', cache], { env: env() });
  expect(prune.stdout).toContain('removed 1 outdated report(s): 777 B');
  expect(existsSync(path.dirname(otherBuild))).toBe(false);
  expect(reportFiles(cache)).toEqual([current]);
  expect(readdirSync(path.join(cache, 'reports'))).toHaveLength(1);
  // A temp file a killed run left beside this build's reports is swept when the next run opens the cache, even a run
  // that writes nothing (analyze, from its kept report: no prune follows it).
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has exited
  const leftover = `${current!}.tmp-${gone}-0123abcd`;
  writeFileSync(leftover, Buffer.alloc(100));
  expect((await run(['analyze', '--json'], cache)).code).toBe(0);
  expect(existsSync(leftover)).toBe(false);
}, 120_000);

describe('what is kept (pipeline/report-cache.ts)', () => {
  const resolved = (extra: Partial<ResolvedImage> = {}): ResolvedImage =>
    ({
      indexDigest: null,
      manifestDigest: `sha256:${'1'.repeat(64)}`,
      configDigest: `sha256:${'2'.repeat(64)}`,
      layers: [{ index: 0, digest: `sha256:${'3'.repeat(64)}` }],
      checks: [{ ok: true }],
      ...extra,
    }) as unknown as ResolvedImage;
  const analyzed = (verify: Partial<ImageReport['verify']>, extra: Partial<ImageReport> = {}): AnalyzedImage => ({
    report: { manifestDigest: `sha256:${'1'.repeat(64)}`, configDigest: `sha256:${'2'.repeat(64)}`, layers: [{}], blocked: [], verify: { ok: true, checks: [], skipped: [], ...verify }, ...extra } as unknown as ImageReport,
    union: null,
  });
  function store(): ReportStore & { saved: string[]; loaded: string[] } {
    const kept = new Map<string, unknown>();
    const saved: string[] = [];
    const loaded: string[] = [];
    return {
      saved,
      loaded,
      loadReport: async (key) => {
        loaded.push(key);
        return kept.get(key) ?? null;
      },
      saveReport: async (key, report) => {
        saved.push(key);
        kept.set(key, report);
      },
    };
  }

  test('only a report that verified in full is kept, and a kept one stands in for the next computation', async () => {
    const cases: [AnalyzedImage, boolean][] = [
      [analyzed({}), true],
      [analyzed({ ok: false }), false],
      [analyzed({ skipped: [{ digest: 'x' }] as unknown as ImageReport['verify']['skipped'] }), false],
      [analyzed({}, { blocked: [{ index: 0 }] as unknown as ImageReport['blocked'] }), false],
    ];
    for (const [result, kept] of cases) {
      const reports = store();
      const first = await cachedAnalysis(reports, 'analyze', resolved(), {}, async () => result);
      expect(first).toBe(result);
      expect(reports.saved.length).toBe(kept ? 1 : 0);
      let computed = false;
      const second = await cachedAnalysis(reports, 'analyze', resolved(), {}, async () => {
        computed = true;
        return result;
      });
      expect(computed).toBe(!kept);
      if (kept) expect(second).toEqual({ report: result.report, union: null });
    }
  });

  test('no key where a report must not be reused: verify, inspect, the HTML views, a failed check, a container layer, no manifest', () => {
    expect(reportKey('analyze', resolved(), {})).not.toBeNull();
    expect(reportKey('verify', resolved(), {})).toBeNull();
    expect(reportKey('inspect', resolved(), {})).toBeNull();
    expect(reportKey('analyze', resolved(), { layerViews: true })).toBeNull();
    expect(reportKey('analyze', resolved({ checks: [{ ok: false }] as unknown as ResolvedImage['checks'] }), {})).toBeNull();
    expect(reportKey('analyze', resolved({ layers: [{ index: 0, digest: null, writable: true }] as unknown as ResolvedImage['layers'] }), {})).toBeNull();
    expect(reportKey('analyze', resolved({ manifestDigest: null }), {})).toBeNull();
    // What changes the report changes the key; what does not, does not.
    const keys = new Set([
      reportKey('files', resolved(), { path: '/a' }),
      reportKey('files', resolved(), { path: '/b' }),
      reportKey('files', resolved(), { glob: '*.so' }),
      reportKey('files', resolved(), { layer: 0 }),
      reportKey('files', resolved(), { changed: true }),
      reportKey('analyze', resolved(), {}),
      reportKey('analyze', resolved(), { requireAllBlobs: true }),
      reportKey('analyze', resolved({ indexDigest: `sha256:${'9'.repeat(64)}` }), {}),
      reportKey('layers', resolved(), {}),
    ]);
    expect(keys.size).toBe(9);
    expect(reportKey('analyze', resolved(), { path: '/ignored-by-analyze' })).toBe(reportKey('analyze', resolved(), {}));
  });
});
