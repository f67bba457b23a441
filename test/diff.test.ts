/**
 * diff on real pairs, checked against `diff -r` of the two root filesystems that umoci unpacks: the amd64 and
 * arm64 samples, an image and one built FROM it (sharing its base), and the same image in two formats.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runJson, SAMPLES } from './helpers/cli.js';

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

describe('config changes: env and labels one variable at a time', () => {
  beforeAll(() => {
    // A copy of amd64 (env: PATH=/bin) whose env umoci rewrites: PATH changed, FOO and BAR added; and one more copy
    // with FOO changed and BAR gone, so that every kind of change is seen. Labels change the same way.
    const layout = path.join(work, 'layout');
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci:${layout}:env1`]);
    execFileSync('umoci', ['config', '--image', `${layout}:env1`, '--clear=config.env', '--config.env', 'PATH=/opt/app/bin:/bin', '--config.env', 'FOO=bar', '--config.env', 'BAR=1', '--config.label', 'org.example.tier=web']);
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:env1`, `oci:${layout}:env2`]);
    execFileSync('umoci', ['config', '--image', `${layout}:env2`, '--clear=config.env', '--config.env', 'PATH=/opt/app/bin:/bin', '--config.env', 'FOO=baz', '--clear=config.labels', '--config.label', 'org.example.tier=api']);
  });

  /** The image's env as its config holds it, from skopeo (the oracle). */
  function envOf(tag: string): string[] {
    const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${path.join(work, 'layout')}:${tag}`], { encoding: 'utf8' })) as { config: { Env?: string[] } };
    return config.config.Env ?? [];
  }

  test('JSON: entries name each variable that differs, with both values', async () => {
    const { json } = await runJson<{ diff: { config: { field: string; entries?: { key: string; a: string | null; b: string | null }[] }[] } }>(['diff', `oci:${path.join(work, 'layout')}:amd64`, `oci:${path.join(work, 'layout')}:env1`]);
    expect(envOf('amd64')).toEqual(['PATH=/bin']);
    expect(envOf('env1').sort()).toEqual(['BAR=1', 'FOO=bar', 'PATH=/opt/app/bin:/bin']);
    const env = json.diff.config.find((change) => change.field === 'env')!;
    expect(env.entries).toEqual(
      expect.arrayContaining([
        { key: 'PATH', a: '/bin', b: '/opt/app/bin:/bin' },
        { key: 'FOO', a: null, b: 'bar' },
        { key: 'BAR', a: null, b: '1' },
      ]),
    );
    expect(env.entries).toHaveLength(3);
    expect(json.diff.config.find((change) => change.field === 'labels')!.entries).toEqual([{ key: 'org.example.tier', a: null, b: 'web' }]);
  });

  test('table: + FOO=bar, - BAR=1, ~ FOO: bar → baz, one line each; markdown likewise', async () => {
    const table = await runCli(['diff', `oci:${path.join(work, 'layout')}:env1`, `oci:${path.join(work, 'layout')}:env2`, '--no-color']);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    const at = lines.indexOf('  env:');
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1, at + 3).sort()).toEqual(['    - BAR=1', '    ~ FOO: bar → baz']);
    expect(lines).toContain('  labels:');
    expect(lines).toContain('    ~ org.example.tier: web → api');
    // PATH is the same on both sides: not listed.
    expect(table.stdout).not.toMatch(/PATH/);
    const added = await runCli(['diff', `oci:${path.join(work, 'layout')}:amd64`, `oci:${path.join(work, 'layout')}:env1`, '--no-color']);
    expect(added.stdout.split('\n')).toEqual(expect.arrayContaining(['    + FOO=bar', '    + BAR=1', '    ~ PATH: /bin → /opt/app/bin:/bin']));
    const markdown = await runCli(['diff', `oci:${path.join(work, 'layout')}:env1`, `oci:${path.join(work, 'layout')}:env2`, '--format', 'markdown']);
    expect(markdown.stdout).toContain('  - - `BAR=1`');
    expect(markdown.stdout).toContain('  - ~ `FOO`: `bar` → `baz`');
  });

  test('one minus sign and one percent style: ASCII -, "12.34 %", deltas signed', async () => {
    const { stdout } = await runCli(['diff', `oci:${path.join(work, 'layout')}:child`, `oci:${path.join(work, 'layout')}:amd64`, '--no-color']);
    expect(stdout).not.toContain('\u2212');
    expect(stdout).toMatch(/^Efficiency +\d+\.\d\d % +\d+\.\d\d % +[+-]?\d+\.\d\d pt$/m);
    // amd64 has fewer files than the child built FROM it: a negative count, ASCII minus.
    expect(stdout).toMatch(/^Files +\d+ +\d+ +-\d+$/m);
    expect(stdout).toMatch(/^Uncompressed +.* -[\d.]+ k?B$/m);
    expect(stdout).not.toMatch(/\d%/);
  });
});
