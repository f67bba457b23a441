/**
 * Registry mirrors against real registries: the origin (Debian's docker-registry) and a second docker-registry
 * configured as its pull-through cache (`proxy: remoteurl:`), as CI mirrors of Docker Hub are run. The mirror comes
 * from `--registry-mirror` (Docker Hub images; the origin plays docker.io, which is unreachable here, so only the
 * mirror can serve) or from a containers-registries.conf(5) file named by CONTAINERS_REGISTRIES_CONF, as podman
 * reads it. A dead mirror falls back to the origin; credentials for the origin never reach a mirror.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mirrorsFor, parseRegistriesConf } from '../src/fetch/registry/mirrors.js';
import { runCli, runJson, SAMPLES } from './helpers/cli.js';
import { startContainerd, type ContainerdEngine } from './helpers/containerd.js';
import { startPodman, type PodmanEngine } from './helpers/podman.js';
import { freePort, pushImage, startFaultProxy, startRegistry, type RunningRegistry } from './helpers/registry.js';

interface Report {
  source: { kind: string; reference: string; mirror: string | null };
  layers: { digest: string }[];
  verify: { ok: boolean };
}

let origin: RunningRegistry;
let mirror: RunningRegistry;
let home: string;

beforeAll(async () => {
  origin = await startRegistry('plain');
  mirror = await startRegistry('plain', { proxyOf: `http://${origin.host}` });
  await pushImage(origin, `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`, 'sample/amd64:1');
  home = mkdtempSync(path.join(os.tmpdir(), 'layerlens-mirrors-'));
}, 180_000);

afterAll(async () => {
  await mirror?.stop();
  await origin?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Neither the machine's nor the user's registries.conf: only the one a test writes. */
