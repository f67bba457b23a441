/**
 * The engines the tests start (dockerd, podman system service, containerd) as process groups: spawned detached,
 * so each leads its own group and everything it starts (dockerd's containerd, podman's conmon) goes with it;
 * `stop()` sends SIGTERM to the group, then SIGKILL after a grace period; and whatever is still running when the
 * test process exits or is sent SIGINT / SIGTERM / SIGHUP is killed, group and all, so no engine outlives its test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';

export interface DaemonProcess {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** True until the process exits. */
  running(): boolean;
  /** Exit code or signal, for messages. */
  status(): string;
  /** The log file's text so far (stdout and stderr both go there). */
  log(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the leader has exited. */
  stop(graceMs: number): Promise<void>;
}

const running = new Set<ChildProcess>();
let hooked = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // started detached: it leads its own process group
  } catch {
    /* already gone */
  }
}

function killAll(): void {
  for (const child of running) killGroup(child, 'SIGKILL');
  running.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      // Then die of the signal as the process would have without this handler.
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

export function spawnDaemon(command: string, args: string[], options: { logFile: string; env?: NodeJS.ProcessEnv }): DaemonProcess {
  hookExit();
  const out = openSync(options.logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', out, out], detached: true, env: options.env ?? process.env });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    running.delete(child);
    resolve();
  }));
  return {
    child,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    status: () => String(child.exitCode ?? child.signalCode),
    log: () => {
      try {
        return readFileSync(options.logFile, 'utf8');
      } catch {
        return '';
      }
    },
    stop: async (graceMs) => {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
