/**
 * CONTRACT.md "Damage is a finding", on several images at once, and "one read, several outputs". Each test damages
 * a copy of the bundled multi-arch sample (a flipped byte: bytes that no longer hash to their digest; a deleted
 * blob: an image that cannot be read) or reads oras-go's hello-world.tar (an archive holding 1 of its index's 11
 * platforms), and checks exit codes, the document and stderr. The expected digests come from sha256sum.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, runCli, runJson, SAMPLES } from './helpers/cli.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-damage-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Descriptor {
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  mediaType: string;
}
interface Check {
  kind: string;
  ok: boolean;
  what: string;
  subject: string;
  manifest: string | null;
  expected: unknown;
  actual: unknown;
}
interface ImageJson {
  platform: { architecture: string };
  manifestDigest: string;
  layers: { digest: string; uncompressedSize: number | null }[];
  verify: { ok: boolean; checks: Check[]; skipped: { subject: string; reason: string; platform?: string }[] };
  blocked: { layer: number; digest: string; damaged: boolean }[];
}
interface MultiJson {
  images: ImageJson[];
  errors: { manifestDigest: string; platform: string; exitCode: number; message: string }[];
  verify: { ok: boolean; checks: Check[]; skipped: { subject: string; reason: string; platform?: string }[] };
}

const blob = (dir: string, digest: string) => path.join(dir, 'blobs', 'sha256', digest.slice(7));
const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const sha256 = (file: string) => `sha256:${execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]}`;

/** A copy of samples/busybox-oci (index → index → amd64, arm64) and its two image manifests by architecture. */
function sampleLayout(name: string): { dir: string; manifests: Record<string, Descriptor>; layers: Record<string, Descriptor[]>; configs: Record<string, Descriptor> } {
  const dir = path.join(work, name);
  cpSync(path.join(SAMPLES, 'busybox-oci'), dir, { recursive: true });
  const top = readJson<{ manifests: Descriptor[] }>(path.join(dir, 'index.json'));
  const inner = readJson<{ manifests: Descriptor[] }>(blob(dir, top.manifests[0]!.digest));
  const manifests: Record<string, Descriptor> = {};
  const layers: Record<string, Descriptor[]> = {};
  const configs: Record<string, Descriptor> = {};
  for (const entry of inner.manifests) {
    const arch = entry.platform!.architecture;
    manifests[arch] = entry;
    const manifest = readJson<{ layers: Descriptor[]; config: Descriptor }>(blob(dir, entry.digest));
    layers[arch] = manifest.layers;
    configs[arch] = manifest.config;
  }
  return { dir, manifests, layers, configs };
}

function flipByte(file: string): void {
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(file, bytes);
}

function expectNoTrace(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|^\s+at /m);
}

