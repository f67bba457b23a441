/**
 * Sizes that mean what the user thinks (issue 15): the gzip estimate of layers stored uncompressed against real
 * `gzip -6`, gates on the pull cost, growth like with like (the same image as a docker save and as an OCI
 * layout or registry grows by nothing), one count of files (the final filesystem, against GNU tar as
 * bench/lib/describe.mjs counts it), and the measured diffId.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runJson, SAMPLES } from './helpers/cli.js';
import { writeLayout } from './helpers/craft-tar.js';
import { layerTar, type TarEntry } from './helpers/layout.js';
import { realisticImage, REALISTIC_BUILD_TIMEOUT_MS, type RealisticImage } from './helpers/realistic.js';
import { pushImage, startFaultProxy, startRegistry, type RunningRegistry } from './helpers/registry.js';

interface Layer {
  digest: string;
  diffId: string;
  diffIdSource: 'measured' | 'config';
  mediaType: string;
  compressedSize: number;
  estimatedCompressedSize: number | null;
  uncompressedSize: number | null;
  entries: number | null;
  files: number | null;
}
interface Report {
  schemaVersion: number;
  layers: Layer[];
  totals: { compressedSize: number; estimatedCompressedSize: number | null; files: number | null };
  files?: { path: string }[];
  verify: { checks: { kind: string; ok: boolean; expected: unknown; actual: unknown }[] };
}
interface Rule {
  name: string;
  status: string;
  actual: unknown;
  estimated: boolean;
  measure: string | null;
  message: string;
}
type CheckJson = Report & { check: { passed: boolean; rules: Rule[] } };

let work: string;
let realistic: RealisticImage;
/** `gzip -6 | wc -c` of each layer tar of the realistic docker archive, in manifest order. */
let gzipSizes: number[];

