/**
 * Against real registries (Debian's docker-registry): plain HTTP, TLS + htpasswd, TLS + token auth. Results must
 * equal the same image read from its OCI layout and `skopeo inspect --raw`; faults (a cut connection, 429, a
 * redirect to another host, a registry that dies, a corrupted blob on disk) are injected by a proxy or on disk.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runJson, SAMPLES } from './helpers/cli.js';
import { exploreScreen, htmlData } from './helpers/explorers.js';
import { pushImage, startFaultProxy, startRegistry, type RunningRegistry } from './helpers/registry.js';
import { tmuxAvailable } from './helpers/tmux.js';

interface LayersJson {
  indexDigest: string | null;
  manifestDigest: string | null;
  configDigest: string;
  source: { kind: string; reference: string };
  layers: { digest: string; diffId: string; compressedSize: number; uncompressedSize: number; files: number }[];
  verify: { ok: boolean; checks: { ok: boolean; kind: string; what: string; subject: string }[] };
}

const LAYOUT = `oci:${path.join(SAMPLES, 'busybox-oci')}`;
let work: string;
let emptyDockerConfig: string;

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { DOCKER_CONFIG: emptyDockerConfig, XDG_CACHE_HOME: path.join(work, 'xdg-cache'), LAYERLENS_HTTP_BACKOFF_MS: '50', DOCKER_HOST: 'unix:///nonexistent.sock', ...extra };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-registry-test-'));
  emptyDockerConfig = path.join(work, 'docker-empty');
  execFileSync('mkdir', ['-p', emptyDockerConfig]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every command against one image, each exit 0 with nothing on stderr and no secret anywhere in the output. */
async function everyCommand(image: string, args: string[], runEnv: NodeJS.ProcessEnv, secret?: string): Promise<void> {
  for (const command of ['inspect', 'layers', 'files', 'waste', 'analyze', 'verify', 'platforms', 'check']) {
    const result = await runCli([command, image, ...args, '--json'], { env: runEnv });
    expect([command, result.code, result.stderr]).toEqual([command, 0, '']);
    if (secret) expect(result.stdout).not.toContain(secret);
  }
  const diff = await runCli(['diff', image, image, ...args, '--json'], { env: runEnv });
  expect(['diff', diff.code, diff.stderr]).toEqual(['diff', 0, '']);
  expect((JSON.parse(diff.stdout) as { diff: { files: { added: unknown[]; removed: unknown[]; changed: unknown[] } } }).diff.files).toEqual({ added: [], removed: [], changed: [] });
}