describe('one platform damaged: the others are still read and checked', () => {
  let layout: ReturnType<typeof sampleLayout>;
  let actual: string;
  beforeAll(() => {
    layout = sampleLayout('one-damaged');
    const victim = blob(layout.dir, layout.layers.arm64![0]!.digest);
    flipByte(victim);
    actual = sha256(victim);
  });

  test('verify of the index: exit 1, amd64 passes every check, arm64 fails its blob digest and names what it blocked', async () => {
    const { code, json, stderr } = await runJson<MultiJson>(['verify', `oci:${layout.dir}`]);
    expectNoTrace(stderr);
    expect(code).toBe(1);
    const byArch = Object.fromEntries(json.images.map((image) => [image.platform.architecture, image]));
    expect(Object.keys(byArch).sort()).toEqual(['amd64', 'arm64']);
    expect(byArch.amd64!.verify.ok).toBe(true);
    expect(byArch.amd64!.verify.checks.filter((check) => check.what.endsWith('blob digest'))).toHaveLength(layout.layers.amd64!.length);
    expect(byArch.arm64!.verify.checks.filter((check) => !check.ok)).toEqual([
      expect.objectContaining({ kind: 'layer', what: 'layer 0 blob digest', subject: layout.layers.arm64![0]!.digest, expected: layout.layers.arm64![0]!.digest, actual }),
    ]);
    expect(byArch.arm64!.blocked).toEqual([expect.objectContaining({ layer: 0, damaged: true, digest: layout.layers.arm64![0]!.digest })]);
    expect(json.errors).toEqual([]);
    expect(json.verify.ok).toBe(false);
  });

  test('layers --all-platforms: both reports, the damaged layer null, exit 1; files --all-platforms: amd64 listed, arm64 one line, exit 1', async () => {
    const layers = await runJson<MultiJson>(['layers', `oci:${layout.dir}`, '--all-platforms']);
    expect(layers.code).toBe(1);
    expect(layers.json.images).toHaveLength(2);
    const arm = layers.json.images.find((image) => image.platform.architecture === 'arm64')!;
    expect(arm.layers[0]!.uncompressedSize).toBeNull();
    expect(arm.layers[1]!.uncompressedSize).not.toBeNull();
    const files = await runJson<MultiJson & { images: (ImageJson & { files: unknown[] })[] }>(['files', `oci:${layout.dir}`, '--all-platforms']);
    expect(files.code).toBe(1);
    expect(files.json.images.map((image) => image.platform.architecture)).toEqual(['amd64']);
    expect(files.json.images[0]!.files.length).toBeGreaterThan(0);
    expect(files.json.errors).toEqual([expect.objectContaining({ manifestDigest: layout.manifests.arm64!.digest, platform: 'linux/arm64/v8', exitCode: 1, message: expect.stringContaining(`the blob's sha256 is ${actual}`) })]);
    expect(files.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^layerlens: layer 0 .*the blob's sha256 is ${actual}`))]);
  });

  test('the table says which figures the damage leaves unknown, and check fails on integrity (rules it blocks are skipped)', async () => {
    const table = await runCli(['layers', `oci:${layout.dir}`, '--platform', 'linux/arm64']);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/unknown because of it: layer 0's diffId, sizes and files, the changes of layers 0–2/);
    const check = await runJson<{ check: { passed: boolean; rules: { name: string; status: string; message: string }[] } }>(['check', `oci:${layout.dir}`, '--platform', 'linux/arm64', '--lowest-efficiency', '0.5', '--max-size', '10MB']);
    expect(check.code).toBe(1);
    expect(check.json.check.passed).toBe(false);
    const rules = Object.fromEntries(check.json.check.rules.map((rule) => [rule.name, rule]));
    expect(rules.lowestEfficiency).toMatchObject({ status: 'skip', message: expect.stringMatching(/not evaluated: layer 0 .* is damaged/) });
    // The pull cost comes from the descriptors, which the damage does not touch.
    expect(rules.maxSize).toMatchObject({ status: 'pass' });
  });
});

describe('one platform damaged, another unreadable: exit 3, the damage still in the document', () => {
  test('verify: the unreadable platform is under errors (exit 3), the damaged one keeps its failed check', async () => {
    const layout = sampleLayout('damaged-and-unreadable');
    flipByte(blob(layout.dir, layout.layers.arm64![0]!.digest));
    rmSync(blob(layout.dir, layout.configs.amd64!.digest));
    const { code, json, stderr } = await runJson<MultiJson>(['verify', `oci:${layout.dir}`]);
    expectNoTrace(stderr);
    expect(code).toBe(3);
    expect(json.images.map((image) => image.platform.architecture)).toEqual(['arm64']);
    expect(json.errors).toEqual([expect.objectContaining({ manifestDigest: layout.manifests.amd64!.digest, platform: 'linux/amd64', exitCode: 3, message: expect.stringContaining(layout.configs.amd64!.digest) })]);
    expect(json.verify.checks.filter((check) => !check.ok).map((check) => check.what)).toEqual(['layer 0 blob digest']);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: .*config.*missing/)]);
    const table = await runCli(['verify', `oci:${layout.dir}`]);
    expect(table.code).toBe(3);
    expect(table.stdout).toMatch(/1 of \d+ checks failed; 1 image\(s\) could not be checked to the end/);
  });

  test('a damaged manifest (not JSON, not its digest) is a finding of its own: exit 1 alone, beside the other platform', async () => {
    const layout = sampleLayout('damaged-manifest');
    writeFileSync(blob(layout.dir, layout.manifests.arm64!.digest), 'garbage');
    const single = await runCli(['inspect', `oci:${layout.dir}`, '--platform', 'linux/arm64']);
    expect(single.code).toBe(1);
    expect(single.stderr.trim().split('\n')).toEqual([expect.stringMatching(/manifest blob is damaged: its sha256 is sha256:[0-9a-f]{64}, not sha256:/)]);
    const { code, json } = await runJson<MultiJson>(['verify', `oci:${layout.dir}`]);
    expect(code).toBe(1);
    expect(json.images.map((image) => image.platform.architecture)).toEqual(['amd64']);
    expect(json.errors).toEqual([expect.objectContaining({ manifestDigest: layout.manifests.arm64!.digest, exitCode: 1 })]);
    expect(json.verify.checks.filter((check) => !check.ok)).toEqual([
      expect.objectContaining({ kind: 'manifest', what: 'manifest digest', expected: layout.manifests.arm64!.digest }),
      expect.objectContaining({ kind: 'manifest', what: 'manifest size', expected: layout.manifests.arm64!.size, actual: 7 }),
    ]);
  });
});

