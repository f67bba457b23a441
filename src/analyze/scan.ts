/**
 * The layer scanner: one streaming pass per blob. The stored bytes are hashed (the blob digest) and counted,
 * decompressed (gzip/zstd/none, sniffed from the magic bytes, not trusted from the media type), the
 * uncompressed stream is hashed (the diffId) and counted, and tar-stream parses it into compact entry records,
 * each regular file's content hashed with xxhash64 on the way. Memory is bounded by entry metadata.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import xxhash, { type XXHashAPI } from 'xxhash-wasm';
import { ImageReadError, errorMessage } from '../errors.js';
import { sniffCompression, type Compression } from '../image/mediatypes.js';
import { createDecompressor } from '../fetch/compression.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One tar entry of a layer, as recorded (paths normalised: no leading `/` or `./`, no trailing `/`). */
export interface LayerEntry {
  path: string;
  type: EntryType;
  /** Size in the tar header (0 for hardlinks, directories, links). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target, or the path a hardlink links to (normalised). */
  linkTarget: string | null;
  /** xxhash64 of a regular file's content, `xxh64:<16 hex>`; null for other types. */
  contentHash: string | null;
}

export interface LayerScan {
  /** sha256 of the bytes as stored. */
  digest: string;
  compressedSize: number;
  compression: Compression;
  /** sha256 of the uncompressed tar stream. */
  diffId: string;
  uncompressedSize: number;
  /** Σ of tar header sizes (a hardlink counts 0): dive's layer size. */
  contentSize: number;
  entries: LayerEntry[];
}

let hasher: Promise<XXHashAPI> | null = null;
function xxh(): Promise<XXHashAPI> {
  hasher ??= xxhash();
  return hasher;
}

const EMPTY_HASH_CACHE: { value: string | null } = { value: null };

export function normalizeEntryPath(name: string): string {
  let path = name;
  while (path.startsWith('./')) path = path.slice(2);
  path = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (path === '.') return '';
  return path;
}

function entryType(type: string | null): EntryType | null {
  switch (type) {
    case 'file':
    case 'contiguous-file':
    case null:
      return 'file';
    case 'directory':
      return 'dir';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
      return 'char';
    case 'block-device':
      return 'block';
    case 'fifo':
      return 'fifo';
    default:
      return null; // pax/GNU meta headers are folded into the next entry by tar-stream
  }
}

/** Hashes and counts the bytes that flow through, unchanged. */
class Tap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * An asynchronous hop after the decompressor. Node's zlib pushes each inflated chunk synchronously down the pipe
 * and only then starts inflating the next one, so hashing and tar parsing on the main thread would alternate with
 * inflation on the thread pool instead of overlapping. Deferring the hand-over lets the next inflate start first.
 */
