/**
 * `npm pack` of a clean checkout, as a release would be made: the files git tracks (and untracked ones it does not
 * ignore, so uncommitted work is tested too) copied to a temp dir without dist/ or man/, so the tarball holds only
 * what `prepack` built there. node_modules is linked from this checkout (the build needs typescript); the checkout's
 * own dist/ is never touched while other suites use it.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './cli.js';

const run = promisify(execFile);

export interface PackedRelease {
  /** The .tgz npm pack wrote. */
  tarball: string;
  /** npm pack --json's record: size (packed), unpackedSize, entryCount, files. */
  info: { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string; size: number }[] };
  /** The clean checkout it was packed from. */
  checkout: string;
}

/** The files of a clean checkout (what git tracks, and untracked files it does not ignore) copied to `dest`. */
export async function copyCheckout(dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, maxBuffer: 64 << 20 });
  for (const file of stdout.split('\0').filter(Boolean)) {
    // A file deleted in the work tree but still in the index is not part of the checkout.
    try {
      cpSync(path.join(ROOT, file), path.join(dest, file), { recursive: false });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

export async function packCleanCheckout(work: string): Promise<PackedRelease> {
  const checkout = path.join(work, 'checkout');
  await copyCheckout(checkout);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
  const out = mkdtempSync(path.join(os.tmpdir(), 'layerlens-pack-'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', out], { cwd: checkout, maxBuffer: 64 << 20, timeout: 600_000 });
  // npm prints the prepack script's output before the JSON.
  const json = packed.stdout.slice(packed.stdout.indexOf('['));
  const info = (JSON.parse(json) as PackedRelease['info'][])[0]!;
  return { tarball: path.join(out, info.filename), info, checkout };
}

/** npm install -g of a tarball into its own prefix; resolves with npm's output and how long it took. */
export async function installGlobal(tarball: string, prefix: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ output: string; seconds: number }> {
  const started = Date.now();
  const { stdout, stderr } = await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', ...extraArgs, tarball], {
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
    timeout: 900_000,
  });
  return { output: stdout + stderr, seconds: (Date.now() - started) / 1000 };
}
