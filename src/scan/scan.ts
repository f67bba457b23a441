/**
 * The layer scanner: one streaming pass per blob. The stored bytes are hashed (the blob digest) and counted,
 * decompressed (gzip/zstd/none, sniffed from the magic bytes, not trusted from the media type), the
 * uncompressed stream is hashed (the diffId) and counted, and our own header walker (tar-walker.ts, with Go's
 * archive/tar rules: what Docker, containerd and umoci extract) turns it into compact entry records, each regular
 * file's content hashed with xxhash64 on the way. Memory is bounded by entry metadata.
 */
import { createHash } from 'node:crypto';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import xxhash, { type XXHashAPI } from 'xxhash-wasm';
import { ImageReadError, errorMessage } from '../errors.js';
import { sniffCompression } from '../image/mediatypes.js';
import { createDecompressor } from './compression.js';
import { TYPE_BLOCK, TYPE_CHAR, TYPE_DIR, TYPE_FIFO, TYPE_LINK, TYPE_REG, TYPE_SYMLINK, TarFormatError, type TarEntryHeader } from '../image/tar.js';
import { encodeSurrogateEscape } from '../image/names.js';
import { TarWalker } from './tar-walker.js';
import { GzipEstimator } from './gzip-estimate.js';
import type { EntryType, LayerEntry, LayerScan } from '../model/layer.js';

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

/**
 * What an extractor makes of a typeflag. Go's reader hands every other type to its caller, and Docker, containerd
 * and umoci refuse those ("unhandled tar header type"), so the layer cannot be extracted: null.
 */
function entryType(typeflag: number): EntryType | null {
  switch (typeflag) {
    case TYPE_REG:
      return 'file'; // '7' (contiguous) and old GNU sparse 'S' are refused by all three: not extractable
    case TYPE_DIR:
      return 'dir';
    case TYPE_SYMLINK:
      return 'symlink';
    case TYPE_LINK:
      return 'hardlink';
    case TYPE_CHAR:
      return 'char';
    case TYPE_BLOCK:
      return 'block';
    case TYPE_FIFO:
      return 'fifo';
    default:
      return null;
  }
}

function typeflagText(typeflag: number): string {
  return typeflag >= 0x21 && typeflag <= 0x7e ? `'${String.fromCharCode(typeflag)}'` : `0x${typeflag.toString(16).padStart(2, '0')}`;
}

/**
 * A well-formed entry that no container runtime can extract, so no container ever sees the image as listed: a
 * type Docker, containerd and umoci refuse, or a name longer than Linux allows (PATH_MAX 4096 bytes for a path,
 * NAME_MAX 255 for one component; the extractors fail with ENAMETOOLONG). Refusing these also bounds the depth
 * of every tree built from a layer (at most 2048 levels), so no per-level cost can be driven up without limit.
 */
class UnextractableEntry extends TarFormatError {}

const PATH_MAX = 4096;
const NAME_MAX = 255;

function byteLength(text: string): number {
  return /[\udc80-\udcff]/.test(text) ? encodeSurrogateEscape(text).length : Buffer.byteLength(text, 'utf8');
}

