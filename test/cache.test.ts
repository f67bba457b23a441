/**
 * The blob and scan cache stays bounded (LAYERLENS_CACHE_MAX, least recently used first) and `layerlens cache
 * info|prune` say what it holds and free it. Against a real registry (Debian's docker-registry) with images pushed
 * by skopeo; every figure is checked against the files on disk (find, sha256sum), not against our own listing.
 */
import Ajv2020 from 'ajv/dist/2020.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli, runJson, SAMPLES } from './helpers/cli.js';
import { layerTar, writeImage } from './helpers/layout.js';
import { pushImage, startRegistry, type RunningRegistry } from './helpers/registry.js';

interface Tally {
  files: number;
  bytes: number;
}
interface Info {
  dir: string;
  exists: boolean;
  limit: number | null;
  total: Tally;
  blobs: Tally;
  scans: Tally;
  outdatedScans: Tally;
  leftovers: Tally;
  inProgress: Tally;
  prunable: Tally;
}
interface LayersJson {
  layers: { digest: string; compressedSize: number }[];
}

/** Incompressible, so each layer blob is ~LAYER_BYTES and dominates its image's share of the cache. */
const LAYER_BYTES = 300_000;

let work: string;
let registry: RunningRegistry;
const ajv = new Ajv2020.default({ allErrors: true, strict: true, allowUnionTypes: true });
const validateCache = ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'docs', 'cache.schema.json'), 'utf8')));

function schemaErrors(json: unknown): string | null {
  return validateCache(json) ? null : ajv.errorsText(validateCache.errors, { separator: '\n' });
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { DOCKER_CONFIG: path.join(work, 'docker-empty'), XDG_CACHE_HOME: path.join(work, 'xdg-cache'), DOCKER_HOST: 'unix:///nonexistent.sock', ...extra };
}

/** Every regular file under dir with its size, by `find` (the oracle for what the cache holds). */
function filesOnDisk(dir: string): Map<string, number> {
  const out = execFileSync('find', [dir, '-type', 'f', '-printf', '%s %P\\n'], { encoding: 'utf8' });
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const space = line.indexOf(' ');
        return [line.slice(space + 1), Number(line.slice(0, space))] as [string, number];
      }),
  );
}

