/**
 * Against a real Podman engine (`podman system service` on a temp socket with its own vfs storage, see
 * helpers/podman.ts), reached through the Docker Engine API as `podman:NAME` (CONTAINER_HOST), as
 * `docker-daemon:NAME` (DOCKER_HOST) and as a bare NAME the engine resolves. What the engine hands over must read
 * exactly as the same image does from a `docker save` archive, and must agree with `podman image inspect`; an
 * image built here by `podman build` must show its Dockerfile steps and the bytes it wastes. Engines that are not
 * there, or do not hold the name, exit 3 with one line.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expectSameReport, fixture, ROOT, runCli, runJson, SAMPLES, withoutExportOnly, type CliResult } from './helpers/cli.js';
import { exploreScreen, htmlData } from './helpers/explorers.js';
import { tmuxAvailable } from './helpers/tmux.js';
import { countingProxy } from './helpers/engine-proxy.js';
import { makeDeadSocket, startPodman, type PodmanEngine } from './helpers/podman.js';
import { freePort } from './helpers/registry.js';
import { realisticImage, REALISTIC_BUILD_TIMEOUT_MS } from './helpers/realistic.js';

// jest.config.js gives every test 120 s; the hooks that start podman or run a build get more.
const SLOW = 240_000;
const run = promisify(execFile);

interface Layer {
  index: number;
  digest: string;
  diffId: string;
  compressedSize: number;
  uncompressedSize: number;
  contentSize: number;
  entries: number;
  files: number;
  added: number;
  modified: number;
  removed: number;
  createdBy: string | null;
}

interface LayersJson {
  source: { input: string; kind: string; reference: string | null; engine?: { name: string; version: string }; repoDigests?: string[] };
  manifestDigest: string | null;
  configDigest: string;
  config: { historyEntries: number };
  layers: Layer[];
  totals: { layers: number; uncompressedSize: number; files: number };
  verify: { ok: boolean };
}

interface WasteJson extends LayersJson {
  waste: {
    wastedBytes: number;
    hidden: { path: string; how: string; bytes: number; writtenBy: { layer: number; createdBy: string }[]; removedBy: { layer: number; createdBy: string } | null }[];
    entries: {
      path: string;
      count: number;
      cumulativeSize: number;
      reclaimableBytes: number;
      layers: number[];
      explanation: { writtenBy: { layer: number; createdBy: string }[]; removedBy: { layer: number; createdBy: string } | null };
    }[];
  };
}

interface FilesJson extends LayersJson {
  files: { path: string; type: string; size: number; layer: number }[];
}

const SAMPLE_TAR = path.join(SAMPLES, 'busybox-amd64.tar');
const SAMPLE_NAME = 'docker.io/layerlens-sample/busybox:latest'; // the RepoTag inside the sample archive

let engine: PodmanEngine;
let work: string;
let layerlensTmp: string;
let archive: LayersJson;
let podmanVersion: string;

/**
 * The CLI's environment: no engine reachable unless a test says so (DOCKER_HOST / CONTAINER_HOST point at
 * nothing), no docker context, no credentials, temp files in a directory the tests can look into.
 */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    DOCKER_CONFIG: path.join(work, 'docker-empty'),
    DOCKER_CONTEXT: undefined,
    DOCKER_TLS_VERIFY: undefined,
    XDG_RUNTIME_DIR: undefined,
    XDG_CACHE_HOME: path.join(work, 'xdg-cache'),
    LAYERLENS_TMPDIR: layerlensTmp,
    LAYERLENS_HTTP_BACKOFF_MS: '50',
    DOCKER_HOST: `unix://${path.join(work, 'no-docker.sock')}`,
    CONTAINER_HOST: `unix://${path.join(work, 'no-podman.sock')}`,
    ...extra,
  };
}

function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 3, stdout: '' });
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^layerlens: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

/** What identifies a layer's content, for comparing two reads of the same image. */
function layerFacts(layers: Layer[]) {
  return layers.map(({ diffId, files, uncompressedSize, contentSize, createdBy }) => ({ diffId, files, uncompressedSize, contentSize, createdBy }));
}

