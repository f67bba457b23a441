/**
 * Hostile local inputs (issue 14, section 4): JSON nested 100k deep (exit 3 for an image document, exit 2 for a
 * gate config, one line, never "internal error"); an OCI layout whose files are symbolic links out of the layout
 * directory (refused, exit 3, no byte of the outside file in any message); a compressed archive that inflates
 * past the free space of $TMPDIR (exit 3 "disk full", naming the need, the temporary file removed); stdin, read in
 * one pass, never touches $TMPDIR.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT, runCli, runJson, SAMPLES, type CliResult } from './helpers/cli.js';
import { realisticImage, REALISTIC_BUILD_TIMEOUT_MS } from './helpers/realistic.js';
import { putBlob, rawTar, writeLayout } from './helpers/hostile.js';

const DEEP = '['.repeat(100_000) + ']'.repeat(100_000);
const SECRET = 'TOP-SECRET-4f1c';

let work: string;
let plain: string;
let deepCount = 0;

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-hostile-local-'));
  plain = path.join(work, 'plain');
  writeLayout(plain, { layers: [rawTar([{ name: 'app/', type: '5' }, { name: 'app/readme', data: 'hello' }])] });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function expectOneLine(result: CliResult, code: number, pattern: RegExp): string {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^layerlens: /);
  expect(lines[0]).not.toMatch(/internal error/);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  if (code === 3) expect(lines).toHaveLength(1);
  else expect(lines.slice(1)).toEqual(["Run 'layerlens --help' for usage."]);
  return lines[0]!;
}

function copyLayout(name: string): string {
  const target = path.join(work, name);
  cpSync(plain, target, { recursive: true });
  return target;
}

interface Index {
  manifests: { digest: string }[];
}

function blobFile(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

function manifestOf(layout: string): { config: { digest: string }; layers: { digest: string }[] } {
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as Index;
  return JSON.parse(readFileSync(blobFile(layout, index.manifests[0]!.digest), 'utf8')) as ReturnType<typeof manifestOf>;
}

/** Point the index at a new manifest whose config is `configText` (written as a blob, digest and all). */
function withConfig(layout: string, configText: string): void {
  const manifest = manifestOf(layout);
  const config = putBlob(layout, Buffer.from(configText));
  const next = putBlob(layout, Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, ...config } })));
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...next }] }));
}

describe('JSON nested 100k deep', () => {
  test.each([
    ['a config that is nothing but nesting', (layout: string) => withConfig(layout, DEEP), /config sha256:[0-9a-f]{64} in oci:.* is JSON nested more than 100 levels deep/],
    ['a config with a deep value in ExposedPorts (kept as is by the parser)', (layout: string) => withConfig(layout, `{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":${DEEP}}},"rootfs":{"type":"layers","diff_ids":[]}}`), /nested more than 100 levels deep/],
    ['index.json', (layout: string) => writeFileSync(path.join(layout, 'index.json'), `{"schemaVersion":2,"manifests":[],"annotations":${DEEP}}`), /index\.json in oci:.* is JSON nested more than 100 levels deep/],
  ])('%s: exit 3, one line', async (_name, damage, pattern) => {
    const layout = copyLayout(`deep-${++deepCount}`);
    damage(layout);
    for (const command of ['inspect', 'layers', 'verify']) expectOneLine(await runCli([command, `oci:${layout}`]), 3, pattern);
  });

  test("a docker save archive whose manifest.json is nested 100k deep: exit 3, one line", async () => {
    const archive = path.join(work, 'deep-manifest.tar');
    writeFileSync(archive, rawTar([{ name: 'manifest.json', data: `[{"Config":"c.json","RepoTags":[],"Layers":[],"x":${DEEP}}]` }]));
    expectOneLine(await runCli(['inspect', archive]), 3, /manifest\.json in .* is JSON nested more than 100 levels deep/);
  });

  test.each([
    ['.layerlens.json', `{"forbidPaths": ${DEEP}}`],
    ['.layerlens.json', `{"maxSize": ${DEEP}}`],
    ['.layerlens.yml', `forbidPaths: ${DEEP}\n`],
    ['.dive-ci', `rules:\n  lowestEfficiency: ${DEEP}\n`],
  ])('a %s nested 100k deep: exit 2, one line', async (name, text) => {
    const dir = mkdtempSync(path.join(work, 'cfg-'));
    writeFileSync(path.join(dir, name), text);
    expectOneLine(await runCli(['check', `oci:${plain}`], { cwd: dir }), 2, new RegExp(`${name.replace('.', '\\.')} is nested more than 100 levels deep`));
  });

  test('a --baseline report nested 100k deep: exit 2, one line', async () => {
    const file = path.join(work, 'deep-baseline.json');
    writeFileSync(file, `{"totals": ${DEEP}}`);
    expectOneLine(await runCli(['check', `oci:${plain}`, '--baseline', file, '--config', '/dev/null']), 2, /--baseline .* is JSON nested more than 100 levels deep/);
  });
});

