/**
 * A content-addressed blob cache on disk (`<dir>/blobs/sha256/<hex>`). Entries are written to a temp file beside
 * their final name while the blob streams through, hashed on the way, and renamed into place only when the
 * digest matches — so a cache entry is always a verified, complete blob. A second run of the same image, or an
 * image sharing layers, reads them from here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { isDigest } from '../../image/digest.js';

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'layerlens');
}

export class BlobCache {
  constructor(readonly dir: string) {}

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