function env(conf: string | null): NodeJS.ProcessEnv {
  const file = path.join(home, `registries-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(file, conf ?? '');
  return { HOME: home, CONTAINERS_REGISTRIES_CONF: file, DOCKER_CONFIG: path.join(home, 'docker'), REGISTRY_AUTH_FILE: path.join(home, 'auth.json') };
}

describe('registries.conf mirrors', () => {
  test('the mirror serves the image and source.mirror names it; the bytes went through the pull-through cache', async () => {
    const conf = `# podman's format\nunqualified-search-registries = ["docker.io"]\n\n[[registry]]\nprefix = "${origin.host}/sample"\nlocation = "${origin.host}/sample"\n\n[[registry.mirror]]\nlocation = "${mirror.host}/sample"\n`;
    const { code, json } = await runJson<Report>(['layers', `${origin.host}/sample/amd64:1`, '--no-cache'], { env: env(conf) });
    expect(code).toBe(0);
    expect(json.verify.ok).toBe(true);
    expect(json.source).toMatchObject({ kind: 'registry', reference: `${origin.host}/sample/amd64:1`, mirror: `${mirror.host}/sample` });
    // The cache fetched each layer from the origin to serve it: it now holds them.
    for (const layer of json.layers) expect(existsSync(mirror.blobPath(layer.digest))).toBe(true);
  });

  test('a mirror that is down falls back to the next, then to the origin (source.mirror null), with a note', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const conf = `[[registry]]\nlocation = "${origin.host}"\n[[registry.mirror]]\nlocation = "${dead}"\n`;
    const { code, json, stderr } = await runJson<Report>(['layers', `${origin.host}/sample/amd64:1`, '--no-cache', '--timeout', '5'], { env: env(conf) });
    expect(code).toBe(0);
    expect(json.source.mirror).toBeNull();
    expect(json.verify.ok).toBe(true);
    expect(stderr).toContain(`mirror ${dead} could not serve`);
  });

  test('mirror-by-digest-only: a tag goes to the origin', async () => {
    const conf = `[[registry]]\nlocation = "${origin.host}"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "${mirror.host}"\n`;
    const { code, json } = await runJson<Report>(['inspect', `${origin.host}/sample/amd64:1`, '--no-cache'], { env: env(conf) });
    expect(code).toBe(0);
    expect(json.source.mirror).toBeNull();
  });

  test('with no mirror configured, source.mirror is null', async () => {
    const { code, json } = await runJson<Report>(['inspect', `${origin.host}/sample/amd64:1`, '--no-cache'], { env: env(null) });
    expect(code).toBe(0);
    expect(json.source.mirror).toBeNull();
  });

  test('a registries.conf that is not TOML is a configuration error (exit 2) naming the file', async () => {
    const variables = env('[[registry]]\nthis is not toml\n');
    const result = await runCli(['inspect', `${origin.host}/sample/amd64:1`, '--no-cache'], { env: variables });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${variables.CONTAINERS_REGISTRIES_CONF}:2`);
  });
});

describe('source.mirror and source.attached in every document, whatever the source', () => {
  // CONTRACT.md's `source` shows both keys: a pipeline reads `source.mirror` without asking first what kind of
  // source it was, so they are present (null: no mirror served, no attached report was used) for every kind.
  let podman: PodmanEngine;
  let containerd: ContainerdEngine;
  const SAMPLE_TAR = path.join(SAMPLES, 'busybox-amd64.tar');

  beforeAll(async () => {
    [podman, containerd] = await Promise.all([startPodman(), startContainerd()]);
    await podman.podman(['load', '--quiet', '-i', SAMPLE_TAR]);
    await containerd.ctr(['-n', 'default', 'images', 'import', '--no-unpack', SAMPLE_TAR]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([podman?.stop(), containerd?.stop()]);
  }, 120_000);

  interface Source {
    kind: string;
    mirror?: unknown;
    attached?: unknown;
  }
  const engines = () => ({ CONTAINER_HOST: podman.address, DOCKER_HOST: `unix://${path.join(home, 'no-docker.sock')}`, CONTAINERD_ADDRESS: containerd.address });
  const cases: [string, string, () => string[], string][] = [
    ['docker-archive:', 'docker-archive', () => ['layers', `docker-archive:${SAMPLE_TAR}`], ''],
    ['a docker save by path', 'docker-archive', () => ['inspect', SAMPLE_TAR], ''],
    ['oci: (a layout)', 'oci-layout', () => ['layers', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--platform', 'linux/amd64'], ''],
    ['oci: with --all-platforms (several images)', 'oci-layout', () => ['inspect', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--all-platforms'], ''],
    ['oci-archive:', 'oci-archive', () => ['files', `oci-archive:${path.join(SAMPLES, 'busybox.oci.tar')}`, '--platform', 'linux/amd64'], ''],
    ['platforms of a layout', 'oci-layout', () => ['platforms', `oci:${path.join(SAMPLES, 'busybox-oci')}`], ''],
    ['stdin', 'docker-archive', () => ['layers', '-'], SAMPLE_TAR],
    ['podman: (an engine)', 'daemon', () => ['layers', 'podman:layerlens-sample/busybox:latest'], ''],
    ['containerd:', 'containerd', () => ['inspect', 'containerd:docker.io/layerlens-sample/busybox:latest'], ''],
    ['a registry, from its origin', 'registry', () => ['inspect', `${origin.host}/sample/amd64:1`, '--no-cache'], ''],
  ];

  test.each(cases)('%s: source.kind %s, mirror null and attached null, both present', async (_name, kind, args, stdinFile) => {
    const { code, json, stderr } = await runJson<{ source: Source }>(args(), { env: { ...env(null), ...engines() }, ...(stdinFile ? { input: readFileSync(stdinFile) } : {}) });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(json.source.kind).toBe(kind);
    expect(Object.keys(json.source)).toEqual(expect.arrayContaining(['mirror', 'attached']));
    expect(json.source.mirror).toBeNull();
    expect(json.source.attached).toBeNull();
  });

  test('diff: both sides say so too', async () => {
    const { code, json } = await runJson<{ a: { source: Source }; b: { source: Source } }>(['diff', `oci:${path.join(SAMPLES, 'busybox-oci')}`, 'podman:layerlens-sample/busybox:latest', '--platform', 'linux/amd64'], { env: { ...env(null), ...engines() } });
    expect(code).toBe(0);
    expect([json.a.source, json.b.source]).toEqual([
      expect.objectContaining({ kind: 'oci-layout', mirror: null, attached: null }),
      expect.objectContaining({ kind: 'daemon', mirror: null, attached: null }),
    ]);
  });

  test('platforms of a registry image names the mirror that served its index (it used to drop the key)', async () => {
    const conf = `[[registry]]\nlocation = "${origin.host}"\n[[registry.mirror]]\nlocation = "${mirror.host}"\n`;
    const { code, json } = await runJson<{ source: Source }>(['platforms', `${origin.host}/sample/amd64:1`, '--no-cache'], { env: env(conf) });
    expect(code).toBe(0);
    expect(json.source).toMatchObject({ kind: 'registry', mirror: mirror.host, attached: null });
  });
});

describe('--registry-mirror (Docker Hub)', () => {
  test('a docker.io image is read from the mirror, the reference still names docker.io', async () => {
    const { code, json } = await runJson<Report>(['layers', 'docker.io/sample/amd64:1', '--registry-mirror', `http://${mirror.host}`, '--no-cache'], { env: env(null) });
    expect(code).toBe(0);
    expect(json.verify.ok).toBe(true);
    expect(json.source).toMatchObject({ reference: 'docker.io/sample/amd64:1', mirror: `http://${mirror.host}` });
  });

  test('credentials given for docker.io never reach the mirror, another host', async () => {
    const recorder = await startFaultProxy(mirror.host, {});
    try {
      const result = await runCli(['inspect', 'docker.io/sample/amd64:1', '--registry-mirror', `http://${recorder.host}`, '--no-cache', '--username', 'hub-user', '--password-stdin', '--json'], { env: env(null), input: 'hub-password\n' });
      expect(result.code).toBe(0);
      expect((JSON.parse(result.stdout) as Report).source.mirror).toBe(`http://${recorder.host}`);
      expect(recorder.requests.length).toBeGreaterThan(0);
      expect(recorder.requests.filter((request) => request.authorization)).toEqual([]);
    } finally {
      await recorder.stop();
    }
  });

  test('is only for Docker Hub: another registry is read from its origin', async () => {
    const { code, json } = await runJson<Report>(['inspect', `${origin.host}/sample/amd64:1`, '--registry-mirror', 'http://127.0.0.1:9', '--no-cache'], { env: env(null) });
    expect(code).toBe(0);
    expect(json.source.mirror).toBeNull();
  });

  test.each(['ftp://mirror.example', 'https://mirror.example/path', 'not a url'])('%s is a usage error (exit 2)', async (url) => {
    const result = await runCli(['inspect', 'docker.io/library/alpine', '--registry-mirror', url], { env: env(null) });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--registry-mirror');
  });
});

describe('mirror selection (containers-registries.conf(5) rules)', () => {
  const conf = parseRegistriesConf(
    [
      '[[registry]]',
      'prefix = "docker.io"',
      'location = "docker.io"',
      '[[registry.mirror]]',
      'location = "cache.example:5000/hub"  # a path on the mirror',
      '[[registry.mirror]]',
      'location = "digests.example"',
      'pull-from-mirror = "digest-only"',
      '',
      '[[registry]]',
      'prefix = "docker.io/library/special"',
      '[[registry.mirror]]',
      "location = 'special.example/mirrors/special'",
      '',
      '[[registry]]',
      'location = "*.corp.example"',
      '[[registry.mirror]]',
      'location = "corp-cache.example"',
    ].join('\n'),
    'registries.conf',
  );
  const ref = (registry: string, repository: string, digest: string | null = null) => ({ registry, repository, tag: digest ? null : 'latest', digest, canonical: `${registry}/${repository}` });

  test('the prefix is replaced by the mirror location, path segments kept; digest-only mirrors only for digests', () => {
    expect(mirrorsFor(ref('docker.io', 'library/alpine'), [], conf).map((m) => `${m.registry} ${m.repository}`)).toEqual(['cache.example:5000 hub/library/alpine']);
    expect(mirrorsFor(ref('docker.io', 'library/alpine', 'sha256:' + 'a'.repeat(64)), [], conf).map((m) => m.registry)).toEqual(['cache.example:5000', 'digests.example']);
  });

  test('the most specific prefix wins, on whole path segments only', () => {
    expect(mirrorsFor(ref('docker.io', 'library/special'), [], conf).map((m) => `${m.registry} ${m.repository}`)).toEqual(['special.example mirrors/special']);
    expect(mirrorsFor(ref('docker.io', 'library/specialist'), [], conf).map((m) => m.registry)).toEqual(['cache.example:5000']);
  });

  test('wildcard prefixes match subdomains; --registry-mirror entries come first, for docker.io only', () => {
    expect(mirrorsFor(ref('eu.corp.example', 'team/app'), [], conf).map((m) => `${m.registry} ${m.repository}`)).toEqual(['corp-cache.example team/app']);
    expect(mirrorsFor(ref('docker.io', 'library/alpine'), ['https://m.example'], conf).map((m) => m.label)).toEqual(['https://m.example', 'cache.example:5000/hub']);
    expect(mirrorsFor(ref('quay.io', 'org/app'), ['https://m.example'], conf)).toEqual([]);
  });
});

test('registries.conf arrays may span lines, and tables other than [[registry]] are skipped', () => {
  const conf = parseRegistriesConf(
    ['unqualified-search-registries = [', '  "docker.io",  # the hub', '  "quay.io",', ']', '[aliases]', '  "skopeo" = "quay.io/skopeo/stable"', '[[registry]]', 'location = "quay.io"', '[[registry.mirror]]', 'location = "quay-cache.example/quay"', 'insecure = true'].join('\n'),
    'registries.conf',
  );
  expect(conf).toEqual([{ prefix: 'quay.io', mirrorByDigestOnly: false, mirrors: [{ location: 'quay-cache.example/quay', insecure: true, pullFromMirror: 'all' }] }]);
});