describe('an OCI layout whose files link out of the layout directory', () => {
  let outside: string;
  beforeAll(() => {
    outside = path.join(work, 'outside');
    mkdirSync(outside);
    // Files a link could point at: not JSON, JSON, and a copy of the image's own layer (same digest).
    writeFileSync(path.join(outside, 'passwd'), `root:x:0:0:${SECRET}:/root:/bin/sh\n`);
    writeFileSync(path.join(outside, 'config.json'), JSON.stringify({ auths: { 'registry.example': { auth: SECRET } } }));
  });

  function expectRefused(result: CliResult, member: RegExp): void {
    const line = expectOneLine(result, 3, /is a symbolic link to a file outside the layout directory: refused/);
    expect(line).toMatch(member);
    expect(result.stderr).not.toContain(SECRET);
    expect(result.stderr).not.toContain(outside);
  }

  test.each(['inspect', 'layers', 'files', 'verify'])('index.json -> a file outside (%s): exit 3, nothing of it printed', async (command) => {
    const layout = copyLayout(`link-index-${command}`);
    unlinkSync(path.join(layout, 'index.json'));
    symlinkSync(path.join(outside, 'passwd'), path.join(layout, 'index.json'));
    expectRefused(await runCli([command, `oci:${layout}`]), /^layerlens: index\.json in oci:/);
  });

  test('oci-layout -> a file outside: exit 3', async () => {
    const layout = copyLayout('link-oci-layout');
    unlinkSync(path.join(layout, 'oci-layout'));
    symlinkSync(path.join(outside, 'config.json'), path.join(layout, 'oci-layout'));
    expectRefused(await runCli(['verify', `oci:${layout}`]), /^layerlens: oci-layout in oci:/);
  });

  test('the config blob -> a JSON file outside: exit 3, no byte of it printed', async () => {
    const layout = copyLayout('link-config');
    const config = blobFile(layout, manifestOf(layout).config.digest);
    unlinkSync(config);
    symlinkSync(path.join(outside, 'config.json'), config);
    expectRefused(await runCli(['inspect', `oci:${layout}`]), /blobs\/sha256\/[0-9a-f]{64} in oci:/);
  });

  test.each(['inspect', 'layers', 'files', 'verify'])('a layer blob -> an outside copy of itself (same digest) (%s): still refused, exit 3', async (command) => {
    const layout = copyLayout(`link-layer-${command}`);
    const layer = blobFile(layout, manifestOf(layout).layers[0]!.digest);
    const copy = path.join(outside, `layer-${command}`);
    cpSync(layer, copy);
    unlinkSync(layer);
    symlinkSync(copy, layer);
    expectRefused(await runCli([command, `oci:${layout}`]), /blobs\/sha256\/[0-9a-f]{64} in oci:/);
  });

  test('the blobs directory -> a directory outside: exit 3', async () => {
    const layout = copyLayout('link-blobs');
    const elsewhere = path.join(outside, 'blobs');
    cpSync(path.join(layout, 'blobs'), elsewhere, { recursive: true });
    rmSync(path.join(layout, 'blobs'), { recursive: true });
    symlinkSync(elsewhere, path.join(layout, 'blobs'));
    expectRefused(await runCli(['layers', `oci:${layout}`]), /blobs\/sha256\/[0-9a-f]{64} in oci:/);
  });

  test('links inside the layout, and a layout reached through a link, still read', async () => {
    const layout = copyLayout('link-inside');
    const layer = blobFile(layout, manifestOf(layout).layers[0]!.digest);
    const moved = path.join(layout, 'blobs', 'stored-layer');
    cpSync(layer, moved);
    unlinkSync(layer);
    symlinkSync(path.relative(path.dirname(layer), moved), layer);
    expect((await runCli(['verify', `oci:${layout}`])).code).toBe(0);
    const alias = path.join(work, 'alias-of-layout');
    symlinkSync(layout, alias);
    expect((await runCli(['verify', `oci:${alias}`])).code).toBe(0);
  });

  test('a JSON error quotes no bytes of the document', async () => {
    const layout = copyLayout('not-json');
    writeFileSync(path.join(layout, 'index.json'), `root:x:0:0:${SECRET}`);
    const line = expectOneLine(await runCli(['inspect', `oci:${layout}`]), 3, /index\.json in oci:.* is not valid JSON/);
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain('root:x');
  });
});

