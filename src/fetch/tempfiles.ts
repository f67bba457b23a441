/** Temporary files that are always removed, even when the process exits on an error or a signal. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const created: string[] = [];
let hooked = false;

function cleanup(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function makeTempDir(purpose: string): string {
  if (!hooked) {
    hooked = true;
    process.on('exit', cleanup);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        cleanup();
        process.kill(process.pid, signal);
      });
    }
  }
  const dir = mkdtempSync(path.join(process.env.LAYERLENS_TMPDIR ?? os.tmpdir(), `layerlens-${purpose}-`));
  created.push(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  const at = created.indexOf(dir);
  if (at !== -1) created.splice(at, 1);
  rmSync(dir, { recursive: true, force: true });
}
