/**
 * The Dockerfile, built for real with podman (`build --isolation chroot`, its own vfs storage) on a base image this
 * test makes: no registry outside the machine is reachable, and Debian's own nodejs is older than our engines
 * field, so the base is busybox plus this machine's Node binary, its shared libraries and npm. The image is then
 * read by layerlens itself and gated with `check` (size, efficiency, no build leftovers), and the installed CLI is
 * run from the image's unpacked root filesystem as the image's user (chroot: podman cannot run containers here).
 *
 * Follow-up, not here: `docker run --network none` of the image needs Docker's engine (test/helpers/docker.ts).
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runJson, SAMPLES } from './helpers/cli.js';
import { requireTools } from './helpers/oracle.js';
import { copyCheckout } from './helpers/pack.js';
import { startPodman, type PodmanEngine } from './helpers/podman.js';

const run = promisify(execFile);
const BASE = 'localhost/layerlens-test-node20:base';
const IMAGE = 'localhost/layerlens:test';

let work: string;
let engine: PodmanEngine;
let archive: string;

/** A root filesystem holding busybox (the shell RUN needs), this machine's node with its libraries, and npm. */
async function makeBaseRootfs(rootfs: string): Promise<void> {
  for (const dir of ['bin', 'usr/bin', 'usr/lib', 'etc/ssl/certs', 'root', 'home/node']) mkdirSync(path.join(rootfs, dir), { recursive: true });
  mkdirSync(path.join(rootfs, 'tmp'), { mode: 0o1777 });
  chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  const busybox = (await run('sh', ['-c', 'command -v busybox'])).stdout.trim();
  copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
  chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'ls', 'cat', 'rm', 'mkdir', 'cp', 'ln', 'mv', 'chmod', 'find', 'sed', 'grep', 'tar', 'gzip', 'uname']) symlinkSync('busybox', path.join(rootfs, 'bin', applet));
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
  requireTools('podman', 'skopeo', 'umoci', 'busybox', 'ldd', 'chroot', 'tar');
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-image-'));
  engine = await startPodman();
  const rootfs = path.join(work, 'base-rootfs');
  await makeBaseRootfs(rootfs);
  await run('tar', ['--numeric-owner', '-C', rootfs, '-cf', path.join(work, 'base.tar'), '.'], { maxBuffer: 1 << 26 });
  await engine.podman(['import', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', '--change', 'CMD ["/bin/sh"]', path.join(work, 'base.tar'), BASE], { timeout: 300_000 });
  const context = path.join(work, 'context');
  await copyCheckout(context);
  // The host's npm cache saves downloading the build stage's dependencies again; the registry is still asked.
  const npmCache = (await run('npm', ['config', 'get', 'cache'])).stdout.trim();
  await engine.podman(['build', '--isolation', 'chroot', '--pull=never', '--build-arg', `BASE=${BASE}`, '-v', `${npmCache}:/root/.npm`, '-t', IMAGE, context], { timeout: 1_500_000 });
  archive = path.join(work, 'layerlens-image.tar');
  await engine.podman(['save', '--format', 'docker-archive', '-o', archive, IMAGE], { timeout: 300_000 });
}, 1_800_000);

afterAll(async () => {
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Report {
  layers: { index: number; uncompressedSize: number; createdBy: string | null; changes?: { added: string[] } }[];
  totals: { compressedSize: number; uncompressedSize: number };
  check: { passed: boolean; rules: { name: string; status: string; actual: unknown }[] };
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
    process.stderr.write(`layerlens image: ${json.totals.uncompressedSize} bytes; layerlens's own layer ${json.layers[1]!.uncompressedSize} bytes, ${added.length} paths\n`);
    expect(json.layers[1]!.uncompressedSize).toBeLessThan(15_000_000);
  });

  test('runs as the unprivileged user node, with layerlens as its entrypoint', async () => {
    const inspect = JSON.parse(await engine.podman(['image', 'inspect', IMAGE])) as { Config: { User: string; Entrypoint: string[]; WorkingDir: string } }[];
    expect(inspect[0]!.Config).toMatchObject({ User: 'node', Entrypoint: ['layerlens'], WorkingDir: '/work' });
  });

  test('passes its own gate: layerlens check on size, efficiency and forbidden paths', async () => {
    const config = path.join(work, '.layerlens.yml');
    writeFileSync(config, ['maxLayers: 2', 'maxSize: 160MB', 'lowestEfficiency: 0.99', 'requireVerified: true', 'forbidPaths: ["/src/**", "/opt/layerlens/lib/node_modules/layerlens/src/**", "**/*.map", "**/node_modules/typescript/**", "/root/.npm/**"]', ''].join('\n'));
    const { code, json } = await runJson<Report>(['check', archive, '--config', config]);
    const failed = json.check.rules.filter((rule) => rule.status === 'fail');
    expect(failed).toEqual([]);
    expect(code).toBe(0);
    process.stderr.write(`layerlens image: efficiency ${String(json.check.rules.find((rule) => rule.name === 'lowestEfficiency')?.actual)}, ${json.totals.compressedSize} bytes compressed\n`);
  });

  test('the CLI in the image runs as uid 1000 from its root filesystem and reads an image', async () => {
    const layout = path.join(work, 'image-layout');
    await run('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${archive}`, `oci:${layout}:test`], { timeout: 300_000 });
    const bundle = path.join(work, 'bundle');
    await run('umoci', ['unpack', '--image', `${layout}:test`, bundle], { timeout: 300_000, maxBuffer: 1 << 26 });
    const rootfs = path.join(bundle, 'rootfs');
    mkdirSync(path.join(rootfs, 'work'), { recursive: true });
    copyFileSync(path.join(SAMPLES, 'busybox-amd64.tar'), path.join(rootfs, 'work', 'sample.tar'));
    const inImage = (args: string[]) =>
      run('chroot', ['--userspec=1000:1000', rootfs, '/usr/bin/env', 'HOME=/home/node', 'PATH=/opt/layerlens/bin:/usr/bin:/bin', 'layerlens', ...args], { maxBuffer: 1 << 26 });
    const version = JSON.parse(readFileSync(path.join(rootfs, 'opt', 'layerlens', 'lib', 'node_modules', 'layerlens', 'package.json'), 'utf8')) as { version: string };
    expect((await inImage(['--version'])).stdout.trim()).toBe(version.version);
    const inside = JSON.parse((await inImage(['layers', '/work/sample.tar', '--json'])).stdout) as { layers: { diffId: string }[]; verify: { ok: boolean } };
    const outside = await runJson<{ layers: { diffId: string }[] }>(['layers', path.join(SAMPLES, 'busybox-amd64.tar')]);
    expect(inside.verify.ok).toBe(true);
    expect(inside.layers.map((layer) => layer.diffId)).toEqual(outside.json.layers.map((layer) => layer.diffId));
  });

  test('the Dockerfile defaults BASE to an official Node 20 slim image', async () => {
    const dockerfile = readFileSync(path.join(work, 'context', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG BASE=node:20[\w.-]*-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{BASE\}$/m);
  });
});
