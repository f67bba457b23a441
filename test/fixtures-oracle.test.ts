/**
 * Every real fixture image against independent oracles: what layerlens reports for digests, sizes, diff_ids and file
 * counts must equal what sha256sum, gzip/zstd/xz, GNU tar and skopeo compute from the same bytes
 * (test/helpers/oracle.ts imports nothing from src/). Non-images must be refused with one clean line and exit 3;
 * deliberately corrupted images must exit 1 naming each real mismatch; `inspect` must not need layer blobs; and
 * reading from stdin must give the same report as reading the file.
 */
import { cpSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fixture, runCli, type CliResult } from './helpers/cli.js';
import {
  blobPath,
  dockerArchiveOracle,
  extractArchive,
  layerOracle,
  makeTempDir,
  ociOracle,
  readJson,
  removeDir,
  requireTools,
  run,
  sha256sum,
  sha256sumFile,
  skopeo,
  type Compression,
  type DockerManifestEntry,
  type ImageOracle,
  type LayerOracle,
} from './helpers/oracle.js';

// ---------------------------------------------------------------------------------------------------------------
// Report shapes (the keys of ../shared/CONTRACT.md this file reads)

interface Check {
  kind: string;
  subject: string | null;
  manifest: string | null;
  ok: boolean;
  expected: unknown;
  actual: unknown;
  what: string;
}
interface LayerJson {
  index: number;
  digest: string | null;
  diffId: string | null;
  mediaType: string;
  compressedSize: number | null;
  uncompressedSize: number | null;
  contentSize: number | null;
  entries: number | null;
  files: number | null;
}
interface ImageJson {
  indexDigest: string | null;
  manifestDigest: string | null;
  configDigest: string;
  platform: { os: string; architecture: string; variant: string | null };
  layers: LayerJson[];
  totals: { layers: number; compressedSize: number | null; uncompressedSize: number | null; contentSize: number | null; files: number | null };
  verify: { ok: boolean; checks: Check[]; skipped: unknown[] };
}
interface Report extends ImageJson {
  schemaVersion: number;
  command: string;
  source: { input: string; kind: string; reference: string | null };
}

const TARBALL = (name: string): string => fixture('go-containerregistry', 'pkg', 'v1', 'tarball', 'testdata', name);
const MUTATE = (name: string): string => fixture('go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata', name);
const DIVE = (name: string): string => fixture('dive', '.data', name);
const SNYK = (...parts: string[]): string => fixture('snyk-docker-plugin', 'test', 'fixtures', ...parts);
const TRIVY = (name: string): string => fixture('trivy', 'pkg', 'fanal', 'test', 'testdata', name);
const STEREOSCOPE = (name: string): string => fixture('stereoscope', 'pkg', 'image', 'oci', 'testdata', name);
const ORAS = (name: string): string => fixture('oras-go', 'content', 'oci', 'testdata', name);
const TWO_IMAGES = fixture('skopeo', 'systemtest', 'testdata', 'docker-two-images.tar.xz');

function parseReport(result: CliResult, what: string): Report {
  try {
    return JSON.parse(result.stdout) as Report;
  } catch {
    throw new Error(`${what}: stdout is not JSON (exit ${result.code}); stderr: ${result.stderr.slice(0, 500)}`);
  }
}

/**
 * Each CLI run is a node process (~0.5 s of startup): runs are memoized by their arguments (and stdin file), so the
 * sections share them, and each describe block starts its runs together in beforeAll.
 */
const cliRuns = new Map<string, Promise<CliResult>>();
function cli(args: string[], stdinFile?: string): Promise<CliResult> {
  const key = JSON.stringify([args, stdinFile ?? null]);
  let run = cliRuns.get(key);
  if (!run) {
    run = runCli(args, stdinFile === undefined ? {} : { input: readFileSync(stdinFile) });
    cliRuns.set(key, run);
  }
  return run;
}

/** Runs jobs with a bounded number of CLI processes at once. */
async function inParallel<T>(items: T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await job(item);
    }),
  );
}

/** The compression a layer media type promises (docker's `…tar` is uncompressed, `…tar.gzip` gzip, OCI `+gzip`/`+zstd`). */
function mediaTypeCompression(mediaType: string): Compression {
  if (/gzip$/.test(mediaType)) return 'gzip';
  if (/zstd$/.test(mediaType)) return 'zstd';
  return 'none';
}

beforeAll(() => {
  // No silent skips: without these tools the oracles cannot run, and the CI installs them.
  requireTools('skopeo', 'tar', 'sha256sum', 'gzip', 'zstd', 'xz');
});

// ---------------------------------------------------------------------------------------------------------------
// 1. Readable images: layers --json against sha256sum / gzip -dc / zstd -dc / tar -tf / skopeo

interface ImageCase {
  name: string;
  /** The fixture file or directory. */
  file: string;
  /** The CLI image argument (default: the bare path). */
  arg?: string;
  /** REF inside a multi-image archive (docker-archive `@N` or RepoTag). */
  ref?: string;
  platform?: string;
  kind: 'docker-archive' | 'oci-archive' | 'oci-layout';
}

