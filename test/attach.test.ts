/**
 * `analyze --attach` / `--use-attached` and `repo --use-attached` against a real registry (Debian's docker-registry,
 * distribution 2.8: no referrers API, so the referrers tag schema is the path), the artifacts read back with skopeo;
 * the referrers-API path through a small proxy that adds what a 1.1 registry would (OCI-Subject, /referrers/). A
 * read-only token gives a clear exit 3. The proxy counts requests: a --use-attached run reads no layer.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { runCli, runJson, SAMPLES } from './helpers/cli.js';
import { pushImage, startFaultProxy, startRegistry, type RunningRegistry } from './helpers/registry.js';

const ARTIFACT = 'application/vnd.layerlens.report.v1+json';
let work: string;
let registry: RunningRegistry;

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { DOCKER_CONFIG: path.join(work, 'docker-empty'), XDG_CACHE_HOME: path.join(work, 'xdg'), DOCKER_HOST: 'unix:///nonexistent.sock', ...extra };
}
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const raw = (ref: string, extra: string[] = []) => execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`], { maxBuffer: 64 << 20 });

interface Report {
  manifestDigest: string;
  source: { input: string; reference: string; attached: { digest: string } | null };
  waste: { efficiency: number; wastedBytes: number; reclaimableBytes: number };
  layers: unknown[];
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-attach-test-'));
  mkdirSync(path.join(work, 'docker-empty'));
  registry = await startRegistry('plain');
  await pushImage(registry, `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`, 'team/app:1.0');
  await pushImage(registry, `oci:${path.join(SAMPLES, 'busybox-oci')}:latest`, 'team/app:multi', { all: true });
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('--attach pushes the report as an artifact under the referrers tag; skopeo reads it back, byte for byte the -o file', async () => {
  const out = path.join(work, 'report.json');
  const pushed = await runCli(['analyze', `${registry.host}/team/app:1.0`, '--attach', '--output', `json=${out}`, '--no-cache'], { env: env() });
  expect(pushed.code).toBe(0);
  const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
  const tag = report.manifestDigest.replace(':', '-');
  expect(pushed.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^layerlens: attached the report to ${registry.host.replace(/\./g, '\\.')}/team/app@${report.manifestDigest} as sha256:[0-9a-f]{64} \\(referrers tag ${tag}\\)$`))]);
  const artifactDigest = /as (sha256:[0-9a-f]{64})/.exec(pushed.stderr)![1]!;
  const index = JSON.parse(raw(`${registry.host}/team/app:${tag}`).toString('utf8')) as { mediaType: string; manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
  expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  expect(index.manifests).toEqual([expect.objectContaining({ digest: artifactDigest, artifactType: ARTIFACT })]);
  const manifestBytes = raw(`${registry.host}/team/app@${artifactDigest}`);
  expect(sha256(manifestBytes)).toBe(artifactDigest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { artifactType: string; subject: { digest: string }; config: { mediaType: string }; layers: { mediaType: string; digest: string; size: number }[] };
  expect(manifest).toMatchObject({ artifactType: ARTIFACT, subject: { digest: report.manifestDigest }, config: { mediaType: 'application/vnd.oci.empty.v1+json' } });
  const blob = Buffer.from(await (await fetch(`http://${registry.host}/v2/team/app/blobs/${manifest.layers[0]!.digest}`)).arrayBuffer());
  expect(sha256(blob)).toBe(manifest.layers[0]!.digest);
  expect(blob.equals(readFileSync(out))).toBe(true);
  // `repo` lists the referrers tag apart, as an artifact.
  const repo = await runJson<{ tags: { tag: string }[]; artifacts: { tag: string; subject: string }[] }>(['repo', `${registry.host}/team/app`, '--json'], { env: env() });
  expect(repo.json.tags.map((row) => row.tag)).toEqual(['1.0', 'multi']);
  expect(repo.json.artifacts).toEqual([expect.objectContaining({ tag, subject: report.manifestDigest })]);
});

test('--use-attached uses it: the same report, source.attached set, not one layer read; no attachment: the layers are read', async () => {
  const out = path.join(work, 'report.json');
  const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
  const proxy = await startFaultProxy(registry.host, {});
  try {
    const used = await runJson<Report>(['analyze', `${proxy.host}/team/app:1.0`, '--use-attached', '--json', '--no-cache'], { env: env() });
    expect(used.code).toBe(0);
    expect(used.stderr).toMatch(/^layerlens: using the report attached to sha256:/);
    expect(used.json.source.attached).toEqual({ digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    const strip = (value: Report) => ({ ...value, source: null });
    expect(strip(used.json)).toEqual(strip(report));
    const manifest = JSON.parse(raw(`${registry.host}/team/app:1.0`).toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
    const blobGets = proxy.requests.filter((entry) => entry.method === 'GET' && entry.url.includes('/blobs/')).map((entry) => entry.url.split('/blobs/')[1]!);
    for (const layer of manifest.layers) expect(blobGets).not.toContain(layer.digest);
    expect(blobGets).toContain(manifest.config.digest);

    proxy.requests.length = 0;
    const none = await runJson<Report>(['analyze', `${proxy.host}/team/app:multi`, '--platform', 'linux/arm64', '--use-attached', '--json', '--no-cache'], { env: env() });
    expect([none.code, none.stderr]).toEqual([0, '']);
    expect(none.json.source.attached).toBeNull();
    expect(proxy.requests.filter((entry) => entry.url.includes('/blobs/')).length).toBeGreaterThan(2); // layers read

    const repo = await runJson<{ tags: { tag: string; attached: { platform: string; efficiency: number; wastedBytes: number; reclaimableBytes: number }[] | null }[] }>(['repo', `${proxy.host}/team/app`, '--use-attached', '--json'], { env: env() });
    expect(repo.code).toBe(0);
    expect(repo.json.tags.find((row) => row.tag === '1.0')!.attached).toEqual([expect.objectContaining({ platform: 'linux/amd64', efficiency: report.waste.efficiency, wastedBytes: report.waste.wastedBytes, reclaimableBytes: report.waste.reclaimableBytes })]);
    expect(repo.json.tags.find((row) => row.tag === 'multi')!.attached).toEqual([]);
    const table = await runCli(['repo', `${proxy.host}/team/app`, '--use-attached'], { env: env() });
    expect(table.stdout).toContain('Attached reports (--use-attached: figures their writers computed, not read here):');
    expect(table.stdout).toMatch(/^ {2}1\.0 +linux\/amd64 +\d+\.\d\d % /m);
  } finally {
    await proxy.stop();
  }
});

test('check --use-attached gates on the attached figures (integrity not evaluated); with requireVerified it reads the blobs', async () => {
  const report = JSON.parse(readFileSync(path.join(work, 'report.json'), 'utf8')) as Report;
  const junit = path.join(work, 'check.xml');
  const gate = await runJson<{ source: { attached: { digest: string } | null }; check: { passed: boolean; rules: { name: string; status: string; actual: unknown }[] } }>(
    ['check', `${registry.host}/team/app:1.0`, '--use-attached', '--lowest-efficiency', '0.5', '--config', '/dev/null', '--output', `junit=${junit}`, '--json', '--no-cache'],
    { env: env() },
  );
  expect(gate.code).toBe(0);
  expect(gate.json.source.attached).not.toBeNull();
  expect(gate.json.check.rules).toEqual([expect.objectContaining({ name: 'lowestEfficiency', status: 'pass', actual: report.waste.efficiency })]);
  expect(readFileSync(junit, 'utf8')).toMatch(/<testcase [^>]*name="integrity"[^>]*>\s*<skipped message="not evaluated: the figures are those of the attached report sha256:/);
  const verified = await runJson<{ source: { attached: unknown }; check: { passed: boolean } }>(['check', `${registry.host}/team/app:1.0`, '--use-attached', '--require-verified', 'true', '--config', '/dev/null', '--json', '--no-cache'], { env: env() });
  expect(verified.code).toBe(0);
  expect(verified.json.source.attached).toBeNull();
  const archive = await runCli(['check', path.join(SAMPLES, 'busybox-amd64.tar'), '--use-attached'], { env: env() });
  expect(archive.code).toBe(2);
});

test('bad uses: --attach of an archive or with --all-platforms, --use-attached on verify: exit 2', async () => {
  const archive = await runCli(['analyze', path.join(SAMPLES, 'busybox-amd64.tar'), '--attach'], { env: env() });
  expect([archive.code, archive.stderr.split('\n')[0]]).toEqual([2, `layerlens: --attach is for registry images (the report is stored in the image's registry); ${path.join(SAMPLES, 'busybox-amd64.tar')} is not one`]);
  const all = await runCli(['analyze', `${registry.host}/team/app:multi`, '--attach', '--all-platforms'], { env: env() });
  expect(all.code).toBe(2);
  const verify = await runCli(['verify', `${registry.host}/team/app:1.0`, '--use-attached'], { env: env() });
  expect(verify.code).toBe(2); // verify always reads the blobs: the option does not exist there
});

test('a read-only token: --attach is exit 3 naming push access, after the report was written; no secret anywhere', async () => {
  const grants = { pullOnly: false };
  const readOnly = await startRegistry('token', { grants });
  try {
    await pushImage(readOnly, `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`, 'team/app:1.0');
    grants.pullOnly = true;
    const out = path.join(work, 'ro.json');
    const result = await runCli(['analyze', `${readOnly.host}/team/app:1.0`, '--attach', '--output', `json=${out}`, '--ca-file', readOnly.caFile!, '--username', readOnly.username!, '--password-stdin', '--no-cache'], { env: env(), input: `${readOnly.password}\n` });
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^layerlens: ${readOnly.host.replace(/\./g, '\\.')}/team/app: --attach needs push access to the repository, and the registry refused it \\(.+\\)$`))]);
    const written = readFileSync(out, 'utf8');
    expect((JSON.parse(written) as Report).manifestDigest).toMatch(/^sha256:/);
    for (const text of [written, result.stdout, result.stderr]) expect(text).not.toContain(readOnly.password!);
  } finally {
    await readOnly.stop();
  }
});

describe('a registry with the referrers API (a proxy adds OCI-Subject and /referrers/ in front of the real one)', () => {
  let server: Server;
  let host: string;
  const referrers = new Map<string, { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }[]>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = req.url ?? '/';
        const asked = /^\/v2\/(.+)\/referrers\/(sha256:[0-9a-f]{64})/.exec(url);
        if (asked) {
          res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: referrers.get(asked[2]!) ?? [] }));
          return;
        }
        const forward = request({ host: registry.host.split(':')[0], port: Number(registry.host.split(':')[1]), method: req.method, path: url, headers: req.headers }, (answer) => {
          const headers = { ...answer.headers };
          if (req.method === 'PUT' && url.includes('/manifests/') && answer.statusCode === 201) {
            const manifest = JSON.parse(body.toString('utf8')) as { mediaType: string; artifactType?: string; subject?: { digest: string }; annotations?: Record<string, string> };
            if (manifest.subject) {
              referrers.set(manifest.subject.digest, [...(referrers.get(manifest.subject.digest) ?? []), { mediaType: manifest.mediaType, digest: sha256(body), size: body.length, ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}), ...(manifest.annotations ? { annotations: manifest.annotations } : {}) }]);
              headers['oci-subject'] = manifest.subject.digest;
            }
          }
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        });
        forward.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('--attach says the API indexed it and writes no referrers tag; --use-attached finds it through the API', async () => {
    const pushed = await runCli(['analyze', `${host}/team/app:multi`, '--platform', 'linux/arm64', '--attach', '--json', '--no-cache'], { env: env() });
    expect(pushed.code).toBe(0);
    expect(pushed.stderr).toMatch(/\(the registry's referrers API\)\n$/);
    const report = JSON.parse(pushed.stdout) as Report;
    const tags = JSON.parse(execFileSync('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/team/app`], { encoding: 'utf8' })) as { Tags: string[] };
    expect(tags.Tags).not.toContain(report.manifestDigest.replace(':', '-'));
    const used = await runJson<Report>(['analyze', `${host}/team/app:multi`, '--platform', 'linux/arm64', '--use-attached', '--json', '--no-cache'], { env: env() });
    expect(used.code).toBe(0);
    expect(used.json.source.attached).not.toBeNull();
    expect({ ...used.json, source: null }).toEqual({ ...report, source: null });
  });
});
