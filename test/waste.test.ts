/**
 * Waste: dive's numbers to the digit on dive's own test image (the values dive's tests assert), the reclaimable
 * figure by its definition, and the hidden-bytes accounting checked against an independent identity.
 */
import { fixture, runJson, SAMPLES } from './helpers/cli.js';
import path from 'node:path';
import { diveEfficiency } from '../src/analyze/dive-efficiency.js';
import type { EntryType, LayerEntry } from '../src/model/layer.js';
import { diveEfficiency as referenceEfficiency } from './helpers/dive-reference.js';
import { mulberry32 as prng } from './helpers/tar-fuzz.js';

interface WasteJson {
  efficiency: number;
  wastedBytes: number;
  userWastedPercent: number | null;
  sizeBytes: number;
  userSizeBytes: number;
  reclaimableBytes: number;
  hiddenBytes: number;
  hidden: { path: string; how: string; bytes: number; writtenBy: { layer: number }[]; removedBy: { layer: number; createdBy: string } }[];
  entries: { path: string; count: number; cumulativeSize: number; reclaimableBytes: number; layers: number[]; explanation: { writtenBy: { layer: number; createdBy: string | null }[]; removedBy: { layer: number } | null; hint: string } }[];
  duplicates: { hash: string; size: number; paths: string[]; reclaimableBytes: number }[];
}
interface Report {
  totals: { contentSize: number };
  layers: { contentSize: number }[];
  files: { path: string; type: string; size: number }[];
  waste: WasteJson;
}

const DIVE = fixture('dive', '.data', 'test-docker-image.tar');

describe("dive's numbers", () => {
  test("equal dive's to the last digit on dive's test image", async () => {
    const { code, json } = await runJson<Report>(['analyze', DIVE]);
    expect(code).toBe(0);
    expect(json.waste.efficiency).toBe(0.9844212134184309);
    expect(json.waste.wastedBytes).toBe(32025);
    expect(json.waste.userWastedPercent).toBe(0.4834911001404049);
    expect(json.waste.sizeBytes).toBe(1220598);
    expect(json.waste.userSizeBytes).toBe(66237);
    expect(json.totals.contentSize).toBe(1220598);
  });

  test('waste entries list each path seen in two or more layers, with who wrote and who removed it', async () => {
    const { json } = await runJson<Report>(['waste', DIVE]);
    const byPath = new Map(json.waste.entries.map((entry) => [entry.path, entry]));
    expect([...byPath.keys()].sort()).toEqual(['/root/example/somefile1.txt', '/root/example/somefile3.txt', '/root/saved.txt']);
    expect(json.waste.entries.reduce((sum, entry) => sum + entry.cumulativeSize, 0)).toBe(32025);
    const moved = byPath.get('/root/example/somefile3.txt')!;
    expect(moved.layers).toEqual([6, 7]);
    expect(moved.explanation.writtenBy.map((ref) => ref.layer)).toEqual([6]);
    expect(moved.explanation.removedBy?.layer).toBe(7);
    expect(moved.explanation.hint).toMatch(/one RUN|multi-stage/);
    const chmodded = byPath.get('/root/example/somefile1.txt')!;
    expect(chmodded.explanation.writtenBy.map((ref) => ref.createdBy)).toEqual([
      expect.stringContaining('RUN cp /somefile.txt /root/example/somefile1.txt'),
      expect.stringContaining('RUN chmod 444 /root/example/somefile1.txt'),
    ]);
    expect(chmodded.explanation.hint).toMatch(/chmod/);
  });

  test('reclaimable bytes are every copy but the smallest, summed over those paths', async () => {
    const { json } = await runJson<Report>(['waste', DIVE]);
    for (const entry of json.waste.entries) expect(entry.reclaimableBytes).toBeLessThanOrEqual(entry.cumulativeSize);
    expect(json.waste.reclaimableBytes).toBe(json.waste.entries.reduce((sum, entry) => sum + entry.reclaimableBytes, 0));
    // somefile1 written twice (6405 B each), saved.txt twice, somefile3 once plus its whiteout (0 B)
    expect(json.waste.reclaimableBytes).toBe(3 * 6405);
  });
});

