/**
 * A content-addressed blob cache on disk (`<dir>/blobs/sha256/<hex>`). Entries are written to a temp file beside
 * their final name while the blob streams through, hashed on the way, and renamed into place only when the
 * digest matches — so a cache entry was a verified, complete blob when it was written. Disks rot and users edit,
 * so a cached blob is verified again before it is used (`verified`), and a damaged one is evicted and fetched
 * again. Temp files are removed on exit and on SIGINT/SIGTERM/SIGHUP; ones left by a killed run are swept at the
 * next start (older than a day, or written by a process of this host that is gone). A cache directory that cannot
 * be used (a file, read-only) makes the run go on without a cache, with one note.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, unlinkSync, type WriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rmdir, stat, unlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { LayerScan } from '../../model/layer.js';
import type { ScanCache } from '../../model/source.js';
import type { CacheInventory, CacheTally, PruneResult } from '../../model/cache.js';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { isDigest } from '../../image/digest.js';
import { parseSize } from '../../model/units.js';
import { buildId } from '../../model/version.js';
import { errorCode } from './transport.js';

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'layerlens');
}

// 2: layers read with Go archive/tar rules (header-only entries, PAX size, sparse, raw names); 3: estimatedCompressedSize;
// 4: the estimate's new sampling, and a short layer's gzip samples (pooled with the image's other short layers)
const SCAN_FORMAT = 4;
/**
 * Whole image reports (`reports/<build>/<key>.json.gz`) are kept per build of layerlens: a report is this code's
 * output, and another build's is stale by definition (cache info counts it as outdated; a prune removes it first).
 */
const REPORTS_DIR = 'reports';
/** A report larger than this as JSON text is not kept: parsing it back would cost about what computing it does. */
const MAX_REPORT_CHARS = 64 * 2 ** 20;

/** A reports directory of some build: `b-` and the first 32 hex digits of its build id. */
const REPORT_BUILD_DIR = /^b-[0-9a-f]{32}$/;

/** The reports directory of this build (its build id's hex, shortened), or null with no build id: then none is kept. */
function reportBuildDir(): string | null {
  const id = buildId();
  return id ? `b-${id.slice('sha256:'.length, 'sha256:'.length + 32)}` : null;
}
/**
 * The cache's size cap when LAYERLENS_CACHE_MAX does not set one: room for a few realistic images and their scans,
 * small beside a CI runner's disk.
 */
export const DEFAULT_CACHE_MAX = 4 * 2 ** 30;

/** LAYERLENS_CACHE_MAX: a size (`10GB`, `500MiB`) or `unlimited`; a bad value is a usage error (exit 2). */
export function cacheLimit(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.LAYERLENS_CACHE_MAX?.trim();
  if (value === undefined || value === '') return DEFAULT_CACHE_MAX;
  if (/^(unlimited|none|off)$/i.test(value)) return Number.POSITIVE_INFINITY;
  return parseSize(value, 'LAYERLENS_CACHE_MAX');
}