describe('a plain-HTTP registry on loopback', () => {
  let registry: RunningRegistry;
  let indexDigest: string;
  beforeAll(async () => {
    registry = await startRegistry('plain');
    indexDigest = await pushImage(registry, `${LAYOUT}:latest`, 'sample/busybox:1', { all: true });
    await pushImage(registry, `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`, 'sample/amd64:1');
  });
  afterAll(async () => registry.stop());

  test('every platform reads as it does from the OCI layout, and digests equal skopeo inspect --raw', async () => {
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const fromRegistry = await runJson<LayersJson>(['layers', `${registry.host}/sample/busybox:1`, '--platform', platform, '--no-cache'], { env: env() });
      const fromLayout = await runJson<LayersJson>(['layers', LAYOUT, '--platform', platform]);
      expect(fromRegistry.code).toBe(0);
      expect(fromRegistry.json.source).toMatchObject({ kind: 'registry', reference: `${registry.host}/sample/busybox:1` });
      expect(fromRegistry.json.indexDigest).toBe(indexDigest);
      for (const key of ['manifestDigest', 'configDigest', 'layers'] as const) expect(fromRegistry.json[key]).toEqual(fromLayout.json[key]);
      const arch = platform.split('/')[1]!;
      const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--override-arch', arch, `docker://${registry.host}/sample/busybox:1`]);
      expect(sha256(raw)).toBe(indexDigest);
      const manifest = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sample/busybox@${fromRegistry.json.manifestDigest}`]);
      expect(sha256(manifest)).toBe(fromRegistry.json.manifestDigest);
      const config = execFileSync('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${registry.host}/sample/busybox@${fromRegistry.json.manifestDigest}`]);
      expect(sha256(config)).toBe(fromRegistry.json.configDigest);
    }
  });

  test('a digest reference is checked against the bytes received', async () => {
    const { code, json } = await runJson<LayersJson>(['inspect', `${registry.host}/sample/busybox@${indexDigest}`, '--platform', 'linux/amd64', '--no-cache'], { env: env() });
    expect(code).toBe(0);
    expect(json.verify.checks.find((check) => check.kind === 'reference')).toMatchObject({ ok: true, subject: indexDigest });
  });

  test('every command works against the registry', async () => {
    await everyCommand(`${registry.host}/sample/amd64:1`, ['--no-cache'], env());
    const platforms = await runJson<{ platforms: { architecture: string }[] }>(['platforms', `${registry.host}/sample/busybox:1`, '--no-cache'], { env: env() });
    expect(platforms.json.platforms.map((entry) => entry.architecture)).toEqual(['amd64', 'arm64']);
  });

  test('diff of a registry image against its docker save tarball: no file differs, every layer shared by diffId', async () => {
    const { code, json } = await runJson<{ diff: { files: Record<string, unknown[]>; layers: { shared: { by: string }[]; onlyA: unknown[]; onlyB: unknown[]; commonBase: number } } }>(
      ['diff', `${registry.host}/sample/amd64:1`, path.join(SAMPLES, 'busybox-amd64.tar'), '--no-cache'],
      { env: env() },
    );
    expect(code).toBe(0);
    expect(json.diff.files).toEqual({ added: [], removed: [], changed: [] });
    expect(json.diff.layers.onlyA).toEqual([]);
    expect(json.diff.layers.onlyB).toEqual([]);
    expect(json.diff.layers.commonBase).toBe(3);
    expect(json.diff.layers.shared).toHaveLength(3);
  });

  (tmuxAvailable() ? test : test.skip)('both explorers read the registry image as they read the OCI layout it was pushed from', async () => {
    // The same blobs (skopeo pushed the layout as it is), so the same digests on the screen too.
    const image = [`${registry.host}/sample/busybox:1`, '--platform', 'linux/amd64'];
    const layout = [LAYOUT, '--platform', 'linux/amd64'];
    const screen = await exploreScreen(image, env());
    expect(screen).toMatch(/Files as of layer 2 · \d+ rows/);
    expect(screen).toBe(await exploreScreen(layout));
    const fromRegistry = await htmlData(image, path.join(work, 'registry.html'), env());
    expect(fromRegistry.length).toBeGreaterThan(5); // trees as of each layer, paths, change lists
    expect(fromRegistry).toEqual(await htmlData(layout, path.join(work, 'layout.html')));
  });

  test('unknown repositories and tags exit 3 with one line', async () => {
    const repo = await runCli(['inspect', `${registry.host}/no/such:1`, '--no-cache'], { env: env() });
    expect(repo.code).toBe(3);
    expect(repo.stderr.trim().split('\n')).toHaveLength(1);
    expect(repo.stderr).toMatch(/not found|repository/);
    const tag = await runCli(['inspect', `${registry.host}/sample/busybox:nope`, '--no-cache'], { env: env() });
    expect(tag.code).toBe(3);
    expect(tag.stderr).toMatch(/tag "nope" not found/);
  });

  test('a second run with the cache downloads no blob and re-scans nothing', async () => {
    const proxy = await startFaultProxy(registry.host, {});
    try {
      const cache = path.join(work, 'cache-second-run');
      const first = await runCli(['layers', `${proxy.host}/sample/amd64:1`, '--cache-dir', cache, '--json'], { env: env() });
      expect(first.code).toBe(0);
      const blobGetsFirst = proxy.requests.filter((request) => request.method === 'GET' && request.url.includes('/blobs/')).length;
      expect(blobGetsFirst).toBe(4); // config + 3 layers
      proxy.requests.length = 0;
      const second = await runCli(['layers', `${proxy.host}/sample/amd64:1`, '--cache-dir', cache, '--json'], { env: env() });
      expect(second.code).toBe(0);
      expect(JSON.parse(second.stdout).layers).toEqual(JSON.parse(first.stdout).layers);
      expect(proxy.requests.filter((request) => request.method === 'GET')).toEqual([]);
      expect(proxy.requests.map((request) => request.method)).toEqual(['GET', 'HEAD'].filter((method) => proxy.requests.some((request) => request.method === method)));
    } finally {
      await proxy.stop();
    }
  });

  test('analyze of an index reads each index, manifest and config once (its platform coverage and the chosen image share them)', async () => {
    const proxy = await startFaultProxy(registry.host, {});
    try {
      const result = await runCli(['analyze', `${proxy.host}/sample/busybox:1`, '--platform', 'linux/amd64', '--no-cache', '--json'], { env: env() });
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as { platforms: unknown[]; images: unknown[] };
      expect(report.platforms.length).toBeGreaterThan(1); // the coverage walked every platform
      const gets = proxy.requests.filter((request) => request.method === 'GET' && /\/(manifests|blobs)\//.test(request.url)).map((request) => request.url);
      // The tag's index, then every platform's manifest (and configs), by the coverage walk...
      expect(gets.filter((url) => url.includes('/manifests/')).length).toBeGreaterThan(report.platforms.length);
      // ...and nothing fetched twice: the chosen platform's manifest and config come from what the walk read.
      expect(gets.filter((url, i) => gets.indexOf(url) !== i)).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  test('a connection cut mid-blob resumes with Range and the blob still verifies', async () => {
    const proxy = await startFaultProxy(registry.host, { cutBlobAfterBytes: 1 << 20 });
    try {
      const { code, json } = await runJson<LayersJson>(['layers', `${proxy.host}/sample/busybox:1`, '--platform', 'linux/amd64', '--no-cache'], { env: env() });
      expect(code).toBe(0);
      expect(json.verify.ok).toBe(true);
      // The resumed request starts where the client's bytes stopped: after some data, at most at the cut (bytes
      // written just before the socket was destroyed may never arrive), and it names the blob that was cut.
      const resumed = proxy.requests.filter((request) => request.range !== undefined);
      expect(resumed).toHaveLength(1);
      const from = Number(/^bytes=(\d+)-$/.exec(resumed[0]!.range!)![1]);
      expect(from).toBeGreaterThan(0);
      expect(from).toBeLessThanOrEqual(1 << 20);
      expect(proxy.requests.filter((request) => request.url === resumed[0]!.url)).toHaveLength(2);
    } finally {
      await proxy.stop();
    }
  });

  test('429 with Retry-After is waited for and retried', async () => {
    const proxy = await startFaultProxy(registry.host, { tooManyRequests: { match: /\/manifests\//, times: 2, retryAfterSeconds: 1 } });
    try {
      const started = Date.now();
      const result = await runCli(['inspect', `${proxy.host}/sample/amd64:1`, '--no-cache'], { env: env() });
      expect(result.code).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000); // two Retry-After: 1 honoured
    } finally {
      await proxy.stop();
    }
  });

  test('rate limiting that never ends exits 3 saying so', async () => {
    const proxy = await startFaultProxy(registry.host, { tooManyRequests: { match: /\/manifests\//, times: 100, retryAfterSeconds: 0 } });
    try {
      const result = await runCli(['inspect', `${proxy.host}/sample/amd64:1`, '--no-cache'], { env: env() });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/rate limited/);
    } finally {
      await proxy.stop();
    }
  });

  test('Authorization is never sent to another host after a redirect', async () => {
    const storage = await startFaultProxy(registry.host, {}, '127.0.0.2');
    const front = await startFaultProxy(registry.host, { requireBasicAuth: true, redirectBlobsTo: storage.host });
    try {
      const { code, json } = await runJson<LayersJson>(['layers', `${front.host}/sample/amd64:1`, '--no-cache', '--username', 'someone', '--password-stdin'], { env: env(), input: 's3cret-password\n' });
      expect(code).toBe(0);
      expect(json.verify.ok).toBe(true);
      expect(front.requests.some((request) => request.authorization)).toBe(true);
      expect(storage.requests.length).toBeGreaterThan(0);
      expect(storage.requests.every((request) => !request.authorization)).toBe(true);
    } finally {
      await front.stop();
      await storage.stop();
    }
  });

  test('a registry that dies during a blob and does not come back: exit 3, one line', async () => {
    const proxy = await startFaultProxy(registry.host, { cutBlobAfterBytes: 100_000, dieAfterCut: true });
    const result = await runCli(['layers', `${proxy.host}/sample/amd64:1`, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/connection refused|request failed/);
    await proxy.stop();
  });

  // CONTRACT.md "Damage is a finding": the damaged layer is a failed check (exit 1) whatever it breaks; layers,
  // verify and check go on with every other blob and print their whole document; files is one line naming it.
  test('a layer blob corrupted on the registry disk: a failed check (exit 1) with the whole report; files one line; never cached', async () => {
    await pushImage(registry, `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`, 'sample/corrupt:1');
    const good = await runJson<LayersJson>(['layers', `${registry.host}/sample/corrupt:1`, '--no-cache'], { env: env() });
    const victim = good.json.layers[1]!.digest;
    const file = registry.blobPath(victim);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(file, bytes);
    const actual = sha256(bytes);
    const cache = path.join(work, 'cache-corrupt');
    const image = `${registry.host}/sample/corrupt:1`;
    for (const run of ['first', 'second']) {
      for (const command of ['layers', 'verify']) {
        const bad = await runJson<LayersJson & { blocked: { layer: number; damaged: boolean }[] }>([command, image, '--cache-dir', cache, '--json'], { env: env() });
        expect({ run, command, code: bad.code, stderr: bad.stderr }).toEqual({ run, command, code: 1, stderr: '' });
        expect(bad.json.verify.checks.filter((check) => !check.ok)).toEqual([expect.objectContaining({ kind: 'layer', what: 'layer 1 blob digest', subject: victim, expected: victim, actual })]);
        // Every other layer was read and checked, and keeps its figures.
        expect(bad.json.verify.checks.filter((check) => check.ok && check.what.endsWith('blob digest')).map((check) => check.subject)).toEqual(good.json.layers.filter((layer) => layer.digest !== victim).map((layer) => layer.digest));
        expect(bad.json.blocked).toEqual([expect.objectContaining({ layer: 1, damaged: true })]);
        if (command === 'layers') {
          expect(bad.json.layers[1]!.uncompressedSize).toBeNull();
          expect(bad.json.layers[0]!.uncompressedSize).toBe(good.json.layers[0]!.uncompressedSize);
        }
      }
      const files = await runCli(['files', image, '--cache-dir', cache], { env: env() });
      expect({ run, code: files.code, stdout: files.stdout }).toEqual({ run, code: 1, stdout: '' });
      expect(files.stderr.trim().split('\n')).toHaveLength(1);
      expect(files.stderr).toContain(`the blob's sha256 is ${actual}`);
      expect(files.stderr).toContain(`not ${victim} as its manifest says`);
      // A blob that failed its digest never enters the cache.
      expect(existsSync(path.join(cache, 'blobs', 'sha256', victim.slice(7)))).toBe(false);
    }
    // A CI gate still writes its reports: the integrity test fails in JUnit, the JSON says why.
    const junit = path.join(work, 'corrupt.xml');
    const json = path.join(work, 'corrupt.json');
    const check = await runCli(['check', image, '--no-cache', '--output', `junit=${junit}`, '--output', `json=${json}`], { env: env() });
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/integrity\s+FAIL/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testcase [^>]*name="integrity"[^>]*>\s*<failure/);
    expect(JSON.parse(readFileSync(json, 'utf8')).check.passed).toBe(false);
  });

});

describe('TLS with a private CA and htpasswd basic auth', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry('tls-basic');
    await pushImage(registry, `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`, 'private/app:1');
  });
  afterAll(async () => registry.stop());

  test('with --ca-file and credentials from docker config.json: works', async () => {
    const { code, json } = await runJson<LayersJson>(['layers', `${registry.host}/private/app:1`, '--ca-file', registry.caFile!, '--no-cache'], { env: env({ DOCKER_CONFIG: registry.dockerConfigDir! }) });
    expect(code).toBe(0);
    expect(json.verify.ok).toBe(true);
  });

  test('every command works over TLS with basic auth; the password never appears in any output', async () => {
    await everyCommand(`${registry.host}/private/app:1`, ['--ca-file', registry.caFile!, '--no-cache'], env({ DOCKER_CONFIG: registry.dockerConfigDir! }), registry.password!);
  });

  test('an untrusted certificate is an error with a hint, never silently accepted; --insecure skips verification', async () => {
    const result = await runCli(['inspect', `${registry.host}/private/app:1`, '--no-cache'], { env: env({ DOCKER_CONFIG: registry.dockerConfigDir! }) });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/not trusted.*--ca-file.*--insecure/);
    const insecure = await runCli(['inspect', `${registry.host}/private/app:1`, '--insecure', '--no-cache'], { env: env({ DOCKER_CONFIG: registry.dockerConfigDir! }) });
    expect(insecure.code).toBe(0);
  });

  test('--username with --password-stdin works; a wrong password says so without echoing it', async () => {
    const ok = await runCli(['inspect', `${registry.host}/private/app:1`, '--ca-file', registry.caFile!, '--username', registry.username!, '--password-stdin', '--no-cache'], { env: env(), input: `${registry.password}\n` });
    expect(ok.code).toBe(0);
    const wrong = await runCli(['inspect', `${registry.host}/private/app:1`, '--ca-file', registry.caFile!, '--username', registry.username!, '--password-stdin', '--no-cache', '--debug'], { env: env(), input: 'not-the-password\n' });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/unauthorized.*(wrong|rejected)/);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-the-password');
    expect(ok.stderr + ok.stdout).not.toContain(registry.password!);
  });

  test('no credentials: unauthorized, exit 3', async () => {
    const result = await runCli(['inspect', `${registry.host}/private/app:1`, '--ca-file', registry.caFile!, '--no-cache'], { env: env() });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/unauthorized/);
  });
});