describe('hidden bytes (what squashing saves)', () => {
  const images = [
    DIVE,
    path.join(SAMPLES, 'busybox-amd64.tar'),
    fixture('go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata', 'whiteout_dir.tar'),
    fixture('go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata', 'overwritten_file.tar'),
    fixture('snyk-docker-plugin', 'test', 'fixtures', 'docker-archives', 'skopeo-copy', 'node-removed.tar'),
  ];
  test.each(images)('equal the bytes all layers ship minus the bytes the final filesystem shows: %s', async (image) => {
    const { json } = await runJson<Report>(['analyze', image]);
    const shipped = json.layers.reduce((sum, layer) => sum + layer.contentSize, 0);
    const visible = json.files.filter((file) => file.type === 'file').reduce((sum, file) => sum + file.size, 0);
    expect(json.waste.hiddenBytes).toBe(shipped - visible);
    expect(json.waste.hiddenBytes).toBe(json.waste.hidden.reduce((sum, entry) => sum + entry.bytes, 0));
  });

  test('see a directory deleted by a later RUN, which dive does not count', async () => {
    const { json } = await runJson<Report>(['waste', path.join(SAMPLES, 'busybox-amd64.tar')]);
    const cache = json.waste.hidden.find((entry) => entry.path === '/var/cache/sample');
    expect(cache).toMatchObject({ how: 'deleted', bytes: 204800, removedBy: { layer: 2 } });
    expect(cache!.writtenBy.map((ref) => ref.layer)).toEqual([1]);
    expect(json.waste.entries.map((entry) => entry.path)).not.toContain('/var/cache/sample');
  });
});

describe('same-content duplicates', () => {
  test('group identical files of the final filesystem and count the copies beyond the first', async () => {
    const { json } = await runJson<Report>(['waste', DIVE]);
    const group = json.waste.duplicates.find((candidate) => candidate.paths.includes('/root/saved.txt'))!;
    expect(group.paths.sort()).toEqual(['/root/.data/saved.again2.txt', '/root/.saved.txt', '/root/saved.txt', '/somefile.txt', '/tmp/saved.again1.txt']);
    expect(group.size).toBe(6405);
    expect(group.reclaimableBytes).toBe(4 * 6405);
    expect(group.hash).toMatch(/^xxh64:[0-9a-f]{16}$/);
  });

  test('hardlinks to one file are not duplicates (busybox applets)', async () => {
    const { json } = await runJson<Report>(['waste', DIVE]);
    for (const group of json.waste.duplicates) expect(group.paths).not.toContain('/bin/ls');
  });
});

describe("dive's efficiency, computed fast", () => {
  // Names that sort before and after the whiteout prefix, whiteouts of them, dive's opaque markers, `.wh.` alone.
  const NAMES = ['a', 'b', '-x', 'z'];
  const SPECIAL = ['.wh.a', '.wh.b', '.wh.-x', '.wh.z', '.wh.', '.wh..wh..opq', '.wh..wh..plnk', '.wh.missing'];
  const TYPES: EntryType[] = ['file', 'dir', 'dir', 'symlink', 'hardlink'];

  function randomLayers(rand: () => number): LayerEntry[][] {
    const pick = <T>(items: T[]) => items[Math.floor(rand() * items.length)]!;
    return Array.from({ length: 1 + Math.floor(rand() * 5) }, () =>
      Array.from({ length: Math.floor(rand() * 14) }, () => {
        const depth = 1 + Math.floor(rand() * 3);
        const path = Array.from({ length: depth }, () => (rand() < 0.12 ? pick(SPECIAL) : pick(NAMES))).join('/');
        const type = pick(TYPES);
        return { path, type, size: type === 'file' ? Math.floor(rand() * 1000) : type === 'dir' && rand() < 0.1 ? 7 : 0, mode: 0o644, uid: 0, gid: 0, linkTarget: null, contentHash: null };
      }),
    );
  }

  test("gives the straightforward port's numbers, paths and occurrences on 20,000 generated images", () => {
    const rand = prng(2026);
    for (let i = 0; i < 20_000; i++) {
      const layers = randomLayers(rand);
      const fast = diveEfficiency(layers);
      const reference = referenceEfficiency(layers);
      if (JSON.stringify(fast) !== JSON.stringify(reference)) {
        // Name the case: the layers, as a test of their own would write them.
        expect({ layers: layers.map((entries) => entries.map((entry) => `${entry.type} ${entry.path} ${entry.size}`)), fast }).toEqual({ layers: expect.anything(), fast: reference });
      }
    }
    // The generator reaches the cases that matter: truncated walks, whiteouts of directories, repeated paths.
    const seen = { truncated: 0, wasted: 0 };
    const again = prng(2026);
    for (let i = 0; i < 2000; i++) {
      const result = diveEfficiency(randomLayers(again));
      if (result.truncatedLayers.length > 0) seen.truncated++;
      if (result.wastedBytes > 0) seen.wasted++;
    }
    expect(seen.truncated).toBeGreaterThan(100);
    expect(seen.wasted).toBeGreaterThan(100);
  });
});
