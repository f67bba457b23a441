/**
 * Hostile image graphs and trees (issue 14, "Graphs and depth"): index loops and fan-out, paths deeper than any
 * runtime can extract, very deep (but extractable) trees, and archives with thousands of layers under a low open-file
 * limit. Each test builds its input and asserts the exit code and the one-line error; none may hang or crash.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runCli, runJson } from './helpers/cli.js';
import { layerTar, writeImage } from './helpers/layout.js';
import { makeTempDir, removeDir, requireTools } from './helpers/oracle.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

function expectOneLine(result: { code: number; stderr: string }, code: number, pattern: RegExp): void {
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code, stderr: expect.stringMatching(pattern) });
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
}

/** A layout whose blobs are written as given (names need not be their content's digest: a hostile layout). */
function layout(dir: string, blobs: Record<string, Buffer>, index: object): string {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const [hex, bytes] of Object.entries(blobs)) writeFileSync(path.join(dir, 'blobs', 'sha256', hex), bytes);
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  return dir;
}

/** A real one-layer image's blobs; returns the manifest descriptor. */
function smallImage(blobs: Record<string, Buffer>): { mediaType: string; digest: string; size: number; platform: object } {
  const layer = Buffer.alloc(1024); // an empty tar: two zero blocks
  blobs[sha(layer)] = layer;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] }, config: {} }));
  blobs[sha(config)] = config;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(layer)}`, size: layer.length }],
    }),
  );
  blobs[sha(manifest)] = manifest;
  return { mediaType: MANIFEST, digest: `sha256:${sha(manifest)}`, size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } };
}

let scratch: string;
beforeAll(() => {
  scratch = makeTempDir('hostile-graph');
});
afterAll(() => removeDir(scratch));

describe('index graphs', () => {
  test('an index whose only entry is itself ends with exit 3 naming the loop, in platforms and layers', async () => {
    // A digest cannot name its own bytes, but a hostile layout (or registry) can serve any bytes for a digest.
    const selfHex = 'a'.repeat(64);
    const loop = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: INDEX, digest: `sha256:${selfHex}`, size: 200 }] }));
    const dir = layout(path.join(scratch, 'loop'), { [selfHex]: loop }, { schemaVersion: 2, manifests: [{ mediaType: INDEX, digest: `sha256:${selfHex}`, size: loop.length }] });
    for (const args of [['platforms', `oci:${dir}`], ['layers', `oci:${dir}`, '--all-platforms'], ['verify', `oci:${dir}`]]) {
      const result = await runCli(args);
      expectOneLine(result, 3, /loop|refers to itself/);
    }
  });

  test('eight levels of indexes each listing the next four times read each document once', async () => {
    const blobs: Record<string, Buffer> = {};
    let entry: object = smallImage(blobs);
    for (let level = 0; level < 7; level++) {
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [entry, entry, entry, entry] }));
      blobs[sha(index)] = index;
      entry = { mediaType: INDEX, digest: `sha256:${sha(index)}`, size: index.length };
    }
    const dir = layout(path.join(scratch, 'fanout'), blobs, { schemaVersion: 2, manifests: [entry] });
    const platforms = await runJson<{ platforms: unknown[] }>(['platforms', `oci:${dir}`]);
    expect(platforms.code).toBe(0);
    expect(platforms.json.platforms).toHaveLength(1); // distinct manifests, not 4^7 paths
    const layers = await runJson<{ images?: unknown[]; layers?: unknown[] }>(['layers', `oci:${dir}`, '--all-platforms']);
    expect(layers.code).toBe(0);
    expect(layers.json.images ?? [layers.json]).toHaveLength(1);
  });

  test('indexes nested deeper than 8 levels are refused with exit 3', async () => {
    const blobs: Record<string, Buffer> = {};
    let entry: object = smallImage(blobs);
    for (let level = 0; level < 12; level++) {
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [entry] }));
      blobs[sha(index)] = index;
      entry = { mediaType: INDEX, digest: `sha256:${sha(index)}`, size: index.length };
    }
    const dir = layout(path.join(scratch, 'deep-index'), blobs, { schemaVersion: 2, manifests: [entry] });
    expectOneLine(await runCli(['platforms', `oci:${dir}`]), 3, /nested more than 8 deep/);
    expectOneLine(await runCli(['layers', `oci:${dir}`]), 3, /nested more than 8 deep/);
  });
});

describe('deep paths', () => {
  test('a path longer than PATH_MAX (5,000 levels) is refused as no runtime can extract it, as umoci refuses it', async () => {
    requireTools('umoci');
    const dir = path.join(scratch, 'too-deep');
    writeImage(dir, 'x', [await layerTar([{ name: `${'a/'.repeat(5000)}.env`, content: 'SECRET=1' }])]);
    for (const command of ['files', 'waste', 'analyze', 'layers', 'check']) {
      expectOneLine(await runCli([command, `oci:${dir}:x`]), 3, /cannot be extracted: entry .* more than Linux allows \(PATH_MAX 4096\)/);
    }
    const umoci = spawnSync('umoci', ['unpack', '--rootless', '--image', `${dir}:x`, path.join(scratch, 'too-deep-bundle')]);
    expect(umoci.status).not.toBe(0);
    expect(umoci.stderr.toString()).toMatch(/file name too long/);
  });

  test('a name component longer than NAME_MAX is refused', async () => {
    const dir = path.join(scratch, 'long-name');
    writeImage(dir, 'x', [await layerTar([{ name: `app/${'n'.repeat(300)}`, content: 'x' }])]);
    expectOneLine(await runCli(['files', `oci:${dir}:x`]), 3, /NAME_MAX 255/);
  });

  test('the deepest extractable tree (2,040 levels) works in every command, without recursion', async () => {
    const dir = path.join(scratch, 'deepest');
    const name = `${'d/'.repeat(2040)}f`;
    writeImage(dir, 'x', [await layerTar([{ name, content: 'x' }]), await layerTar([{ name: `${'d/'.repeat(1000)}.wh.d` }])]);
    const files = await runJson<{ files: { path: string }[] }>(['files', `oci:${dir}:x`]);
    expect(files.code).toBe(0);
    expect(files.json.files).toHaveLength(1000); // the whiteout removed everything below level 1000
    for (const command of ['waste', 'analyze', 'layers', 'check', 'diff']) {
      const args = command === 'diff' ? [command, `oci:${dir}:x`, `oci:${dir}:x`] : [command, `oci:${dir}:x`];
      const result = await runCli(args);
      expect({ command, code: result.code, stderr: result.stderr }).toEqual({ command, code: 0, stderr: '' });
    }
    const table = await runCli(['files', `oci:${dir}:x`, '--depth', '5000']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n').length).toBeGreaterThan(1000);
    // A filter walks the whole tree too, and the HTML report takes a size tree as of each layer.
    const filtered = await runCli(['files', `oci:${dir}:x`, '--glob', '**/d/d', '--depth', '5000']);
    expect({ code: filtered.code, stderr: filtered.stderr }).toEqual({ code: 0, stderr: '' });
    const html = await runCli(['analyze', `oci:${dir}:x`, '--format', 'html', '-o', path.join(scratch, 'deepest.html')]);
    expect({ code: html.code, stderr: html.stderr }).toEqual({ code: 0, stderr: '' });
  });
  test('many deep chains (a 6 kB gzip whose listing would be 800 MB of paths) are refused quickly with exit 3', async () => {
    const dir = path.join(scratch, 'deep-chains');
    const entries = Array.from({ length: 200 }, (_, i) => ({ name: `c${String(i).padStart(3, '0')}/${'a/'.repeat(2040)}f`, content: 'x' }));
    writeImage(dir, 'x', [await layerTar(entries)]);
    for (const command of ['layers', 'check', 'files']) expectOneLine(await runCli([command, `oci:${dir}:x`]), 3, /more than 256 MiB of paths/);
  });
});

describe('open files', () => {
  test('a docker save listing 2,000 layers reads under ulimit -n 256', async () => {
    const dir = path.join(scratch, 'many-layers');
    mkdirSync(dir, { recursive: true });
    const layers: string[] = [];
    const diffIds: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const tar = await layerTar([{ name: `f${i}`, content: `${i}` }]);
      const name = `${String(i).padStart(4, '0')}/layer.tar`;
      mkdirSync(path.join(dir, path.dirname(name)), { recursive: true });
      writeFileSync(path.join(dir, name), tar);
      layers.push(name);
      diffIds.push(`sha256:${sha(tar)}`);
    }
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} });
    writeFileSync(path.join(dir, 'config.json'), config);
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['many:1'], Layers: layers }]));
    const archive = path.join(scratch, 'many-layers.tar');
    execFileSync('tar', ['-cf', archive, '-C', dir, '.']);
    const bin = path.join(ROOT, 'bin', 'layerlens.js');
    const result = spawnSync('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${bin}" layers "${archive}" --json`], { maxBuffer: 64 << 20 });
    expect(result.stderr.toString()).toBe('');
    expect(result.status).toBe(0);
    expect((JSON.parse(result.stdout.toString()) as { layers: unknown[] }).layers).toHaveLength(2000);
  });
});
