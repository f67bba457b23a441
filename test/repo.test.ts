/**
 * `layerlens repo` against a real registry (Debian's docker-registry, images pushed by skopeo): sizes, shared and
 * unique bytes checked against independent oracles — the registry's own blob store on disk for what the repository
 * stores, `skopeo inspect --raw` documents for each tag, and "unique = stored − stored without that tag" (the
 * definition, not our algorithm). No layer is downloaded (the proxy counts). 1,000 tags page through the real tag
 * list. A stub registry plays the hostile cases (a next-page link to another host, a looping link, a tag that 404s).
 */
import Ajv2020 from 'ajv/dist/2020.js';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli, runJson, SAMPLES } from './helpers/cli.js';
import { layerTar, writeImage } from './helpers/layout.js';
import { pushImage, startFaultProxy, startRegistry, type RunningRegistry } from './helpers/registry.js';

interface RepoTag {
  repository: string;
  tag: string;
  digest: string;
  kind: string;
  platforms: string[];
  size: number;
  layers: number;
  sharedBytes: number;
  uniqueBytes: number;
  sameDigestAs: string[];
}
interface RepoJson {
  schemaVersion: number;
  repository: string;
  tags: RepoTag[];
  artifacts: { tag: string; digest: string; subject: string; size: number }[];
  problems: { tag: string; exitCode: number; message: string }[];
  totals: { tags: number; digests: number; storedBytes: number; sumOfTagSizes: number; complete: boolean; sameDigest: { repository: string; tags: string[] }[] };
  scope: string;
  repositories: string[];
  listing: { pages: number; listed: number; dropped: number; filter: string | null; truncated: boolean };
  check: { passed: boolean; rules: { rule: string; status: string; failures: { tag: string }[] }[] } | null;
}

let work: string;
let registry: RunningRegistry;
const ajv = new Ajv2020.default({ allErrors: true, strict: true, allowUnionTypes: true });
const validateRepo = ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'docs', 'repo.schema.json'), 'utf8')));