const IMAGES: ImageCase[] = [
  { name: 'dive test-docker-image.tar (legacy docker save, 14 layers, hardlinks, whiteouts)', file: DIVE('test-docker-image.tar'), kind: 'docker-archive' },
  { name: 'dive test-kaniko-image.tar (kaniko, .tar.gz layers)', file: DIVE('test-kaniko-image.tar'), kind: 'docker-archive' },
  { name: 'dive test-oci-uncompressed-image.tar', file: DIVE('test-oci-uncompressed-image.tar'), kind: 'oci-archive' },
  { name: 'dive test-oci-gzip-image.tar', file: DIVE('test-oci-gzip-image.tar'), kind: 'oci-archive' },
  { name: 'dive test-oci-zstd-image.tar', file: DIVE('test-oci-zstd-image.tar'), kind: 'oci-archive' },
  { name: 'dive test-oci-estargz-image.tar', file: DIVE('test-oci-estargz-image.tar'), kind: 'oci-archive' },
  { name: 'ggcr hello-world-v25.tar (Docker 25 save, "manifests": null)', file: TARBALL('hello-world-v25.tar'), kind: 'docker-archive' },
  { name: 'ggcr test_image_1.tar', file: TARBALL('test_image_1.tar'), kind: 'docker-archive' },
  { name: 'ggcr test_link.tar:@1 (layer.tar symlinked inside the archive)', file: TARBALL('test_link.tar'), arg: `docker-archive:${TARBALL('test_link.tar')}:@1`, ref: '@1', kind: 'docker-archive' },
  { name: 'ggcr test_bundle.tar:@0 (LayerSources entry)', file: TARBALL('test_bundle.tar'), arg: `docker-archive:${TARBALL('test_bundle.tar')}:@0`, ref: '@0', kind: 'docker-archive' },
  { name: 'ggcr test_bundle.tar:test_image_1', file: TARBALL('test_bundle.tar'), arg: `docker-archive:${TARBALL('test_bundle.tar')}:test_image_1`, ref: 'test_image_1', kind: 'docker-archive' },
  { name: 'ggcr mutate whiteout_image.tar', file: MUTATE('whiteout_image.tar'), kind: 'docker-archive' },
  { name: 'ggcr mutate whiteout_dir.tar', file: MUTATE('whiteout_dir.tar'), kind: 'docker-archive' },
  { name: 'ggcr mutate overwritten_file.tar', file: MUTATE('overwritten_file.tar'), kind: 'docker-archive' },
  { name: 'oras hello-world.tar (manifest list, amd64 blobs only)', file: ORAS('hello-world.tar'), kind: 'docker-archive' },
  { name: 'oras hello-world-prefixed-path.tar (./ paths)', file: ORAS('hello-world-prefixed-path.tar'), kind: 'docker-archive' },
  { name: 'snyk containerd-archives/alpine.tar', file: SNYK('containerd-archives', 'alpine.tar'), kind: 'docker-archive' },
  { name: 'snyk containerd-archives/busybox-single-arch-with-attestation-manifest.tar', file: SNYK('containerd-archives', 'busybox-single-arch-with-attestation-manifest.tar'), kind: 'docker-archive' },
  { name: 'snyk containerd-archives/busybox.amd64.tar', file: SNYK('containerd-archives', 'busybox.amd64.tar'), kind: 'docker-archive' },
  { name: 'snyk containerd-archives/busybox.arm64.tar', file: SNYK('containerd-archives', 'busybox.arm64.tar'), kind: 'docker-archive' },
  { name: 'snyk containerd-archives/busybox.armv7.tar', file: SNYK('containerd-archives', 'busybox.armv7.tar'), kind: 'docker-archive' },
  { name: 'snyk docker-archives skopeo-copy/busybox.tar', file: SNYK('docker-archives', 'skopeo-copy', 'busybox.tar'), kind: 'docker-archive' },
  { name: 'snyk docker-archives skopeo-copy/nodes-fake-multi.tar', file: SNYK('docker-archives', 'skopeo-copy', 'nodes-fake-multi.tar'), kind: 'docker-archive' },
  { name: 'snyk docker-archives docker-save/hello-world.tar', file: SNYK('docker-archives', 'docker-save', 'hello-world.tar'), kind: 'docker-archive' },
  { name: 'snyk kaniko-archives/kaniko-busybox.tar', file: SNYK('kaniko-archives', 'kaniko-busybox.tar'), kind: 'docker-archive' },
  { name: 'snyk oci-archives/busybox-1.31.1.tar', file: SNYK('oci-archives', 'busybox-1.31.1.tar'), kind: 'oci-archive' },
  { name: 'snyk docker-oci-archives/busybox.armv7.tar (Docker 25 save)', file: SNYK('docker-oci-archives', 'busybox.armv7.tar'), kind: 'docker-archive' },
  { name: 'trivy alpine-310.tar.gz (gzip-wrapped docker save)', file: TRIVY('alpine-310.tar.gz'), kind: 'docker-archive' },
  { name: 'trivy alpine-311.tar.gz (gzip-wrapped docker save)', file: TRIVY('alpine-311.tar.gz'), kind: 'docker-archive' },
  { name: 'skopeo docker-two-images.tar.xz:@0 (xz-wrapped)', file: TWO_IMAGES, arg: `docker-archive:${TWO_IMAGES}:@0`, ref: '@0', kind: 'docker-archive' },
  { name: 'skopeo docker-two-images.tar.xz:@1 (xz-wrapped, symlinked shared layer)', file: TWO_IMAGES, arg: `docker-archive:${TWO_IMAGES}:@1`, ref: '@1', kind: 'docker-archive' },
  { name: 'stereoscope valid-oci.tar', file: STEREOSCOPE('valid-oci.tar'), kind: 'oci-archive' },
  { name: 'stereoscope multiplatform_oci_dir --platform linux/amd64', file: STEREOSCOPE('multiplatform_oci_dir'), platform: 'linux/amd64', kind: 'oci-layout' },
  { name: 'stereoscope multiplatform_oci_dir --platform linux/arm64', file: STEREOSCOPE('multiplatform_oci_dir'), platform: 'linux/arm64', kind: 'oci-layout' },
  { name: 'stereoscope valid_oci_dir:latest', file: STEREOSCOPE('valid_oci_dir'), arg: `oci:${STEREOSCOPE('valid_oci_dir')}:latest`, ref: 'latest', kind: 'oci-layout' },
  { name: 'trivy test.oci', file: TRIVY('test.oci'), kind: 'oci-layout' },
  { name: 'trivy test_image_tag.oci', file: TRIVY('test_image_tag.oci'), kind: 'oci-layout' },
  { name: 'containers-image almostempty.tar', file: fixture('containers-image', 'docker', 'archive', 'fixtures', 'almostempty.tar'), kind: 'docker-archive' },
];