describe('platforms of an index with a damaged platform: the damage is a finding, every platform is listed', () => {
  interface PlatformsJson {
    platforms: { architecture: string; digest: string; available: boolean; layers: number | null; compressedSize: number | null }[];
    verify: { ok: boolean; checks: Check[] };
  }

  test.each([
    ['manifest', (layout: ReturnType<typeof sampleLayout>) => blob(layout.dir, layout.manifests.arm64!.digest)],
    ['config', (layout: ReturnType<typeof sampleLayout>) => blob(layout.dir, layout.configs.arm64!.digest)],
  ])('a damaged %s (not JSON, not its digest): both platforms listed, arm64 without figures and marked damaged, its failed checks, exit 1', async (kind, victimOf) => {
    const layout = sampleLayout(`platforms-damaged-${kind}`);
    const victim = victimOf(layout);
    writeFileSync(victim, 'garbage');
    const actual = sha256(victim);
    const { code, json, stderr } = await runJson<PlatformsJson>(['platforms', `oci:${layout.dir}`]);
    expectNoTrace(stderr);
    expect(code).toBe(1);
    expect(json.platforms.map((entry) => [entry.architecture, entry.digest, entry.available])).toEqual([
      ['amd64', layout.manifests.amd64!.digest, true],
      ['arm64', layout.manifests.arm64!.digest, true],
    ]);
    expect(json.platforms[0]!.layers).toBe(layout.layers.amd64!.length);
    expect(json.platforms[1]).toEqual(expect.objectContaining({ layers: null, compressedSize: null }));
    const expected = kind === 'manifest' ? layout.manifests.arm64!.digest : layout.configs.arm64!.digest;
    expect(json.verify.checks.filter((check) => !check.ok)).toEqual([
      expect.objectContaining({ kind, what: `${kind} digest`, subject: expected, manifest: layout.manifests.arm64!.digest, expected, actual }),
      expect.objectContaining({ kind, what: `${kind} size`, actual: 7 }),
    ]);
    const table = await runCli(['platforms', `oci:${layout.dir}`], { env: { NO_COLOR: '1' } });
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(new RegExp(`^linux/arm64/v8 +${layout.manifests.arm64!.digest.slice(7, 19)} \\(damaged\\) +- +-`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^linux/amd64 +${layout.manifests.amd64!.digest.slice(7, 19)} `, 'm'));
    expect(table.stdout).toContain(`✗ ${kind} digest: expected ${expected}, got ${actual}`);
  });

  test('a platform that cannot be read (its config missing, bytes intact elsewhere) is exit 3 naming it, one line', async () => {
    const layout = sampleLayout('platforms-unreadable');
    rmSync(blob(layout.dir, layout.configs.amd64!.digest));
    const result = await runCli(['platforms', `oci:${layout.dir}`]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^layerlens: .*${layout.configs.amd64!.digest}`))]);
  });
});

