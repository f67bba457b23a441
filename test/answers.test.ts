/**
 * Clear answers to ordinary mistakes with a registry reference, against a real docker-registry (images pushed with
 * skopeo): a missing tag lists tags the repository has; an Image ID (config digest) given as `@sha256:…` names the
 * manifest digest; a tag list that fails leaves the original message as it was. Registry reads are silent on
 * stderr off a terminal, and show progress on one (script(1) gives the CLI a TTY).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { runCli, runJson, SAMPLES, ROOT } from './helpers/cli.js';
import { pushImage, startFaultProxy, startRegistry, type RunningRegistry } from './helpers/registry.js';

const LAYOUT = `oci:${path.join(SAMPLES, 'busybox-oci')}`;
const ARCHIVE = `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`;
let work: string;
let registry: RunningRegistry;
let indexDigest: string;

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { DOCKER_CONFIG: path.join(work, 'docker-empty'), XDG_CACHE_HOME: path.join(work, 'xdg-cache'), LAYERLENS_HTTP_BACKOFF_MS: '50', DOCKER_HOST: 'unix:///nonexistent.sock', ...extra };
}

interface InspectJson {
  manifestDigest: string;
  configDigest: string;
  platform: { architecture: string };
}

/** The tags skopeo sees, in the registry's order. */
function registryTags(repository: string): string[] {
  const out = execFileSync('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/${repository}`], { encoding: 'utf8' });
  return (JSON.parse(out) as { Tags: string[] }).Tags;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-answers-test-'));
  mkdirSync(path.join(work, 'docker-empty'));
  registry = await startRegistry('plain');
  indexDigest = await pushImage(registry, `${LAYOUT}:latest`, 'sample/busybox:1', { all: true });
  for (const tag of ['1.0', '1.1', '2.0']) await pushImage(registry, ARCHIVE, `sample/amd64:${tag}`);
  // More tags than a message lists: 12, of which 10 are shown.
  for (let i = 1; i <= 12; i++) await pushImage(registry, ARCHIVE, `sample/many:v${String(i).padStart(2, '0')}`);
}, 300_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('a tag that does not exist', () => {
  test('exit 3, one line listing the tags the repository has (closest first)', async () => {
    const result = await runCli(['inspect', `${registry.host}/sample/amd64:1.2`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(registryTags('sample/amd64').sort()).toEqual(['1.0', '1.1', '2.0']);
    expect(lines[0]).toBe(`layerlens: ${registry.host}/sample/amd64: tag "1.2" not found (manifest unknown); the repository has 1.0, 1.1, 2.0`);
  });

  test('of many tags, 10 are named and the rest counted', async () => {
    const result = await runCli(['inspect', `${registry.host}/sample/many:v1`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    const listed = /the repository has (.*) \(and (\d+) more\)$/.exec(result.stderr.trimEnd());
    expect(listed).not.toBeNull();
    const named = listed![1]!.split(', ');
    expect(named).toHaveLength(10);
    expect(Number(listed![2])).toBe(2);
    const all = registryTags('sample/many');
    expect(all).toHaveLength(12);
    for (const tag of named) expect(all).toContain(tag);
  });

  test('a tag list that fails leaves the original message exactly as it was', async () => {
    // The tag list answers 429 every time (after the retries): the courtesy fails, the answer stays the 404's.
    const proxy = await startFaultProxy(registry.host, { tooManyRequests: { match: /\/tags\/list/, times: 1000, retryAfterSeconds: 0 } });
    try {
      const result = await runCli(['inspect', `${proxy.host}/sample/amd64:1.2`, '--no-cache', '--plain-http'], { env: env() });
      expect(result.code).toBe(3);
      expect(result.stderr).toBe(`layerlens: ${proxy.host}/sample/amd64: tag "1.2" not found (manifest unknown)\n`);
      expect(proxy.requests.some((request) => request.url.includes('/tags/list?n='))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  test('a repository that does not exist says so (distribution answers MANIFEST_UNKNOWN; its tag list, NAME_UNKNOWN)', async () => {
    const result = await runCli(['inspect', `${registry.host}/no/such:1`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`layerlens: ${registry.host}/no/such: repository not found\n`);
  });
});

describe('a tag list from a hostile server', () => {
  let server: Server;
  let host: string;
  let tagBody = '';
  beforeAll(async () => {
    // A registry that knows no manifest and answers the tag list with whatever the test sets.
    server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (req.url?.includes('/tags/list')) return void res.writeHead(200, { 'content-type': 'application/json' }).end(tagBody);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    host = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('names that are not tags (control characters, a line break) are not shown; the message stays one line', async () => {
    tagBody = JSON.stringify({ name: 'app', tags: ['\u001b[31mred', 'v1\nlayerlens: forged', 'v1.0', 'x'.repeat(300)] });
    const result = await runCli(['inspect', `${host}/app:v2`, '--no-cache', '--plain-http'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`layerlens: ${host}/app: tag "v2" not found (manifest unknown); the repository has v1.0\n`);
  });

  test('a tag list larger than 256 KiB is not read: the original message', async () => {
    tagBody = JSON.stringify({ name: 'app', tags: Array.from({ length: 40_000 }, (_, i) => `tag-${i}`) });
    const result = await runCli(['inspect', `${host}/app:v2`, '--no-cache', '--plain-http'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`layerlens: ${host}/app: tag "v2" not found (manifest unknown)\n`);
  });

  test('a tag list that is not JSON: the original message', async () => {
    tagBody = '<html>oops</html>';
    const result = await runCli(['inspect', `${host}/app:v2`, '--no-cache', '--plain-http'], { env: env() });
    expect(result.stderr).toBe(`layerlens: ${host}/app: tag "v2" not found (manifest unknown)\n`);
  });
});

describe('an Image ID given as a digest', () => {
  test("the tag's manifest holds that config: the message names the manifest digest", async () => {
    const { json } = await runJson<InspectJson>(['inspect', `${registry.host}/sample/amd64:1.0`, '--no-cache'], { env: env() });
    const result = await runCli(['inspect', `${registry.host}/sample/amd64:1.0@${json.configDigest}`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `layerlens: ${registry.host}/sample/amd64@${json.configDigest}: that is the Image ID (config digest) of tag "1.0"; the manifest digest is ${json.manifestDigest}: use ${registry.host}/sample/amd64@${json.manifestDigest}\n`,
    );
    // What the message says to use works.
    const used = await runJson<InspectJson>(['inspect', `${registry.host}/sample/amd64@${json.manifestDigest}`, '--no-cache'], { env: env() });
    expect([used.code, used.json.configDigest]).toEqual([0, json.configDigest]);
  });

  test('no tag given and no latest: found among the repository’s tags', async () => {
    const { json } = await runJson<InspectJson>(['inspect', `${registry.host}/sample/amd64:2.0`, '--no-cache'], { env: env() });
    const result = await runCli(['inspect', `${registry.host}/sample/amd64@${json.configDigest}`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`that is the Image ID (config digest) of tag "`);
    expect(result.stderr).toContain(`the manifest digest is ${json.manifestDigest}`);
  });

  test('one platform of a multi-arch tag: the platform’s manifest digest, and which platform', async () => {
    const { json } = await runJson<InspectJson>(['inspect', `${registry.host}/sample/busybox:1`, '--platform', 'linux/arm64', '--no-cache'], { env: env() });
    expect(json.platform.architecture).toBe('arm64');
    const result = await runCli(['inspect', `${registry.host}/sample/busybox:1@${json.configDigest}`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`of tag "1" (linux/arm64`);
    expect(result.stderr).toContain(`the manifest digest is ${json.manifestDigest}`);
    expect(json.manifestDigest).not.toBe(indexDigest);
  });

  test('a digest that is nobody’s: the original message', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const result = await runCli(['inspect', `${registry.host}/sample/amd64@${digest}`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`layerlens: ${registry.host}/sample/amd64: manifest ${digest} not found (manifest unknown)\n`);
  });
});

describe('progress of registry reads', () => {
  test('off a terminal: nothing on stderr; with --debug, progress lines', async () => {
    const quiet = await runCli(['layers', `${registry.host}/sample/amd64:1.0`, '--no-cache'], { env: env() });
    expect([quiet.code, quiet.stderr]).toEqual([0, '']);
    const debug = await runCli(['layers', `${registry.host}/sample/amd64:1.0`, '--no-cache', '--debug'], { env: env() });
    expect(debug.code).toBe(0);
    expect(debug.stderr).toMatch(/^layerlens: downloaded [^\n]*: 3 of 3 layer\(s\), [\d.]+ [kM]B of [\d.]+ [kM]B \(100 %\)$/m);
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  (hasScript ? test : test.skip)('on a terminal: a progress line with the total and a percentage', () => {
    // script(1) runs the CLI on a pseudo-terminal; its typescript file is what the terminal showed.
    const log = path.join(work, 'typescript');
    const command = `${process.execPath} ${path.join(ROOT, 'bin', 'layerlens.js')} layers ${registry.host}/sample/busybox:1 --platform linux/arm64 --no-cache > /dev/null`;
    const result = spawnSync('script', ['-q', '-e', '-c', command, log], { env: { ...process.env, ...env() }, encoding: 'utf8' });
    expect(result.status).toBe(0);
    const shown = execFileSync('cat', [log], { encoding: 'utf8' });
    expect(shown).toMatch(/\rdownloading [^\r]*sample\/busybox: \d+ of \d+ layer\(s\), [\d.]+ [kM]?B of [\d.]+ [kM]B \(\d+ %\)/);
  });
});