/** Real gzip -6 of each layer of a docker save archive: the member piped through GNU gzip. */
function gzipOfDockerLayers(archive: string): number[] {
  const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as { Layers: string[] }[];
  return manifest[0]!.Layers.map((member) => Number(execFileSync('bash', ['-c', 'tar -xOf "$0" "$1" | gzip -6 | wc -c', archive, member], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim()));
}

const within = (actual: number, expected: number, tolerance: number) => Math.abs(actual / expected - 1) <= tolerance;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-sizes-test-'));
  realistic = await realisticImage();
  gzipSizes = gzipOfDockerLayers(realistic.dockerArchive);
}, REALISTIC_BUILD_TIMEOUT_MS);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('estimatedCompressedSize of layers stored uncompressed', () => {
  test('the realistic docker save: within 5 % of gzip -6 for the image, 10 % for each layer', async () => {
    const { code, json } = await runJson<Report>(['layers', realistic.dockerArchive, '--json']);
    expect(code).toBe(0);
    expect(json.layers).toHaveLength(gzipSizes.length);
    json.layers.forEach((layer, i) => {
      expect(layer.mediaType).toMatch(/\.tar$/);
      expect(layer.compressedSize).toBe(layer.uncompressedSize); // stored as the tar itself
      // Small layers get fewer samples: single layers scatter more than the image (measured up to 7.8 %).
      if (!within(layer.estimatedCompressedSize!, gzipSizes[i]!, 0.1)) throw new Error(`layer ${i}: estimate ${layer.estimatedCompressedSize}, gzip -6 ${gzipSizes[i]}`);
    });
    const real = gzipSizes.reduce((sum, size) => sum + size, 0);
    expect(json.totals.estimatedCompressedSize).toBe(json.layers.reduce((sum, layer) => sum + layer.estimatedCompressedSize!, 0));
    if (!within(json.totals.estimatedCompressedSize!, real, 0.05)) throw new Error(`image: estimate ${json.totals.estimatedCompressedSize}, gzip -6 ${real}`);
  });

  test('an image of many short layers is estimated together: within 5 % of gzip -6 for the image, 20 % for each layer', async () => {
    // Forty stored layers of 64 KiB to 900 KiB of this machine's files (ELF binaries, licence texts, gzipped man
    // pages), as a docker build with many small COPY steps makes them: each under a megabyte, so each is sampled
    // one block in eight and the image's samples are pooled (gzip-estimate.ts). Two or three samples a layer:
    // measured, the layers scatter up to 18 % and the image within 1 %.
    const candidates = [
      ...readdirSync('/usr/bin').sort().map((name) => path.join('/usr/bin', name)),
      ...readdirSync('/usr/share/doc').sort().map((name) => path.join('/usr/share/doc', name, 'copyright')),
      ...readdirSync('/usr/share/man/man1').sort().map((name) => path.join('/usr/share/man/man1', name)),
    ].filter((file) => existsSync(file) && lstatSync(file).isFile());
    // Interleaved, so that every layer holds some of each kind.
    const third = Math.ceil(candidates.length / 3);
    const files = Array.from({ length: third }, (_, i) => [candidates[i], candidates[third + i], candidates[2 * third + i]]).flat().filter((file): file is string => file !== undefined);
    const layers: Buffer[] = [];
    let next = 0;
    for (let i = 0; i < 40; i++) {
      const target = (64 << 10) + Math.round((i / 39) * (836 << 10));
      const entries: TarEntry[] = [];
      for (let bytes = 0; bytes < target && next < files.length; next++) {
        const content = readFileSync(files[next]!).subarray(0, 256 << 10);
        entries.push({ name: `layer${i}${files[next]}`, content });
        bytes += content.length + 512;
      }
      layers.push(await layerTar(entries));
    }
    expect(next).toBeLessThan(files.length); // the machine had files enough for every layer
    const layout = path.join(work, 'short-layers');
    writeLayout(layout, layers, 'none');
    const real = layers.map((layer) => Number(execFileSync('bash', ['-c', 'gzip -6 | wc -c'], { input: layer, encoding: 'utf8' }).trim()));
    const { code, json } = await runJson<Report>(['layers', `oci:${layout}`, '--json']);
    expect(code).toBe(0);
    json.layers.forEach((layer) => expect(layer.uncompressedSize).toBeLessThan(1 << 20));
    const off = json.layers.map((layer, i) => ({ i, estimate: layer.estimatedCompressedSize!, gzip: real[i]! })).filter(({ estimate, gzip }) => !within(estimate, gzip, 0.2));
    expect(off).toEqual([]);
    const total = real.reduce((sum, size) => sum + size, 0);
    if (!within(json.totals.estimatedCompressedSize!, total, 0.05)) throw new Error(`image: estimate ${json.totals.estimatedCompressedSize}, gzip -6 ${total}`);
    // A blob's estimate is the same from run to run (its sampling grid comes from its length).
    const again = await runJson<Report>(['layers', `oci:${layout}`, '--json']);
    expect(again.json.layers.map((layer) => layer.estimatedCompressedSize)).toEqual(json.layers.map((layer) => layer.estimatedCompressedSize));
  });

  test('the busybox sample (a 2.4 MB layer, sampled; two tiny ones, compressed whole) within 3 % of gzip -6 per layer', async () => {
    const archive = path.join(SAMPLES, 'busybox-amd64.tar');
    const real = gzipOfDockerLayers(archive);
    const { json } = await runJson<Report>(['layers', archive, '--json']);
    json.layers.forEach((layer, i) => {
      if (!within(layer.estimatedCompressedSize!, real[i]!, 0.03)) throw new Error(`layer ${i}: estimate ${layer.estimatedCompressedSize}, gzip -6 ${real[i]}`);
    });
  });

  test('gzip layers have their real size and no estimate; inspect (no scan) estimates nothing', async () => {
    const { json } = await runJson<Report>(['layers', `oci:${realistic.ociDir}`, '--json']);
    expect(json.layers.every((layer) => layer.estimatedCompressedSize === null)).toBe(true);
    expect(json.totals.estimatedCompressedSize).toBeNull();
    expect(json.totals.compressedSize).toBe(realistic.info.compressedSize);
    const inspect = await runJson<Report>(['inspect', realistic.dockerArchive, '--json']);
    expect(inspect.json.totals.estimatedCompressedSize).toBeNull();
  });
});

