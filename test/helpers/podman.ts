/**
 * A real Podman engine for tests: `podman system service` on a unix socket in a temp dir, with its own vfs (or,
 * when asked, overlay) storage (--root/--runroot/--tmpdir there too) and its own config files, so neither the
 * system's images nor its containers.conf, storage.conf or registries.conf are used or touched. The same storage
 * is reachable from the podman CLI through `engine.podman(...)`. Everything is asynchronous: nothing here blocks the event loop
 * while the service (a child of this process) is needed. The service is killed (its whole process group) by
 * `stop()`, and in any case when the test process exits.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnDaemon } from './daemon-process.js';

const run = promisify(execFile);

export interface PodmanEngine {
  /** The temp directory holding storage, config, logs and the socket. */
  dir: string;
  socket: string;
  /** `unix://<socket>`: the value for DOCKER_HOST or CONTAINER_HOST. */
  address: string;
  /** The environment the podman CLI and service run with (its own config files). */
  env: NodeJS.ProcessEnv;
  /** Run `podman <global storage flags> ...args` against the service's storage; resolves with stdout. */
  podman(args: string[], options?: { cwd?: string; timeout?: number }): Promise<string>;
  /** The service's log so far (stdout and stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** GET path on a unix socket; resolves with the status code, or null when nothing answers. */
export function getOnSocket(socket: string, pathname: string, timeoutMs = 2000): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: pathname, method: 'GET', headers: { host: 'd' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

/**
 * Whether this machine can mount overlayfs (as root, on the temp dir's file system): then podman's and dockerd's
 * `overlay` drivers work, and a layer is a directory of changes instead of vfs's full copy of the root filesystem.
 * Probed with a real mount, not guessed from /proc/filesystems: inside some containers the module is listed but
 * the mount is refused.
 */
export async function overlaySupported(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'layerlens-overlay-probe-'));
  try {
    for (const sub of ['lower', 'upper', 'work', 'merged']) mkdirSync(path.join(dir, sub));
    const options = `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`;
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, path.join(dir, 'merged')]);
    await run('umount', [path.join(dir, 'merged')]);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `driver`: vfs by default (works anywhere, even where overlayfs cannot be mounted); `overlay` where
 * `overlaySupported()`, for suites that build or run large images and pay vfs's copy of every layer.
 */
export async function startPodman(options: { driver?: 'vfs' | 'overlay' } = {}): Promise<PodmanEngine> {
  const driver = options.driver ?? 'vfs';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'layerlens-podman-'));
  const root = path.join(dir, 'root');
  const runroot = path.join(dir, 'runroot');
  const tmpdir = path.join(dir, 'tmp');
  const config = path.join(dir, 'config');
  for (const sub of [root, runroot, tmpdir, config]) mkdirSync(sub, { recursive: true });
  const storageConf = path.join(dir, 'storage.conf');
  writeFileSync(storageConf, `[storage]\ndriver = "${driver}"\nrunroot = "${runroot}"\ngraphroot = "${root}"\n`);
  const containersConf = path.join(dir, 'containers.conf');
  // default_ulimits: podman raises a container's nofile and nproc limits to its own defaults (1048576), which
  // runc and crun may not set without CAP_SYS_RESOURCE ("error setting rlimit type 7: operation not permitted", as
  // in this machine's sandbox). Limits within the host's hard ones let `podman run` work anywhere.
  writeFileSync(containersConf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n');
  // No search registries: a short name never reaches the network (nor prompts), whatever the host's config says.
  const registriesConf = path.join(dir, 'registries.conf');
  writeFileSync(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "permissive"\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: config,
    XDG_RUNTIME_DIR: runroot,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_CONF: containersConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    REGISTRIES_CONFIG_PATH: registriesConf,
    TMPDIR: tmpdir,
  };
  const globalFlags = ['--storage-driver', driver, '--root', root, '--runroot', runroot, '--tmpdir', tmpdir, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  const socket = path.join(dir, 'podman.sock');
  const address = `unix://${socket}`;
  const logFile = path.join(dir, 'service.log');
  const service = spawnDaemon('podman', [...globalFlags, 'system', 'service', '--time=0', address], { logFile, env });
  const log = service.log;

  const stop = async () => {
    await service.stop(5000);
    // overlay storage can leave a layer mounted: unmount what lies under the dir before removing it.
    if (driver === 'overlay') await run('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => undefined);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // vfs layers can hold files that resist a plain removal: let podman clear its storage, then retry.
      await run('podman', [...globalFlags, 'system', 'reset', '--force'], { env, timeout: 60_000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!service.running()) {
      const text = log();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`podman system service exited (${service.status()}): ${text.slice(-2000)}`);
    }
    const answer = await getOnSocket(socket, '/_ping', 1000);
    if (answer?.status === 200 && answer.body.trim() === 'OK') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`podman system service did not answer /_ping within 30 s: ${log().slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    dir,
    socket,
    address,
    env,
    podman: async (args, options = {}) => {
      try {
        const { stdout } = await run('podman', [...globalFlags, ...args], { env, cwd: options.cwd, timeout: options.timeout ?? 120_000, maxBuffer: 64 << 20 });
        return stdout;
      } catch (error) {
        const failure = error as Error & { stderr?: string };
        throw new Error(`podman ${args.join(' ')} failed: ${failure.stderr?.trim() || failure.message}`, { cause: error });
      }
    },
    log,
    stop,
  };
}

/** A unix socket file with no server behind it (a crashed engine): made by a child that listens, then dies hard. */
export async function makeDeadSocket(file: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`;
  await run(process.execPath, ['-e', script]).catch((error: { signal?: string }) => {
    if (error.signal !== 'SIGKILL') throw error;
  });
}