function cliArgs(c: ImageCase): string[] {
  return [c.arg ?? c.file, ...(c.platform ? ['--platform', c.platform] : []), '--json'];
}

/** The oracle for one case; temp dirs are registered for cleanup. */
function buildOracle(c: ImageCase, temps: string[]): ImageOracle {
  const scratch = makeTempDir('oracle');
  temps.push(scratch);
  if (c.kind === 'oci-layout') {
    const target = `oci:${c.file}${c.ref ? `:${c.ref}` : ''}`;
    return ociOracle(target, c.file, c.platform);
  }
  const extracted = extractArchive(c.file);
  temps.push(extracted);
  if (c.kind === 'oci-archive') return ociOracle(`oci-archive:${c.file}${c.ref ? `:${c.ref}` : ''}`, extracted, c.platform);
  return dockerArchiveOracle(c.file, extracted, scratch, c.ref);
}

const layersRuns = new Map<ImageCase, CliResult>();
const inspectRuns = new Map<ImageCase, CliResult>();


const entryPath = (name: string) => {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
};
const isWhiteoutName = (name: string) => (entryPath(name).split('/').pop() ?? '').startsWith('.wh.');

/**
 * Paths of the final filesystem from each layer's entry names (GNU tar's listing), with the OCI rules as
 * bench/lib/describe.mjs applies them: a whiteout removes a lower path and what is below it, an opaque marker
 * what its directory held below, and extractors create the missing parents of an entry.
 */