describe('archives holding some of the platforms their index names', () => {
  const HELLO = fixture('oras-go', 'content', 'oci', 'testdata', 'hello-world.tar');

  test("oras-go's hello-world.tar: 10 manifests skipped as not in this archive, with their platforms; 1 of 11 present", async () => {
    const { code, json } = await runJson<ImageJson>(['verify', HELLO]);
    expect(code).toBe(0);
    const absent = json.verify.skipped.filter((entry) => entry.reason === 'not in this archive');
    expect(absent).toHaveLength(10);
    expect(absent.map((entry) => entry.platform)).toEqual(expect.arrayContaining(['linux/arm/v5', 'linux/s390x', 'windows/amd64']));
    expect(absent.every((entry) => /^sha256:[0-9a-f]{64}$/.test(entry.subject))).toBe(true);
    const table = await runCli(['verify', HELLO]);
    expect(table.stdout).toMatch(/1 of 11 platforms present \(10 not in this archive\)/);
  });

  test('platforms of a one-platform image says nothing of sharing; a legacy docker save totals its layers (not 0 B)', async () => {
    const table = await runCli(['platforms', path.join(SAMPLES, 'busybox-amd64.tar')]);
    expect(table.code).toBe(0);
    expect(table.stdout).not.toMatch(/Shared|shared between platforms/);
    const { json } = await runJson<{ platforms: { compressedSize: number }[]; platformsTotal: { compressedSize: number } }>(['platforms', path.join(SAMPLES, 'busybox-amd64.tar')]);
    expect(json.platformsTotal.compressedSize).toBe(json.platforms[0]!.compressedSize);
    expect(json.platformsTotal.compressedSize).toBeGreaterThan(0);
    const several = await runCli(['platforms', `oci:${path.join(SAMPLES, 'busybox-oci')}`]);
    expect(several.stdout).toMatch(/Shared/);
  });

  test('an OCI layout missing the host platform: the default is the one it holds; asking for the absent one is exit 3 naming it', async () => {
    const layout = sampleLayout('one-absent');
    rmSync(blob(layout.dir, layout.manifests.amd64!.digest));
    const layers = await runJson<ImageJson>(['layers', `oci:${layout.dir}`]);
    expect(layers.code).toBe(0);
    expect(layers.json.platform.architecture).toBe('arm64');
    // Not silently: the note says the host's platform is absent and which one is read instead.
    expect(layers.stderr.trim().split('\n')).toEqual([expect.stringMatching(/does not hold the linux\/amd64 manifest .*; reading linux\/arm64/)]);
    const asked = await runCli(['layers', `oci:${layout.dir}`, '--platform', 'linux/amd64']);
    expect(asked.code).toBe(3);
    expect(asked.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`linux/amd64 .*manifest .*is not in oci:.*it holds .*linux/arm64`))]);
    const verify = await runJson<MultiJson>(['verify', `oci:${layout.dir}`]);
    expect(verify.code).toBe(0);
    expect(verify.json.verify.skipped).toEqual([{ subject: layout.manifests.amd64!.digest, reason: 'not in this archive', platform: 'linux/amd64' }]);
  });
});

