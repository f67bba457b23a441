/**
 * The Dockerfile, built for real with podman (`build --isolation chroot`, its own vfs storage) on a base image this
 * test makes: no registry outside the machine is reachable, and Debian's own nodejs is older than our engines
 * field, so the base is busybox plus this machine's Node binary, its shared libraries and npm. The built image is
 * then
 *   - read by layerlens itself and gated with `check --config ci/container-image.layerlens.yml` (size, efficiency,
 *     no build leftovers), its size and efficiency printed for the record;
 *   - loaded into a real Docker engine (test/helpers/docker.ts; `podman save` → `docker load`) and run there with
 *     `docker run --rm`, as CI users run it, on a bundled sample and on a registry image: its output must be what
 *     bin/layerlens.js prints on the host for the same input, byte for byte (podman cannot run containers on this
 *     machine: crun and runc are refused setrlimit; dockerd's runc can).
 *
 * Where the time goes (measured on 2 cores shared with other work, load 6-9): the podman build is almost all of it.
 * Before: 204 s of a 211 s set-up (every instruction committed as its own vfs layer, each a full copy of the root
 * filesystem, and npm revalidating every cached package), docker-less tests, 5 min 17 s in all. Now: one commit
 * per stage, overlay storage, npm prefer-offline: build ~100 s, set-up ~130 s, each `docker run` ~4 s (11-17 s on
 * vfs), 3 min 12 s in all. Making the base costs ~5 s (busybox, node and npm are copied from this machine), so it
 * is made here rather than cached; the realistic debootstrap image other suites share cannot serve as the base:
 * it holds no Node 20 (bookworm's nodejs is 18).
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, runCli, runJson, SAMPLES, type CliResult } from './helpers/cli.js';
import { startDocker, type DockerEngine } from './helpers/docker.js';
import { requireTools } from './helpers/oracle.js';
import { copyCheckout } from './helpers/pack.js';
import { overlaySupported, startPodman, type PodmanEngine } from './helpers/podman.js';
import { pushImage, startRegistry, type RunningRegistry } from './helpers/registry.js';

const run = promisify(execFile);
const BASE = 'localhost/layerlens-test-node20:base';
const IMAGE = 'localhost/layerlens:test';
const GATE = path.join(ROOT, 'ci', 'container-image.layerlens.yml');

let work: string;
let podman: PodmanEngine;
let podmanStopped = false;
let docker: DockerEngine;
let registry: RunningRegistry;
let archive: string;
let registryImage: string;

/** Seconds since the previous call, printed: where the set-up's time goes, for whoever makes it faster next. */
let last = Date.now();
function phase(name: string): void {
  process.stderr.write(`container-image set-up: ${name} ${((Date.now() - last) / 1000).toFixed(1)} s\n`);
  last = Date.now();
}

/** A root filesystem holding busybox (the shell RUN needs), this machine's node with its libraries, and npm. */
async function makeBaseRootfs(rootfs: string): Promise<void> {
  for (const dir of ['bin', 'usr/bin', 'usr/lib', 'etc/ssl/certs', 'root', 'home/node']) mkdirSync(path.join(rootfs, dir), { recursive: true });
  mkdirSync(path.join(rootfs, 'tmp'), { mode: 0o1777 });
  chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  const busybox = (await run('sh', ['-c', 'command -v busybox'])).stdout.trim();
  copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
  chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'ls', 'cat', 'rm', 'mkdir', 'cp', 'ln', 'mv', 'chmod', 'find', 'sed', 'grep', 'tar', 'gzip', 'uname', 'id']) symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  symlinkSync('/bin/busybox', path.join(rootfs, 'usr', 'bin', 'env')); // the shebang of node scripts
  copyFileSync(process.execPath, path.join(rootfs, 'usr', 'bin', 'node'));
  chmodSync(path.join(rootfs, 'usr', 'bin', 'node'), 0o755);
  const { stdout: ldd } = await run('ldd', [process.execPath]);
  for (const library of ldd.match(/\/\S+/g) ?? []) {
    mkdirSync(path.join(rootfs, path.dirname(library)), { recursive: true });
    copyFileSync(library, path.join(rootfs, library));
  }
  const globalModules = (await run('npm', ['root', '-g'])).stdout.trim();
  cpSync(path.join(globalModules, 'npm'), path.join(rootfs, 'usr', 'lib', 'node_modules', 'npm'), { recursive: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(rootfs, 'usr', 'bin', 'npm'));
  // The machine's CA bundle: the npm registry may be reached through a TLS-inspecting proxy whose CA only it holds.
  const bundle = process.env.NODE_EXTRA_CA_CERTS && existsSync(process.env.NODE_EXTRA_CA_CERTS) ? process.env.NODE_EXTRA_CA_CERTS : '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(bundle)) copyFileSync(bundle, path.join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
  // The official Node images' user (uid 1000), which the Dockerfile runs as.
  writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n');
  writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\n');
  chownSync(path.join(rootfs, 'home', 'node'), 1000, 1000);
}

