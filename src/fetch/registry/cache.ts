/**
 * A content-addressed blob cache on disk (`<dir>/blobs/sha256/<hex>`). Entries are written to a temp file beside
 * their final name while the blob streams through, hashed on the way, and renamed into place only when the
 * digest matches — so a cache entry is always a verified, complete blob. A second run of the same image, or an
 * image sharing layers, reads them from here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { LayerScan } from '../../analyze/scan.js';
import type { ScanCache } from '../source.js';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { isDigest } from '../../image/digest.js';

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'layerlens');
}

const SCAN_FORMAT = 2; // 2: layers read with Go archive/tar rules (header-only entries, PAX size, sparse, raw names)

export class BlobCache {
  constructor(readonly dir: string) {}

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
      return scan.digest === digest ? scan : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') await unlink(file).catch(() => {});
      return null;
    }
  }

  async saveScan(digest: string, scan: LayerScan): Promise<void> {
    const file = this.scanPath(digest);
    const payload = JSON.stringify(scan);
    const body = gzipSync(JSON.stringify({ checksum: createHash('sha256').update(payload).digest('hex'), payload }), { level: 1 });
    const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(temp, body);
      await rename(temp, file);
    } catch {
      await unlink(temp).catch(() => {}); // a cache that cannot be written is only slower, never wrong
    }
  }

  /** This cache as the scan store a BlobStore offers the scanner. */
  get scans(): ScanCache {
    return { load: (digest) => this.loadScan(digest), save: (digest, scan) => this.saveScan(digest, scan) };
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

  open(digest: string): Readable {
    return createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
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
    await mkdir(path.dirname(final), { recursive: true });
    const temp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const algorithm = digest.slice(0, digest.indexOf(':'));
    const hash = algorithm === 'sha256' || algorithm === 'sha512' ? createHash(algorithm) : null;
    const file: WriteStream = createWriteStream(temp);
    let failed = false;
    file.on('error', () => (failed = true)); // a full disk must not break the analysis; the entry is just not kept
    const discard = () => {
      file.destroy();
      unlink(temp).catch(() => {});
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
            () => callback(),
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