describe('--output FORMAT=FILE: several reports from one read', () => {
  const SAMPLE = path.join(SAMPLES, 'busybox-amd64.tar');

  test('check writes JUnit, markdown and JSON files and still prints its table', async () => {
    const junit = path.join(work, 'report.xml');
    const markdown = path.join(work, 'summary.md');
    const json = path.join(work, 'report.json');
    const result = await runCli(['check', SAMPLE, '--max-size', '100MB', '--output', `junit=${junit}`, '--output', `markdown=${markdown}`, '-o', `json=${json}`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/maxSize\s+PASS/);
    expect(readFileSync(junit, 'utf8')).toMatch(/^<\?xml[\s\S]*<testcase [^>]*name="maxSize"/);
    expect(readFileSync(markdown, 'utf8')).toMatch(/\| maxSize \|/);
    const report = readJson<{ check: { passed: boolean; rules: { name: string }[] }; configDigest: string }>(json);
    expect(report.check.passed).toBe(true);
    // The same read: the JSON's Image ID is the one a separate inspect gives.
    const inspect = await runJson<{ configDigest: string }>(['inspect', SAMPLE]);
    expect(report.configDigest).toBe(inspect.json.configDigest);
  });

  test('FORMAT=- puts that format on stdout; a plain -o FILE takes the --format report as before', async () => {
    const stdoutJson = await runCli(['layers', SAMPLE, '--output', 'json=-']);
    expect(stdoutJson.code).toBe(0);
    expect(JSON.parse(stdoutJson.stdout).totals.layers).toBe(3);
    const file = path.join(work, 'layers.txt');
    const plain = await runCli(['layers', SAMPLE, '-o', file]);
    expect({ code: plain.code, stdout: plain.stdout }).toEqual({ code: 0, stdout: '' });
    expect(readFileSync(file, 'utf8')).toMatch(/Created by/);
    expect(readFileSync(file, 'utf8')).not.toContain('\u001b['); // a file never gets colour
  });

  test.each([
    [['layers', SAMPLE, '--output', `junit=${'x.xml'}`], /this command writes table, json, not junit/],
    [['check', SAMPLE, '--output', 'jsn=r.json'], /"jsn" is not a format/],
    [['layers', SAMPLE, '-o', 'a.txt', '-o', 'b.txt'], /given 2 times/],
    [['check', SAMPLE, '--output', 'json=-', '--output', 'junit=-'], /only one report can go to stdout/],
    [['check', SAMPLE, '--output', 'json=same.out', '--output', 'junit=same.out'], /same\.out is named for two reports/],
  ])('%j is a usage error (exit 2) before anything is read', async (args, message) => {
    const result = await runCli(args as string[], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(message as RegExp);
    expect(existsSync(path.join(work, 'same.out'))).toBe(false);
  });

  test('an image that cannot be read: every JUnit output holds one <error> test naming why (exit 3)', async () => {
    const junit = path.join(work, 'unreadable.xml');
    const result = await runCli(['check', path.join(work, 'missing.tar'), '--output', `junit=${junit}`, '--output', `json=${path.join(work, 'unreadable.json')}`]);
    expect(result.code).toBe(3);
    expect(readFileSync(junit, 'utf8')).toMatch(/<error [^>]*message="[^"]*no such file[^"]*missing\.tar/);
  });
});

describe('check covers the selected platform, or every one with --all-platforms', () => {
  test('the default is one platform; --all-platforms checks each (a testsuite each), and one damaged fails the gate', async () => {
    const layout = sampleLayout('check-all');
    const one = await runJson<{ check: { rules: { platform?: string }[] }; platform: { architecture: string } }>(['check', `oci:${layout.dir}`, '--max-size', '10MB']);
    expect(one.code).toBe(0);
    expect(one.json.platform.architecture).toBe('amd64'); // the host's, as docker pull picks
    expect(one.json.check.rules.every((rule) => rule.platform === undefined)).toBe(true);
    flipByte(blob(layout.dir, layout.layers.arm64![0]!.digest));
    // The host's platform is intact: the default check passes, as the image a runtime here would pull is sound.
    expect((await runCli(['check', `oci:${layout.dir}`, '--max-size', '10MB'])).code).toBe(0);
    const junit = path.join(work, 'check-all.xml');
    const all = await runJson<MultiJson & { check: { passed: boolean; rules: { name: string; platform: string; status: string }[]; platforms: { platform: string; passed: boolean }[] } }>(['check', `oci:${layout.dir}`, '--all-platforms', '--max-size', '10MB', '--output', `junit=${junit}`, '--output', 'json=-']);
    expect(all.code).toBe(1);
    expect(all.json.check.passed).toBe(false);
    expect(all.json.check.platforms).toEqual([
      { platform: 'linux/amd64', manifestDigest: layout.manifests.amd64!.digest, passed: true },
      { platform: 'linux/arm64/v8', manifestDigest: layout.manifests.arm64!.digest, passed: false },
    ]);
    expect(all.json.check.rules.filter((rule) => rule.name === 'maxSize').map((rule) => [rule.platform, rule.status])).toEqual([['linux/amd64', 'pass'], ['linux/arm64/v8', 'pass']]);
    const xml = readFileSync(junit, 'utf8');
    expect(xml.match(/<testsuite /g)).toHaveLength(2);
    expect(xml).toMatch(/<testsuite name="layerlens check oci:[^"]*\(linux\/arm64\/v8\)" tests="2" failures="1"/);
    const table = await runCli(['check', `oci:${layout.dir}`, '--all-platforms', '--max-size', '10MB']);
    expect(table.stdout).toMatch(/FAIL: 1 of 2 platforms failed/);
  });
});

