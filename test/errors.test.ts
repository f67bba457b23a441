/**
 * Bad input gets one line on stderr and the contract's exit code: 3 when the image cannot be read (truncated,
 * corrupt, malformed, missing blobs), 1 when it reads fine but does not match its digests, 2 for bad usage.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fixture, runCli, runJson, type CliResult } from './helpers/cli.js';

const DIVE = fixture('dive', '.data', 'test-docker-image.tar');
const OCI_GZIP = fixture('dive', '.data', 'test-oci-gzip-image.tar');

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-errors-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function expectOneLineError(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trim().split('\n');
  expect(lines[0]).toMatch(/^layerlens: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  if (code === 3) expect(lines).toHaveLength(1);
}

/** Byte offset of a member's data inside an uncompressed tar (GNU tar's block numbers). */
function memberOffset(archive: string, member: string): number {
  const listing = execFileSync('tar', ['--block-number', '-tvf', archive], { encoding: 'utf8' });
  const line = listing.split('\n').find((row) => row.endsWith(` ${member}`) || row.includes(` ${member} `));
  if (!line) throw new Error(`${member} not in ${archive}`);
  const block = Number(/^block (\d+):/.exec(line)![1]);
  return (block + 1) * 512;
}

function copy(source: string, name: string): string {
  const target = path.join(work, name);
  cpSync(source, target);
  return target;
}

function flipByte(file: string, offset: number): void {
  const bytes = readFileSync(file);
  bytes[offset] = bytes[offset]! ^ 0xff;
  writeFileSync(file, bytes);
}