async function podmanInspect(name: string): Promise<{ Id: string; RepoTags: string[]; RepoDigests: string[]; RootFS: { Layers: string[] } }> {
  const parsed = JSON.parse(await engine.podman(['image', 'inspect', name])) as { Id: string; RepoTags: string[]; RepoDigests: string[]; RootFS: { Layers: string[] } }[];
  expect(parsed).toHaveLength(1);
  return parsed[0]!;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-daemon-test-'));
  layerlensTmp = path.join(work, 'layerlens-tmp');
  mkdirSync(layerlensTmp);
  mkdirSync(path.join(work, 'docker-empty'));
  engine = await startPodman();
  const loaded = await engine.podman(['load', '--quiet', '-i', SAMPLE_TAR]);
  expect(loaded).toContain(SAMPLE_NAME);
  podmanVersion = (await engine.podman(['version', '--format', '{{.Client.Version}}'])).trim();
  expect(podmanVersion).toMatch(/^\d+\.\d+\.\d+/);
  const fromArchive = await runJson<LayersJson>(['layers', SAMPLE_TAR], { env: env() });
  expect(fromArchive.code).toBe(0);
  archive = fromArchive.json;
}, SLOW);

afterAll(async () => {
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, SLOW);

afterEach(() => {
  // What a command streams from the engine is read in one pass: no temporary file, none left behind.
  expect(readdirSync(layerlensTmp)).toEqual([]);
});

describe('an image loaded into podman', () => {
  test('podman:NAME over CONTAINER_HOST reads as the docker save archive does, and as podman describes it', async () => {
    const { code, json, stderr } = await runJson<LayersJson>(['layers', `podman:${SAMPLE_NAME}`], { env: env({ CONTAINER_HOST: engine.address }) });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const record = await podmanInspect(SAMPLE_NAME);
    expect(json.source).toEqual({
      input: `podman:${SAMPLE_NAME}`,
      kind: 'daemon',
      reference: SAMPLE_NAME,
      engine: { name: 'podman', version: podmanVersion },
      repoDigests: record.RepoDigests,
      mirror: null,
      attached: null,
    });
    expect(json.configDigest).toBe(record.Id.startsWith('sha256:') ? record.Id : `sha256:${record.Id}`);
    expect(json.configDigest).toBe(archive.configDigest);
    expect(json.layers.map((layer) => layer.diffId)).toEqual(record.RootFS.Layers);
    expect(json.layers).toHaveLength(3);
    expect(layerFacts(json.layers)).toEqual(layerFacts(archive.layers));
    expect(json.layers).toEqual(archive.layers); // uncompressed either way: even digests and stored sizes agree
    expect(json.totals).toEqual(archive.totals);
    // the top layer holds 3 tar entries, one of them a whiteout: 2 files (the meaning schemaVersion 2 gave `files`)
    expect(json.layers.map((layer) => [layer.entries, layer.files])).toEqual([[52, 52], [12, 12], [3, 2]]);
    expect(json.verify.ok).toBe(true);
  });

  test('docker-daemon:NAME over DOCKER_HOST reaches the same engine through the Docker API and reads the same', async () => {
    const { code, json, stderr } = await runJson<LayersJson>(['layers', 'docker-daemon:layerlens-sample/busybox:latest'], { env: env({ DOCKER_HOST: engine.address }) });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(json.source).toMatchObject({ input: 'docker-daemon:layerlens-sample/busybox:latest', kind: 'daemon', reference: SAMPLE_NAME, engine: { name: 'podman', version: podmanVersion } });
    expect(json.configDigest).toBe(archive.configDigest);
    expect(layerFacts(json.layers)).toEqual(layerFacts(archive.layers));
    expect(json.verify.ok).toBe(true);
  });

  (tmuxAvailable() ? test : test.skip)('both explorers read podman:NAME as they read its docker save tarball', async () => {
    const image = `podman:${SAMPLE_NAME}`;
    const screen = await exploreScreen(image, env({ CONTAINER_HOST: engine.address }));
    expect(screen).toMatch(/Files as of layer 2 · \d+ rows/);
    expect(screen).toBe(await exploreScreen(SAMPLE_TAR, env()));
    const fromEngine = await htmlData(image, path.join(work, 'podman.html'), env({ CONTAINER_HOST: engine.address }));
    expect(fromEngine.length).toBeGreaterThan(5);
    expect(fromEngine).toEqual(await htmlData(SAMPLE_TAR, path.join(work, 'archive.html'), env()));
  });

  test('podman resolves its own names: the image ID, a short ID and a repo digest name the same image', async () => {
    const record = await podmanInspect(SAMPLE_NAME);
    const id = record.Id.replace(/^sha256:/, '');
    for (const name of [id.slice(0, 12), `sha256:${id}`, record.RepoDigests[0]!]) {
      const { code, json } = await runJson<LayersJson>(['inspect', `podman:${name}`], { env: env({ CONTAINER_HOST: engine.address }) });
      expect([name, code, json.source.kind, json.configDigest]).toEqual([name, 0, 'daemon', archive.configDigest]);
    }
  });
});

describe('the realistic image (~400 MB) loaded into podman', () => {
  let realistic: Awaited<ReturnType<typeof realisticImage>>;
  beforeAll(async () => {
    realistic = await realisticImage();
    await engine.podman(['load', '--quiet', '-i', realistic.dockerArchive], { timeout: SLOW });
  }, REALISTIC_BUILD_TIMEOUT_MS);
  afterAll(async () => {
    await engine.podman(['rmi', '-f', 'bench/realistic:1']).catch(() => undefined);
  }, SLOW);

  test('podman:bench/realistic:1: analyze equals the realistic docker archive read as a file, in one pass (no temp file)', async () => {
    const fromEngine = await runJson<LayersJson>(['analyze', '--json', 'podman:bench/realistic:1'], { env: env({ CONTAINER_HOST: engine.address }) });
    expect(fromEngine.stderr).toBe('');
    expect(fromEngine.code).toBe(0);
    expect(fromEngine.json.totals.uncompressedSize).toBe(realistic.info.uncompressedSize);
    expect(fromEngine.json.totals.uncompressedSize).toBeGreaterThan(300e6);
    const fromFile = await runJson<LayersJson>(['analyze', '--json', realistic.dockerArchive], { env: env() });
    expectSameReport(fromEngine.json, fromFile.json);
    // inspect and platforms through a proxy that counts: the image record and history, never the export.
    const proxy = await countingProxy(engine.socket, work);
    try {
      for (const command of ['inspect', 'platforms']) {
        proxy.reset();
        const viaRecord = await runJson<LayersJson>([command, 'podman:bench/realistic:1'], { env: env({ CONTAINER_HOST: proxy.address }) });
        expect({ command, code: viaRecord.code, stderr: viaRecord.stderr }).toEqual({ command, code: 0, stderr: '' });
        expect(proxy.requests().filter((line) => /\/get\b/.test(line))).toEqual([]);
        expect(proxy.requests()).toEqual(expect.arrayContaining([expect.stringMatching(/^GET \/v\d[^/]*\/libpod\/images\/[0-9a-f]{64}\/json$/)]));
        expect(proxy.bytesFromEngine()).toBeLessThan(64 * 1024);
        const fromArchive = await runJson<LayersJson>([command, realistic.dockerArchive], { env: env() });
        expectSameReport(viaRecord.json, withoutExportOnly(fromArchive.json), command);
      }
    } finally {
      await proxy.close();
    }
  }, REALISTIC_BUILD_TIMEOUT_MS);

  test('container:NAME on podman: a container of the realistic image that wrote, rewrote and deleted; its writable layer matches podman diff and podman export', async () => {
    const NAME = 'layerlens-podman-writer';
    const script = 'mkdir -p /srv/cache && head -c 20000000 /dev/urandom > /srv/cache/blob.bin && echo tuned >> /etc/os-release && rm -rf /usr/share/locale && rm -f /etc/issue && sleep 3600';
    await engine.podman(['run', '-d', '--name', NAME, '--network', 'none', '--user', '0', 'bench/realistic:1', 'sh', '-c', script], { timeout: SLOW });
    try {
      for (let attempt = 0; attempt < 120 && !(await engine.podman(['diff', NAME])).includes('D /etc/issue'); attempt++) await new Promise((resolve) => setTimeout(resolve, 500));
      const diff = (await engine.podman(['diff', NAME])).trim().split('\n').map((line) => ({ kind: line[0]!, path: line.slice(2) }));
      const kinds = (kind: string) => diff.filter((change) => change.kind === kind).map((change) => change.path).sort();
      const exportFile = path.join(work, 'podman-container.tar');
      await engine.podman(['export', '-o', exportFile, NAME], { timeout: SLOW });
      const exported = new Map(
        (await run('tar', ['--numeric-owner', '-tvf', exportFile], { maxBuffer: 256 << 20 })).stdout
          .trim()
          .split('\n')
          .map((line) => {
            const fields = line.split(/\s+/);
            return [`/${fields.slice(5).join(' ').replace(/ -> .*$| link to .*$/, '').replace(/^\.?\//, '').replace(/\/$/, '')}`, { type: line[0]!, size: Number(fields[2]) }] as [string, { type: string; size: number }];
          }),
      );
      rmSync(exportFile);
      type Written = { path: string; size: number };
      type ContainerJson = {
        source: { kind: string; engine: { name: string } };
        layers: { contentSize: number; changes: { added: string[]; modified: string[]; removed: string[] } }[];
        files: { path: string; type: string; size: number; layer: number }[];
        container: { name: string; state: string; writable: { changes: Record<string, number>; sizeRw: number; writtenBytes: number; deleted: { paths: number }; largestFiles: Written[] } };
      };
      const { code, stderr, json } = await runJson<ContainerJson>(['container', NAME], { env: env({ CONTAINER_HOST: engine.address, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }) });
      expect([code, stderr]).toEqual([0, '']);
      expect(json.source).toMatchObject({ kind: 'container', engine: { name: 'podman' } });
      expect(json.container).toMatchObject({ name: NAME, state: 'running' });
      const top = json.layers.at(-1)!;
      const topIndex = json.layers.length - 1;
      expect([...top.changes.added].sort()).toEqual(kinds('A'));
      expect([...top.changes.modified].sort()).toEqual(kinds('C').filter((p) => exported.get(p)?.type !== 'd'));
      for (const d of kinds('D')) expect(top.changes.removed).toContain(d);
      const written = json.files.filter((file) => file.layer === topIndex && file.type === 'file');
      expect(written.map((file) => file.path).sort()).toEqual([...kinds('A'), ...kinds('C')].filter((p) => exported.get(p)?.type === '-').sort());
      for (const file of written) expect([file.path, file.size]).toEqual([file.path, exported.get(file.path)!.size]);
      expect(json.container.writable.writtenBytes).toBe(top.contentSize);
      expect(json.container.writable.largestFiles[0]).toEqual({ path: '/srv/cache/blob.bin', size: 20_000_000 });
      expect(json.container.writable.deleted.paths).toBe(kinds('D').length);
      // Podman's SizeRw also counts what podman itself puts in every container and leaves out of its diff (the
      // /etc/mtab symlink, empty /etc/hosts, /etc/hostname and /run/.containerenv): a few bytes more, never fewer.
      expect(json.container.writable.sizeRw).toBeGreaterThanOrEqual(top.contentSize);
      expect(json.container.writable.sizeRw - top.contentSize).toBeLessThan(4096);
      // The two ways of reading the writable layer agree on podman too.
      const fromExport = await runJson<ContainerJson>(['container', NAME], { env: env({ CONTAINER_HOST: engine.address, DOCKER_HOST: 'unix:///nonexistent/docker.sock', LAYERLENS_CONTAINER_READ: 'export' }) });
      expect(fromExport.code).toBe(0);
      expect(fromExport.json.files).toEqual(json.files);
      expect(fromExport.json.container).toEqual(json.container);
    } finally {
      await engine.podman(['rm', '-f', '-t', '0', NAME]).catch(() => undefined);
    }
  }, SLOW);
});

describe('a bare NAME', () => {
  let registryHost: string; // a loopback address where no registry listens
  let name: string;
  beforeAll(async () => {
    registryHost = `127.0.0.1:${await freePort()}`;
    name = `${registryHost}/lltest/busybox:1`;
    await engine.podman(['tag', SAMPLE_NAME, name]);
  });

  test('held by the engine at DOCKER_HOST: read there, and stderr says so in one line', async () => {
    const { code, json, stderr } = await runJson<LayersJson>(['layers', name], { env: env({ DOCKER_HOST: engine.address }) });
    expect(code).toBe(0);
    // The report names the tag asked for, though the image's first tag is another one.
    expect(json.source).toMatchObject({ input: name, kind: 'daemon', reference: name, engine: { name: 'podman', version: podmanVersion } });
    expect(json.source.repoDigests).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${registryHost.replace(/\./g, '\\.')}/lltest/busybox@sha256:`))]));
    expect(layerFacts(json.layers)).toEqual(layerFacts(archive.layers));
    expect(stderr).toBe(`layerlens: reading ${name} from the local podman engine at ${engine.address} (docker://${name} reads the registry)\n`);
  });

  test('a Docker Hub short name the engine holds is read there too (no network needed)', async () => {
    const { code, json, stderr } = await runJson<LayersJson>(['layers', 'layerlens-sample/busybox'], { env: env({ DOCKER_HOST: engine.address }) });
    expect(code).toBe(0);
    expect(json.source).toMatchObject({ kind: 'daemon', reference: SAMPLE_NAME });
    expect(json.configDigest).toBe(archive.configDigest);
    expect(stderr).toMatch(/^layerlens: reading layerlens-sample\/busybox from the local podman engine at /);
  });

  test('with DOCKER_HOST dead, the podman endpoint (CONTAINER_HOST) is tried next', async () => {
    const { code, json, stderr } = await runJson<LayersJson>(['layers', name], { env: env({ CONTAINER_HOST: engine.address }) });
    expect(code).toBe(0);
    expect(json.source.kind).toBe('daemon');
    expect(json.configDigest).toBe(archive.configDigest);
    expect(stderr).toContain(`from the local podman engine at ${engine.address}`);
  });

  test('--quiet reads from the engine without the note', async () => {
    const result = await runCli(['inspect', name, '--json', '--quiet'], { env: env({ DOCKER_HOST: engine.address }) });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout).source.kind).toBe('daemon');
  });

  test('--source registry and docker:// bypass the engine: the unreachable registry is an exit 3', async () => {
    for (const args of [[name, '--source', 'registry'], [`docker://${name}`]]) {
      const result = await runCli(['layers', ...args], { env: env({ DOCKER_HOST: engine.address, CONTAINER_HOST: engine.address }) });
      expectOneLineError(result, new RegExp(`${registryHost.replace(/\./g, '\\.')}: connection refused`));
    }
  });

  test('a name the engine does not hold goes to the registry; --source daemon refuses it', async () => {
    const absent = `${registryHost}/lltest/absent:1`;
    const fallback = await runCli(['layers', absent], { env: env({ DOCKER_HOST: engine.address }) });
    expectOneLineError(fallback, /connection refused/);
    const forced = await runCli(['layers', absent, '--source', 'daemon'], { env: env({ DOCKER_HOST: engine.address }) });
    expectOneLineError(forced, new RegExp(`no local engine holds "${absent.replace(/\./g, '\\.')}"`));
    // The engine that answered is named too, not only the endpoints that could not be reached.
    expect(forced.stderr).toContain(`${engine.address}: answered, but holds no "${absent}"`);
  });
});