describe('gates on the pull cost', () => {
  test('maxSize of a docker save gates on the estimate, and says so', async () => {
    const estimate = (await runJson<Report>(['layers', realistic.dockerArchive, '--json'])).json.totals.estimatedCompressedSize!;
    // 200 MB: the tar is 393 MB, the pull ~148 MB; before, this failed on the tar's size.
    const { code, json } = await runJson<CheckJson>(['check', realistic.dockerArchive, '--max-size', '200MB', '--config', '/dev/null', '--json']);
    expect(code).toBe(0);
    const rule = json.check.rules.find((candidate) => candidate.name === 'maxSize')!;
    expect(rule).toMatchObject({ status: 'pass', actual: estimate, estimated: true });
    expect(rule.message).toMatch(/estimated/);
    const below = await runCli(['check', realistic.dockerArchive, '--max-size', String(estimate - 1), '--config', '/dev/null', '--no-color']);
    expect(below.code).toBe(1);
    expect(below.stdout).toMatch(/maxSize\s+FAIL\s+.*estimated/);
    // An image with real compressed sizes gates on them, not estimated.
    const oci = await runJson<CheckJson>(['check', `oci:${realistic.ociDir}`, '--max-size', String(realistic.info.compressedSize), '--config', '/dev/null', '--json']);
    expect(oci.json.check.rules.find((candidate) => candidate.name === 'maxSize')).toMatchObject({ status: 'pass', actual: realistic.info.compressedSize, estimated: false });
  });

  test('the same image as a docker save and as an OCI layout grows by nothing, both ways', async () => {
    for (const [image, baseline] of [
      [realistic.dockerArchive, `oci:${realistic.ociDir}`],
      [`oci:${realistic.ociDir}`, realistic.dockerArchive],
    ]) {
      const { code, json } = await runJson<CheckJson>(['check', image!, '--baseline', baseline!, '--max-growth', '5%', '--config', '/dev/null', '--json']);
      expect(code).toBe(0);
      const rule = json.check.rules.find((candidate) => candidate.name === 'maxGrowth')!;
      expect(rule).toMatchObject({ status: 'pass', actual: '0.00%' });
      expect(rule.measure).toMatch(/^compressed size.*; 6 layer\(s\) shared by diffId count 0$/);
    }
  });

  test('layers not shared compare compressed sizes, the estimate where a side has none', async () => {
    // The busybox docker save (uncompressed) against the realistic OCI layout (gzip): nothing shared.
    const { json } = await runJson<CheckJson>(['check', path.join(SAMPLES, 'busybox-amd64.tar'), '--baseline', `oci:${realistic.ociDir}`, '--max-growth', '0', '--config', '/dev/null', '--json']);
    const rule = json.check.rules.find((candidate) => candidate.name === 'maxGrowth')!;
    const busybox = json.totals.estimatedCompressedSize!;
    expect(rule).toMatchObject({ status: 'pass', estimated: true, actual: busybox - realistic.info.compressedSize });
    expect(rule.measure).toMatch(/gzip -6 estimate.*; 0 layer\(s\) shared/);
  });

  describe('against a registry baseline', () => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry('plain');
      await pushImage(registry, `oci:${realistic.ociDir}:latest`, 'bench/realistic:1');
    }, 300_000);
    afterAll(async () => registry?.stop());

    test('growth of the docker save over the pushed image is 0, read from manifest and config only', async () => {
      const proxy = await startFaultProxy(registry.host, {});
      try {
        const env = { DOCKER_CONFIG: path.join(work, 'no-docker-config'), XDG_CACHE_HOME: path.join(work, 'xdg'), DOCKER_HOST: 'unix:///nonexistent.sock' };
        const { code, json } = await runJson<CheckJson>(['check', realistic.dockerArchive, '--baseline', `docker://${proxy.host}/bench/realistic:1`, '--max-growth', '5%', '--config', '/dev/null', '--no-cache', '--json'], { env });
        expect(code).toBe(0);
        expect(json.check.rules.find((candidate) => candidate.name === 'maxGrowth')).toMatchObject({ status: 'pass', actual: '0.00%' });
        const layerDigests = new Set(realistic.info.perLayer ? (realistic.info.perLayer as { digest: string }[]).map((layer) => layer.digest) : []);
        expect(layerDigests.size).toBe(6);
        const blobGets = proxy.requests.filter((request) => request.method === 'GET' && request.url.includes('/blobs/'));
        expect(blobGets.length).toBe(1); // the config
        expect(blobGets.some((request) => [...layerDigests].some((digest) => request.url.endsWith(digest)))).toBe(false);
      } finally {
        await proxy.stop();
      }
    }, 120_000);
  });
});