function shown(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 40)}…${name.slice(-40)}` : name);
}

/** Throws UnextractableEntry when a name cannot exist on Linux; cheap for ordinary names (length checks only). */
function checkNameLimits(what: string, name: string): void {
  if (name.length <= NAME_MAX / 3) return; // even at 3 bytes a UTF-16 unit, no component can be too long
  if (name.length >= PATH_MAX / 3 && byteLength(name) >= PATH_MAX) {
    throw new UnextractableEntry(`${what} ${shown(name)} is ${byteLength(name)} bytes long, more than Linux allows (PATH_MAX 4096): no runtime can extract it`);
  }
  for (const part of name.split('/')) {
    if (part.length > NAME_MAX / 3 && byteLength(part) > NAME_MAX) {
      throw new UnextractableEntry(`${what} ${shown(name)} has a name of ${byteLength(part)} bytes, more than Linux allows (NAME_MAX 255): no runtime can extract it`);
    }
  }
}

/** Hashes and counts the bytes that flow through, unchanged; feeds them to a gzip estimator when given one. */
class Tap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  /** `hashing` false: the caller hashes these bytes already (a one-pass archive reader); only sample them. */
  constructor(
    readonly estimator: GzipEstimator | null = null,
    private readonly hashing = true,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.hashing) this.hash.update(chunk);
    this.bytes += chunk.length;
    const busy = this.estimator?.update(chunk);
    if (busy) void busy.then(() => callback(null, chunk));
    else callback(null, chunk);
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

/** Wait for the stream's first bytes without consuming them (they are pushed back). */
async function peek(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // The stream may have failed or ended before the caller got here (a registry's 401 arrives while the hasher
    // loads): its 'error' or 'end' is gone, and waiting for it would leave a promise no event ever settles.
    if (stream.errored) {
      reject(stream.errored);
      return;
    }
    if (stream.destroyed) {
      reject(new Error('the stream was closed before it could be read'));
      return;
    }
    if (stream.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
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
    // Destroyed with no error and no end (an aborted source): a close with nothing read is a failure, not a hang.
    const onClose = () => {
      cleanup();
      reject(stream.errored ?? new Error('the stream was closed before it could be read'));
    };
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

export interface ScanOptions {
  /** Name for messages: `layer 3 (sha256:…) in ./app.tar`. */
  label: string;
  /**
   * Estimate the gzip size of the uncompressed stream (its media type says it is stored uncompressed). Bytes that
   * turn out uncompressed whatever the media type says get the estimate too: they are what a push would gzip.
   */
  estimateGzip?: boolean;
  /** The blob's length when known in advance (it sets the estimate's sampling grid). */
  expectedSize?: number | null;
  /**
   * The stored bytes are hashed and counted by the caller, who feeds them in: a one-pass archive reader, which
   * must know a blob's digest even when its content fails to scan (damage is a finding). Called once the input
   * has ended; the scanner then does not hash them a second time.
   */
  storedBytes?: () => { digest: string; size: number };
  /**
   * Called once the stream has been read and parsed, before the gzip estimate's last samples are compressed: the
   * caller may start the next layer, since what is left is zlib finishing those samples (image-scan.ts).
   */
  onRead?: () => void;
}

/**
 * `LAYERLENS_GZIP_ESTIMATE=off` leaves every estimate null: it exists to measure what the estimate costs
 * (bench/estimate-cost.mjs runs each image with and without it), not as a user setting.
 */
const ESTIMATE_OFF = process.env.LAYERLENS_GZIP_ESTIMATE === 'off';

export async function scanLayer(input: Readable, options: ScanOptions): Promise<LayerScan> {
  const { create64, h64Raw } = await xxh();
  let head: Buffer;
  try {
    head = await peek(input);
  } catch (error) {
    throw new ImageReadError(`${options.label} could not be read (${errorMessage(error)})`, { cause: error });
  }
  const compression = sniffCompression(head);
  // Inside the one pass: the uncompressed stream is sampled as it goes by (gzip-estimate.ts).
  const estimator = (compression === 'none' || options.estimateGzip) && !ESTIMATE_OFF ? new GzipEstimator(compression === 'none' ? (options.expectedSize ?? null) : null) : null;
  // With storedBytes the caller hashes the blob; an uncompressed one still passes a tap for the estimate.
  const blobEstimator = compression === 'none' ? estimator : null;
  const blobTap = options.storedBytes ? (blobEstimator ? new Tap(blobEstimator, false) : null) : new Tap(blobEstimator);
  // An uncompressed blob is its own tar stream: hash it once, not twice.
  const diffTap = compression === 'none' ? null : new Tap(estimator);
  const decompressor = diffTap ? createDecompressor(compression) : null;
  const entries: LayerEntry[] = [];
  let contentSize = 0;
  const hex = (value: bigint) => `xxh64:${value.toString(16).padStart(16, '0')}`;
  EMPTY_HASH_CACHE.value ??= hex(h64Raw(new Uint8Array(0)));
  const emptyHash = EMPTY_HASH_CACHE.value;

  let current: LayerEntry | null = null;
  let currentSparse: TarEntryHeader['sparse'] = null;
  let streaming: ReturnType<typeof create64> | null = null;
  const walker = new TarWalker({
    entry(header) {
      const type = entryType(header.typeflag);
      if (type === null) {
        throw new UnextractableEntry(`entry ${shown(header.name)} has tar type ${typeflagText(header.typeflag)}, which Docker, containerd and umoci refuse to extract`);
      }
      checkNameLimits('entry', header.name);
      if (type === 'symlink' || type === 'hardlink') checkNameLimits(`${type} target of ${shown(header.name)}`, header.linkname);
      const size = type === 'hardlink' ? 0 : header.size;
      contentSize += size;
      const entry: LayerEntry = {
        path: normalizeEntryPath(header.name),
        type,
        size,
        mode: header.mode & 0o7777,
        uid: header.uid,
        gid: header.gid,
        linkTarget: type === 'symlink' ? header.linkname : type === 'hardlink' ? normalizeEntryPath(header.linkname) : null,
        contentHash: type === 'file' && header.dataSize === 0 && !header.sparse ? emptyHash : null,
      };
      entries.push(entry);
      if (type !== 'file' || entry.contentHash !== null) return false;
      current = entry;
      currentSparse = header.sparse;
      streaming = null;
      return true;
    },
    data(chunk, whole) {
      if (whole && !currentSparse) {
        current!.contentHash = hex(h64Raw(chunk));
        return;
      }
      (streaming ??= create64()).update(chunk);
    },
    entryEnd() {
      if (current!.contentHash !== null) return;
      const dataHash = (streaming ?? create64()).digest();
      // A sparse file is hashed as its stored data plus its map: expanding its holes could mean hashing terabytes
      // of zeros a hostile header claims. Two copies of one sparse file still hash alike.
      current!.contentHash = currentSparse ? hex(h64Raw(Buffer.from(`${dataHash}:${currentSparse.map((r) => `${r.offset}+${r.length}`).join(',')}`))) : hex(dataHash);
    },
  });
  const walk = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      try {
        walker.feed(chunk);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    final(callback) {
      try {
        walker.end();
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });

  // The first stream to fail says what went wrong; pipeline then destroys the others with the same error.
  let failedAt: 'read' | 'decompress' | 'tar' | null = null;
  input.on('error', () => (failedAt ??= 'read'));
  decompressor?.on('error', () => (failedAt ??= 'decompress'));
  walk.on('error', () => (failedAt ??= 'tar'));

  try {
    const stages = blobTap ? [input, blobTap] : [input];
    if (diffTap && decompressor) await pipeline([...stages, decompressor, new Overlap(), diffTap, walk]);
    else await pipeline([...stages, walk]);
  } catch (error) {
    const detail = errorMessage(error);
    if (error instanceof ImageReadError) throw error;
    if (error instanceof UnextractableEntry) throw new ImageReadError(`${options.label} cannot be extracted: ${detail}`, { cause: error });
    if (error instanceof TarFormatError) {
      throw new ImageReadError(`${options.label} is ${error.truncated ? 'a truncated' : 'not a valid'} tar stream (${detail})`, { cause: error });
    }
    if (failedAt === 'read' || failedAt === null) throw new ImageReadError(`${options.label} could not be read (${detail})`, { cause: error });
    if (failedAt === 'decompress') throw new ImageReadError(`${options.label} is corrupt ${compression} data (${detail})`, { cause: error });
    throw new ImageReadError(`${options.label} is not a valid tar stream (${detail})`, { cause: error });
  }

  const stored = blobTap && !options.storedBytes ? { digest: `sha256:${blobTap.hash.digest('hex')}`, size: blobTap.bytes } : options.storedBytes!();
  const digest = stored.digest;
  options.onRead?.();
  const estimate = estimator ? await estimator.result() : null;
  return {
    digest,
    compressedSize: stored.size,
    compression,
    diffId: diffTap ? `sha256:${diffTap.hash.digest('hex')}` : digest,
    uncompressedSize: diffTap ? diffTap.bytes : stored.size,
    contentSize,
    estimatedCompressedSize: estimate?.size ?? null,
    ...(estimate?.pool ? { gzipSamples: estimate.pool } : {}),
    entries,
  };
}

/** A layer scanned as it streamed by (stream-archive.ts) failed; `blobDigest` is the sha256 of its bytes as stored (read to the end). */
export class PassScanError extends ImageReadError {
  constructor(
    message: string,
    readonly blobDigest: string,
    readonly blobSize: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** sha256 and length of a blob, nothing else: the second look at a blob whose content could not be read. */
export async function hashBlob(input: Readable): Promise<{ digest: string; size: number }> {
  const tap = new Tap();
  const sink = new Transform({ transform: (_chunk, _encoding, callback) => callback() });
  await pipeline(input, tap, sink);
  return { digest: `sha256:${tap.hash.digest('hex')}`, size: tap.bytes };
}
