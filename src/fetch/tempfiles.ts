/** Temporary files that are always removed, even when the process exits on an error or a signal. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { ImageReadError } from '../errors.js';
import { humanSize, parseSize } from '../model/units.js';

const created: string[] = [];
let hooked = false;

function cleanup(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Where temporary files go: $LAYERLENS_TMPDIR, else $TMPDIR (os.tmpdir()). */
export function tempBase(): string {
  return process.env.LAYERLENS_TMPDIR ?? os.tmpdir();
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
    sweepStale();
  }
  // The pid in the name lets a later run tell a directory whose process died without cleaning up (SIGKILL, OOM).
  const dir = mkdtempSync(path.join(tempBase(), `layerlens-${purpose}-${process.pid}-`));
  created.push(dir);
  return dir;
}

const STALE = /^layerlens-(?:archive|engine)-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * Remove what earlier runs left when they were killed before their exit handler ran (SIGKILL, the OOM killer, a
 * CI timeout): our temp directories whose process no longer exists. A directory of a live process is kept.
 */
export function sweepStale(base = tempBase()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return removed;
  }
  for (const name of names) {
    const match = STALE.exec(name);
    if (!match || Number(match[1]) === process.pid || alive(Number(match[1]))) continue;
    rmSync(path.join(base, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // someone else's live process
  }
}

export function removeTempDir(dir: string): void {
  const at = created.indexOf(dir);
  if (at !== -1) created.splice(at, 1);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * How far a compressed wrapper (a `.tar.gz`, a zstd or xz archive, stdin) may inflate when it is unpacked to a
 * temporary file: until the filesystem there would have less than this left — 5 % of its size, at most 256 MiB
 * (20 MiB of tmpfs keeps 1 MiB, a 100 GB disk 256 MiB). A 13 MB gzip bomb stops there with exit 3 "disk full",
 * instead of filling the disk (and everyone else's jobs on it).
 */
export function spillMargin(filesystemBytes: number): number {
  return Math.min(256 * 2 ** 20, Math.floor(filesystemBytes / 20));
}

/** Free bytes (for this user) and size of the filesystem holding `dir`, or null when it cannot say. */
export async function spaceIn(dir: string): Promise<{ free: number; total: number } | null> {
  try {
    const info = await statfs(dir);
    return { free: info.bavail * info.bsize, total: info.blocks * info.bsize };
  } catch {
    return null;
  }
}

/**
 * LAYERLENS_MAX_SPILL (a size: 2GB, 500MiB): an explicit cap on what one archive may be unpacked to, below the
 * free-space bound (for CI runners that share a disk, and for tests that cannot mount a small tmpfs).
 */
function spillCap(): number | null {
  const value = process.env.LAYERLENS_MAX_SPILL;
  return value === undefined || value.trim() === '' ? null : parseSize(value, 'LAYERLENS_MAX_SPILL');
}

/** One line, exit 3: what ran out, how much was needed and how much there was. */
export function diskFullError(label: string, dir: string, needed: number, free: number, margin: number, exact = false): ImageReadError {
  return new ImageReadError(
    `${label}: disk full: unpacking it into ${path.dirname(dir)} needs ${exact ? '' : 'more than '}${humanSize(needed)}, ${humanSize(Math.max(0, free))} free ` +
      `(layerlens leaves ${humanSize(margin)} free there); free some space or set TMPDIR to a larger disk`,
  );
}

function capError(label: string, cap: number): ImageReadError {
  return new ImageReadError(`${label}: unpacking it needs more than ${humanSize(cap)}, the LAYERLENS_MAX_SPILL limit; raise the limit or unpack it yourself`);
}

/** Bytes written between two free-space checks, at most. */
const CHECK_EVERY = 64 * 2 ** 20;

/**
 * A pass-through to put in front of the write stream of a temporary file in `dir`: it checks the free space as
 * the bytes flow (every 64 MiB, and sooner when the last check left less headroom) and fails with diskFullError
 * before the filesystem falls below spillMargin, or when LAYERLENS_MAX_SPILL is exceeded.
 */
export function spaceGuard(dir: string, label: string): Transform {
  const cap = spillCap();
  let written = 0;
  let checkedAt = 0;
  let headroom = -1; // bytes that may follow `checkedAt`; -1 until the first check
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const after = written + chunk.length;
      if (cap !== null && after > cap) return callback(capError(label, cap));
      if (headroom >= 0 && after - checkedAt <= Math.min(headroom, CHECK_EVERY)) {
        written = after;
        return callback(null, chunk);
      }
      void spaceIn(dir).then((space) => {
        checkedAt = written;
        headroom = space ? space.free - spillMargin(space.total) : Number.POSITIVE_INFINITY;
        if (space && chunk.length > headroom) return callback(diskFullError(label, dir, after, space.free, spillMargin(space.total)));
        written = after;
        callback(null, chunk);
      });
    },
  });
}

/** Before unpacking: refuse at once when even a lower bound of the unpacked size (gzip's ISIZE) cannot fit. */
export async function checkSpaceFor(dir: string, label: string, atLeast: number): Promise<void> {
  const cap = spillCap();
  if (cap !== null && atLeast > cap) throw capError(label, cap);
  const space = await spaceIn(dir);
  if (space && atLeast > space.free - spillMargin(space.total)) throw diskFullError(label, dir, atLeast, space.free, spillMargin(space.total), true);
}

/** A write that failed because the disk or quota is full (ENOSPC, EDQUOT, EFBIG), as a one-line error. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}