describe('an image built by podman build', () => {
  const IMAGE = 'localhost/lltest:1';
  const NOTE = 'copied by a COPY step\n';
  const steps = [
    'RUN mkdir -p /work && echo one > /work/a.txt && echo two > /work/b.txt && echo three > /work/c.txt',
    'RUN rm /work/b.txt',
    'COPY note.txt /work/note.txt',
    'RUN head -c 1048576 /dev/zero > /work/big.bin',
    'RUN rm /work/big.bin && echo done > /work/done.txt',
  ];
  let daemon: LayersJson;

  beforeAll(async () => {
    const context = path.join(work, 'build-context');
    mkdirSync(context);
    writeFileSync(path.join(context, 'note.txt'), NOTE);
    writeFileSync(path.join(context, 'Dockerfile'), [`FROM ${SAMPLE_NAME}`, ...steps, ''].join('\n'));
    await engine.podman(['build', '--quiet', '--isolation', 'chroot', '--pull=never', '-t', IMAGE, '.'], { cwd: context, timeout: 150_000 });
    const result = await runJson<LayersJson>(['layers', `podman:${IMAGE}`], { env: env({ CONTAINER_HOST: engine.address }) });
    expect(result.code).toBe(0);
    daemon = result.json;
  }, SLOW);

  test('layers equal podman image inspect RootFS.Layers, in order, with one createdBy per Dockerfile step', async () => {
    const record = await podmanInspect(IMAGE);
    expect(daemon.source).toMatchObject({ kind: 'daemon', reference: IMAGE, engine: { name: 'podman', version: podmanVersion } });
    expect(daemon.configDigest).toBe(`sha256:${record.Id.replace(/^sha256:/, '')}`);
    expect(daemon.layers).toHaveLength(record.RootFS.Layers.length);
    expect(daemon.layers.map((layer) => layer.diffId)).toEqual(record.RootFS.Layers);
    expect(daemon.layers.slice(0, 3).map((layer) => layer.diffId)).toEqual(archive.layers.map((layer) => layer.diffId)); // the base's, shared
    expect(daemon.layers.map((layer) => layer.createdBy)).toEqual([
      ...archive.layers.map((layer) => layer.createdBy),
      steps[0],
      steps[1],
      expect.stringMatching(/^COPY \S+ in \/work\/note\.txt$/), // buildah writes "COPY file:<sha256 of the source> in DEST"
      steps[3],
      steps[4],
    ]);
    const history = (await engine.podman(['history', '--quiet', IMAGE])).trim().split('\n');
    expect(daemon.config.historyEntries).toBe(history.length);
    expect(daemon.verify.ok).toBe(true);
  });

  test('each layer holds what its step did', () => {
    const [mkdir, rm, copy, big, cleanup] = daemon.layers.slice(3);
    // The first RUN layer also carries buildah's empty mount points (/etc/hosts, /proc, …): count only bytes there.
    expect(mkdir).toMatchObject({ removed: 0, contentSize: 'one\n'.length + 'two\n'.length + 'three\n'.length });
    expect(mkdir!.added).toBeGreaterThanOrEqual(4); // /work and its three files
    expect(rm).toMatchObject({ added: 0, removed: 1, contentSize: 0 });
    expect(copy).toMatchObject({ added: 1, removed: 0, contentSize: Buffer.byteLength(NOTE) });
    expect(big).toMatchObject({ added: 1, removed: 0, contentSize: 1048576 });
    expect(big!.uncompressedSize).toBeGreaterThan(1048576);
    expect(cleanup).toMatchObject({ added: 1, removed: 1, contentSize: 'done\n'.length });
  });

  test('files: the union filesystem has what survived the Dockerfile, from the layers that last wrote it', async () => {
    const { code, json } = await runJson<FilesJson>(['files', `podman:${IMAGE}`], { env: env({ CONTAINER_HOST: engine.address }) });
    expect(code).toBe(0);
    const work = json.files.filter((file) => file.path.startsWith('/work/')).map(({ path: name, type, size, layer }) => ({ path: name, type, size, layer }));
    expect(work).toEqual([
      { path: '/work/a.txt', type: 'file', size: 4, layer: 3 },
      { path: '/work/c.txt', type: 'file', size: 6, layer: 3 },
      { path: '/work/done.txt', type: 'file', size: 5, layer: 7 },
      { path: '/work/note.txt', type: 'file', size: Buffer.byteLength(NOTE), layer: 5 },
    ]);
  });

  test('waste: the 1 MB file written by one RUN and removed by a later one is reported as wasted, with both steps', async () => {
    const { code, json } = await runJson<WasteJson>(['waste', `podman:${IMAGE}`], { env: env({ CONTAINER_HOST: engine.address }) });
    expect(code).toBe(0);
    const entry = json.waste.entries.find((candidate) => candidate.path === '/work/big.bin');
    expect(entry).toMatchObject({ count: 2, cumulativeSize: 1048576, reclaimableBytes: 1048576, layers: [6, 7] });
    expect(entry!.explanation).toMatchObject({ writtenBy: [{ layer: 6, createdBy: steps[3] }], removedBy: { layer: 7, createdBy: steps[4] } });
    expect(json.waste.hidden.find((hidden) => hidden.path === '/work/big.bin')).toMatchObject({ how: 'deleted', bytes: 1048576 });
    expect(json.waste.hidden.find((hidden) => hidden.path === '/work/b.txt')).toMatchObject({ how: 'deleted', bytes: 4, removedBy: { layer: 4, createdBy: steps[1] } });
    expect(json.waste.wastedBytes).toBeGreaterThanOrEqual(1048576);
  });

  test('podman save --format docker-archive of the same image reads identically', async () => {
    const saved = path.join(work, 'lltest.tar');
    await engine.podman(['save', '--quiet', '--format', 'docker-archive', '-o', saved, IMAGE]);
    const { code, json } = await runJson<LayersJson>(['layers', saved], { env: env() });
    expect(code).toBe(0);
    expect(json.source).toEqual({ input: saved, kind: 'docker-archive', reference: IMAGE, mirror: null, attached: null });
    expect(json.configDigest).toBe(daemon.configDigest);
    expect(json.layers).toEqual(daemon.layers);
    expect(json.totals).toEqual(daemon.totals);
  });
});