/** runCli, for input the CLI may stop reading (it exits on the error): the EPIPE that the writer gets is expected. */
function runFedStdin(args: string[], input: Buffer, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'layerlens.js'), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env } });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => {});
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    child.stdin.end(input);
  });
}

test('a docker save whose manifest.json is named junk/../manifest.json reads the same from a file as from stdin (member names cleaned once, as docker load does)', async () => {
  const dir = path.join(work, 'dotdot');
  mkdirSync(dir);
  execFileSync('tar', ['-xf', path.join(SAMPLES, 'busybox-amd64.tar'), '-C', dir]);
  const archive = path.join(work, 'dotdot.tar');
  execFileSync('tar', ['-cf', archive, '--transform', 's,^manifest.json$,junk/../manifest.json,', '-C', dir, ...readdirSync(dir)]);
  const fromFile = await runCli(['inspect', '--json', archive]);
  const fromStdin = await runCli(['inspect', '--json', '-'], { input: readFileSync(archive) });
  expect([fromFile.code, fromStdin.code]).toEqual([0, 0]);
  const strip = (text: string) => ({ ...(JSON.parse(text) as Record<string, unknown>), source: null });
  expect(strip(fromFile.stdout)).toEqual(strip(fromStdin.stdout));
});

describe("a Docker 25+ docker save whose OCI index claims the image's platform", () => {
  /** A Docker 25+ save of the plain layout's image: its OCI layout, the index entry claiming `platform`, and manifest.json. */
  function docker25Save(name: string, platform: { os: string; architecture: string }): string {
    const layout = copyLayout(name);
    const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Record<string, unknown>[] };
    index.manifests[0]!.platform = platform;
    writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));
    const manifest = manifestOf(layout);
    const member = (digest: string) => `blobs/sha256/${digest.slice('sha256:'.length)}`;
    writeFileSync(path.join(layout, 'manifest.json'), JSON.stringify([{ Config: member(manifest.config.digest), RepoTags: ['plain:1'], Layers: manifest.layers.map((layer) => member(layer.digest)) }]));
    const archive = path.join(work, `${name}.tar`);
    execFileSync('tar', ['-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'manifest.json', 'blobs']);
    return `docker-archive:${archive}`;
  }

  test('the claim is checked against the config, as an index entry of any source is: true passes, false fails (exit 1)', async () => {
    const honest = await runJson<{ verify: { ok: boolean; checks: { what: string; ok: boolean; expected: unknown; actual: unknown }[] } }>(['verify', docker25Save('docker25-honest', { os: 'linux', architecture: 'amd64' })]);
    expect(honest.code).toBe(0);
    expect(honest.json.verify.checks.filter((check) => check.what === 'platform in the index matches the config')).toEqual([expect.objectContaining({ ok: true, expected: 'linux/amd64', actual: 'linux/amd64' })]);

    const lying = await runJson<{ verify: { ok: boolean; checks: { what: string; ok: boolean; expected: unknown; actual: unknown }[] } }>(['verify', docker25Save('docker25-lying', { os: 'linux', architecture: 'arm64' })]);
    expect(lying.code).toBe(1);
    expect(lying.json.verify.ok).toBe(false);
    expect(lying.json.verify.checks.filter((check) => !check.ok)).toEqual([expect.objectContaining({ what: 'platform in the index matches the config', expected: 'linux/arm64', actual: 'linux/amd64' })]);
  });
});

