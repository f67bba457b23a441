/**
 * A real Docker engine for tests: `dockerd` as root with its own data root, exec root, pid file and unix socket
 * in a temp dir, vfs storage (overlay2 when asked), and no networking set-up (no iptables, no bridge), so neither
 * the host's images nor its network are used or touched. The docker CLI reaches it through `engine.docker(...)` (DOCKER_HOST set, an
 * empty DOCKER_CONFIG). dockerd starts its own containerd under the exec root. `stop()` ends the daemon (its
 * whole process group) and removes everything; so does the test process's exit.
 *
 *   const engine = await startDocker();
 *   await engine.docker(['load', '-i', file]);
 *   ... DOCKER_HOST: engine.address ...
 *   await engine.stop();
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnDaemon } from './daemon-process.js';
import { getOnSocket } from './podman.js';

const run = promisify(execFile);

export interface DockerEngine {
  /** The temp directory holding data root, exec root, config, log and socket. */
  dir: string;
  socket: string;
  /** `unix://<socket>`: the value for DOCKER_HOST. */
  address: string;
  /** The environment the docker CLI runs with (DOCKER_HOST, its own empty DOCKER_CONFIG, the legacy builder). */
  env: NodeJS.ProcessEnv;
  /** The engine's version and API version, from GET /version. */
  version: { Version: string; ApiVersion: string };
  /** Run `docker ...args` against this engine; resolves with stdout. */
  docker(args: string[], options?: { cwd?: string; timeout?: number; input?: string }): Promise<string>;
  /** The daemon's log so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Whether this machine can run the harness (dockerd and the docker CLI installed, running as root). */
export async function dockerAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const found = await Promise.all(['dockerd', 'docker'].map((tool) => run('sh', ['-c', `command -v ${tool}`]).then(() => true, () => false)));
  return found.every(Boolean);
}

/** `storageDriver`: vfs by default (works anywhere); overlay2 where `overlaySupported()` (helpers/podman.ts). */
export async function startDocker(options: { storageDriver?: 'vfs' | 'overlay2' } = {}): Promise<DockerEngine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'layerlens-docker-'));
  const dataRoot = path.join(dir, 'data');
  // The exec root holds containerd's socket; unix socket paths are limited to 108 bytes, so keep it short.
  const execRoot = path.join(dir, 'x');
  const config = path.join(dir, 'config');
  for (const sub of [dataRoot, execRoot, config]) mkdirSync(sub, { recursive: true });
  const socket = path.join(dir, 'docker.sock');
  const address = `unix://${socket}`;
  const logFile = path.join(dir, 'dockerd.log');
  // Our own empty daemon.json: the host's /etc/docker/daemon.json (mirrors, storage, hosts) must not apply.
  const daemonJson = path.join(dir, 'daemon.json');
  writeFileSync(daemonJson, '{}\n');
  const args = [
    '--storage-driver', options.storageDriver ?? 'vfs', '--iptables=false', '--ip6tables=false', '--bridge=none',
    '--data-root', dataRoot, '--exec-root', execRoot, '--pidfile', path.join(dir, 'dockerd.pid'),
    '-H', address, '--config-file', daemonJson,
  ];
  const daemon = spawnDaemon('dockerd', args, { logFile, env: { ...process.env, DOCKER_CONFIG: config } });
  const log = daemon.log;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: address, DOCKER_CONFIG: config, DOCKER_BUILDKIT: '0', DOCKER_CONTEXT: undefined, DOCKER_CLI_HINTS: 'false' };

  const stop = async () => {
    await daemon.stop(10_000);
    // dockerd's containerd may leave mounts of its own under the exec root: unmount before removing.
    await run('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  let version: DockerEngine['version'];
  for (;;) {
    if (!daemon.running()) {
      const text = log();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`dockerd exited (${daemon.status()}): ${text.slice(-2000)}`);
    }
    const ping = await getOnSocket(socket, '/_ping', 1000);
    if (ping?.status === 200) {
      const answer = await getOnSocket(socket, '/version', 5000);
      if (answer?.status === 200) {
        version = JSON.parse(answer.body) as DockerEngine['version'];
        break;
      }
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer /_ping within 60 s: ${log().slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  return {
    dir,
    socket,
    address,
    env,
    version,
    docker: (dockerArgs, options = {}) =>
      new Promise((resolve, reject) => {
        const cli = execFile('docker', dockerArgs, { env, cwd: options.cwd, timeout: options.timeout ?? 300_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
          if (error) reject(new Error(`docker ${dockerArgs.join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
          else resolve(stdout);
        });
        if (options.input !== undefined) cli.stdin?.end(options.input);
        else cli.stdin?.end();
      }),
    log,
    stop,
  };
}
