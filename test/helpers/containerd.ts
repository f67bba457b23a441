/**
 * A real containerd for tests: its own root, state directory and socket in a temp dir (config version 2, the CRI
 * plugin disabled), so the host's containerd and its images are never used or touched. `engine.ctr(...)` runs ctr
 * against it; `engine.address` is the value for CONTAINERD_ADDRESS. `stop()` ends it (its process group) and
 * removes everything; so does the test process's exit.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnDaemon } from './daemon-process.js';

const run = promisify(execFile);

export interface ContainerdEngine {
  dir: string;
  /** The gRPC socket: the value for CONTAINERD_ADDRESS (and ctr -a). */
  address: string;
  /** Run `ctr -a ADDRESS ...args`; resolves with stdout. */
  ctr(args: string[], options?: { timeout?: number }): Promise<string>;
  log(): string;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<ContainerdEngine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'layerlens-containerd-'));
  const address = path.join(dir, 'c.sock');
  const config = path.join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${path.join(dir, 'root')}"`,
      `state = "${path.join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'containerd.log');
  const daemon = spawnDaemon('containerd', ['--config', config], { logFile });
  const log = daemon.log;
  const ctr = async (args: string[], options: { timeout?: number } = {}) => {
    try {
      const { stdout } = await run('ctr', ['-a', address, ...args], { timeout: options.timeout ?? 300_000, maxBuffer: 64 << 20 });
      return stdout;
    } catch (error) {
      const failure = error as Error & { stderr?: string };
      throw new Error(`ctr ${args.join(' ')} failed: ${failure.stderr?.trim() || failure.message}`, { cause: error });
    }
  };
  const stop = async () => {
    await daemon.stop(10_000);
    await run('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!daemon.running()) {
      const text = log();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`containerd exited (${daemon.status()}): ${text.slice(-2000)}`);
    }
    if (await ctr(['version'], { timeout: 5000 }).then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd did not answer within 60 s: ${log().slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { dir, address, ctr, log, stop };
}