/** A temp file this old is a leftover whoever wrote it. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

/** This host, in temp names: a pid is only meaningful on the host (pid namespace) that wrote it. */
const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/** `<final>.tmp-<host>-<pid>-<random>`: who wrote it, so a later run can tell a leftover from a live download. */
export function tempName(final: string): string {
  return `${final}.tmp-${HOST_TAG}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** The writer of a temp name: host tag (null in the older `.tmp-<pid>-<random>` form) and pid; null if not one. */
export function tempOwner(name: string): { host: string | null; pid: number } | null {
  const match = /\.tmp-(?:([0-9a-f]{8})-)?(\d+)-[0-9a-f]{8}$/.exec(name);
  return match ? { host: match[1] ?? null, pid: Number(match[2]) } : null;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM'; // it exists, and belongs to someone else
  }
}

/** Why a temp file is a leftover no live process is writing (older than a day, or its writer is gone), else null. */
export function leftoverReason(name: string, mtimeMs: number, now = Date.now()): string | null {
  const owner = tempOwner(name);
  if (!owner) return null;
  if ((owner.host === null || owner.host === HOST_TAG) && !processAlive(owner.pid)) return `process ${owner.pid}, which is gone`;
  return now - mtimeMs > STALE_TEMP_MS ? 'a run more than a day ago' : null;
}

/** Temp files being written now, removed whatever way the process ends. */
const liveTemps = new Set<string>();
let hooked = false;

function removeLiveTemps(): void {
  for (const file of liveTemps) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
  liveTemps.clear();
}

function trackTemp(file: string): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeLiveTemps);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        removeLiveTemps();
        // Die of the signal as if unhandled (other cleanups registered with once() have run by now).
        process.kill(process.pid, signal);
      });
    }
  }
  liveTemps.add(file);
}

function untrackTemp(file: string): void {
  liveTemps.delete(file);
}

/** Cache directories already reported unusable in this process: the note is given once. */
const noted = new Set<string>();

export interface BlobCacheOptions {
  /** The size cap in bytes (default: cacheLimit(), from LAYERLENS_CACHE_MAX). */
  limit?: number;
  /** One-line notes for the user (an unusable cache directory, an evicted damaged blob); silent with --quiet. */
  note?: (line: string) => void;
  debug?: (line: string) => void;
}

export class BlobCache {
  private ready: Promise<boolean> | null = null;

  constructor(
    readonly dir: string,
    private readonly options: BlobCacheOptions = {},
  ) {}

  /**
   * Whether the cache can be used: its directories exist (or can be made) and take a file. Also sweeps the temp
   * files killed runs left. Asked once; an unusable directory gets one note and the run goes on without a cache.
   */
  usable(): Promise<boolean> {
    this.ready ??= this.prepare();
    return this.ready;
  }

  private async prepare(): Promise<boolean> {
    const blobs = path.join(this.dir, 'blobs', 'sha256');
    const probe = tempName(path.join(blobs, '.probe'));
    try {
      await mkdir(blobs, { recursive: true });
      trackTemp(probe);
      await writeFile(probe, '');
      await unlink(probe);
    } catch (error) {
      untrackTemp(probe);
      await unlink(probe).catch(() => {});
      if (!noted.has(this.dir)) {
        noted.add(this.dir);
        const code = errorCode(error);
        const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'it is a file, not a directory' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? `it is read-only (${code})` : `${code ?? String(error)}`;
        this.options.note?.(`the cache directory ${this.dir} cannot be used (${why}); going on without a cache`);
      }
      return false;
    }
    untrackTemp(probe);
    const reports = reportBuildDir();
    await this.sweep([blobs, path.join(this.dir, 'scans', `v${SCAN_FORMAT}`, 'sha256'), ...(reports ? [path.join(this.dir, REPORTS_DIR, reports)] : [])]);
    return true;
  }

  /** Remove temp files that no live process is writing: older than a day, or from a dead process of this host. */
  private async sweep(dirs: string[]): Promise<void> {
    const now = Date.now();
    for (const dir of dirs) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!tempOwner(name)) continue;
        const file = path.join(dir, name);
        const info = await stat(file).catch(() => null);
        if (!info?.isFile()) continue;
        const reason = leftoverReason(name, info.mtimeMs, now);
        if (reason) {
          await unlink(file).catch(() => {});
          this.options.debug?.(`removed ${name}, left in the cache by ${reason}`);
        }
      }
    }
  }

  /**
   * Keep the cache within its cap (LAYERLENS_CACHE_MAX) once a run has written to it: the least recently used
   * entries go first (an entry's mtime is its last use: reads touch it), so what this run used stays if it fits.
   */
  async settle(): Promise<void> {
    if (!this.wrote) return;
    this.wrote = false;
    const limit = this.options.limit ?? cacheLimit();
    try {
      const result = await pruneCache(this.dir, { max: limit });
      if (result.removed.files > 0) this.options.debug?.(`cache ${this.dir} kept under ${limit} B: removed ${result.removed.files} file(s), ${result.removed.bytes} B (outdated, leftover or least recently used)`);
    } catch {
      // a cache that cannot be pruned is only larger, never wrong
    }
  }

  private wrote = false;

  /** Mark an entry used now, for least-recently-used eviction (best effort: a failure only ages it). */
  private touch(file: string): void {
    const now = new Date();
    void utimes(file, now, now).catch(() => {});
  }

  private scanPath(digest: string): string {
    const [algorithm, hex] = digest.split(':') as [string, string];
    return path.join(this.dir, 'scans', `v${SCAN_FORMAT}`, algorithm, `${hex}.json.gz`);
  }

  /** A layer's scan, if one was saved and its checksum still matches; otherwise null (and the entry is dropped). */
  async loadScan(digest: string): Promise<LayerScan | null> {
    if (!isDigest(digest)) return null;
    const file = this.scanPath(digest);
    try {
      const { checksum, payload } = JSON.parse(gunzipSync(await readFile(file)).toString('utf8')) as { checksum: string; payload: string };
      if (createHash('sha256').update(payload).digest('hex') !== checksum) throw new Error('checksum');
      const scan = JSON.parse(payload) as LayerScan;
      if (scan.digest !== digest) return null;
      // The scan and its blob are one entry for eviction: a warm run reads only the scan, and the blob is what
      // re-scans it without a download when the scan format changes.
      this.touch(file);
      this.touch(this.path(digest));
      return scan;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') await unlink(file).catch(() => {});
      return null;
    }
  }

  /** Whether a scan of this blob was saved (not whether it still loads: for the progress total only). */
  async hasScan(digest: string): Promise<boolean> {
    if (!isDigest(digest)) return false;
    return stat(this.scanPath(digest)).then(
      (info) => info.isFile(),
      () => false,
    );
  }

  async saveScan(digest: string, scan: LayerScan): Promise<void> {
    const file = this.scanPath(digest);
    const payload = JSON.stringify(scan);
    await this.writeEntry(file, gzipSync(JSON.stringify({ checksum: createHash('sha256').update(payload).digest('hex'), payload }), { level: 1 }));
  }

  /** A scan or report written whole under a temp name and renamed into place (best effort, like every write here). */
  private async writeEntry(file: string, body: Buffer): Promise<void> {
    const temp = tempName(file);
    trackTemp(temp);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(temp, body);
      await rename(temp, file);
      this.wrote = true;
    } catch {
      await unlink(temp).catch(() => {}); // a cache that cannot be written is only slower, never wrong
    } finally {
      untrackTemp(temp);
    }
  }

  /** This cache as the scan store a BlobStore offers the scanner. */
  get scans(): ScanCache {
    return { load: (digest) => this.loadScan(digest), save: (digest, scan) => this.saveScan(digest, scan) };
  }

  /** Where the report of `key` lives, or null when this build keeps none (no build id). */
  private reportPath(key: string): string | null {
    const build = reportBuildDir();
    if (!build) return null;
    return path.join(this.dir, REPORTS_DIR, build, `${createHash('sha256').update(key).digest('hex')}.json.gz`);
  }

  /**
   * The report saved under `key` (a canonical text naming what the report is of: the caller's), or null. The entry
   * holds its key and a checksum of its text: one whose key or checksum does not match (a damaged or planted
   * file) is removed, and the caller computes the report again. `uses`: the digests of the blobs it was made from.
   */
  async loadReport(key: string, uses: string[] = []): Promise<unknown> {
    const file = this.reportPath(key);
    if (!file || !(await this.usable())) return null;
    try {
      // One header line (the key and the text's checksum), then the report's JSON text: parsed once, not as a
      // string inside another document.
      const text = gunzipSync(await readFile(file)).toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) throw new Error('no header line');
      const header = JSON.parse(text.slice(0, newline)) as { key?: unknown; checksum?: unknown };
      const payload = text.slice(newline + 1);
      if (header.key !== key || createHash('sha256').update(payload).digest('hex') !== header.checksum) throw new Error('mismatch');
      const report: unknown = JSON.parse(payload);
      // The report stands for the image's blobs and scans: they were used by this run as much as it was, and go
      // (least recently used first) no sooner than it does.
      this.touch(file);
      for (const digest of uses) {
        if (!isDigest(digest)) continue;
        this.touch(this.path(digest));
        this.touch(this.scanPath(digest));
      }
      return report;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      await unlink(file).catch(() => {});
      this.options.debug?.(`cached report ${path.basename(file)} did not verify; removed it, computing the report again`);
      return null;
    }
  }

  /** Keep `report` under `key` (best effort: a cache that cannot be written is only slower). Too large: not kept. */
  async saveReport(key: string, report: unknown): Promise<void> {
    const file = this.reportPath(key);
    if (!file || !(await this.usable())) return;
    let payload: string;
    try {
      payload = JSON.stringify(report);
    } catch {
      return; // beyond V8's string limit: far beyond MAX_REPORT_CHARS
    }
    if (payload.length > MAX_REPORT_CHARS) {
      this.options.debug?.(`report of ${payload.length} characters not cached (more than ${MAX_REPORT_CHARS})`);
      return;
    }
    await this.writeEntry(file, gzipSync(`${JSON.stringify({ key, checksum: createHash('sha256').update(payload).digest('hex') })}\n${payload}`, { level: 1 }));
  }

  path(digest: string): string {
    if (!isDigest(digest)) throw new Error(`not a digest: ${digest}`);
    const [algorithm, hex] = digest.split(':') as [string, string];
    return path.join(this.dir, 'blobs', algorithm, hex);
  }

  async size(digest: string): Promise<number | null> {
    try {
      const info = await stat(this.path(digest));
      return info.isFile() ? info.size : null;
    } catch {
      return null;
    }
  }



  /**
   * The whole cached blob, or null when it is not there, is larger than `maxBytes`, or went away a moment ago
   * (another run's eviction between a size check and the read: a miss, never a failure). Not verified here.
   */
  async readWhole(digest: string, maxBytes: number): Promise<Buffer | null> {
    try {
      const file = this.path(digest);
      const info = await stat(file);
      if (!info.isFile() || info.size > maxBytes) return null;
      const bytes = await readFile(file);
      this.touch(file);
      return bytes;
    } catch {
      return null;
    }
  }

  /**
   * The cached blob as a stream, once it has hashed to its digest (and has the descriptor's size), or null: not
   * cached, damaged (evicted, with a note), or evicted by another run meanwhile. One file descriptor serves the
   * check and the read, so an eviction in between cannot turn a hit into an error.
   */
  async openVerified(digest: string, size?: number | null): Promise<Readable | null> {
    const file = this.path(digest);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch {
      return null;
    }
    let ok = false;
    try {
      const info = await handle.stat();
      const algorithm = digest.slice(0, digest.indexOf(':'));
      if (info.isFile() && (size === null || size === undefined || info.size === size) && (algorithm === 'sha256' || algorithm === 'sha512')) {
        const hash = createHash(algorithm);
        for await (const chunk of handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
        ok = `${algorithm}:${hash.digest('hex')}` === digest;
      }
    } catch {
      ok = false;
    }
    if (!ok) {
      await handle.close().catch(() => {});
      await this.remove(digest);
      this.noteEvicted(digest);
      return null;
    }
    this.touch(file);
    return handle.createReadStream({ start: 0, highWaterMark: 1 << 20 });
  }

  /** Say that a damaged cached copy was removed (it is fetched again, so the registry is not blamed for it). */
  noteEvicted(digest: string): void {
    this.options.note?.(`the cached copy of ${digest} in ${this.dir} no longer matched its digest (damaged on disk); removed it and fetching the blob again`);
  }

  async remove(digest: string): Promise<void> {
    await unlink(this.path(digest)).catch(() => {});
  }

  /** Store a small blob already in memory (it is verified against its digest before it is kept). */
  async put(digest: string, bytes: Buffer): Promise<void> {
    const tee = await this.tee(digest);
    await new Promise<void>((resolve) => {
      tee.on('finish', resolve).on('error', () => resolve());
      tee.resume();
      tee.end(bytes);
    });
  }

  /** A pass-through that also writes the stream into the cache, committing it only if the digest matches. */
  async tee(digest: string): Promise<Transform> {
    const final = this.path(digest);
    try {
      await mkdir(path.dirname(final), { recursive: true });
    } catch {
      return new PassThrough({ highWaterMark: 1 << 20 }); // a cache that cannot be written is only slower
    }
    const temp = tempName(final);
    const algorithm = digest.slice(0, digest.indexOf(':'));
    const hash = algorithm === 'sha256' || algorithm === 'sha512' ? createHash(algorithm) : null;
    trackTemp(temp);
    const file: WriteStream = createWriteStream(temp);
    const committed = () => (this.wrote = true);
    let failed = false;
    file.on('error', () => (failed = true)); // a full disk must not break the analysis; the entry is just not kept
    const discard = () => {
      // Unlink only once the file is closed: a stream destroyed while still opening would create it afterwards.
      const remove = () => void unlink(temp).catch(() => {}).finally(() => untrackTemp(temp));
      if (file.closed) remove();
      else {
        file.once('close', remove);
        file.destroy();
      }
    };
    return new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        hash?.update(chunk);
        if (failed || file.write(chunk)) {
          callback(null, chunk);
          return;
        }
        const resume = () => {
          file.off('drain', resume);
          file.off('error', resume);
          callback(null, chunk);
        };
        file.once('drain', resume);
        file.once('error', resume);
      },
      flush(callback: TransformCallback) {
        const actual = hash ? `${algorithm}:${hash.digest('hex')}` : null;
        if (failed || actual !== digest) {
          discard();
          callback();
          return;
        }
        file.end(() => {
          rename(temp, final).then(
            () => {
              untrackTemp(temp);
              committed();
              callback();
            },
            () => {
              discard();
              callback();
            },
          );
        });
      },
      destroy(error: Error | null, callback: (error: Error | null) => void) {
        discard();
        callback(error);
      },
    });
  }
}

export type CacheEntryKind = 'blob' | 'scan' | 'outdatedScan' | 'report' | 'outdatedReport' | 'leftover' | 'temp';

interface CacheFile {
  file: string;
  kind: CacheEntryKind;
  bytes: number;
  /** Last use (mtime: a read touches it). */
  usedMs: number;
}

/**
 * Every file layerlens wrote in the cache, classified. Only names of its own making are listed (a digest's hex, a
 * scan, a temp name): a `--cache-dir` pointed at a directory holding other files never loses them to a prune.
 * Symlinks are not followed.
 */
async function cacheFiles(dir: string): Promise<{ exists: boolean; files: CacheFile[] }> {
  // The root may be a symlink (a cache on another disk); below it, nothing is followed.
  const top = await stat(dir).catch(() => null);
  if (!top) return { exists: false, files: [] };
  if (!top.isDirectory()) throw new CacheDirError(`the cache directory ${dir} is not a directory`);
  const files: CacheFile[] = [];
  const now = Date.now();
  const add = async (file: string, name: string, kind: CacheEntryKind): Promise<void> => {
    const info = await lstat(file).catch(() => null);
    if (!info?.isFile()) return;
    const leftover = kind === 'temp' && leftoverReason(name, info.mtimeMs, now) !== null;
    files.push({ file, kind: leftover ? 'leftover' : kind, bytes: info.size, usedMs: info.mtimeMs });
  };
  const list = (sub: string) => readdir(sub).catch(() => [] as string[]);
  for (const algorithm of await list(path.join(dir, 'blobs'))) {
    if (!/^sha(256|512)$/.test(algorithm)) continue;
    const sub = path.join(dir, 'blobs', algorithm);
    for (const name of await list(sub)) {
      if (/^[0-9a-f]{64,128}$/.test(name)) await add(path.join(sub, name), name, 'blob');
      else if (tempOwner(name)) await add(path.join(sub, name), name, 'temp');
    }
  }
  for (const version of await list(path.join(dir, 'scans'))) {
    const format = /^v(\d+)$/.exec(version);
    if (!format) continue;
    for (const algorithm of await list(path.join(dir, 'scans', version))) {
      if (!/^sha(256|512)$/.test(algorithm)) continue;
      const sub = path.join(dir, 'scans', version, algorithm);
      for (const name of await list(sub)) {
        if (/^[0-9a-f]{64,128}\.json\.gz$/.test(name)) await add(path.join(sub, name), name, Number(format[1]) === SCAN_FORMAT ? 'scan' : 'outdatedScan');
        else if (tempOwner(name)) await add(path.join(sub, name), name, 'temp');
      }
    }
  }
  const build = reportBuildDir();
  for (const version of await list(path.join(dir, REPORTS_DIR))) {
    if (!REPORT_BUILD_DIR.test(version)) continue;
    const sub = path.join(dir, REPORTS_DIR, version);
    for (const name of await list(sub)) {
      if (/^[0-9a-f]{64}\.json\.gz$/.test(name)) await add(path.join(sub, name), name, version === build ? 'report' : 'outdatedReport');
      else if (tempOwner(name)) await add(path.join(sub, name), name, 'temp');
    }
  }
  return { exists: true, files };
}

/** A cache directory that cannot be listed or pruned (a file in its place): a configuration error, exit 2. */
export class CacheDirError extends Error {}

function tally(files: CacheFile[]): CacheTally {
  return { files: files.length, bytes: files.reduce((sum, file) => sum + file.bytes, 0) };
}

export async function inventoryCache(dir: string, limit: number | null = cacheLimit()): Promise<CacheInventory> {
  const { exists, files } = await cacheFiles(dir);
  const of = (kind: CacheEntryKind) => tally(files.filter((file) => file.kind === kind));
  const used = files.map((file) => file.usedMs).sort((a, b) => a - b);
  return {
    dir,
    exists,
    limit: limit !== null && Number.isFinite(limit) ? limit : null,
    total: tally(files),
    blobs: of('blob'),
    scans: of('scan'),
    outdatedScans: of('outdatedScan'),
    reports: of('report'),
    outdatedReports: of('outdatedReport'),
    leftovers: of('leftover'),
    inProgress: of('temp'),
    prunable: tally(chooseVictims(files, limit !== null && Number.isFinite(limit) ? limit : null)),
    oldestUse: used.length ? new Date(used[0]!).toISOString() : null,
    newestUse: used.length ? new Date(used[used.length - 1]!).toISOString() : null,
  };
}

/**
 * What a prune to `max` removes: outdated scans and leftover temp files first (nothing reads them), then blobs and
 * scans from the least recently used until the rest fits. Temp files a live run is writing are never chosen.
 */
function chooseVictims(files: CacheFile[], max: number | null): CacheFile[] {
  const victims: CacheFile[] = files.filter((file) => file.kind === 'outdatedScan' || file.kind === 'outdatedReport' || file.kind === 'leftover');
  // Temp files of live runs are not counted: they cannot be evicted, and one large download elsewhere must not push
  // out everything else.
  const kept = files.filter((file) => file.kind === 'blob' || file.kind === 'scan' || file.kind === 'report');
  let size = tally(kept).bytes;
  if (max !== null && size > max) {
    // Oldest use first; among equals, the larger first (it frees more for the same loss of recency).
    const candidates = kept.sort((a, b) => a.usedMs - b.usedMs || b.bytes - a.bytes);
    for (const file of candidates) {
      if (size <= max) break;
      victims.push(file);
      size -= file.bytes;
    }
  }
  return victims;
}

/**
 * Bring the cache under `max` bytes: outdated scans and leftover temp files go first (nothing reads them), then
 * blobs and scans from the least recently used. Temp files a live run is writing are never touched. `max: 0`
 * empties it. A file that is already gone (another run pruned it) counts as removed by that run, not this one.
 */
export async function pruneCache(dir: string, options: { max: number | null; dryRun?: boolean }): Promise<PruneResult> {
  const { files } = await cacheFiles(dir);
  const max = options.max !== null && Number.isFinite(options.max) ? options.max : null;
  const victims = chooseVictims(files, max);
  const removed: CacheFile[] = [];
  for (const victim of victims) {
    if (options.dryRun) {
      removed.push(victim);
      continue;
    }
    try {
      await unlink(victim.file);
      removed.push(victim);
    } catch {
      // gone already, or not ours to remove: it is not counted
    }
  }
  if (!options.dryRun) {
    // Directories of outdated scan formats, once empty, go too (rmdir refuses a directory that is not empty).
    for (const version of await readdir(path.join(dir, 'scans')).catch(() => [] as string[])) {
      if (!/^v\d+$/.test(version) || version === `v${SCAN_FORMAT}`) continue;
      for (const algorithm of await readdir(path.join(dir, 'scans', version)).catch(() => [] as string[])) await rmdir(path.join(dir, 'scans', version, algorithm)).catch(() => {});
      await rmdir(path.join(dir, 'scans', version)).catch(() => {});
    }
    for (const version of await readdir(path.join(dir, REPORTS_DIR)).catch(() => [] as string[])) {
      if (REPORT_BUILD_DIR.test(version) && version !== reportBuildDir()) await rmdir(path.join(dir, REPORTS_DIR, version)).catch(() => {});
    }
  }
  const gone = new Set(removed.map((file) => file.file));
  const of = (kind: CacheEntryKind) => tally(removed.filter((file) => file.kind === kind));
  return {
    dir,
    dryRun: options.dryRun ?? false,
    max,
    removed: { ...tally(removed), blobs: of('blob'), scans: of('scan'), outdatedScans: of('outdatedScan'), reports: of('report'), outdatedReports: of('outdatedReport'), leftovers: of('leftover') },
    remaining: tally(files.filter((file) => !gone.has(file.file))),
  };
}