function blobFile(cache: string, digest: string): string {
  return path.join(cache, 'blobs', 'sha256', digest.slice(7));
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-cache-test-'));
  mkdirSync(path.join(work, 'docker-empty'));
  const layout = path.join(work, 'layout');
  for (const name of ['a', 'b', 'c']) {
    writeImage(layout, name, [await layerTar([{ name: `${name}.bin`, content: randomBytes(LAYER_BYTES) }])], [`COPY ${name}.bin /`]);
  }
  registry = await startRegistry('plain');
  for (const name of ['a', 'b', 'c']) await pushImage(registry, `oci:${layout}:${name}`, `cache/${name}:1`);
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function layers(cache: string, name: string, extra: NodeJS.ProcessEnv = {}): Promise<LayersJson> {
  const result = await runJson<LayersJson>(['layers', `${registry.host}/cache/${name}:1`, '--cache-dir', cache, '--json'], { env: env(extra) });
  expect([name, result.code, result.stderr]).toEqual([name, 0, '']);
  return result.json;
}

async function info(cache: string, extra: NodeJS.ProcessEnv = {}): Promise<Info> {
  const result = await runJson<Info>(['cache', 'info', '--cache-dir', cache, '--json'], { env: env(extra) });
  expect([result.code, result.stderr]).toEqual([0, '']);
  expect(schemaErrors(result.json)).toBeNull();
  return result.json;
}

test('over LAYERLENS_CACHE_MAX, a run evicts the least recently used image (a warm read counts as a use), and the cache fits the cap', async () => {
  const cache = path.join(work, 'lru');
  const a = await layers(cache, 'a');
  const b = await layers(cache, 'b');
  await layers(cache, 'a'); // warm: reads only a's scan, which must keep a's blob young too
  const before = await info(cache);
  expect(before.limit).toBe(4 * 2 ** 30); // the default
  const cap = Math.round(2.5 * LAYER_BYTES);
  const c = await layers(cache, 'c', { LAYERLENS_CACHE_MAX: String(cap) });
  const [layerA, layerB, layerC] = [a, b, c].map((image) => image.layers[0]!.digest);
  expect(existsSync(blobFile(cache, layerB!))).toBe(false);
  expect(existsSync(blobFile(cache, layerA!))).toBe(true);
  expect(existsSync(blobFile(cache, layerC!))).toBe(true);
  const onDisk = [...filesOnDisk(cache).values()].reduce((sum, size) => sum + size, 0);
  expect(onDisk).toBeLessThanOrEqual(cap);
  // What was kept still serves: a is read again without a download, and gives the same answer.
  expect(await layers(cache, 'a')).toEqual(a);
  // Every kept blob is what its name says (sha256sum), so eviction never left a torn file.
  for (const [file] of filesOnDisk(cache)) {
    if (!file.startsWith('blobs/sha256/')) continue;
    const sum = execFileSync('sha256sum', [path.join(cache, file)], { encoding: 'utf8' }).split(' ')[0];
    expect(sum).toBe(path.basename(file));
  }
});

test('cache info counts every kind as find does; prune --dry-run removes nothing; prune --max and --all keep foreign files and live temp files', async () => {
  const cache = path.join(work, 'prune');
  await layers(cache, 'a');
  await layers(cache, 'b');
  // What an older layerlens and killed runs leave, a live run's temp file, and a file that is not the cache's.
  const hex = 'e'.repeat(64);
  const outdated = path.join(cache, 'scans', 'v1', 'sha256', `${hex}.json.gz`);
  mkdirSync(path.dirname(outdated), { recursive: true });
  writeFileSync(outdated, randomBytes(1234));
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has exited
  const leftover = path.join(cache, 'blobs', 'sha256', `${hex}.tmp-${gone}-0123abcd`);
  writeFileSync(leftover, randomBytes(2000));
  const stale = path.join(cache, 'blobs', 'sha256', `${'f'.repeat(64)}.tmp-00000000-1-89abcdef`); // another host's, two days old
  writeFileSync(stale, randomBytes(700));
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
  utimesSync(stale, twoDaysAgo, twoDaysAgo);
  const live = path.join(cache, 'blobs', 'sha256', `${'d'.repeat(64)}.tmp-${process.pid}-4567cdef`);
  writeFileSync(live, randomBytes(900));
  const foreign = path.join(cache, 'blobs', 'sha256', 'NOTES.txt');
  writeFileSync(foreign, 'mine');

  const disk = filesOnDisk(cache);
  const sum = (filter: (file: string) => boolean) => {
    const files = [...disk].filter(([file]) => filter(file));
    return { files: files.length, bytes: files.reduce((total, [, size]) => total + size, 0) };
  };
  const isBlob = (file: string) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(file);
  const isScan = (file: string) => /^scans\/v\d+\/sha256\/[0-9a-f]{64}\.json\.gz$/.test(file) && !file.startsWith('scans/v1/');
  const found = await info(cache);
  expect(found.blobs).toEqual(sum(isBlob));
  expect(found.blobs.files).toBe(2 * 3); // per image: manifest, config, one layer
  expect(found.scans).toEqual(sum(isScan));
  expect(found.scans.files).toBe(2);
  expect(found.outdatedScans).toEqual({ files: 1, bytes: 1234 });
  expect(found.leftovers).toEqual({ files: 2, bytes: 2700 });
  expect(found.inProgress).toEqual({ files: 1, bytes: 900 });
  expect(found.total).toEqual(sum((file) => file !== 'blobs/sha256/NOTES.txt'));
  expect(found.prunable).toEqual({ files: 3, bytes: 1234 + 2700 });
  const table = await runCli(['cache', 'info', '--cache-dir', cache], { env: env() });
  expect(table.code).toBe(0);
  expect(table.stdout).toContain(`Cache ${cache} (limit 4.29 GB, LAYERLENS_CACHE_MAX)`);
  expect(table.stdout).toMatch(/outdated scans\s+1\s+1\.23 kB/);
  expect(table.stdout).toContain('layerlens cache prune would free 3.93 kB (3 file(s)');

  const dry = await runJson<{ removed: Tally; dryRun: boolean }>(['cache', 'prune', '--cache-dir', cache, '--max', '1', '--dry-run', '--json'], { env: env() });
  expect(dry.code).toBe(0);
  expect(schemaErrors(dry.json)).toBeNull();
  expect(dry.json.dryRun).toBe(true);
  expect(dry.json.removed).toMatchObject({ files: found.total.files - 1 });
  expect(filesOnDisk(cache)).toEqual(disk);

  // To the default limit: only what nothing reads goes.
  const tidy = await runCli(['cache', 'prune', '--cache-dir', cache], { env: env() });
  expect(tidy.code).toBe(0);
  expect(tidy.stdout).toContain('removed 1 outdated scan(s), 2 leftover(s): 3.93 kB');
  expect([existsSync(outdated), existsSync(leftover), existsSync(stale), existsSync(live), existsSync(foreign)]).toEqual([false, false, false, true, true]);
  expect(existsSync(path.join(cache, 'scans', 'v1'))).toBe(false);

  const halved = await runJson<{ remaining: Tally; removed: Tally }>(['cache', 'prune', '--cache-dir', cache, '--max', String(LAYER_BYTES * 1.5), '--json'], { env: env() });
  expect(halved.code).toBe(0);
  const left = [...filesOnDisk(cache)].filter(([file]) => file !== 'blobs/sha256/NOTES.txt');
  expect(halved.json.remaining).toEqual({ files: left.length, bytes: left.reduce((total, [, size]) => total + size, 0) });
  expect(halved.json.remaining.bytes).toBeLessThanOrEqual(LAYER_BYTES * 1.5);
  expect(halved.json.remaining.bytes).toBeGreaterThan(LAYER_BYTES); // one image's layer stays: it fits

  const all = await runCli(['cache', 'prune', '--cache-dir', cache, '--all'], { env: env() });
  expect(all.code).toBe(0);
  expect([...filesOnDisk(cache).keys()].sort()).toEqual([`blobs/sha256/${path.basename(live)}`, 'blobs/sha256/NOTES.txt'].sort());
});

test('bad input: a cap that is not a size, a cache directory that is a file, --all with --max: exit 2, one line; no cache yet: exit 0', async () => {
  const badCap = await runCli(['layers', path.join(SAMPLES, 'busybox-amd64.tar')], { env: env({ LAYERLENS_CACHE_MAX: 'lots' }) });
  expect(badCap.code).toBe(2);
  expect(badCap.stderr.split('\n')[0]).toBe('layerlens: LAYERLENS_CACHE_MAX: "lots" is not a size (e.g. 150MB, 1.5GiB, 20000000)');
  const file = path.join(work, 'a-file');
  writeFileSync(file, 'x');
  for (const args of [['cache', 'info', '--cache-dir', file], ['cache', 'prune', '--cache-dir', file]]) {
    const result = await runCli(args, { env: env() });
    expect([result.code, result.stdout, result.stderr.split('\n')[0]]).toEqual([2, '', `layerlens: the cache directory ${file} is not a directory; name another with --cache-dir`]);
  }
  const both = await runCli(['cache', 'prune', '--all', '--max', '1GB'], { env: env() });
  expect([both.code, both.stderr.split('\n')[0]]).toEqual([2, 'layerlens: --all empties the cache; give it or --max, not both']);
  const noAction = await runCli(['cache'], { env: env() });
  expect(noAction.code).toBe(2);
  const fresh = await runCli(['cache', 'info'], { env: env({ XDG_CACHE_HOME: path.join(work, 'never-used') }) });
  expect([fresh.code, fresh.stderr]).toEqual([0, '']);
  expect(fresh.stdout).toBe(`Cache ${path.join(work, 'never-used', 'layerlens')} (limit 4.29 GB): empty, the directory does not exist yet\n`);
  const unlimited = await runJson<Info>(['cache', 'info', '--json'], { env: env({ XDG_CACHE_HOME: path.join(work, 'never-used'), LAYERLENS_CACHE_MAX: 'unlimited' }) });
  expect(schemaErrors(unlimited.json)).toBeNull();
  expect(unlimited.json).toMatchObject({ exists: false, limit: null, total: { files: 0, bytes: 0 } });
});
