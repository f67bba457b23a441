/**
 * Against a real containerd (its own root and socket, see helpers/containerd.ts): images imported with `ctr images
 * import` are read as `containerd:NAME` (through `ctr images export -`, in one pass) in the namespace `--namespace`
 * names, and must read as the same image does from its docker save archive: the same layers (diff_ids, files,
 * sizes, steps), the same files and waste. The realistic image (~400 MB) is read too.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runJson, SAMPLES } from './helpers/cli.js';
import { startContainerd, type ContainerdEngine } from './helpers/containerd.js';
import { realisticImage, REALISTIC_BUILD_TIMEOUT_MS, type RealisticImage } from './helpers/realistic.js';

const SLOW = 600_000;
const SAMPLE_TAR = path.join(SAMPLES, 'busybox-amd64.tar');
const SAMPLE_NAME = 'docker.io/layerlens-sample/busybox:latest';

interface Report {
  source: { kind: string; reference: string | null; engine?: { name: string } | null };
  configDigest: string;
  layers: { diffId: string; files: number; uncompressedSize: number; contentSize: number; createdBy: string | null }[];
  totals: { uncompressedSize: number; files: number };
  files?: unknown[];
  waste?: unknown;
  verify: { ok: boolean };
}

let engine: ContainerdEngine;
let realistic: RealisticImage;
let work: string;
let tmp: string;

const env = () => ({ CONTAINERD_ADDRESS: engine.address, LAYERLENS_TMPDIR: tmp, DOCKER_HOST: `unix://${path.join(work, 'none.sock')}`, CONTAINER_HOST: `unix://${path.join(work, 'none.sock')}` });

/** What two reads of the same image must share whatever their container format (docker save has no manifest). */
function facts(report: Report) {
  return {
    configDigest: report.configDigest,
    layers: report.layers.map(({ diffId, files, uncompressedSize, contentSize, createdBy }) => ({ diffId, files, uncompressedSize, contentSize, createdBy })),
    totals: report.totals,
    files: report.files,
    waste: report.waste,
    ok: report.verify.ok,
  };
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-containerd-test-'));
  tmp = path.join(work, 'tmp');
  mkdirSync(tmp);
  [engine, realistic] = await Promise.all([startContainerd(), realisticImage()]);
  await engine.ctr(['-n', 'default', 'images', 'import', '--no-unpack', SAMPLE_TAR]);
  await engine.ctr(['-n', 'builds', 'images', 'import', '--no-unpack', realistic.dockerArchive], { timeout: SLOW });
}, REALISTIC_BUILD_TIMEOUT_MS);

afterAll(async () => {
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, SLOW);

afterEach(() => {
  expect(readdirSync(tmp)).toEqual([]);
});

test('containerd:NAME reads the imported sample as its docker save archive does, with the manifest containerd holds', async () => {
  const fromContainerd = await runJson<Report>(['analyze', '--json', `containerd:${SAMPLE_NAME}`], { env: env() });
  expect(fromContainerd.stderr).toBe('');
  expect(fromContainerd.code).toBe(0);
  expect(fromContainerd.json.source).toMatchObject({ kind: 'containerd', reference: SAMPLE_NAME, engine: { name: 'containerd' } });
  const fromFile = await runJson<Report>(['analyze', '--json', SAMPLE_TAR], { env: env() });
  expect(facts(fromContainerd.json)).toEqual(facts(fromFile.json));
});

test('--namespace picks the namespace: the realistic image (~400 MB) in "builds" reads as its docker archive does', async () => {
  const fromContainerd = await runJson<Report>(['analyze', '--json', '--namespace', 'builds', 'containerd:docker.io/bench/realistic:1'], { env: env() });
  expect(fromContainerd.stderr).toBe('');
  expect(fromContainerd.code).toBe(0);
  expect(fromContainerd.json.totals.uncompressedSize).toBe(realistic.info.uncompressedSize);
  expect(fromContainerd.json.totals.uncompressedSize).toBeGreaterThan(300e6);
  const fromFile = await runJson<Report>(['analyze', '--json', realistic.dockerArchive], { env: env() });
  expect(facts(fromContainerd.json)).toEqual(facts(fromFile.json));
}, SLOW);

test('an image of another namespace, or a short name, is not found: exit 3, one line saying what to do', async () => {
  const other = await runCli(['layers', 'containerd:docker.io/bench/realistic:1'], { env: env() });
  expect({ code: other.code, stdout: other.stdout }).toEqual({ code: 3, stdout: '' });
  expect(other.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: containerd at .* \(namespace default\) could not export docker\.io\/bench\/realistic:1: .*not found.*; containerd names images in full/)]);
  const short = await runCli(['layers', 'containerd:busybox'], { env: env() });
  expect(short.code).toBe(3);
  expect(short.stderr.trim().split('\n')).toHaveLength(1);
});