beforeAll(async () => {
  requireTools('podman', 'dockerd', 'docker', 'docker-registry', 'skopeo', 'busybox', 'ldd', 'tar');
  last = Date.now();
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-image-'));
  const rootfs = path.join(work, 'base-rootfs');
  const context = path.join(work, 'context');
  // overlay storage where the kernel mounts it: vfs makes every layer podman commits and every container docker
  // creates a full copy of the root filesystem (the build stage holds ~400 MB of devDependencies). Both engines
  // read and write the same image formats either way; vfs remains where overlayfs cannot be mounted.
  const overlay = await overlaySupported();
  // The engines start while the base and the build context are made: none needs another.
  [podman, docker, registry] = await Promise.all([
    startPodman({ driver: overlay ? 'overlay' : 'vfs' }),
    startDocker({ storageDriver: overlay ? 'overlay2' : 'vfs' }),
    startRegistry('plain'),
    makeBaseRootfs(rootfs),
    copyCheckout(context),
  ]);
  phase(`engines (${overlay ? 'overlay' : 'vfs'} storage), registry, base rootfs, build context`);
  await run('tar', ['--numeric-owner', '-C', rootfs, '-cf', path.join(work, 'base.tar'), '.'], { maxBuffer: 1 << 26 });
  // PATH as the official Node images set it: an imported tarball has none, and the Dockerfile's PATH extends it.
  await podman.podman(['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', '--change', 'CMD ["/bin/sh"]', path.join(work, 'base.tar'), BASE], { timeout: 300_000 });
  rmSync(rootfs, { recursive: true });
  phase('base image import');
  // The host's npm cache saves downloading the build stage's dependencies again, and prefer-offline (a root
  // .npmrc mounted for the build only; the Dockerfile is unchanged) saves asking the registry to revalidate each of
  // the ~500 packages the cache holds. A package missing from the cache is still fetched.
  const npmCache = (await run('npm', ['config', 'get', 'cache'])).stdout.trim();
  const npmrc = path.join(work, 'npmrc');
  writeFileSync(npmrc, 'prefer-offline=true\n');
  // --layers=false: each stage is committed once, not once per instruction (a commit diffs the whole root
  // filesystem; with vfs it also copies it), and no later build could reuse the intermediate layers anyway: the
  // storage lives and dies with this test.
  await podman.podman(['build', '--isolation', 'chroot', '--layers=false', '--pull=never', '--build-arg', `BASE=${BASE}`, '-v', `${npmCache}:/root/.npm`, '-v', `${npmrc}:/root/.npmrc:ro`, '-t', IMAGE, context], { timeout: 1_500_000 });
  phase('podman build');
  archive = path.join(work, 'layerlens-image.tar');
  await podman.podman(['save', '--format', 'docker-archive', '-o', archive, IMAGE], { timeout: 300_000 });
  // The storage is not needed any more: free its vfs copies now, not after the tests.
  await podman.stop();
  podmanStopped = true;
  await docker.docker(['load', '-q', '-i', archive]);
  registryImage = `${registry.host}/sample/busybox:1`;
  await pushImage(registry, `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`, 'sample/busybox:1');
  phase('podman save, docker load, sample pushed');
}, 1_800_000);

