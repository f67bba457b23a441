/**
 * diff on real pairs, checked against `diff -r` of the two root filesystems that umoci unpacks: the amd64 and
 * arm64 samples, an image and one built FROM it (sharing its base), and the same image in two formats.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runJson, SAMPLES } from './helpers/cli.js';

interface DiffJson {
  diff: {
    files: { added: { path: string; size: number }[]; removed: { path: string }[]; changed: { path: string; what: string[]; sizeDelta: number }[] };
    layers: { shared: { by: string }[]; onlyA: unknown[]; onlyB: unknown[]; commonBase: number };
    totals: { compressedSizeDelta: number; measure: string | null; uncompressedSizeDelta: number; filesDelta: number };
    config: { field: string }[];
  };
}

const LAYOUT = path.join(SAMPLES, 'busybox-oci');
let work: string;

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-diff-'));
  // One OCI layout per platform (umoci cannot unpack a multi-platform index), then an image built FROM amd64.
  for (const arch of ['amd64', 'arm64']) {
    execFileSync('skopeo', ['copy', '--quiet', '--override-arch', arch, `oci:${LAYOUT}:latest`, `oci:${path.join(work, 'layout')}:${arch}`]);
  }
  execFileSync('skopeo', ['copy', '--quiet', `oci:${path.join(work, 'layout')}:amd64`, `oci:${path.join(work, 'layout')}:child`]);
  const bundle = path.join(work, 'child-bundle');
  execFileSync('umoci', ['unpack', '--image', `${path.join(work, 'layout')}:child`, bundle]);
  mkdirSync(path.join(bundle, 'rootfs', 'srv', 'app'), { recursive: true });
  writeFileSync(path.join(bundle, 'rootfs', 'srv', 'app', 'main.txt'), 'hello from the child image\n'.repeat(100));
  writeFileSync(path.join(bundle, 'rootfs', 'etc', 'group'), 'root:x:0:\nwheel:x:10:root\napp:x:1000:\n');
  rmSync(path.join(bundle, 'rootfs', 'app', 'data', 'numbers.txt'));
  execFileSync('umoci', ['repack', '--image', `${path.join(work, 'layout')}:child`, bundle]);
  execFileSync('umoci', ['config', '--image', `${path.join(work, 'layout')}:child`, '--config.user', '1000']);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Paths that differ between two unpacked images, from GNU diff (-r, no dereferencing). */
function unpackAndDiff(tagA: string, tagB: string): { onlyA: string[]; onlyB: string[]; differ: string[] } {
  const bundleA = path.join(work, `bundle-${tagA}-${Date.now()}`);
  const bundleB = path.join(work, `bundle-${tagB}-${Date.now()}`);
  execFileSync('umoci', ['unpack', '--image', `${path.join(work, 'layout')}:${tagA}`, bundleA]);
  execFileSync('umoci', ['unpack', '--image', `${path.join(work, 'layout')}:${tagB}`, bundleB]);
  let output = '';
  try {
    execFileSync('diff', ['-r', '--no-dereference', '-q', path.join(bundleA, 'rootfs'), path.join(bundleB, 'rootfs')], { encoding: 'utf8' });
  } catch (error) {
    output = (error as { stdout: string }).stdout;
  }
  const rel = (dir: string, name: string, root: string) => '/' + path.relative(path.join(root, 'rootfs'), path.join(dir, name));
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  const differ: string[] = [];
  for (const line of output.split('\n').filter(Boolean)) {
    const only = /^Only in (.*): (.*)$/.exec(line);
    if (only) {
      if (only[1]!.startsWith(bundleA)) onlyA.push(rel(only[1]!, only[2]!, bundleA));
      else onlyB.push(rel(only[1]!, only[2]!, bundleB));
      continue;
    }
    const files = /^(?:Files|Symbolic links) (.*) and (.*) differ$/.exec(line);
    if (files) differ.push('/' + path.relative(path.join(bundleA, 'rootfs'), files[1]!));
    else differ.push(line);
  }
  return { onlyA: onlyA.sort(), onlyB: onlyB.sort(), differ: differ.sort() };
}

/** Our lists reduced to what diff -r shows: top-most added/removed paths, and paths whose content differs. */
function topLevel(paths: string[]): string[] {
  const sorted = [...paths].sort();
  return sorted.filter((candidate) => !sorted.some((other) => other !== candidate && candidate.startsWith(`${other}/`)));
}

test('an image built FROM another shares its base, and the file changes equal diff -r of the unpacked images', async () => {
  const { code, json } = await runJson<DiffJson>(['diff', `oci:${path.join(work, 'layout')}:amd64`, `oci:${path.join(work, 'layout')}:child`]);
  expect(code).toBe(0);
  expect(json.diff.layers.commonBase).toBe(3);
  expect(json.diff.layers.shared.every((layer) => layer.by === 'digest')).toBe(true);
  expect(json.diff.layers.onlyB).toHaveLength(1);
  expect(json.diff.config.map((change) => change.field)).toContain('user');
  const oracle = unpackAndDiff('amd64', 'child');
  expect(topLevel(json.diff.files.added.map((file) => file.path))).toEqual(oracle.onlyB);
  expect(topLevel(json.diff.files.removed.map((file) => file.path))).toEqual(oracle.onlyA);
  expect(json.diff.files.changed.filter((file) => file.what.includes('content') || file.what.includes('linkTarget')).map((file) => file.path).sort()).toEqual(oracle.differ);
  expect(json.diff.files.changed.find((file) => file.path === '/etc/group')!.sizeDelta).toBe('root:x:0:\nwheel:x:10:root\napp:x:1000:\n'.length - 27);
});

test('amd64 against arm64: the shared upper layers are found, the binaries differ as diff -r says', async () => {
  const { json } = await runJson<DiffJson>(['diff', `oci:${path.join(work, 'layout')}:amd64`, `oci:${path.join(work, 'layout')}:arm64`]);
  expect(json.diff.layers.commonBase).toBe(0);
  expect(json.diff.layers.shared).toHaveLength(2);
  expect(json.diff.config.map((change) => change.field)).toContain('platform');
  const oracle = unpackAndDiff('amd64', 'arm64');
  expect(json.diff.files.added.map((file) => file.path)).toEqual(oracle.onlyB);
  expect(json.diff.files.removed.map((file) => file.path)).toEqual(oracle.onlyA);
  expect(json.diff.files.changed.filter((file) => file.what.includes('content')).map((file) => file.path).sort()).toEqual(oracle.differ);
});

test('the same image as an OCI layout and as a docker save has no file differences', async () => {
  const { code, json } = await runJson<DiffJson>(['diff', `oci:${LAYOUT}`, path.join(SAMPLES, 'busybox-amd64.tar'), '--platform', 'linux/amd64']);
  expect(code).toBe(0);
  expect(json.diff.files).toEqual({ added: [], removed: [], changed: [] });
  expect(json.diff.layers.shared.every((layer) => layer.by === 'diffId')).toBe(true); // gzip vs uncompressed blobs
  expect(json.diff.layers.commonBase).toBe(3);
  expect(json.diff.totals.uncompressedSizeDelta).toBe(0);
  // Like with like: the same layers stored two ways are no growth (before schemaVersion 2 this was the gzip
  // layout's size against the tar's, ~930 kB "growth" of the same image).
  expect(json.diff.totals.compressedSizeDelta).toBe(0);
  expect(json.diff.totals.measure).toBe('compressed size; 3 layer(s) shared by diffId count 0');
});