describe('a compressed archive that inflates past the free space of $TMPDIR', () => {
  let small: string;
  let mounted = false;
  let env: NodeJS.ProcessEnv;
  const BOMB = Buffer.alloc(64 * 2 ** 20); // 64 MiB of zeros: 65 kB of gzip

  beforeAll(() => {
    small = path.join(work, 'small-tmp');
    mkdirSync(small);
    // A real 20 MiB filesystem when we may mount one (root); else the documented cap on what an archive may
    // be unpacked to, LAYERLENS_MAX_SPILL, stands in for it.
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', small], { stdio: 'ignore' });
      mounted = true;
    } catch {
      mounted = false;
    }
    env = mounted ? { TMPDIR: small, LAYERLENS_TMPDIR: small } : { TMPDIR: small, LAYERLENS_TMPDIR: small, LAYERLENS_MAX_SPILL: '20MiB' };
    writeFileSync(path.join(work, 'bomb.tar.gz'), gzipSync(BOMB));
    // Two gzip members: the size field at the end (ISIZE) is the last, tiny member's, so only the streaming check sees it.
    writeFileSync(path.join(work, 'bomb-lying-size.tar.gz'), Buffer.concat([gzipSync(BOMB), gzipSync(Buffer.alloc(10))]));
    writeFileSync(path.join(work, 'busybox.tar.gz'), gzipSync(readFileSync(path.join(SAMPLES, 'busybox-amd64.tar'))));
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', [small]);
  });

  const pattern = () => (mounted ? /: disk full: unpacking it into .* needs (more than )?[\d.]+ [kMG]?B, [\d.]+ [kMG]?B free \(layerlens leaves [\d.]+ [kMG]?B free there\)/ : /: unpacking it needs more than 21.0 MB, the LAYERLENS_MAX_SPILL limit/);

  test('gzip whose size field says it cannot fit: exit 3 at once, naming the need', async () => {
    const line = expectOneLine(await runCli(['layers', path.join(work, 'bomb.tar.gz')], { env }), 3, pattern());
    if (mounted) expect(line).toMatch(/needs 67\.1 MB, /);
    expect(readdirSync(small)).toEqual([]);
  });

  test('gzip whose size field lies: stopped as it spills, exit 3 "disk full", never "corrupt gzip data"', async () => {
    const line = expectOneLine(await runCli(['layers', path.join(work, 'bomb-lying-size.tar.gz')], { env }), 3, pattern());
    expect(line).not.toMatch(/corrupt|ENOSPC/);
    expect(readdirSync(small)).toEqual([]);
  });

  // Standard input is read in one pass (issue 21): it never spills, so no stdin can fill $TMPDIR.
  test('a tarball on stdin larger than the free space of $TMPDIR is read in one pass, writing nothing there', async () => {
    const image = await realisticImage();
    const fromFile = await runJson<{ layers: unknown[]; totals: unknown }>(['layers', '--json', image.dockerArchive], { env });
    const fromStdin = await runFedStdin(['layers', '--json', '-'], readFileSync(image.dockerArchive), env);
    expect(fromStdin.stderr).toBe('');
    expect(fromStdin.code).toBe(0);
    const json = JSON.parse(fromStdin.stdout) as { layers: unknown[]; totals: { uncompressedSize: number } };
    expect(json.totals.uncompressedSize).toBe(image.info.uncompressedSize);
    expect(json.totals.uncompressedSize).toBeGreaterThan(300e6); // more than the 20 MiB $TMPDIR could ever hold
    expect({ layers: json.layers, totals: json.totals }).toEqual({ layers: fromFile.json.layers, totals: fromFile.json.totals });
    expect(readdirSync(small)).toEqual([]);
  }, REALISTIC_BUILD_TIMEOUT_MS);

  test('64 MiB of zeros on stdin: exit 3 "not a tar archive" at once, nothing written to $TMPDIR', async () => {
    expectOneLine(await runFedStdin(['layers', '-'], BOMB, env), 3, /^layerlens: standard input is not a tar archive/);
    expect(readdirSync(small)).toEqual([]);
  });

  test('a gzip bomb on stdin is inflated in memory as it streams, never spilled: exit 3, nothing written to $TMPDIR', async () => {
    expectOneLine(await runFedStdin(['layers', '-'], gzipSync(BOMB), env), 3, /^layerlens: standard input is not a tar archive/);
    expect(readdirSync(small)).toEqual([]);
  });

  test('stdin with one flipped byte inside a layer: the pass still finds it, exit 1 naming expected and actual diff_id', async () => {
    const damaged = readFileSync(path.join(SAMPLES, 'busybox-amd64.tar'));
    damaged[512 + 1_000_000]! ^= 0xff; // inside the busybox binary of layer 0: the tar stays valid, its sha256 does not
    const result = await runFedStdin(['layers', '--json', '-'], damaged, env);
    expect(result.code).toBe(1);
    const failed = (JSON.parse(result.stdout) as { verify: { checks: { ok: boolean; kind: string; expected: string; actual: string }[] } }).verify.checks.filter((check) => !check.ok);
    expect(failed).toEqual([expect.objectContaining({ kind: 'diffId', expected: 'sha256:edc487aa0a9a3e969687b8567495996feba922a6aedaada13953376f1db54fb6', actual: expect.stringMatching(/^sha256:(?!edc487)/) })]);
    expect(readdirSync(small)).toEqual([]);
  });

  test('stdin cut short inside a layer: exit 3, one line "truncated", no stray error', async () => {
    const archive = readFileSync(path.join(SAMPLES, 'busybox-amd64.tar'));
    expectOneLine(await runFedStdin(['layers', '-'], archive.subarray(0, 1_500_000), env), 3, /^layerlens: standard input is truncated: /);
    expect(readdirSync(small)).toEqual([]);
  });

  test("temporary directories of killed runs (their pid gone) are swept at the next spill; a live process's are kept", async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = await new Promise<number>((resolve) => dead.on('exit', () => resolve(dead.pid!)));
    const stale = path.join(small, `layerlens-engine-${deadPid}-AbC123`);
    const live = path.join(small, `layerlens-archive-${process.pid}-XyZ789`);
    for (const dir of [stale, live]) {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'image.tar'), 'left behind');
    }
    const result = await runCli(['layers', path.join(work, 'busybox.tar.gz')], { env });
    expect(result.code).toBe(0);
    expect(readdirSync(small)).toEqual([path.basename(live)]);
    rmSync(live, { recursive: true });
  });

  test('an archive that fits is read as before', async () => {
    const result = await runCli(['layers', path.join(work, 'busybox.tar.gz')], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(existsSync(small) && readdirSync(small)).toEqual([]);
  });
});