class Overlap extends Transform {
  constructor() {
    super({ highWaterMark: 8 << 20 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    setImmediate(callback, null, chunk);
  }
}

/**
 * Passes a tar stream through up to and including its end-of-archive marker (two zero blocks) and drops what
 * follows, as GNU tar and Go's archive/tar (umoci, containerd) do: eStargz layers, for one, keep their table of
 * contents after the marker, and it is not part of the filesystem. The bytes after the marker still count for the
 * diffId, because the hashing tap sits before this stage. Only header positions are parsed (the size field), so
 * the cost is one 512-byte look per entry.
 */
class TarEnd extends Transform {
  private skip = 0; // bytes of entry data (and padding) before the next header
  private header: Buffer = Buffer.alloc(0); // a header block split across chunks
  private zeroBlocks = 0;
  private ended = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.ended) return callback();
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const step = Math.min(this.skip, chunk.length - at);
        this.skip -= step;
        at += step;
        continue;
      }
      const need = 512 - this.header.length;
      const take = Math.min(need, chunk.length - at);
      const block = this.header.length === 0 && take === 512 ? chunk.subarray(at, at + 512) : Buffer.concat([this.header, chunk.subarray(at, at + take)]);
      at += take;
      if (block.length < 512) {
        this.header = block;
        break;
      }
      this.header = Buffer.alloc(0);
      if (isZeroBlock(block)) {
        if (++this.zeroBlocks === 2) {
          this.ended = true;
          return callback(null, chunk.subarray(0, at));
        }
        continue;
      }
      this.zeroBlocks = 0;
      this.skip = headerOnly(block[156]!) ? 0 : Math.ceil(tarSize(block) / 512) * 512;
    }
    callback(null, chunk);
  }
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < 512; i += 8) if (block.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

/** Entry types whose size field does not announce data blocks (as Go's archive/tar reads them). */
function headerOnly(typeflag: number): boolean {
  return typeflag >= 0x31 && typeflag <= 0x36; // '1' hardlink … '6' fifo
}

/** The size field: octal digits, or base-256 when the high bit of the first byte is set. */
function tarSize(block: Buffer): number {
  const field = block.subarray(124, 136);
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  const value = parseInt(text || '0', 8);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** Wait for the stream's first bytes without consuming them (they are pushed back). */
async function peek(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return; // wait for more or for 'end'
      cleanup();
      stream.unshift(chunk);
      resolve(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.alloc(0));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

export interface ScanOptions {
  /** Name for messages: `layer 3 (sha256:…) in ./app.tar`. */
  label: string;
}

export async function scanLayer(input: Readable, options: ScanOptions): Promise<LayerScan> {
  const { create64 } = await xxh();
  let head: Buffer;
  try {
    head = await peek(input);
  } catch (error) {
    throw new ImageReadError(`${options.label} could not be read (${errorMessage(error)})`, { cause: error });
  }
  const compression = sniffCompression(head);
  const blobTap = new Tap();
  // An uncompressed blob is its own tar stream: hash it once, not twice.
  const diffTap = compression === 'none' ? null : new Tap();
  const decompressor = diffTap ? createDecompressor(compression) : null;
  // allowUnknownFormat: old (v7) tarballs have no ustar magic; tar-stream's types omit the option.
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const entries: LayerEntry[] = [];
  let contentSize = 0;
  // The first stream to fail says what went wrong; pipeline then destroys the others with the same error.
  let failedAt: 'read' | 'decompress' | 'tar' | null = null;
  input.on('error', () => (failedAt ??= 'read'));
  decompressor?.on('error', () => (failedAt ??= 'decompress'));
  extract.on('error', () => (failedAt ??= 'tar'));

  extract.on('entry', (header, stream, next) => {
    // When the pipeline fails mid-entry, tar-stream destroys the entry stream with the same error; the pipeline
    // reports it, so the entry stream must not raise it a second time as an uncaught exception.
    stream.on('error', () => {});
    const type = entryType(header.type);
    const path = normalizeEntryPath(header.name);
    const size = header.size ?? 0;
    if (type === null) {
      stream.resume();
      stream.once('end', next);
      return;
    }
    contentSize += type === 'hardlink' ? 0 : size;
    const entry: LayerEntry = {
      path,
      type,
      size: type === 'hardlink' ? 0 : size,
      mode: (header.mode ?? 0) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      linkTarget: type === 'symlink' ? (header.linkname ?? '') : type === 'hardlink' ? normalizeEntryPath(header.linkname ?? '') : null,
      contentHash: null,
    };
    entries.push(entry);
    if (type !== 'file') {
      stream.resume();
      stream.once('end', next);
      return;
    }
    if (size === 0) {
      EMPTY_HASH_CACHE.value ??= `xxh64:${create64().digest().toString(16).padStart(16, '0')}`;
      entry.contentHash = EMPTY_HASH_CACHE.value;
      stream.resume();
      stream.once('end', next);
      return;
    }
    const content = create64();
    stream.on('data', (chunk: unknown) => {
      content.update(chunk as Buffer);
    });
    stream.once('end', () => {
      entry.contentHash = `xxh64:${content.digest().toString(16).padStart(16, '0')}`;
      next();
    });
  });

  try {
    if (diffTap && decompressor) await pipeline(input, blobTap, decompressor, new Overlap(), diffTap, new TarEnd(), extract);
    else await pipeline(input, blobTap, new TarEnd(), extract);
  } catch (error) {
    const detail = errorMessage(error);
    if (error instanceof ImageReadError) throw error;
    if (failedAt === 'read' || failedAt === null) throw new ImageReadError(`${options.label} could not be read (${detail})`, { cause: error });
    if (failedAt === 'decompress') throw new ImageReadError(`${options.label} is corrupt ${compression} data (${detail})`, { cause: error });
    const truncated = /unexpected end/i.test(detail);
    throw new ImageReadError(`${options.label} is ${truncated ? 'a truncated' : 'not a valid'} tar stream (${detail})`, { cause: error });
  }

  const digest = `sha256:${blobTap.hash.digest('hex')}`;
  return {
    digest,
    compressedSize: blobTap.bytes,
    compression,
    diffId: diffTap ? `sha256:${diffTap.hash.digest('hex')}` : digest,
    uncompressedSize: diffTap ? diffTap.bytes : blobTap.bytes,
    contentSize,
    entries,
  };
}

/** sha256 and length of a blob, nothing else: the second look at a blob whose content could not be read. */
export async function hashBlob(input: Readable): Promise<{ digest: string; size: number }> {
  const tap = new Tap();
  const sink = new Transform({ transform: (_chunk, _encoding, callback) => callback() });
  await pipeline(input, tap, sink);
  return { digest: `sha256:${tap.hash.digest('hex')}`, size: tap.bytes };
}