describe('token auth (the Docker Hub flow)', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry('token');
    await pushImage(registry, `${LAYOUT}:latest`, 'team/busybox:1', { all: true });
  });
  afterAll(async () => registry.stop());

  test('credentials from config.json get a token, reused for every request of the run', async () => {
    const before = registry.tokenRequests();
    const { code, json } = await runJson<LayersJson>(['layers', `${registry.host}/team/busybox:1`, '--platform', 'linux/arm64', '--ca-file', registry.caFile!, '--no-cache'], { env: env({ DOCKER_CONFIG: registry.dockerConfigDir! }) });
    expect(code).toBe(0);
    expect(json.verify.ok).toBe(true);
    expect(registry.tokenRequests() - before).toBe(1);
  });

  test('every command works with token auth, on the multi-platform image; no secret in any output', async () => {
    await everyCommand(`${registry.host}/team/busybox:1`, ['--ca-file', registry.caFile!, '--platform', 'linux/amd64', '--no-cache'], env({ DOCKER_CONFIG: registry.dockerConfigDir! }), registry.password!);
  });

  test('a wrong password is rejected by the token service: exit 3', async () => {
    const result = await runCli(['inspect', `${registry.host}/team/busybox:1`, '--ca-file', registry.caFile!, '--username', 'tester', '--password-stdin', '--no-cache'], { env: env(), input: 'wrong\n' });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/unauthorized: the token service rejected the credentials for user "tester"/);
  });
});
