/**
 * Against a real Docker engine (dockerd with its own data root and socket, see helpers/docker.ts): images loaded
 * with `docker load` and built with the legacy builder are read through `docker-daemon:NAME` and as a bare NAME
 * (DOCKER_HOST at the harness's socket), in one pass over the engine's export, and must read exactly as `docker
 * save` of the same image read as a file (the JSON equal but `source`). The realistic image (~400 MB) is read too:
 * at that size a slow or spilling stream shows. Nothing may be left in the temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expectSameReport, runCli, runJson, SAMPLES, withoutExportOnly } from './helpers/cli.js';
import { countingProxy, type ProxyLog } from './helpers/engine-proxy.js';
import { startDocker, type DockerEngine } from './helpers/docker.js';
import { exploreScreen, htmlData } from './helpers/explorers.js';
import { tmuxAvailable } from './helpers/tmux.js';
import { realisticImage, REALISTIC_BUILD_TIMEOUT_MS, type RealisticImage } from './helpers/realistic.js';

const SLOW = 600_000;
const SAMPLE_TAR = path.join(SAMPLES, 'busybox-amd64.tar');
const SAMPLE_NAME = 'layerlens-sample/busybox:latest';
const APP = 'layerlens-test/app:1';

interface Report {
  source: { input: string; kind: string; reference: string | null; engine?: { name: string; version: string } | null };
  configDigest: string;
  layers: { diffId: string; createdBy: string | null; uncompressedSize: number; files: number }[];
  totals: { layers: number; uncompressedSize: number; files: number };
  verify: { ok: boolean };
  waste?: { entries: { path: string; explanation: { writtenBy: { createdBy: string }[]; removedBy: { createdBy: string } | null } }[] };
  [key: string]: unknown;
}

let engine: DockerEngine;
let realistic: RealisticImage;
let work: string;
let tmp: string;

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    DOCKER_HOST: engine.address,
    DOCKER_CONFIG: path.join(work, 'docker-empty'),
    DOCKER_CONTEXT: undefined,
    CONTAINER_HOST: `unix://${path.join(work, 'no-podman.sock')}`,
    XDG_RUNTIME_DIR: undefined,
    LAYERLENS_TMPDIR: tmp,
    ...extra,
  };
}


async function saved(name: string): Promise<string> {
  const file = path.join(work, `${name.replace(/[/:]/g, '_')}.tar`);
  await engine.docker(['save', '-o', file, name]);
  return file;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-docker-test-'));
  tmp = path.join(work, 'tmp');
  mkdirSync(tmp);
  mkdirSync(path.join(work, 'docker-empty'));
  [engine, realistic] = await Promise.all([startDocker(), realisticImage()]);
  await engine.docker(['load', '-q', '-i', SAMPLE_TAR]);
  await engine.docker(['load', '-q', '-i', realistic.dockerArchive]);
  // Built on the realistic image with the legacy builder: a COPY, a RUN that writes 1 MB, one that removes it.
  const context = path.join(work, 'context');
  mkdirSync(context);
  writeFileSync(path.join(context, 'app.txt'), 'hello from the build context\n');
  writeFileSync(
    path.join(context, 'Dockerfile'),
    ['FROM bench/realistic:1', 'COPY app.txt /app/app.txt', 'RUN head -c 1048576 /dev/urandom > /tmp/scratch.bin && echo ran > /app/ran', 'RUN rm /tmp/scratch.bin', 'CMD ["python3", "--version"]', ''].join('\n'),
  );
  await engine.docker(['build', '-q', '-t', APP, context], { timeout: SLOW });
}, REALISTIC_BUILD_TIMEOUT_MS);

afterAll(async () => {
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, SLOW);

afterEach(() => {
  // The export is read in one pass: nothing is ever written to the temporary directory.
  expect(readdirSync(tmp)).toEqual([]);
});

describe('docker-daemon:NAME against dockerd', () => {
  test('the loaded sample reads as its docker save archive does, and names the engine', async () => {
    const fromEngine = await runJson<Report>(['layers', '--json', `docker-daemon:${SAMPLE_NAME}`], { env: env() });
    expect(fromEngine.stderr).toBe('');
    expect(fromEngine.code).toBe(0);
    const fromFile = await runJson<Report>(['layers', '--json', await saved(SAMPLE_NAME)], { env: env() });
    expect(fromEngine.json.source).toMatchObject({ kind: 'daemon', engine: { name: 'docker', version: engine.version.Version } });
    expectSameReport(fromEngine.json, fromFile.json);
  });

  (tmuxAvailable() ? test : test.skip)('both explorers read the engine image as they read its docker save tarball', async () => {
    const screen = await exploreScreen(`docker-daemon:${SAMPLE_NAME}`, env());
    expect(screen).toMatch(/Files as of layer 2 · \d+ rows/);
    expect(screen).toBe(await exploreScreen(SAMPLE_TAR));
    const fromEngine = await htmlData(`docker-daemon:${SAMPLE_NAME}`, path.join(work, 'engine.html'), env());
    expect(fromEngine.length).toBeGreaterThan(5);
    expect(fromEngine).toEqual(await htmlData(SAMPLE_TAR, path.join(work, 'archive.html')));
  }, SLOW);

  test('the realistic image (~400 MB) from the engine: analyze equals the realistic docker archive read as a file', async () => {
    const fromEngine = await runJson<Report>(['analyze', '--json', 'docker-daemon:bench/realistic:1'], { env: env() });
    expect(fromEngine.stderr).toBe('');
    expect(fromEngine.code).toBe(0);
    expect(fromEngine.json.totals.uncompressedSize).toBe(realistic.info.uncompressedSize);
    expect(fromEngine.json.totals.uncompressedSize).toBeGreaterThan(300e6);
    expect(fromEngine.json.configDigest).toBe(realistic.info.configDigest);
    const fromFile = await runJson<Report>(['analyze', '--json', realistic.dockerArchive], { env: env() });
    expectSameReport(fromEngine.json, fromFile.json);
  }, SLOW);
});

describe('an image built by the legacy builder on the realistic image', () => {
  let built: Report;
  let inspect: { Id: string; RootFS: { Layers: string[] } };

  beforeAll(async () => {
    const result = await runJson<Report>(['analyze', '--json', APP], { env: env() });
    expect(result.code).toBe(0);
    // A bare name the engine holds is read there, and stderr says so in one line.
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^layerlens: reading ${APP} from the local docker engine at ${engine.address}`))]);
    built = result.json;
    inspect = (JSON.parse(await engine.docker(['image', 'inspect', APP])) as (typeof inspect)[])[0]!;
  }, SLOW);

  test('layers equal docker image inspect RootFS.Layers, the base first, then one per COPY/RUN step', () => {
    expect(built.source).toMatchObject({ kind: 'daemon', reference: APP, engine: { name: 'docker' } });
    expect(built.configDigest).toBe(inspect.Id);
    expect(built.layers.map((layer) => layer.diffId)).toEqual(inspect.RootFS.Layers);
    expect(built.layers).toHaveLength(realistic.info.layers + 3);
    const steps = built.layers.slice(-3).map((layer) => layer.createdBy);
    expect(steps[0]).toMatch(/^COPY file:[0-9a-f]{64} in \/app\/app\.txt$/); // the legacy builder names the content, not the file
    expect(steps[1]).toMatch(/head -c 1048576 \/dev\/urandom/);
    expect(steps[2]).toMatch(/rm \/tmp\/scratch\.bin/);
    expect(built.verify.ok).toBe(true);
  });

  test('the 1 MB written by one RUN and removed by the next is waste, explained by both steps', () => {
    const entry = built.waste!.entries.find((candidate) => candidate.path === '/tmp/scratch.bin');
    expect(entry).toBeDefined();
    expect(entry!.explanation.writtenBy.map((step) => step.createdBy)).toEqual([expect.stringMatching(/head -c 1048576/)]);
    expect(entry!.explanation.removedBy?.createdBy).toMatch(/rm \/tmp\/scratch\.bin/);
  });

  test('docker save of it, read as a file, gives the same report but source; so do docker-daemon:, the image ID and a short ID', async () => {
    const fromFile = await runJson<Report>(['analyze', '--json', await saved(APP)], { env: env() });
    expect(fromFile.code).toBe(0);
    expectSameReport(built, fromFile.json);
    const hex = inspect.Id.replace(/^sha256:/, '');
    for (const name of [`docker-daemon:${APP}`, `docker-daemon:${inspect.Id}`, `docker-daemon:${hex.slice(0, 12)}`]) {
      const other = await runJson<Report>(['analyze', '--json', name], { env: env() });
      expect({ name, code: other.code, stderr: other.stderr }).toEqual({ name, code: 0, stderr: '' });
      expectSameReport(other.json, built, name);
      expect(other.json.configDigest).toBe(inspect.Id);
    }
  }, SLOW);
});

describe('inspect and platforms answer from the engine\'s image record, never from an export', () => {
  let proxy: ProxyLog;
  beforeAll(async () => {
    proxy = await countingProxy(engine.socket, work);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  for (const [image, what] of [[SAMPLE_NAME, 'the loaded sample'], ['bench/realistic:1', 'the realistic image (~400 MB)'], [APP, 'the image the legacy builder made']] as const) {
    test(`${what}: the same JSON as its docker save read as a file, but the stored sizes and config checks only an export has; no /get asked, a few kB read`, async () => {
      const file = await saved(image);
      for (const command of ['inspect', 'platforms']) {
        proxy.reset();
        const fromEngine = await runJson<Report>([command, `docker-daemon:${image}`], { env: env({ DOCKER_HOST: proxy.address }) });
        expect({ command, code: fromEngine.code, stderr: fromEngine.stderr }).toEqual({ command, code: 0, stderr: '' });
        expect(proxy.requests().filter((line) => /\/get\b/.test(line))).toEqual([]);
        expect(proxy.requests()).toEqual(expect.arrayContaining([expect.stringMatching(/^GET \/images\/.*\/json$/), expect.stringMatching(/^GET \/images\/[0-9a-f]{64}\/history$/)]));
        expect(proxy.bytesFromEngine()).toBeLessThan(64 * 1024);
        const fromFile = await runJson<Report>([command, file], { env: env() });
        expect(fromFile.code).toBe(0);
        expectSameReport(fromEngine.json, withoutExportOnly(fromFile.json), command);
      }
    }, SLOW);
  }

  test('layers reads the export through the same proxy: the export is what costs (the measure of the test above)', async () => {
    proxy.reset();
    const result = await runJson<Report>(['layers', `docker-daemon:${SAMPLE_NAME}`], { env: env({ DOCKER_HOST: proxy.address }) });
    expect(result.code).toBe(0);
    expect(proxy.requests()).toContain(`GET /images/${SAMPLE_NAME}/get`);
    expect(proxy.bytesFromEngine()).toBeGreaterThan(2e6);
  });

  test(`--platform on this engine (API ${'<'} 1.48): the export is asked for without platform=, and a platform the image is not is exit 3, one line`, async () => {
    expect(Number(engine.version.ApiVersion.split('.')[1])).toBeLessThan(48);
    proxy.reset();
    const same = await runJson<Report>(['layers', `docker-daemon:${SAMPLE_NAME}`, '--platform', 'linux/amd64'], { env: env({ DOCKER_HOST: proxy.address }) });
    expect({ code: same.code, stderr: same.stderr }).toEqual({ code: 0, stderr: '' });
    const other = await runCli(['layers', `docker-daemon:${SAMPLE_NAME}`, '--platform', 'linux/arm64'], { env: env({ DOCKER_HOST: proxy.address }) });
    expect({ code: other.code, stdout: other.stdout }).toEqual({ code: 3, stdout: '' });
    expect(other.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/holds a linux\/amd64 image, not linux\/arm64 as --platform asks$/)]);
    const exports = proxy.requests().filter((line) => /\/get\b/.test(line));
    expect(exports).toEqual([`GET /images/${SAMPLE_NAME}/get`, `GET /images/${SAMPLE_NAME}/get`]);
  });
});

describe('what the engine cannot serve: exit 3, one line', () => {
  test('a docker context with an ssh:// endpoint: one line saying it is not supported, and what to do', async () => {
    const config = path.join(work, 'docker-ssh-context');
    const meta = path.join(config, 'contexts', 'meta', createHash('sha256').update('remote').digest('hex'));
    mkdirSync(meta, { recursive: true });
    writeFileSync(path.join(meta, 'meta.json'), JSON.stringify({ Name: 'remote', Endpoints: { docker: { Host: 'ssh://builder@build.example' } } }));
    writeFileSync(path.join(config, 'config.json'), JSON.stringify({ currentContext: 'remote' }));
    const result = await runCli(['layers', `docker-daemon:${SAMPLE_NAME}`], { env: env({ DOCKER_HOST: undefined, DOCKER_CONFIG: config }) });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 3, stdout: '' });
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: docker context "remote" is an ssh:\/\/ endpoint \("ssh:\/\/builder@build\.example"\), which layerlens does not support; forward the socket/)]);
  });

  test('a name dockerd does not hold names the engine and what to do', async () => {
    const result = await runCli(['layers', 'docker-daemon:no/such:image'], { env: env() });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 3, stdout: '' });
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: docker at unix:\/\/.* has no image "no\/such:image"; pull it first/)]);
  });
});

describe('container:NAME and `layerlens container`: the writable layer on top of the image', () => {
  interface ContainerReport extends Report {
    container: {
      id: string;
      name: string;
      image: string;
      imageId: string;
      state: string;
      writable: {
        changes: { added: number; modified: number; deleted: number };
        sizeRw: number | null;
        writtenBytes: number;
        writtenFiles: number;
        overwritten: { paths: number; bytes: number };
        deleted: { paths: number; bytes: number };
        largestFiles: { path: string; size: number }[];
        byDirectory: { path: string; size: number }[];
      };
    };
    layers: (Report['layers'][number] & { index: number; digest: string; contentSize: number; estimatedCompressedSize: number | null; changes: { added: string[]; modified: string[]; removed: string[] } })[];
    files: { path: string; type: string; size: number; layer: number }[];
  }
  const NAME = 'layerlens-writer';
  // A service that writes 100 MB of data, rewrites a config file, deletes a directory tree and a file of the image.
  const SCRIPT = 'mkdir -p /srv/cache && head -c 100000000 /dev/urandom > /srv/cache/blob.bin && echo tuned >> /etc/os-release && rm -rf /usr/share/locale && rm -f /etc/issue && sleep 3600';
  let exported: Map<string, { type: string; size: number }>;
  let diff: { kind: string; path: string }[];
  beforeAll(async () => {
    await engine.docker(['run', '-d', '--name', NAME, '--network', 'none', '--user', '0', 'bench/realistic:1', 'sh', '-c', SCRIPT], { timeout: SLOW });
    // Wait until the script has written everything (the sleep is the service running on).
    for (let attempt = 0; attempt < 120; attempt++) {
      const changes = await engine.docker(['diff', NAME]);
      if (changes.includes('D /etc/issue')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    diff = (await engine.docker(['diff', NAME])).trim().split('\n').map((line) => ({ kind: line[0]!, path: line.slice(2) }));
    // `docker export` listed by GNU tar: the oracle for every kept entry's type and size.
    const file = path.join(work, 'container-export.tar');
    await engine.docker(['export', '-o', file, NAME], { timeout: SLOW });
    exported = new Map(
      execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8', maxBuffer: 256 << 20 })
        .trim()
        .split('\n')
        .map((line) => {
          const fields = line.split(/\s+/);
          const name = `/${fields.slice(5).join(' ').replace(/ -> .*$| link to .*$/, '').replace(/^\.?\//, '').replace(/\/$/, '')}`;
          return [name, { type: line[0]!, size: Number(fields[2]) }] as [string, { type: string; size: number }];
        }),
    );
    rmSync(file);
  }, SLOW);

  test('the writable layer holds exactly what docker diff lists, with the sizes docker export holds; the engine figures beside ours', async () => {
    const { code, stderr, json } = await runJson<ContainerReport>(['container', NAME, '--json'], { env: env() });
    expect([code, stderr]).toEqual([0, '']);
    expect(json.source.kind).toBe('container');
    expect(json.container).toMatchObject({ name: NAME, image: 'bench/realistic:1', state: 'running' });
    const image = await runJson<ContainerReport>(['analyze', '--json', 'docker-daemon:bench/realistic:1'], { env: env() });
    expect(json.configDigest).toBe(image.json.configDigest);
    expect(json.layers).toHaveLength(image.json.layers.length + 1);
    const top = json.layers.at(-1)!;
    const isDir = (p: string) => exported.get(p)?.type === 'd';
    const kinds = (kind: string) => diff.filter((change) => change.kind === kind).map((change) => change.path).sort();
    expect([...top.changes.added].sort()).toEqual(kinds('A'));
    // docker diff marks a directory C when something below it changed; the union only when the directory itself did.
    expect([...top.changes.modified].sort()).toEqual(kinds('C').filter((p) => !isDir(p)));
    // A deleted directory is one D in docker diff and every path below it in the union's removed list.
    for (const removed of top.changes.removed) expect([removed, kinds('D').some((d) => removed === d || removed.startsWith(`${d}/`))]).toEqual([removed, true]);
    for (const d of kinds('D')) expect(top.changes.removed).toContain(d);
    expect(json.container.writable.changes).toEqual({ added: kinds('A').length, modified: kinds('C').length, deleted: kinds('D').length });
    // Sizes: what the writable layer says of each file is what docker export holds.
    const written = json.files.filter((file) => file.layer === top.index && file.type === 'file');
    expect(written.map((file) => file.path).sort()).toEqual([...kinds('A'), ...kinds('C')].filter((p) => exported.get(p)?.type === '-').sort());
    for (const file of written) expect([file.path, file.size]).toEqual([file.path, exported.get(file.path)!.size]);
    expect(top.contentSize).toBeGreaterThanOrEqual(100_000_000);
    expect(json.container.writable.sizeRw).toBe(top.contentSize); // the engine's SizeRw: the same bytes
    // No digest or diff_id claims the writable layer: nothing failed, and the image's own checks still hold.
    expect(json.verify.ok).toBe(true);

    // What the writes cost over the image, against the image's own file list: the image files the container
    // rewrote (their old bytes stay in the image) and those it deleted (hidden, still shipped).
    const imageFiles = image.json.files.filter((file) => file.type === 'file');
    const sizeIn = (paths: (p: string) => boolean) => imageFiles.filter((file) => paths(file.path)).reduce((total, file) => total + file.size, 0);
    const rewritten = kinds('C').filter((p) => exported.get(p)?.type === '-' && imageFiles.some((file) => file.path === p && file.size > 0));
    expect(rewritten).toEqual(['/usr/lib/os-release']); // echo >> /etc/os-release, a symlink to it
    expect(json.container.writable.overwritten).toEqual({ paths: rewritten.length, bytes: sizeIn((p) => rewritten.includes(p)) });
    expect(json.container.writable.deleted).toEqual({ paths: kinds('D').length, bytes: sizeIn((p) => kinds('D').some((d) => p === d || p.startsWith(`${d}/`))) });
    expect(json.container.writable.deleted.bytes).toBeGreaterThan(0);
    expect(json.container.writable).toMatchObject({ writtenBytes: top.contentSize, writtenFiles: written.length });
    expect(json.container.writable.largestFiles[0]).toEqual({ path: '/srv/cache/blob.bin', size: 100_000_000 });
    expect(json.container.writable.byDirectory[0]).toEqual({ path: '/srv/cache', size: 100_000_000 });
    expect(json.container.writable.byDirectory.reduce((total, entry) => total + entry.size, 0)).toBe(top.contentSize);
  }, SLOW);

  test('the writable layer read with /archive per changed path (a few changes) and from the export cut to them agree', async () => {
    const [auto, fromExport] = await Promise.all([
      runCli(['analyze', `container:${NAME}`, '--json', '--debug'], { env: env() }),
      runJson<ContainerReport>(['analyze', `container:${NAME}`], { env: env({ LAYERLENS_CONTAINER_READ: 'export' }) }),
    ]);
    expect(auto.code).toBe(0);
    // A handful of requests against a 480 MB filesystem: the archive is the cheaper read.
    expect(auto.stderr).toMatch(/container layerlens-writer: \d+ change\(s\); the writable layer is read with \d+ \/archive request\(s\)/);
    const archived = JSON.parse(auto.stdout) as ContainerReport;
    expect(fromExport.code).toBe(0);
    expect(archived.files).toEqual(fromExport.json.files);
    expect(archived.container).toEqual(fromExport.json.container);
    expect(archived.waste).toEqual(fromExport.json.waste);
    // Every figure but those of the tar's own bytes: the headers differ (the engine writes each archive its own way).
    const measured = (layer: ContainerReport['layers'][number]) => ({ ...layer, digest: null, diffId: null, estimatedCompressedSize: null });
    const topArchived = measured(archived.layers.at(-1)!);
    const topExported = measured(fromExport.json.layers.at(-1)!);
    expect(topArchived).toEqual(topExported);
    expect(topArchived.contentSize).toBeGreaterThanOrEqual(100_000_000);
  }, SLOW);

  test('files container:NAME --changed shows what the container changed; a missing container is exit 3 naming the engine; a bad name exit 2', async () => {
    const changed = await runCli(['files', `container:${NAME}`, '--changed'], { env: env() });
    expect(changed.code).toBe(0);
    expect(changed.stdout).toMatch(/^A .*blob\.bin$/m);
    expect(changed.stdout).toContain('D /usr/share/locale\n');
    expect(changed.stdout).toMatch(/\n([\d,]+) of \1 paths\n$/); // the changed paths, not the directories leading to them
    const missing = await runCli(['container', 'no-such-container'], { env: env() });
    expect({ code: missing.code, stdout: missing.stdout }).toEqual({ code: 3, stdout: '' });
    expect(missing.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: no engine holds a container "no-such-container" \(tried unix:\/\/.*: no container "no-such-container"/)]);
    const bad = await runCli(['layers', 'container:../x'], { env: env() });
    expect(bad.code).toBe(2);
  }, SLOW);

  test('check container:NAME --max-writable-size gates on the writable layer alone; an image is not evaluated', async () => {
    type Gate = { check: { passed: boolean; rules: { name: string; status: string; actual: unknown; message: string }[] } };
    const over = await runJson<Gate>(['check', `container:${NAME}`, '--max-writable-size', '50MB', '--max-size', '10GB', '--config', '/dev/null', '--json'], { env: env() });
    expect(over.code).toBe(1);
    const rule = over.json.check.rules.find((entry) => entry.name === 'maxWritableSize')!;
    expect(rule).toMatchObject({ status: 'fail' });
    expect(rule.actual).toBeGreaterThanOrEqual(100_000_000);
    expect(over.json.check.rules.find((entry) => entry.name === 'maxSize')).toMatchObject({ status: 'pass' });
    const within = await runCli(['check', `container:${NAME}`, '--max-writable-size', '1GB', '--config', '/dev/null'], { env: env() });
    expect(within.code).toBe(0);
    const image = await runJson<Gate>(['check', 'docker-daemon:bench/realistic:1', '--max-writable-size', '1GB', '--config', '/dev/null', '--json'], { env: env() });
    expect(image.code).toBe(0);
    expect(image.json.check.rules.find((entry) => entry.name === 'maxWritableSize')).toMatchObject({ status: 'skip', message: expect.stringMatching(/^not evaluated: the image is not a container/) });
  }, SLOW);

  test('check container:NAME --forbid-writable-paths fails on what the container wrote, not on what its image holds', async () => {
    type Gate = { check: { passed: boolean; rules: { name: string; status: string; actual: unknown; message: string }[] } };
    const rule = (gate: Gate) => gate.check.rules.find((entry) => entry.name === 'forbidWritablePaths');
    const wrote = await runJson<Gate>(['check', `container:${NAME}`, '--forbid-writable-paths', '/srv/**', '--config', '/dev/null'], { env: env() });
    expect(wrote.code).toBe(1);
    // Every path its layer holds: /srv too, the directory whose entry the container rewrote by writing into it.
    expect(rule(wrote.json)).toMatchObject({ status: 'fail', actual: ['/srv', '/srv/cache', '/srv/cache/blob.bin'] });
    // /usr/bin is in the image, untouched by the container: forbidPaths' business, not this rule's.
    const untouched = await runJson<Gate>(['check', `container:${NAME}`, '--forbid-writable-paths', '/usr/bin/**', '--config', '/dev/null'], { env: env() });
    expect(untouched.code).toBe(0);
    expect(rule(untouched.json)).toMatchObject({ status: 'pass', actual: [] });
    const image = await runJson<Gate>(['check', 'docker-daemon:bench/realistic:1', '--forbid-writable-paths', '/srv/**', '--config', '/dev/null'], { env: env() });
    expect(image.code).toBe(0);
    expect(rule(image.json)).toMatchObject({ status: 'skip', message: expect.stringMatching(/^not evaluated: the image is not a container/) });
  }, SLOW);
});