function rootfsPaths(layers: string[][]): number {
  const paths = new Set<string>();
  const removeBelow = (dir: string, self: boolean) => {
    for (const candidate of [...paths]) if ((self && candidate === dir) || candidate.startsWith(dir === '' ? '' : `${dir}/`)) paths.delete(candidate);
  };
  for (const names of layers) {
    const adds: string[] = [];
    for (const name of names) {
      const entry = entryPath(name);
      if (entry === '') continue;
      const slash = entry.lastIndexOf('/');
      const dir = slash === -1 ? '' : entry.slice(0, slash);
      const base = entry.slice(slash + 1);
      if (base === '.wh..wh..opq') removeBelow(dir, false);
      else if (base.startsWith('.wh.')) removeBelow(dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`, true);
      else adds.push(entry);
    }
    for (const entry of adds) {
      const parts = entry.split('/');
      for (let i = 1; i <= parts.length; i++) paths.add(parts.slice(0, i).join('/'));
    }
  }
  return paths.size;
}

describe('readable fixture images', () => {
  beforeAll(async () => {
    await inParallel(IMAGES, 4, async (c) => {
      layersRuns.set(c, await cli(['layers', ...cliArgs(c)]));
      inspectRuns.set(c, await cli(['inspect', ...cliArgs(c)]));
    });
  }, 300_000);

  for (const c of IMAGES) {
    describe(c.name, () => {
      const temps: string[] = [];
      let oracle: ImageOracle;
      let report: Report;
      beforeAll(() => {
        report = parseReport(layersRuns.get(c)!, `layers ${c.name}`);
        oracle = buildOracle(c, temps);
      });
      afterAll(() => temps.forEach(removeDir));

      test(`layers exits 0 with every verify check passing, source.kind ${c.kind}`, () => {
        const result = layersRuns.get(c)!;
        const failing = report.verify.checks.filter((check) => !check.ok);
        expect({ code: result.code, failing }).toEqual({ code: 0, failing: [] });
        expect(report.verify.ok).toBe(true);
        expect(result.stderr).not.toMatch(/^\s+at /m);
        expect(report.source.kind).toBe(c.kind);
      });

      test('configDigest is the sha256sum of the config file and of the config bytes skopeo returns', () => {
        expect(report.configDigest).toBe(oracle.configDigest);
        expect(report.configDigest).toBe(oracle.skopeo.configDigest);
      });

      test('manifestDigest and indexDigest are the digests of the blobs the oracle (and skopeo) resolve', () => {
        expect({ manifestDigest: report.manifestDigest, indexDigest: report.indexDigest }).toEqual({
          manifestDigest: oracle.manifestDigest,
          indexDigest: oracle.indexDigest,
        });
        // skopeo's raw top-level document (`skopeo inspect --raw oci:…`) is the index when there is one, else the manifest.
        if (oracle.skopeo.topDigest !== null) expect(oracle.skopeo.topDigest).toBe(report.indexDigest ?? report.manifestDigest);
      });

      test('the platform is the config os/architecture/variant (and the one --platform asked for)', () => {
        const config = oracle.config;
        expect(report.platform).toEqual({ os: config.os, architecture: config.architecture, variant: config.variant ?? null });
        if (c.platform) {
          const [os, architecture] = c.platform.split('/');
          expect([report.platform.os, report.platform.architecture]).toEqual([os, architecture]);
        }
      });

      test('layer digest and compressedSize are the sha256sum and byte length of each blob as stored', () => {
        expect(report.layers.map((layer) => [layer.digest, layer.compressedSize])).toEqual(oracle.layers.map((layer) => [layer.digest, layer.size]));
        if (c.kind !== 'docker-archive') expect(report.layers.map((layer) => layer.digest)).toEqual(oracle.skopeo.layerDigests);
      });

      test('diffId is the config diff_id, equals the sha256sum of the gzip/zstd-decompressed blob, and uncompressedSize is its byte count', () => {
        const diffIds = oracle.config.rootfs.diff_ids;
        expect(report.layers.map((layer) => layer.diffId)).toEqual(diffIds);
        expect(oracle.layers.map((layer) => layer.uncompressedDigest)).toEqual(diffIds);
        expect(report.layers.map((layer) => layer.uncompressedSize)).toEqual(oracle.layers.map((layer) => layer.uncompressedSize));
        // The CLI's own diff_id check (one per layer, expecting its diff_id) hashed the same stream.
        const actual = report.layers.map((layer) => report.verify.checks.find((check) => check.kind === 'diffId' && check.expected === layer.diffId)?.actual);
        expect(actual).toEqual(oracle.layers.map((layer) => layer.uncompressedDigest));
        // skopeo serves docker-archive layers uncompressed: its layer digests are the uncompressed sha256s.
        if (c.kind === 'docker-archive') expect(oracle.skopeo.layerDigests).toEqual(oracle.layers.map((layer) => layer.uncompressedDigest));
      });

      test('entries is the number of entries GNU tar lists in each decompressed layer, files those that are not whiteouts', () => {
        expect(report.layers.map((layer) => layer.entries)).toEqual(oracle.layers.map((layer) => layer.entries.length));
        expect(report.layers.map((layer) => layer.files)).toEqual(oracle.layers.map((layer) => layer.entries.filter((name) => !isWhiteoutName(name)).length));
      });

      test('contentSize is the sum of the entry sizes GNU tar lists (hardlinks 0)', () => {
        expect(report.layers.map((layer) => layer.contentSize)).toEqual(oracle.layers.map((layer) => layer.contentSize));
      });

      test('totals add up the oracle per-layer values', () => {
        const sum = (pick: (layer: LayerOracle) => number): number => oracle.layers.reduce((total, layer) => total + pick(layer), 0);
        expect(report.totals).toMatchObject({
          layers: oracle.layers.length,
          compressedSize: sum((layer) => layer.size),
          uncompressedSize: sum((layer) => layer.uncompressedSize),
          contentSize: sum((layer) => layer.contentSize),
          // One count of files (schemaVersion 2): the paths of the final filesystem, from GNU tar's listings.
          files: rootfsPaths(oracle.layers.map((layer) => layer.entries)),
        });
      });

      test('inspect exits 0 and names the same config, manifest and index digests as layers', () => {
        const result = inspectRuns.get(c)!;
        const inspected = parseReport(result, `inspect ${c.name}`);
        expect(result.code).toBe(0);
        expect([inspected.configDigest, inspected.manifestDigest, inspected.indexDigest]).toEqual([report.configDigest, report.manifestDigest, report.indexDigest]);
        // Without reading a blob inspect may not know a layer's digest (null), but what it claims must be true.
        const claimed = inspected.layers.map((layer, index) => (layer.digest === null ? oracle.layers[index]!.digest : layer.digest));
        expect(claimed).toEqual(oracle.layers.map((layer) => layer.digest));
      });
    });
  }
});

describe('where GNU tar and the CLI could count differently', () => {
  test('an estargz layer whose TOC follows the end-of-archive marker holds only the entries before the marker', async () => {
    // dive's estargz fixture was converted losslessly: README.md, the tar's two zero blocks, then stargz.index.json.
    // GNU tar (like Go's archive/tar in docker, containerd and dive) stops at the marker; only `tar -i` reads on.
    const extracted = extractArchive(DIVE('test-oci-estargz-image.tar'));
    try {
      const manifest = JSON.parse(skopeo(`oci-archive:${DIVE('test-oci-estargz-image.tar')}`, ['--raw']).toString('utf8')) as { layers: Descriptor[] };
      const stream = run('gzip', ['-dc', blobPath(extracted, manifest.layers[0]!.digest)]);
      expect(run('tar', ['-tf', '-'], stream).toString()).toBe('README.md\n');
      expect(run('tar', ['-tif', '-'], stream).toString()).toBe('README.md\nstargz.index.json\n');
      const layers = parseReport(await cli(['layers', ...cliArgs(IMAGES.find((c) => c.file === DIVE('test-oci-estargz-image.tar'))!)]), 'estargz');
      expect(layers.layers.map((layer) => [layer.files, layer.contentSize])).toEqual([[1, 11189]]);
      const files = await runCli(['files', DIVE('test-oci-estargz-image.tar'), '--json']);
      expect((JSON.parse(files.stdout) as { files: { path: string }[] }).files.map((file) => file.path)).toEqual(['/README.md']);
    } finally {
      removeDir(extracted);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Non-images and unreadable inputs: exit 3, one line on stderr, no stack trace

interface RefusedCase {
  name: string;
  args: string[];
  /** What the one line must mention. */
  says?: RegExp;
  /** 3 (the image could not be read) unless the bytes are not their digest: damage is a finding, exit 1. */
  code?: 1 | 3;
}

const REFUSED: RefusedCase[] = [
  ...['uncompressed', 'gzip', 'zstd', 'estargz'].map((compression) => ({
    name: `dive test-${compression}-image.tar (a plain rootfs tar, not an image)`,
    args: [DIVE(`test-${compression}-image.tar`)],
    says: /not an image/,
  })),
  { name: 'ggcr null_manifest.tar (manifest.json is null)', args: [TARBALL('null_manifest.tar')] },
  { name: 'ggcr no_manifest.tar (no manifest.json)', args: [TARBALL('no_manifest.tar')] },
  { name: 'crane content.tar.zst (a bare zstd layer)', args: [fixture('go-containerregistry', 'pkg', 'crane', 'testdata', 'content.tar.zst')], says: /not an image/ },
  { name: 'regclient layer-wh.tar (a bare layer)', args: [fixture('regclient', 'testdata', 'layer-wh.tar')], says: /not an image/ },
  { name: 'snyk docker-oci-archives/unsupported-image.tar (two text files)', args: [SNYK('docker-oci-archives', 'unsupported-image.tar')], says: /not an image/ },
  { name: 'trivy test_bad_index_json.oci (index.json is not JSON)', args: [TRIVY('test_bad_index_json.oci')], says: /index\.json/ },
  { name: 'trivy test_index_json_dir.oci (index.json is a directory)', args: [TRIVY('test_index_json_dir.oci')], says: /index\.json/ },
  { name: 'trivy test_no_valid_manifests.oci', args: [TRIVY('test_no_valid_manifests.oci')] },
  { name: 'trivy test_invalid_oci_image.oci (a bad media type)', args: [TRIVY('test_invalid_oci_image.oci')] },
  { name: 'stereoscope invalid_file (empty index.json)', args: [STEREOSCOPE('invalid_file')], says: /index\.json/ },
  { name: 'stereoscope no_manifests', args: [STEREOSCOPE('no_manifests')] },
  // A 0-byte manifest does not hash to the digest naming it: damage (CONTRACT.md), exit 1, whatever it breaks.
  {
    name: 'stereoscope valid_manifest (a 0-byte manifest)',
    args: [STEREOSCOPE('valid_manifest')],
    code: 1,
    says: /manifest blob is damaged: its sha256 is sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, not sha256:f67dcc5f/,
  },
  { name: 'a path that does not exist', args: [fixture('does', 'not', 'exist.tar')], says: /exist\.tar/ },
  { name: 'docker-archive: transport on a plain rootfs tar', args: [`docker-archive:${DIVE('test-gzip-image.tar')}`] },
  { name: 'oci: transport on a malformed layout', args: [`oci:${TRIVY('test_bad_index_json.oci')}`], says: /index\.json/ },
  {
    name: 'test_bundle.tar without a REF (two images): the line lists the choices',
    args: [TARBALL('test_bundle.tar')],
    says: /test_image_2.*@0.*test_image_1.*@1|@0.*test_image_2.*@1.*test_image_1/,
  },
  {
    name: 'docker-two-images.tar.xz without a REF: the line lists the choices',
    args: [TWO_IMAGES],
    says: /example\.com\/empty:latest.*example\.com\/empty\/but:different/,
  },
  { name: 'a REF that is not in the archive', args: [`docker-archive:${TARBALL('test_bundle.tar')}:@7`] },
];

function expectRefused(result: CliResult, says?: RegExp, code: 1 | 3 = 3): void {
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  expect({ code: result.code, stdout: result.stdout, lines: lines.length }).toEqual({ code, stdout: '', lines: 1 });
  expect(lines[0]).toMatch(/^layerlens: /);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  if (says) expect(lines[0]).toMatch(says);
}

describe('non-images and unreadable inputs', () => {
  const commands = (c: RefusedCase): string[][] => [
    ['layers', ...c.args, '--json'],
    ['inspect', ...c.args],
  ];
  beforeAll(() => inParallel(REFUSED.flatMap(commands), 4, async (args) => void (await cli(args))), 300_000);

  for (const c of REFUSED) {
    test(`${c.name}: layers --json and inspect exit ${c.code ?? 3} with one "layerlens: " line, no stack trace, nothing on stdout`, async () => {
      for (const args of commands(c)) expectRefused(await cli(args), c.says, c.code);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Deliberately corrupted images: exit 1, the report still printed, each mismatch named and real

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** What the files on disk say, read without layerlens: descriptors, the blobs they name, and what those really hash to. */
interface CorruptOracle {
  manifestDescriptor: Descriptor | null;
  manifestBytes: Buffer | null;
  /** Layer names in manifest.json (docker save), when the archive has one. */
  dockerLayers: string[] | null;
  ociLayers: Descriptor[] | null;
  diffIds: string[];
  layers: (LayerOracle & { descriptor: Descriptor | null })[];
}

function corruptOracle(extracted: string): CorruptOracle {
  const dockerManifest = existsSync(path.join(extracted, 'manifest.json')) ? readJson<DockerManifestEntry[]>(path.join(extracted, 'manifest.json'))[0]! : null;
  let manifestDescriptor: Descriptor | null = null;
  let manifestBytes: Buffer | null = null;
  let manifest: { config: Descriptor; layers: Descriptor[] } | null = null;
  if (existsSync(path.join(extracted, 'index.json'))) {
    manifestDescriptor = readJson<{ manifests: Descriptor[] }>(path.join(extracted, 'index.json')).manifests[0]!;
    manifestBytes = readFileSync(blobPath(extracted, manifestDescriptor.digest));
    manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  }
  const configFile = dockerManifest ? path.join(extracted, dockerManifest.Config) : blobPath(extracted, manifest!.config.digest);
  const diffIds = readJson<{ rootfs: { diff_ids: string[] } }>(configFile).rootfs.diff_ids;
  const files = dockerManifest ? dockerManifest.Layers.map((name) => path.join(extracted, name)) : manifest!.layers.map((layer) => blobPath(extracted, layer.digest));
  return {
    manifestDescriptor,
    manifestBytes,
    dockerLayers: dockerManifest?.Layers ?? null,
    ociLayers: manifest?.layers ?? null,
    diffIds,
    layers: files.map((file, index) => ({ ...layerOracle(file), descriptor: manifest?.layers[index] ?? null })),
  };
}

/** The same two counts, in either order. */
function sameCounts(counts: [number, number], pair: unknown[]): boolean {
  return (pair[0] === counts[0] && pair[1] === counts[1]) || (pair[0] === counts[1] && pair[1] === counts[0]);
}

/** The mismatches the oracle finds on its own, as [kind, subject, expected, actual]. */
function oracleMismatches(o: CorruptOracle): [string, string | null, unknown, unknown][] {
  const found: [string, string | null, unknown, unknown][] = [];
  if (o.manifestDescriptor && o.manifestBytes) {
    const digest = sha256sum(o.manifestBytes);
    if (digest !== o.manifestDescriptor.digest) found.push(['manifest', o.manifestDescriptor.digest, o.manifestDescriptor.digest, digest]);
    if (o.manifestBytes.length !== o.manifestDescriptor.size) found.push(['manifest', o.manifestDescriptor.digest, o.manifestDescriptor.size, o.manifestBytes.length]);
  }
  o.layers.forEach((layer, index) => {
    const subject = layer.descriptor?.digest ?? layer.digest;
    if (layer.descriptor && layer.digest !== layer.descriptor.digest) found.push(['layer', subject, layer.descriptor.digest, layer.digest]);
    if (layer.descriptor && layer.size !== layer.descriptor.size) found.push(['layer', subject, layer.descriptor.size, layer.size]);
    if (o.diffIds[index] !== undefined && layer.uncompressedDigest !== o.diffIds[index]) found.push(['diffId', subject, o.diffIds[index], layer.uncompressedDigest]);
    if (layer.descriptor && mediaTypeCompression(layer.descriptor.mediaType) !== layer.compression) found.push(['mediaType', subject, mediaTypeCompression(layer.descriptor.mediaType), layer.compression]);
  });
  return found;
}

interface CorruptCase {
  name: string;
  file: string;
  /** The layer-count disagreements the oracle expects to see reported, as unordered pairs of counts. */
  counts: (o: CorruptOracle) => [number, number][];
  /** Independent sanity: the corruption the fixture's authors describe. */
  minimumMismatches: number;
}

const CORRUPT: CorruptCase[] = [
  { name: 'snyk oci-archives/alpine-3.12.0.tar (layer blob replaced: digest, size and diff_id wrong)', file: SNYK('oci-archives', 'alpine-3.12.0.tar'), counts: () => [], minimumMismatches: 3 },
  {
    name: 'snyk oci-archives/nginx.tar (edited manifest, swapped and truncated layers, 5 diff_ids for 4 layers)',
    file: SNYK('oci-archives', 'nginx.tar'),
    counts: (o) => [[o.ociLayers!.length, o.diffIds.length]],
    minimumMismatches: 8,
  },
  {
    name: 'snyk oci-archives/oci-with-manifest.tar (manifest.json names 1 layer of 4; the one present is wrong)',
    file: SNYK('oci-archives', 'oci-with-manifest.tar'),
    counts: (o) => [
      [o.dockerLayers!.length, o.diffIds.length],
      [o.dockerLayers!.length, o.ociLayers!.length],
    ],
    minimumMismatches: 3,
  },
  { name: 'snyk docker-archives skopeo-copy/centos-6.tar (layer does not match its diff_id)', file: SNYK('docker-archives', 'skopeo-copy', 'centos-6.tar'), counts: () => [], minimumMismatches: 1 },
  {
    name: 'snyk docker-archives docker-save/nginx-os-release-link.tar (trimmed: 3 diff_ids, 1 layer)',
    file: SNYK('docker-archives', 'docker-save', 'nginx-os-release-link.tar'),
    counts: (o) => [[o.dockerLayers!.length, o.diffIds.length]],
    minimumMismatches: 1,
  },
];

describe('deliberately corrupted images', () => {
  for (const c of CORRUPT) {
    describe(c.name, () => {
      let extracted: string;
      let oracle: CorruptOracle;
      let result: CliResult;
      let report: Report;
      beforeAll(async () => {
        extracted = extractArchive(c.file);
        oracle = corruptOracle(extracted);
        result = await cli(['layers', c.file, '--json']);
        report = parseReport(result, c.name);
      });
      afterAll(() => removeDir(extracted));

      test('layers exits 1 and still prints the whole report, verify.ok false', () => {
        expect(result.code).toBe(1);
        expect(report.verify.ok).toBe(false);
        expect(report.layers).toHaveLength(oracle.layers.length);
        expect(result.stderr).not.toMatch(/^\s+at /m);
      });

      test('the reported layers are what is stored: digest and compressedSize by sha256sum and byte length', () => {
        expect(report.layers.map((layer) => [layer.digest, layer.compressedSize, layer.uncompressedSize])).toEqual(
          oracle.layers.map((layer) => [layer.digest, layer.size, layer.uncompressedSize]),
        );
      });

      test('every failing check is a real mismatch whose actual is what sha256sum/gzip/stat compute', () => {
        const failing = report.verify.checks.filter((check) => !check.ok);
        expect(failing.length).toBeGreaterThan(0);
        for (const check of failing) {
          expect(check.expected).not.toEqual(check.actual);
          expect(check.expected).not.toBeNull();
          expect(check.actual).not.toBeNull();
          const layer = oracle.layers.find((candidate) => (candidate.descriptor?.digest ?? candidate.digest) === check.subject);
          const where = `${check.kind} ${check.what}`;
          switch (check.kind) {
            case 'layer':
              expect({ where, layer: layer !== undefined }).toEqual({ where, layer: true });
              if (typeof check.expected === 'number') expect([check.expected, check.actual]).toEqual([layer!.descriptor!.size, layer!.size]);
              else expect([check.expected, check.actual]).toEqual([layer!.descriptor!.digest, layer!.digest]);
              break;
            case 'diffId': {
              expect({ where, layer: layer !== undefined }).toEqual({ where, layer: true });
              expect([check.expected, check.actual]).toEqual([oracle.diffIds[oracle.layers.indexOf(layer!)], layer!.uncompressedDigest]);
              break;
            }
            case 'mediaType':
              expect({ where, layer: layer !== undefined }).toEqual({ where, layer: true });
              expect([check.expected, check.actual]).toEqual([mediaTypeCompression(layer!.descriptor?.mediaType ?? report.layers[oracle.layers.indexOf(layer!)]!.mediaType), layer!.compression]);
              break;
            case 'manifest':
            case 'config':
              if (typeof check.expected === 'string') {
                // A blob digest: the blob named `expected` really hashes to `actual`.
                expect(check.actual).toBe(sha256sumFile(blobPath(extracted, check.expected)));
              } else if (c.counts(oracle).some((counts) => sameCounts(counts, [check.expected, check.actual]))) {
                // A layer-count disagreement between two of manifest.json, the OCI manifest and rootfs.diff_ids: seen above.
              } else {
                // Otherwise a blob size: the descriptor's size against the bytes on disk.
                expect([check.expected, check.actual]).toEqual([oracle.manifestDescriptor!.size, statSync(blobPath(extracted, check.subject!)).size]);
              }
              break;
            default:
              throw new Error(`unexpected failing check kind ${check.kind}: ${JSON.stringify(check)}`);
          }
        }
      });

      test('every mismatch sha256sum/gzip/stat find is reported with its expected and actual', () => {
        const expected = oracleMismatches(oracle);
        expect(expected.length).toBeGreaterThanOrEqual(c.minimumMismatches);
        const failing = report.verify.checks.filter((check) => !check.ok).map((check) => [check.kind, check.subject, check.expected, check.actual]);
        for (const mismatch of expected) expect(failing).toContainEqual(mismatch);
        for (const counts of c.counts(oracle)) {
          expect(counts[0]).not.toBe(counts[1]);
          expect(report.verify.checks.filter((check) => !check.ok && sameCounts(counts, [check.expected, check.actual]))).not.toHaveLength(0);
        }
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 4. inspect never needs a layer blob

describe('inspect reads manifests and config only', () => {
  test('the containerd archives whose index lists platforms without blobs inspect fine, as skopeo does', async () => {
    for (const name of ['alpine.tar', 'busybox.amd64.tar', 'busybox.arm64.tar', 'busybox.armv7.tar', 'busybox-single-arch-with-attestation-manifest.tar']) {
      const file = SNYK('containerd-archives', name);
      const result = await cli(['inspect', file, '--json']);
      expect({ name, code: result.code, stderr: result.stderr }).toEqual({ name, code: 0, stderr: '' });
      const inspected = parseReport(result, name);
      expect(inspected.configDigest).toBe(sha256sum(skopeo(`docker-archive:${file}`, ['--config', '--raw'])));
    }
  });

  test('an OCI layout whose layer blobs were deleted still inspects (exit 0, same digests); layers exits 3 naming the missing blob', async () => {
    const dir = makeTempDir('noblobs');
    try {
      cpSync(TRIVY('test.oci'), path.join(dir, 'oci'), { recursive: true });
      const layout = path.join(dir, 'oci');
      const manifest = JSON.parse(skopeo(`oci:${layout}`, ['--raw']).toString('utf8')) as { layers: Descriptor[] };
      for (const layer of manifest.layers) rmSync(blobPath(layout, layer.digest));
      const full = parseReport(await cli(['inspect', TRIVY('test.oci'), '--json']), 'inspect test.oci');
      const inspect = await runCli(['inspect', layout, '--json']);
      expect(inspect.code).toBe(0);
      const stripped = parseReport(inspect, 'inspect without blobs');
      expect([stripped.configDigest, stripped.manifestDigest, stripped.layers.map((layer) => layer.digest)]).toEqual([full.configDigest, full.manifestDigest, manifest.layers.map((layer) => layer.digest)]);
      const layers = await runCli(['layers', layout]);
      expectRefused(layers, new RegExp(manifest.layers[0]!.digest.slice(7, 19)));
    } finally {
      removeDir(dir);
    }
  });

  test('a docker save archive with every layer.tar removed still inspects; layers exits 3', async () => {
    const dir = makeTempDir('nolayers');
    try {
      const tree = extractArchive(DIVE('test-docker-image.tar'));
      const entries = readJson<{ Layers: string[] }[]>(path.join(tree, 'manifest.json'));
      for (const name of entries[0]!.Layers) rmSync(path.join(tree, name));
      const archive = path.join(dir, 'nolayers.tar');
      // GNU tar builds the stripped archive; the CLI is not involved in making its own input.
      run('tar', ['-cf', archive, '-C', tree, '.']);
      removeDir(tree);
      const full = parseReport(await cli(['inspect', DIVE('test-docker-image.tar'), '--json']), 'inspect dive');
      const inspect = await runCli(['inspect', archive, '--json']);
      expect(inspect.code).toBe(0);
      expect(parseReport(inspect, 'inspect stripped').configDigest).toBe(full.configDigest);
      expectRefused(await runCli(['layers', archive]), /layer\.tar/);
    } finally {
      removeDir(dir);
    }
  });

  test('inspect of a corrupted-layer image does not read the layer: alpine-3.12.0 inspects with exit 0', async () => {
    // Its only layer blob is wrong (see above); inspect, which reads no layer, cannot know and must not fail.
    const result = await runCli(['inspect', SNYK('oci-archives', 'alpine-3.12.0.tar'), '--json']);
    expect(result.code).toBe(0);
    expect(parseReport(result, 'inspect alpine-3.12.0').configDigest).toBe(sha256sum(skopeo(`oci-archive:${SNYK('oci-archives', 'alpine-3.12.0.tar')}`, ['--config', '--raw'])));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 5. stdin: the same report as the file

describe('reading from stdin', () => {
  const STDIN_CASES = [
    DIVE('test-docker-image.tar'),
    DIVE('test-kaniko-image.tar'),
    DIVE('test-oci-zstd-image.tar'),
    DIVE('test-oci-estargz-image.tar'),
    TRIVY('alpine-310.tar.gz'),
    ORAS('hello-world-prefixed-path.tar'),
    SNYK('containerd-archives', 'busybox.arm64.tar'),
    SNYK('docker-archives', 'skopeo-copy', 'busybox.tar'),
    SNYK('docker-oci-archives', 'busybox.armv7.tar'),
    SNYK('docker-archives', 'skopeo-copy', 'centos-6.tar'),
    SNYK('oci-archives', 'nginx.tar'),
    STEREOSCOPE('valid-oci.tar'),
  ];
  beforeAll(() => inParallel(STDIN_CASES, 2, async (file) => void (await Promise.all([cli(['layers', file, '--json']), cli(['layers', '-', '--json'], file)]))), 300_000);

  for (const file of STDIN_CASES) {
    test(`cat ${path.relative(fixture(), file)} | layers - --json equals layers FILE --json (except source.input)`, async () => {
      const [fromFile, fromStdin] = await Promise.all([cli(['layers', file, '--json']), cli(['layers', '-', '--json'], file)]);
      const a = parseReport(fromFile, 'file');
      const b = parseReport(fromStdin, 'stdin');
      expect(b.source.input).toBe('-');
      const strip = (report: Report): unknown => ({ ...report, source: { ...report.source, input: null } });
      expect({ code: fromStdin.code, report: strip(b) }).toEqual({ code: fromFile.code, report: strip(a) });
    });
  }
});