describe("dive's Dockerfile.test-image, built by podman on the busybox sample", () => {
  const IMAGE = 'localhost/dive-test:1';
  let saved: string;

  beforeAll(async () => {
    // dive's recipe says FROM busybox:latest: the sample, tagged so (a short name podman resolves locally).
    await engine.podman(['tag', SAMPLE_NAME, 'localhost/busybox:latest']);
    const context = path.join(work, 'dive-context');
    mkdirSync(path.join(context, '.scripts'), { recursive: true });
    writeFileSync(path.join(context, 'Dockerfile'), readFileSync(fixture('dive', '.data', 'Dockerfile.test-image')));
    writeFileSync(path.join(context, 'README.md'), '# the build context dive\'s Dockerfile.test-image expects\n'.repeat(20));
    writeFileSync(path.join(context, '.scripts', 'x.sh'), '#!/bin/sh\necho x\n');
    writeFileSync(path.join(context, '.scripts', 'y.sh'), '#!/bin/sh\necho y\n');
    await engine.podman(['build', '--quiet', '--isolation', 'chroot', '--pull=never', '-t', IMAGE, '.'], { cwd: context, timeout: 200_000 });
    saved = path.join(work, 'dive-test.tar');
    await engine.podman(['save', '--format', 'docker-archive', '-o', saved, IMAGE]);
  }, SLOW);

  test('every command reads the same from the engine as from podman save of the image (inspect and platforms: but what only an export holds)', async () => {
    for (const command of ['inspect', 'layers', 'files', 'waste', 'analyze', 'verify', 'platforms']) {
      const fromEngine = await runJson<Record<string, unknown>>([command, `podman:${IMAGE}`], { env: env({ CONTAINER_HOST: engine.address }) });
      const fromSave = await runJson<Record<string, unknown>>([command, saved], { env: env() });
      expect([command, fromEngine.code, fromSave.code]).toEqual([command, 0, 0]);
      expect(fromEngine.json.source).toMatchObject({ kind: 'daemon', reference: IMAGE });
      // inspect and platforms answer from podman's image record (no export): stored sizes null, no config-bytes check.
      const expected = command === 'inspect' || command === 'platforms' ? withoutExportOnly(fromSave.json) : fromSave.json;
      expectSameReport(fromEngine.json, expected, command);
    }
  });

  test('its real history (with the empty_layer steps of the base) maps each layer to its step, and the waste is found', async () => {
    const { json } = await runJson<LayersJson & { waste: { wastedBytes: number; entries: { path: string; layers: number[] }[] } }>(['analyze', `podman:${IMAGE}`], { env: env({ CONTAINER_HOST: engine.address }) });
    const record = await podmanInspect(IMAGE);
    expect(json.layers.map((layer) => layer.diffId)).toEqual(record.RootFS.Layers);
    const createdBy = json.layers.map((layer) => layer.createdBy ?? '');
    expect(createdBy.some((step) => step.includes('mkdir -p /root/example/really/nested'))).toBe(true);
    expect(createdBy.some((step) => step.includes('chmod +x /root/saved.txt'))).toBe(true);
    const wasted = json.waste.entries.map((entry) => entry.path);
    // Written by one RUN and changed (chmod) or removed by later ones: each copy is waste.
    expect(wasted).toEqual(expect.arrayContaining(['/root/saved.txt', '/root/example/somefile1.txt']));
    expect(json.waste.wastedBytes).toBeGreaterThan(0);
  });
});