describe('truncated archives', () => {
  test('an archive cut inside a layer exits 3 and says it is truncated', async () => {
    const file = copy(DIVE, 'cut-in-layer.tar');
    truncateSync(file, memberOffset(file, '28cfe03618aa2e914e81fdd90345245c15f4478e35252c06ca52d238fd3cc694/layer.tar') + 10_000);
    expectOneLineError(await runCli(['layers', file]), 3, /truncated/);
  });

  test('an archive cut at a header boundary before manifest.json exits 3 and says it looks truncated', async () => {
    const file = copy(DIVE, 'cut-before-manifest.tar');
    truncateSync(file, memberOffset(file, 'manifest.json') - 512);
    expectOneLineError(await runCli(['inspect', file]), 3, /truncated/);
  });

  test('a gzip-wrapped archive cut short exits 3 naming corrupt gzip data', async () => {
    const file = copy(fixture('trivy', 'pkg', 'fanal', 'test', 'testdata', 'alpine-310.tar.gz'), 'cut.tar.gz');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expectOneLineError(await runCli(['layers', file]), 3, /gzip/);
  });

  // CONTRACT.md "Damage is a finding": bytes that are not what their digest says fail a check (exit 1); `layers`
  // prints its whole report with that layer's figures null, `files` one line naming the layer.
  test('a gzip layer cut short inside an OCI layout: a failed blob check (exit 1), the report with its figures null', async () => {
    const dir = path.join(work, 'oci-cut');
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['-xf', OCI_GZIP, '-C', dir]);
    const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const layer = path.join(dir, 'blobs', 'sha256', manifest.layers[0].digest.slice(7));
    const half = Math.floor(statSync(layer).size / 2);
    truncateSync(layer, half);
    const actual = `sha256:${execFileSync('sha256sum', [layer], { encoding: 'utf8' }).split(' ')[0]}`;
    const { code, json, stderr } = await runJson<DamagedReport>(['layers', `oci:${dir}`]);
    expect(code).toBe(1);
    expect(stderr).not.toMatch(/internal error|^\s+at /m);
    expect(json.layers).toHaveLength(manifest.layers.length);
    expect(json.layers[0]).toMatchObject({ digest: manifest.layers[0].digest, uncompressedSize: null, files: null, added: null });
    expect(json.layers.slice(1).every((entry) => entry.uncompressedSize !== null && entry.added === null)).toBe(true);
    expect(json.totals).toMatchObject({ uncompressedSize: null, files: null });
    const failed = json.verify.checks.filter((check) => !check.ok);
    expect(failed).toEqual([
      expect.objectContaining({ kind: 'layer', what: 'layer 0 blob digest', expected: manifest.layers[0].digest, actual }),
      expect.objectContaining({ kind: 'layer', what: 'layer 0 blob size', expected: manifest.layers[0].size, actual: half }),
    ]);
    expect(json.blocked).toEqual([expect.objectContaining({ layer: 0, digest: manifest.layers[0].digest, damaged: true, reason: expect.stringMatching(/layer 0 .*(corrupt gzip|truncated).*the blob's sha256 is sha256:/) })]);
    expectOneLineError(await runCli(['files', `oci:${dir}`]), 1, new RegExp(`layer 0 .*(corrupt gzip|truncated).*the blob's sha256 is ${actual}.*not ${manifest.layers[0].digest} as its manifest says`));
  });
});

interface DamagedReport {
  layers: { digest: string; uncompressedSize: number | null; files: number | null; added: number | null }[];
  totals: { uncompressedSize: number | null; files: number | null };
  verify: { ok: boolean; checks: { ok: boolean; kind: string; what: string; expected: unknown; actual: unknown }[] };
  blocked: { layer: number; digest: string; damaged: boolean; reason: string; blocks: string[] }[];
  files?: unknown;
  waste?: unknown;
  images?: DamagedReport[];
}

describe('corrupted bytes', () => {
  test('a flipped byte inside an uncompressed layer is a diffId mismatch: exit 1, report still printed', async () => {
    const file = copy(DIVE, 'flipped-layer.tar');
    const member = '1871059774abe6914075e4a919b778fa1561f577d620ae52438a9635e6241936/layer.tar';
    flipByte(file, memberOffset(file, member) + 512 + 100); // inside the first file's content, past its header
    const { code, json } = await runJson<{ layers: unknown[]; verify: { ok: boolean; checks: { ok: boolean; kind: string; what: string }[] } }>(['layers', file]);
    expect(code).toBe(1);
    expect(json.layers).toHaveLength(14);
    expect(json.verify.ok).toBe(false);
    const failed = json.verify.checks.filter((check) => !check.ok);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ kind: 'diffId', what: expect.stringContaining('layer 1 ') });
  });

  test('a flipped byte in a gzip layer is damage: verify, layers and analyze report it (exit 1), files and waste one line', async () => {
    const dir = path.join(work, 'oci-flip');
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['-xf', OCI_GZIP, '-C', dir]);
    const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const layer = path.join(dir, 'blobs', 'sha256', manifest.layers[0].digest.slice(7));
    flipByte(layer, Math.floor(statSync(layer).size / 2));
    const actual = `sha256:${execFileSync('sha256sum', [layer], { encoding: 'utf8' }).split(' ')[0]}`;
    const digestCheck = expect.objectContaining({ kind: 'layer', ok: false, what: 'layer 0 blob digest', expected: manifest.layers[0].digest, actual });
    for (const command of ['verify', 'layers', 'analyze']) {
      const { code, json } = await runJson<DamagedReport>([command, `oci:${dir}`]);
      expect({ command, code }).toEqual({ command, code: 1 });
      expect(json.verify.checks.filter((check) => !check.ok)).toEqual([digestCheck]);
      // verify takes every image of an index: the one image is then under `images`.
      const image = json.images ? json.images[0]! : json;
      expect(image.blocked).toEqual([expect.objectContaining({ layer: 0, damaged: true })]);
      // Every other layer was still read and checked.
      expect(json.verify.checks.filter((check) => check.ok && /^layer [1-9]\d* blob digest$/.test(check.what))).toHaveLength(manifest.layers.length - 1);
      if (command === 'analyze') expect({ files: json.files, waste: json.waste }).toEqual({ files: null, waste: null });
    }
    const table = await runCli(['layers', `oci:${dir}`]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/layer 0 blob digest: expected/);
    expect(table.stdout).toMatch(/unknown because of it: layer 0's diffId, sizes and files, (the changes of layers 0–\d+|layer 0's changes), the uncompressed and content totals, the number of files/);
    for (const command of ['files', 'waste']) {
      expectOneLineError(await runCli([command, `oci:${dir}`]), 1, new RegExp(`layer 0 .*corrupt gzip.*the blob's sha256 is ${actual}`));
    }
  });

  test('a config edited after the fact no longer matches its digest: exit 1', async () => {
    const dir = path.join(work, 'oci-config');
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['-xf', OCI_GZIP, '-C', dir]);
    const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const configFile = path.join(dir, 'blobs', 'sha256', manifest.config.digest.slice(7));
    const config = readFileSync(configFile, 'utf8');
    writeFileSync(configFile, config.replace('"os":"linux"', '"os":"LINUX"').replace('"os": "linux"', '"os": "LINUX"'));
    const { code, json } = await runJson<{ verify: { checks: { ok: boolean; kind: string; expected: unknown }[] } }>(['inspect', `oci:${dir}`]);
    expect(code).toBe(1);
    expect(json.verify.checks.filter((check) => !check.ok).map((check) => check.kind)).toEqual(['config']);
  });

  test('malformed manifest.json exits 3 naming the file', async () => {
    const file = copy(DIVE, 'bad-json.tar');
    flipByte(file, memberOffset(file, 'manifest.json'));
    expectOneLineError(await runCli(['inspect', file]), 3, /manifest\.json .*not valid JSON/);
  });

  test('a layer blob missing from an OCI layout exits 3 naming the blob', async () => {
    const dir = path.join(work, 'oci-missing');
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['-xf', OCI_GZIP, '-C', dir]);
    const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    unlinkSync(path.join(dir, 'blobs', 'sha256', manifest.layers[0].digest.slice(7)));
    expectOneLineError(await runCli(['layers', `oci:${dir}`]), 3, new RegExp(`layer 0 .*missing`));
    // inspect needs no layer blob
    expect((await runCli(['inspect', `oci:${dir}`])).code).toBe(0);
  });
});