afterAll(async () => {
  await Promise.all([podmanStopped ? undefined : podman?.stop(), docker?.stop(), registry?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
}, 300_000);

interface Report {
  source: { input: string; kind: string };
  configDigest: string;
  layers: { index: number; diffId: string; uncompressedSize: number; estimatedCompressedSize: number | null; createdBy: string | null; changes?: { added: string[] } }[];
  totals: { compressedSize: number; estimatedCompressedSize: number | null; uncompressedSize: number };
  check: { passed: boolean; config: string | null; rules: { name: string; status: string; actual: unknown }[] };
  [key: string]: unknown;
}

/**
 * `docker run --rm` of the built image, as the README tells users to run it: the bundled samples mounted read-only
 * on the image's working directory /work. `--network none` unless a test needs the host's loopback.
 */
function dockerRun(args: string[], network: 'none' | 'host' = 'none'): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'docker',
      ['run', '--rm', '--network', network, '-e', 'NO_COLOR=1', '-e', 'LAYERLENS_HTTP_BACKOFF_MS=50', '-v', `${SAMPLES}:/work:ro`, IMAGE, ...args],
      { env: docker.env, maxBuffer: 64 << 20, timeout: 300_000 },
      (error, stdout, stderr) => {
        const code = error ? (error as { code?: unknown }).code : 0;
        if (typeof code !== 'number') reject(new Error(`docker run ${args.join(' ')}: ${error?.message ?? ''} ${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

/** The same command with the host's bin/layerlens.js, from the samples directory (so relative paths name the same files). */
function onHost(args: string[]): Promise<CliResult> {
  return runCli(args, { cwd: SAMPLES, env: { LAYERLENS_HTTP_BACKOFF_MS: '50', HOME: path.join(work, 'home'), XDG_CACHE_HOME: path.join(work, 'home', '.cache') } });
}

describe('the Dockerfile, built with podman', () => {
  test('the final stage is the base plus one layer: the installed package and its production modules only', async () => {
    const { code, json, stderr } = await runJson<Report>(['files', archive]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(json.layers).toHaveLength(2);
    const added = json.layers[1]!.changes!.added;
    expect(added).toEqual(expect.arrayContaining(['/opt/layerlens/bin/layerlens', '/opt/layerlens/lib/node_modules/layerlens/dist/cli/main.js', '/opt/layerlens/lib/node_modules/layerlens/node_modules/fzstd']));
    // No build leftovers: our sources and tests, devDependencies, source maps, the npm cache.
    expect(added.filter((file) => /\/node_modules\/layerlens\/(src|test|bench)\/|node_modules\/(typescript|jest|eslint|ts-jest)(\/|$)|\.map$|\/\.npm\//.test(file))).toEqual([]);
    process.stderr.write(`layerlens image: ${json.totals.uncompressedSize} bytes unpacked; layerlens's own layer ${json.layers[1]!.uncompressedSize} bytes, ${added.length} paths\n`);
    expect(json.layers[1]!.uncompressedSize).toBeLessThan(15_000_000);
  });

  test('passes its own gate, ci/container-image.layerlens.yml: layers, size, efficiency, forbidden paths', async () => {
    const { code, json } = await runJson<Report>(['check', archive, '--config', GATE]);
    expect(json.check.config).toBe(GATE);
    const failed = json.check.rules.filter((rule) => rule.status === 'fail');
    expect(failed).toEqual([]);
    expect(json.check.rules.map((rule) => rule.name)).toEqual(expect.arrayContaining(['maxLayers', 'maxSize', 'lowestEfficiency', 'forbidPaths']));
    expect(code).toBe(0);
    const efficiency = json.check.rules.find((rule) => rule.name === 'lowestEfficiency')!.actual;
    expect(typeof efficiency).toBe('number');
    process.stderr.write(
      `layerlens image: efficiency ${String(efficiency)}; ${json.totals.uncompressedSize} bytes unpacked, ` +
        `pull cost ${String(json.totals.estimatedCompressedSize)} bytes (gzip -6 estimate); gate ${path.relative(ROOT, GATE)} passed\n`,
    );
  });

  test('the Dockerfile defaults BASE to an official Node 20 slim image', () => {
    const dockerfile = readFileSync(path.join(work, 'context', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG BASE=node:20[\w.-]*-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{BASE\}$/m);
  });
});

describe('the image, run with Docker’s engine', () => {
  test('Docker holds the image podman built: same image ID, user node, layerlens as its entrypoint', async () => {
    const inspected = JSON.parse(await docker.docker(['image', 'inspect', IMAGE])) as { Id: string; Config: { User: string; Entrypoint: string[]; WorkingDir: string } }[];
    expect(inspected[0]!.Config).toMatchObject({ User: 'node', Entrypoint: ['layerlens'], WorkingDir: '/work' });
    const { code, json } = await runJson<Report>(['inspect', archive]);
    expect(code).toBe(0);
    expect(inspected[0]!.Id).toBe(json.configDigest);
    // And layerlens reads it from Docker's engine as from the archive.
    const fromEngine = await runJson<Report>(['inspect', `docker-daemon:${IMAGE}`], { env: { DOCKER_HOST: docker.address, DOCKER_CONFIG: docker.env.DOCKER_CONFIG } });
    expect(fromEngine.code).toBe(0);
    expect(fromEngine.json.source.kind).toBe('daemon');
    expect(fromEngine.json.configDigest).toBe(json.configDigest);
  });

  test('runs as uid 1000 and prints the packaged version', async () => {
    const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(await dockerRun(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    const uid = await new Promise<string>((resolve, reject) =>
      execFile('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'id', IMAGE, '-u'], { env: docker.env }, (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout))),
    );
    expect(uid.trim()).toBe('1000');
  });

  // Whole documents compared: every figure (digests, sizes, the gzip estimate, waste, the verdict) is computed in the
  // container by the packaged release exactly as on the host. Both read the same relative path, so even
  // source.input agrees.
  test.each([
    ['analyze of the bundled sample, exit 0', ['analyze', 'busybox-amd64.tar', '--json'], 0],
    ['layers of the OCI archive sample, exit 0', ['layers', 'busybox.oci.tar', '--platform', 'linux/arm64', '--json'], 0],
    ['check with a gate the sample fails, exit 1', ['check', 'busybox-amd64.tar', '--max-size', '1kB', '--json'], 1],
  ])('%s: the same JSON as on the host', async (_name, args, expected) => {
    const [inside, outside] = await Promise.all([dockerRun(args), onHost(args)]);
    expect(outside.code).toBe(expected);
    expect(inside.code).toBe(expected);
    expect(inside.stderr).toBe(outside.stderr);
    const document = JSON.parse(inside.stdout) as Report;
    expect(document).toEqual(JSON.parse(outside.stdout));
    expect(document.source.input).toBe(args[1]);
  });

  test('an input that does not exist: exit 3 and the same one line as on the host', async () => {
    const [inside, outside] = await Promise.all([dockerRun(['layers', './missing.tar']), onHost(['layers', './missing.tar'])]);
    expect(inside).toEqual(outside);
    expect(inside.code).toBe(3);
    expect(inside.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  // The test registry listens on the host's 127.0.0.1, which a container with --network none cannot reach (it has
  // its own loopback). dockerd here has no bridge (--bridge=none), but it does allow --network host: the container
  // then shares the host's network namespace and reaches the registry exactly as the host does. (Serving the image
  // as a mounted OCI layout instead would test a local source, not the registry client.)
  test('reads an image from a registry (--network host): the same JSON as on the host', async () => {
    const args = ['layers', registryImage, '--no-cache', '--json'];
    const [inside, outside] = await Promise.all([dockerRun(args, 'host'), onHost(args)]);
    expect(outside.code).toBe(0);
    expect(inside.code).toBe(0);
    expect(inside.stderr).toBe(outside.stderr);
    const document = JSON.parse(inside.stdout) as Report & { source: { kind: string; mirror: unknown } };
    expect(document).toEqual(JSON.parse(outside.stdout));
    expect(document.source).toMatchObject({ kind: 'registry', mirror: null });
  });

  test('with --network none the registry is unreachable: exit 3, one line naming it', async () => {
    const result = await dockerRun(['layers', registryImage, '--no-cache', '--timeout', '5']);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(registry.host);
  });
});