/** The document validates against docs/repo.schema.json. */
function schemaErrors(json: unknown): string | null {
  return validateRepo(json) ? null : ajv.errorsText(validateRepo.errors, { separator: '\n' });
}
const REPO = 'team/app';

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { DOCKER_CONFIG: path.join(work, 'docker-empty'), XDG_CACHE_HOME: path.join(work, 'xdg'), DOCKER_HOST: 'unix:///nonexistent.sock', LAYERLENS_HTTP_BACKOFF_MS: '20', ...extra };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Every blob the registry stores (its filesystem driver's blob store), digest → bytes: the oracle for storedBytes. */
function storedBlobs(): Map<string, number> {
  const root = path.join(registry.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const out = new Map<string, number>();
  for (const prefix of readdirSync(root)) for (const hex of readdirSync(path.join(root, prefix))) out.set(`sha256:${hex}`, statSync(path.join(root, prefix, hex, 'data')).size);
  return out;
}

/** What a tag references, read with skopeo: digest → size of every manifest, config and layer, each once. */
function skopeoGraph(reference: string): Map<string, number> {
  const raw = (ref: string) => execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { maxBuffer: 16 << 20 });
  const out = new Map<string, number>();
  const walk = (bytes: Buffer) => {
    out.set(sha256(bytes), bytes.length);
    const doc = JSON.parse(bytes.toString('utf8')) as { manifests?: { digest: string }[]; config?: { digest: string; size: number }; layers?: { digest: string; size: number }[] };
    for (const child of doc.manifests ?? []) walk(raw(`${registry.host}/${REPO}@${child.digest}`));
    if (doc.config) out.set(doc.config.digest, doc.config.size);
    for (const layer of doc.layers ?? []) out.set(layer.digest, layer.size);
  };
  walk(raw(reference));
  return out;
}

function bytesOf(graphs: Map<string, number>[]): number {
  const union = new Map<string, number>();
  for (const graph of graphs) for (const [digest, size] of graph) union.set(digest, size);
  return [...union.values()].reduce((sum, size) => sum + size, 0);
}

const layout = () => path.join(work, 'layout');

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-repo-test-'));
  mkdirSync(path.join(work, 'docker-empty'));
  const base = await layerTar([{ name: 'base.bin', content: randomBytes(120_000) }]);
  const one = await layerTar([{ name: 'app/one.bin', content: randomBytes(50_000) }]);
  const two = await layerTar([{ name: 'app/two.bin', content: randomBytes(70_000) }]);
  writeImage(layout(), 'v1', [base, one], ['base', 'app 1']);
  writeImage(layout(), 'v2', [base, two], ['base', 'app 2']);
  writeImage(layout(), 'gone', [base], ['base, soon deleted']);
  writeImage(layout(), 'sig', [await layerTar([{ name: 'signature', content: randomBytes(3000) }])], ['a signature']);
  registry = await startRegistry('plain');
  await pushImage(registry, `oci:${layout()}:v1`, `${REPO}:1.0`);
  const v2 = await pushImage(registry, `oci:${layout()}:v2`, `${REPO}:1.1`);
  await pushImage(registry, `oci:${layout()}:v2`, `${REPO}:latest`);
  await pushImage(registry, `oci:${path.join(SAMPLES, 'busybox-oci')}:latest`, `${REPO}:multi`, { all: true });
  await pushImage(registry, `oci:${layout()}:sig`, `${REPO}:sha256-${v2.slice(7)}.sig`);
  await pushImage(registry, `oci:${layout()}:gone`, `${REPO}:gone`);
  execFileSync('skopeo', ['delete', '--tls-verify=false', `docker://${registry.host}/${REPO}:gone`]);
}, 240_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('every tag, its size, shared and unique bytes, equal the oracles; the deleted tag is absent; not one layer downloaded', async () => {
  const proxy = await startFaultProxy(registry.host, {});
  try {
    const { code, stderr, json } = await runJson<RepoJson>(['repo', `${proxy.host}/${REPO}`, '--json'], { env: env() });
    expect([code, stderr]).toEqual([0, '']);
    expect(schemaErrors(json)).toBeNull();
    expect(json.repository).toBe(`${proxy.host}/${REPO}`);
    expect(json.tags.map((tag) => tag.tag).sort()).toEqual(['1.0', '1.1', 'latest', 'multi']);
    expect(json.problems).toEqual([]);
    const graphs = new Map(json.tags.map((tag) => [tag.tag, skopeoGraph(`${registry.host}/${REPO}:${tag.tag}`)]));
    const artifactGraph = skopeoGraph(`${registry.host}/${REPO}:${json.artifacts[0]!.tag}`);
    const everything = [...graphs.values(), artifactGraph];
    for (const tag of json.tags) {
      const graph = graphs.get(tag.tag)!;
      const digest = sha256(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/${REPO}:${tag.tag}`]));
      expect([tag.tag, tag.digest]).toEqual([tag.tag, digest]);
      expect([tag.tag, tag.size]).toEqual([tag.tag, bytesOf([graph])]);
      // Unique bytes by their definition: what the repository stores, less what it stores without this tag's digest.
      const others = json.tags.filter((other) => other.digest !== tag.digest).map((other) => graphs.get(other.tag)!);
      const freed = tag.sameDigestAs.length ? 0 : bytesOf(everything) - bytesOf([...others, artifactGraph]);
      expect([tag.tag, tag.uniqueBytes]).toEqual([tag.tag, freed]);
      expect([tag.tag, tag.sharedBytes]).toEqual([tag.tag, tag.size - (tag.sameDigestAs.length ? bytesOf(everything) - bytesOf([...others, artifactGraph]) : tag.uniqueBytes)]);
    }
    const byName = new Map(json.tags.map((tag) => [tag.tag, tag]));
    expect(byName.get('1.1')!.sameDigestAs).toEqual(['latest']);
    expect(byName.get('latest')!.uniqueBytes).toBe(0);
    expect(byName.get('1.0')!.sharedBytes).toBeGreaterThan(120_000); // the base layer
    expect(byName.get('multi')!).toMatchObject({ kind: 'index', platforms: ['linux/amd64', 'linux/arm64/v8'] });
    expect(byName.get('1.0')!).toMatchObject({ kind: 'manifest', platforms: ['linux/amd64'], layers: 2 });
    expect(json.totals).toMatchObject({ tags: 4, digests: 3, sameDigest: [{ repository: REPO, tags: ['1.1', 'latest'] }] });
    expect([json.scope, json.repositories]).toEqual(['repository', [REPO]]);
    expect(json.totals.sumOfTagSizes).toBe(json.tags.reduce((sum, tag) => sum + tag.size, 0));
    // What the repository stores is what the registry's disk holds, less the blobs only the deleted tag used (not
    // garbage-collected yet).
    const disk = storedBlobs();
    const goneOnly = [...skopeoGraphOfLayout('gone')].filter(([digest]) => !everything.some((graph) => graph.has(digest)));
    expect(json.totals.storedBytes).toBe([...disk.values()].reduce((sum, size) => sum + size, 0) - goneOnly.reduce((sum, [, size]) => sum + size, 0));
    expect(json.artifacts).toEqual([{ repository: REPO, tag: expect.stringMatching(/^sha256-[0-9a-f]{64}\.sig$/), digest: expect.any(String), mediaType: expect.any(String), subject: byName.get('1.1')!.digest, size: bytesOf([artifactGraph]) }]);
    // Manifests and configs only: no layer blob was asked for.
    const layerDigests = new Set(everything.flatMap((graph) => [...graph.keys()]));
    const blobGets = proxy.requests.filter((request) => request.method === 'GET' && request.url.includes('/blobs/')).map((request) => request.url.split('/blobs/')[1]!);
    for (const tag of json.tags) for (const digest of graphs.get(tag.tag)!.keys()) layerDigests.add(digest);
    const configs = new Set(everything.flatMap((graph) => [...graph.entries()].filter(([, size]) => size < 2000).map(([digest]) => digest)));
    expect(blobGets.filter((digest) => !configs.has(digest))).toEqual([]);
  } finally {
    await proxy.stop();
  }
});

/** The blobs of an image of the test's own layout (the deleted tag's, whose documents the registry no longer serves). */
function skopeoGraphOfLayout(tag: string): Map<string, number> {
  const index = JSON.parse(execFileSync('cat', [path.join(layout(), 'index.json')], { encoding: 'utf8' })) as { manifests: { digest: string; size: number; annotations: Record<string, string> }[] };
  const entry = index.manifests.find((manifest) => manifest.annotations['org.opencontainers.image.ref.name'] === tag)!;
  const manifest = JSON.parse(execFileSync('cat', [path.join(layout(), 'blobs', 'sha256', entry.digest.slice(7))], { encoding: 'utf8' })) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
  return new Map([[entry.digest, entry.size], [manifest.config.digest, manifest.config.size], ...manifest.layers.map((layer) => [layer.digest, layer.size] as [string, number])]);
}

test('the table sorts by unique bytes; --tags filters; markdown; rules gate with exit 1', async () => {
  const table = await runCli(['repo', `${registry.host}/${REPO}`], { env: env() });
  expect([table.code, table.stderr]).toEqual([0, '']);
  const rows = table.stdout.split('\n');
  expect(rows[0]).toBe(`Repository ${registry.host}/${REPO}: 4 tag(s), 3 digest(s), 1 artifact tag(s)`);
  const header = rows.findIndex((line) => line.startsWith('TAG'));
  expect(rows[header]).toMatch(/^TAG +DIGEST +PLATFORMS +SIZE +SHARED +UNIQUE$/);
  expect(rows.slice(header + 1, header + 5).map((line) => line.split(/\s+/)[0])).toEqual(['multi', '1.0', '1.1', 'latest']);
  for (const line of rows) expect(line.length).toBeLessThanOrEqual(100);
  expect(table.stdout).toContain('Tags on the same digest (deleting one of them frees nothing):\n  1.1, latest\n');

  const filtered = await runJson<RepoJson>(['repo', `${registry.host}/${REPO}`, '--tags', '1.*', '--json'], { env: env() });
  expect(filtered.json.tags.map((tag) => tag.tag)).toEqual(['1.0', '1.1']);
  expect(filtered.json.listing).toMatchObject({ listed: 5, filter: '1.*', truncated: false }) // 1.0, 1.1, latest, multi, the .sig: not the deleted tag;
  // `latest`, not shown, still holds 1.1's digest: deleting 1.1 frees nothing, whatever the filter shows.
  expect(filtered.json.tags[1]!).toMatchObject({ uniqueBytes: 0, sameDigestAs: ['latest'] });
  expect(filtered.json.totals).toMatchObject({ tags: 2, complete: true });

  const markdown = await runCli(['repo', `${registry.host}/${REPO}`, '--format', 'markdown'], { env: env() });
  expect(markdown.code).toBe(0);
  expect(markdown.stdout).toContain('| Tag | Digest | Platforms | Size | Shared | Unique |');
  expect(markdown.stdout).toContain('| `latest` |');

  const gate = await runJson<RepoJson>(['repo', `${registry.host}/${REPO}`, '--require-platforms', 'linux/amd64,arm64', '--max-tags', '3', '--max-unique-size', '1GB', '--json'], { env: env() });
  expect(gate.code).toBe(1);
  expect(schemaErrors(gate.json)).toBeNull();
  expect(gate.json.check!.passed).toBe(false);
  expect(gate.json.check!.rules.map((rule) => [rule.rule, rule.status, rule.failures.map((failure) => failure.tag).sort()])).toEqual([
    ['maxTags', 'fail', []],
    ['maxUniqueSize', 'pass', []],
    ['requirePlatforms', 'fail', ['1.0', '1.1', 'latest']],
  ]);
  const pass = await runCli(['repo', `${registry.host}/${REPO}`, '--tags', 'multi', '--require-platforms', 'linux/arm64', '--max-tags', '3'], { env: env() });
  expect(pass.code).toBe(0);
  expect(pass.stdout).toMatch(/Check: PASS/);
});

test('the library: repo() returns the document --json prints', async () => {
  const script = `import { repo } from ${JSON.stringify(path.join(ROOT, 'dist', 'api.js'))}; const report = await repo(process.argv[1], { registry: { plainHttp: true } }); process.stdout.write(JSON.stringify(report));`;
  const fromLibrary = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, `${registry.host}/${REPO}`], { encoding: 'utf8', env: { ...process.env, ...env() } })) as RepoJson;
  const fromCli = await runJson<RepoJson>(['repo', `${registry.host}/${REPO}`, '--json'], { env: env() });
  expect(fromLibrary).toEqual(fromCli.json);
});

test('1,000 tags page through the real tag list (Link headers), one manifest read per tag, sizes counted once', async () => {
  await pushImage(registry, `oci:${layout()}:v1`, 'many/app:seed');
  const manifest = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/many/app:seed`]);
  const mediaType = (JSON.parse(manifest.toString('utf8')) as { mediaType: string }).mediaType;
  const tags = Array.from({ length: 1000 }, (_, i) => `t${String(i).padStart(4, '0')}`);
  for (let i = 0; i < tags.length; i += 50) {
    await Promise.all(
      tags.slice(i, i + 50).map(async (tag) => {
        const response = await fetch(`http://${registry.host}/v2/many/app/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: manifest });
        expect(response.status).toBe(201);
      }),
    );
  }
  const proxy = await startFaultProxy(registry.host, {});
  try {
    const started = Date.now();
    const { code, json } = await runJson<RepoJson>(['repo', `${proxy.host}/many/app`, '--json'], { env: env() });
    const seconds = (Date.now() - started) / 1000;
    console.log(`repo of 1,001 tags: ${seconds.toFixed(2)} s, ${proxy.requests.length} requests`); // reported, not asserted
    expect(code).toBe(0);
    expect(json.listing).toMatchObject({ pages: 2, listed: 1001, truncated: false });
    expect(json.totals).toMatchObject({ tags: 1001, digests: 1 });
    expect(json.totals.sameDigest).toHaveLength(1);
    expect(json.totals.sameDigest[0]!.tags).toHaveLength(1001);
    expect(json.tags.every((tag) => tag.uniqueBytes === 0 && tag.digest === sha256(manifest))).toBe(true);
    expect(json.totals.storedBytes).toBe(json.tags[0]!.size);
    const pages = proxy.requests.filter((request) => request.url.includes('/tags/list'));
    expect(pages).toHaveLength(2);
    expect(proxy.requests.filter((request) => request.url.includes('/manifests/'))).toHaveLength(1001);
    expect(proxy.requests.filter((request) => request.url.includes('/blobs/'))).toHaveLength(1); // the one config
  } finally {
    await proxy.stop();
  }
}, 180_000);

test('--all: every repository of the catalog; a layer two repositories share is not unique to either (registry-wide)', async () => {
  const own = await startRegistry('plain');
  try {
    await pushImage(own, `oci:${layout()}:v1`, 'alpha/app:1');
    await pushImage(own, `oci:${layout()}:v2`, 'beta/app:1');
    await pushImage(own, `oci:${layout()}:v2`, 'beta/app:2');
    const { code, stderr, json } = await runJson<RepoJson>(['repo', own.host, '--all', '--json'], { env: env() });
    expect([code, stderr]).toEqual([0, '']);
    expect(schemaErrors(json)).toBeNull();
    expect(json).toMatchObject({ repository: null, scope: 'registry', repositories: ['alpha/app', 'beta/app'] });
    expect(json.tags.map((tag) => `${tag.repository}:${tag.tag}`)).toEqual(['alpha/app:1', 'beta/app:1', 'beta/app:2']);
    const raw = (ref: string) => execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${own.host}/${ref}`]);
    const graph = (ref: string) => {
      const manifest = raw(ref);
      const doc = JSON.parse(manifest.toString('utf8')) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
      return new Map<string, number>([[sha256(manifest), manifest.length], [doc.config.digest, doc.config.size], ...doc.layers.map((layer) => [layer.digest, layer.size] as [string, number])]);
    };
    const alpha = graph('alpha/app:1');
    const beta = graph('beta/app:1');
    // Unique by definition: what the registry stores less what it stores without alpha's manifest.
    expect(json.tags[0]!.uniqueBytes).toBe(bytesOf([alpha, beta]) - bytesOf([beta]));
    expect(json.tags[0]!.sharedBytes).toBe(bytesOf([alpha]) - json.tags[0]!.uniqueBytes);
    expect(json.tags[0]!.sharedBytes).toBeGreaterThan(120_000); // the base layer, stored once for both repositories
    expect(json.totals.storedBytes).toBe(bytesOf([alpha, beta]));
    const root = path.join(own.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256');
    let disk = 0;
    for (const prefix of readdirSync(root)) for (const hex of readdirSync(path.join(root, prefix))) disk += statSync(path.join(root, prefix, hex, 'data')).size;
    expect(json.totals.storedBytes).toBe(disk);
    expect(json.totals.sameDigest).toEqual([{ repository: 'beta/app', tags: ['1', '2'] }]);
    const table = await runCli(['repo', own.host, '--all'], { env: env() });
    expect(table.stdout.split('\n')[0]).toBe(`Registry ${own.host} (2 repositories): 3 tag(s), 2 digest(s)`);
    expect(table.stdout).toMatch(/^alpha\/app:1 /m);
    expect(table.stdout).toContain('  beta/app: 1, 2\n');
    for (const bad of [`${own.host}/alpha/app`, 'a b']) {
      const refused = await runCli(['repo', bad, '--all'], { env: env() });
      expect([refused.code, refused.stderr.split('\n')[0]]).toEqual([2, `layerlens: repo --all takes a registry (e.g. localhost:5000), not "${bad}"`]);
    }
  } finally {
    await own.stop();
  }
});

describe('a hostile or broken registry (a stub speaking the tag list and manifests)', () => {
  let server: Server;
  let host: string;
  const behaviour: { link?: string; tags: string[] } = { tags: [] };
  let inFlight = 0;
  let maxInFlight = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/v2/' || url === '/v2') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else if (url.startsWith('/v2/stub/app/tags/list')) {
        res.writeHead(200, { 'content-type': 'application/json', ...(behaviour.link ? { link: behaviour.link } : {}) }).end(JSON.stringify({ name: 'stub/app', tags: behaviour.tags }));
      } else if (url === '/v2/stub/app/manifests/broken') {
        // An index whose child manifest the registry does not have: a broken tag, not a deleted one.
        const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'ab'.repeat(32)}`, size: 500, platform: { os: 'linux', architecture: 'amd64' } }] });
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(index);
      } else if (url.startsWith('/v2/stub/app/manifests/')) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
        }, 20);
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN' }] }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    host = `127.0.0.1:${address.port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a next-page link to another host is not followed: exit 3, one line', async () => {
    behaviour.tags = ['a'];
    behaviour.link = '<http://evil.example:9/v2/stub/app/tags/list?last=a>; rel="next"';
    const result = await runCli(['repo', `${host}/stub/app`], { env: env() });
    expect([result.code, result.stdout]).toEqual([3, '']);
    expect(result.stderr.trim().split('\n')).toEqual([`layerlens: ${host}/stub/app: the tag list's next-page link points elsewhere ("http://evil.example:9/v2/stub/app/tags/list?last=a"); not followed`]);
  });

  test('a link that loops ends the listing; a listed tag whose manifest is gone is reported as gone, exit 0; names that are not tags are dropped', async () => {
    behaviour.tags = ['ghost', '../../etc', 'x\u001b[31m'];
    behaviour.link = '</v2/stub/app/tags/list?n=1000&last=ghost>; rel="next"';
    const result = await runJson<RepoJson>(['repo', `${host}/stub/app`, '--json'], { env: env() });
    expect(result.code).toBe(0);
    expect(result.json.listing).toMatchObject({ pages: 2, listed: 1, dropped: 4 });
    expect(result.json.tags).toEqual([]);
    expect(schemaErrors(result.json)).toBeNull();
    expect(result.json.problems).toEqual([{ repository: 'stub/app', tag: 'ghost', exitCode: 0, message: expect.stringMatching(/^not found: deleted since the tag list was read/) }]);
  });

  test('at most 8 requests in flight however many tags; a child manifest missing is a broken tag (exit 3), not a deleted one', async () => {
    behaviour.tags = [...Array.from({ length: 60 }, (_, i) => `t${i}`), 'broken'];
    behaviour.link = undefined;
    maxInFlight = 0;
    const result = await runJson<RepoJson>(['repo', `${host}/stub/app`, '--json'], { env: env() });
    expect(result.code).toBe(3);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(8);
    expect(result.json.problems.filter((problem) => problem.exitCode === 0)).toHaveLength(60);
    expect(result.json.problems.filter((problem) => problem.exitCode !== 0)).toEqual([{ repository: 'stub/app', tag: 'broken', exitCode: 3, message: expect.stringContaining('not found') }]);
    expect(result.json.totals.complete).toBe(false);
  });

  test('bad input: a tag or digest instead of a repository is exit 2; a repository that does not exist is exit 3', async () => {
    for (const argument of [`${host}/stub/app:1.0`, `${host}/stub/app@sha256:${'a'.repeat(64)}`]) {
      const result = await runCli(['repo', argument], { env: env() });
      expect([result.code, result.stderr.split('\n')[0]]).toEqual([2, `layerlens: repo takes a repository (REGISTRY/REPOSITORY), not a tag or digest: "${argument}" (use --tags GLOB to pick tags)`]);
    }
    const bareRegistry = await runCli(['repo', host], { env: env() });
    expect([bareRegistry.code, bareRegistry.stderr.split('\n')[0]]).toEqual([2, `layerlens: "${host}" is a registry: name a repository (${host}/app), or add --all for every repository it lists`]);
    for (const format of ['junit', 'html']) {
      const refused = await runCli(['repo', `${host}/stub/app`, '--format', format], { env: env() });
      expect([format, refused.code, refused.stdout]).toEqual([format, 2, '']);
    }
    const noCatalog = await runCli(['repo', host, '--all'], { env: env() });
    expect([noCatalog.code, noCatalog.stdout]).toEqual([3, '']);
    expect(noCatalog.stderr.trim()).toMatch(new RegExp(`^layerlens: ${host.replace(/[.]/g, '\\.')} does not list its repositories to this client \\(/v2/_catalog: .*\\); name one: layerlens repo ${host.replace(/[.]/g, '\\.')}/REPOSITORY$`));
    const missing = await runCli(['repo', `${registry.host}/no/such`], { env: env() });
    expect([missing.code, missing.stdout, missing.stderr.trim()]).toEqual([3, '', `layerlens: ${registry.host}/no/such: repository not found`]);
  });
});