describe('one count of files', () => {
  test('totals.files and maxFiles are the paths of the final filesystem, as files lists them and GNU tar counts them', async () => {
    const files = await runJson<Report>(['files', realistic.dockerArchive, '--json']);
    expect(files.json.files!.length).toBe(realistic.info.filesInRootfs);
    expect(files.json.totals.files).toBe(realistic.info.filesInRootfs);
    for (const command of ['layers', 'analyze']) expect((await runJson<Report>([command, realistic.dockerArchive, '--json'])).json.totals.files).toBe(realistic.info.filesInRootfs);
    const at = await runJson<CheckJson>(['check', realistic.dockerArchive, '--max-files', String(realistic.info.filesInRootfs), '--config', '/dev/null', '--json']);
    expect(at.json.check.rules.find((rule) => rule.name === 'maxFiles')).toMatchObject({ status: 'pass', actual: realistic.info.filesInRootfs });
    expect((await runCli(['check', realistic.dockerArchive, '--max-files', String(realistic.info.filesInRootfs - 1), '--config', '/dev/null'])).code).toBe(1);
  });

  test('per layer: entries are every tar header, files those that are not whiteouts', async () => {
    const { json } = await runJson<Report>(['layers', `oci:${realistic.ociDir}`, '--json']);
    const perLayer = realistic.info.perLayer as { entries: number; whiteouts: number; opaque: number }[];
    json.layers.forEach((layer, i) => {
      expect(layer.entries).toBe(perLayer[i]!.entries);
      expect(layer.files).toBe(perLayer[i]!.entries - perLayer[i]!.whiteouts - perLayer[i]!.opaque);
    });
  });

  test('the table, the HTML card and diff use the same count; the files footer counts the rows it printed', async () => {
    const total = realistic.info.filesInRootfs.toLocaleString('en-US');
    const layers = await runCli(['layers', realistic.dockerArchive, '--no-color']);
    expect(layers.stdout).toMatch(new RegExp(`, ${realistic.info.filesInRootfs} files`));
    const html = await runCli(['analyze', realistic.dockerArchive, '--format', 'html']);
    expect(html.stdout).toContain(`<b>${realistic.info.filesInRootfs}</b><span>files</span>`);
    const diff = await runJson<{ a: Report; b: Report; diff: { totals: { filesDelta: number; compressedSizeDelta: number; measure: string } } }>(['diff', path.join(SAMPLES, 'busybox-amd64.tar'), realistic.dockerArchive, '--json']);
    expect(diff.json.b.totals.files).toBe(realistic.info.filesInRootfs);
    expect(diff.json.diff.totals.filesDelta).toBe(realistic.info.filesInRootfs - diff.json.a.totals.files!);
    expect(diff.json.diff.totals.measure).toMatch(/gzip -6 estimate/);
    const table = await runCli(['files', realistic.dockerArchive, '--no-color']);
    const rows = table.stdout.split('\n').filter((line) => /^[-dlhcbp][-rwxsStT]{9} /.test(line)).length;
    expect(table.stdout).toContain(`${rows.toLocaleString('en-US')} of ${total} paths; --depth to see more`);
    const all = await runCli(['files', realistic.dockerArchive, '--no-color', '--depth', '1000']);
    expect(all.stdout).toContain(`${total} of ${total} paths\n`);
  });
});

describe('diffId is what was measured', () => {
  test('a config that claims another diff_id: the report shows the measured sha256, the claim is in the failed check', async () => {
    // The busybox layout with its amd64 config's first diff_id replaced, and the manifest and index re-hashed.
    const layout = path.join(work, 'wrong-diffid');
    cpSync(path.join(SAMPLES, 'busybox-oci'), layout, { recursive: true });
    const blob = (digest: string) => path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
    const put = (bytes: Buffer) => {
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      writeFileSync(blob(digest), bytes);
      return { digest, size: bytes.length };
    };
    type Descriptor = { digest: string; size: number; mediaType: string; platform?: { architecture: string } };
    const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const claimed = `sha256:${'0'.repeat(64)}`;
    let measured = '';
    // Down the (nested) index to the amd64 manifest; every document on the way is re-hashed.
    const rewrite = (entry: Descriptor): void => {
      const doc = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as { manifests?: Descriptor[]; config?: Descriptor };
      if (doc.manifests) rewrite(doc.manifests.find((candidate) => candidate.platform?.architecture === 'amd64') ?? doc.manifests[0]!);
      else {
        const config = JSON.parse(readFileSync(blob(doc.config!.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
        measured = config.rootfs.diff_ids[0]!;
        config.rootfs.diff_ids[0] = claimed;
        Object.assign(doc.config!, put(Buffer.from(JSON.stringify(config))));
      }
      Object.assign(entry, put(Buffer.from(JSON.stringify(doc))));
    };
    rewrite(index.manifests[0]!);
    writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));

    const { code, json } = await runJson<Report>(['layers', `oci:${layout}`, '--platform', 'linux/amd64', '--json']);
    expect(code).toBe(1);
    expect(json.layers[0]).toMatchObject({ diffId: measured, diffIdSource: 'measured' });
    expect(json.verify.checks.find((check) => check.kind === 'diffId' && !check.ok)).toMatchObject({ expected: claimed, actual: measured });
    const inspect = await runJson<Report>(['inspect', `oci:${layout}`, '--platform', 'linux/amd64', '--json']);
    expect(inspect.json.layers[0]).toMatchObject({ diffId: claimed, diffIdSource: 'config' });
    // The sha256 of the uncompressed layer, by sha256sum (independent of layerlens).
    const layerBlob = blob(json.layers[0]!.digest);
    expect(`sha256:${execFileSync('bash', ['-c', 'gzip -dc "$0" | sha256sum', layerBlob], { encoding: 'utf8' }).split(' ')[0]}`).toBe(measured);
  });
});