describe('engines that cannot serve: exit 3, one line', () => {
  test('podman:NAME the engine does not hold names the engine and what to do', async () => {
    const result = await runCli(['layers', 'podman:nosuch:1'], { env: env({ CONTAINER_HOST: engine.address }) });
    expectOneLineError(result, new RegExp(`podman at ${engine.address.replace(/\./g, '\\.')} has no image "nosuch:1"; pull it first`));
    const docker = await runCli(['layers', 'docker-daemon:nosuch:1'], { env: env({ DOCKER_HOST: engine.address }) });
    expectOneLineError(docker, /has no image "nosuch:1"/);
  });

  test('DOCKER_HOST / CONTAINER_HOST naming a socket that does not exist: the message names the endpoint tried', async () => {
    const missing = `unix://${path.join(work, 'missing', 'docker.sock')}`;
    const docker = await runCli(['layers', `docker-daemon:${SAMPLE_NAME}`], { env: env({ DOCKER_HOST: missing }) });
    expectOneLineError(docker, /no docker engine is reachable/);
    expect(docker.stderr).toContain(`no engine at ${missing} ($DOCKER_HOST)`);
    const podman = await runCli(['layers', `podman:${SAMPLE_NAME}`], { env: env({ CONTAINER_HOST: missing }) });
    expectOneLineError(podman, /no podman engine is reachable.*set CONTAINER_HOST/);
    expect(podman.stderr).toContain(`no engine at ${missing} ($CONTAINER_HOST)`);
  });

  test('a socket the user may not open: permission denied, with what to do', async () => {
    // Run as nobody against the engine's socket, which only root may reach.
    const result = await new Promise<CliResult>((resolve) => {
      execFile('/usr/sbin/runuser', ['-u', 'nobody', '--', process.execPath, path.join(ROOT, 'bin', 'layerlens.js'), 'inspect', `docker-daemon:${SAMPLE_NAME}`], { env: { ...env({ DOCKER_HOST: engine.address }), HOME: '/tmp', NO_COLOR: '1' } }, (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
    expectOneLineError(result, /permission denied on unix:\/\/.*add yourself to the docker group/);
  });

  test('a socket file with no server behind it', async () => {
    const dead = path.join(work, 'dead.sock');
    await makeDeadSocket(dead);
    const result = await runCli(['layers', `docker-daemon:${SAMPLE_NAME}`], { env: env({ DOCKER_HOST: `unix://${dead}` }) });
    expectOneLineError(result, /no docker engine is reachable/);
    expect(result.stderr).toContain(`unix://${dead}`);
  });

  test('a tcp:// endpoint where nothing listens, and an unsupported scheme', async () => {
    const tcp = `tcp://127.0.0.1:${await freePort()}`;
    const refused = await runCli(['layers', `docker-daemon:${SAMPLE_NAME}`], { env: env({ DOCKER_HOST: tcp }) });
    expectOneLineError(refused, /no docker engine is reachable/);
    expect(refused.stderr).toContain(tcp);
    const ssh = await runCli(['layers', `docker-daemon:${SAMPLE_NAME}`], { env: env({ DOCKER_HOST: 'ssh://someone@example.invalid' }) });
    expectOneLineError(ssh, /\$DOCKER_HOST is an ssh:\/\/ endpoint \("ssh:\/\/someone@example\.invalid"\), which layerlens does not support; forward the socket \(ssh -L /);
  });

  test('an unsupported DOCKER_HOST is skipped for a bare name: the next endpoint (CONTAINER_HOST) serves it', async () => {
    const { code, json } = await runJson<LayersJson>(['layers', SAMPLE_NAME], { env: env({ DOCKER_HOST: 'ssh://someone@example.invalid', CONTAINER_HOST: engine.address }) });
    expect(code).toBe(0);
    expect(json.source).toMatchObject({ kind: 'daemon', reference: SAMPLE_NAME });
  });

  test('an engine transport with no name is a usage error (exit 2)', async () => {
    for (const argument of ['podman:', 'docker-daemon:']) {
      const result = await runCli(['inspect', argument], { env: env({ CONTAINER_HOST: engine.address }) });
      expect({ argument, code: result.code }).toEqual({ argument, code: 2 });
      expect(result.stderr).toContain(`"${argument}" names no image`);
    }
  });
});