describe('usage errors exit 2', () => {
  test('an unknown flag', async () => {
    expectOneLineError(await runCli(['layers', DIVE, '--no-such-flag']), 2, /Unknown argument/i);
  });

  test('a malformed platform', async () => {
    expectOneLineError(await runCli(['layers', DIVE, '--platform', 'linux']), 2, /bad platform/);
  });

  test('a number option given a non-number', async () => {
    expectOneLineError(await runCli(['waste', DIVE, '--top', 'abc']), 2, /--top takes a whole number, not "abc"/);
    expectOneLineError(await runCli(['files', DIVE, '--depth', '-1']), 2, /--depth takes a whole number/);
    expectOneLineError(await runCli(['files', DIVE, '--layer', '1.5']), 2, /--layer takes a whole number/);
    expectOneLineError(await runCli(['diff', DIVE, DIVE, '--top', '2x']), 2, /--top takes a whole number/);
  });

  test('an unknown command', async () => {
    expectOneLineError(await runCli(['explode', DIVE]), 2, /Unknown argument|command/i);
  });

  test('--json with another --format', async () => {
    expectOneLineError(await runCli(['layers', DIVE, '--json', '--format', 'table']), 2, /disagree/);
  });
});

describe('things that are not there', () => {
  test('a missing file exits 3', async () => {
    expectOneLineError(await runCli(['layers', './no/such/file.tar']), 3, /no such file/);
  });

  test('an argument that looks like a file is never looked up in a registry', async () => {
    // CONTRACT.md: a leading /, ./, ../, ~/ or an archive suffix makes it a path.
    for (const name of ['myapp.tar', 'app.tar.gz', 'app.tgz', 'app.tar.zst', 'app.tar.xz', 'layout.oci', '~/x', '../x']) {
      const result = await runCli(['inspect', name]);
      expectOneLineError(result, 3, new RegExp(`no such file ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(result.stderr).not.toMatch(/registry-1|no such host|docker\.io\/v2/);
    }
    expect((await runCli(['inspect', 'myapp.tar'])).stderr).toMatch(/as a registry name it would be docker\.io\/library\/myapp\.tar:latest/);
  });

  test('a platform the image does not have exits 3 listing what it has', async () => {
    const result = await runCli(['inspect', DIVE, '--platform', 'linux/arm64']);
    expectOneLineError(result, 3, /linux\/amd64/);
  });
});
