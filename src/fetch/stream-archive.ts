/**
 * One pass over an image tarball that arrives as a stream (an engine's `docker save` export, standard input,
 * containerd's OCI export): nothing is written to disk. Each member that is a layer (anything too large to be a
 * manifest or config, or that does not look like JSON) is scanned as it passes, by the same scanner every source
 * uses; small members (manifest.json, index.json, configs, manifests) are kept in memory. The result is a
 * FileTree, so the docker-archive and OCI-layout readers resolve it exactly as they resolve a file, whatever order
 * the members came in (Docker, Podman and containerd write manifest.json / index.json last); their layer refs take
 * the scan made in the pass instead of reading the bytes again.
 *
 * Bounds: a member kept in memory is at most MAX_CONFIG_BYTES and all of them together at most KEEP_BUDGET; layers
 * stream with backpressure (at most SCANS_IN_FLIGHT scans pending). A member whose bytes are needed whole but were
 * not kept (a JSON past the budget, hostile or very odd) raises SecondPassNeeded: the caller may read it again
 * from a temporary file (an engine can export twice; a pipe cannot).
 */
import { createHash, type Hash } from 'node:crypto';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ImageReadError, errorMessage } from '../errors.js';
import { PassScanError, scanLayer } from '../scan/scan.js';
import type { LayerScan } from '../model/layer.js';
import { TarWalker } from '../scan/tar-walker.js';
import { BLOCK, TYPE_LINK, TYPE_REG, TYPE_SYMLINK, TarFormatError, isTarHeader, type TarEntryHeader } from '../image/tar.js';
import { createDecompressor, sniffOuterCompression } from '../scan/compression.js';
import { MAX_CONFIG_BYTES } from '../model/source.js';
import { normalizeMemberName, type FileTree } from './tree.js';
import { isReadable, readableChunks } from './readable-chunks.js';

/** Members up to this size are kept whole without looking at them (JSON, VERSION, oci-layout, tiny layers). */
const KEEP_SMALL = 1 << 20;
/** All kept members together: far above any real image's metadata, far below what would hurt. */
const KEEP_BUDGET = 256 * 2 ** 20;
/** Bytes kept of every member, to sniff its compression later (`head`). */
const HEAD_BYTES = 512;
/** Layer scans that may still be finishing (inflating, hashing) while the next member streams. */
const SCANS_IN_FLIGHT = 3;
/**
 * What each layer's scan may lag behind the stream (three scans may be in flight). 1 MiB: at 4 MiB a Docker
 * export, which arrives as fast as the socket goes, peaked 12 MiB above reading the same `docker save` from a file;
 * the realistic image reads as fast either way (bench/results/2026-12-03-engines-realistic.json).
 */
const LAYER_BUFFER = 1 << 20;

/** A member's bytes are needed whole, but the pass did not keep them: read the archive again from a file. */
export class SecondPassNeeded extends ImageReadError {}

type Member =
  | { type: 'file'; size: number; head: Buffer; bytes: Buffer | null; scan: Promise<LayerScan> | null }
  | { type: 'symlink' | 'hardlink'; linkname: string }
  | { type: 'other' };

export interface StreamReadOptions {
  debug?: (line: string) => void;
  /** Called with the bytes read so far (the outer stream's, after any decompression). */
  progress?: (bytes: number) => void;
}

export class StreamedTree implements FileTree {
  /** False when the stream ended without tar's end marker. */
  complete = false;
  scannedLayers = 0;
  keptBytes = 0;

  constructor(
    readonly label: string,
    readonly members: Map<string, Member>,
  ) {}

  get truncated(): boolean {
    return !this.complete;
  }

  private member(name: string): Extract<Member, { type: 'file' }> | null {
    let current = normalizeMemberName(name);
    for (let hops = 0; hops < 32; hops++) {
      const entry = this.members.get(current);
      if (!entry) return null;
      if (entry.type === 'file') return entry;
      if (entry.type === 'hardlink') current = normalizeMemberName(entry.linkname);
      else if (entry.type === 'symlink') {
        current = entry.linkname.startsWith('/') ? normalizeMemberName(entry.linkname) : normalizeMemberName(path.posix.join(path.posix.dirname(current), entry.linkname));
      } else return null;
    }
    throw new ImageReadError(`${name} in ${this.label} is a link loop`);
  }

  private missing(name: string): ImageReadError {
    const hint = this.complete ? '' : ' (the stream ended without a tar end marker: it looks truncated)';
    return new ImageReadError(`${name} is missing from ${this.label}${hint}`);
  }

  async size(name: string): Promise<number | null> {
    return this.member(name)?.size ?? null;
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const entry = this.member(name);
    if (!entry) throw this.missing(name);
    if (entry.size > maxBytes) throw new ImageReadError(`${name} in ${this.label} is ${entry.size} bytes, more than the ${maxBytes} bytes allowed for a manifest or config`);
    if (!entry.bytes) throw new SecondPassNeeded(`${name} in ${this.label} was not kept in the one pass over the stream`);
    return entry.bytes;
  }

  open(name: string): Readable {
    const entry = this.member(name);
    if (!entry) throw this.missing(name);
    if (!entry.bytes) throw new SecondPassNeeded(`${name} in ${this.label} was scanned as it streamed and cannot be read again`);
    return Readable.from(entry.bytes.length ? [entry.bytes] : []);
  }

  async head(name: string, length: number): Promise<Buffer> {
    const entry = this.member(name);
    if (!entry) throw this.missing(name);
    return entry.head.subarray(0, length);
  }

  async names(): Promise<string[]> {
    return [...this.members.keys()];
  }

  /** The scan the pass made of this member, when it was scanned rather than kept. */
  scanned(name: string): (() => Promise<LayerScan>) | null {
    const scan = this.member(name)?.scan;
    return scan ? () => scan : null;
  }
}

function looksLikeJson(head: Buffer): boolean {
  for (const byte of head) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b || byte === 0x5b; // { [
  }
  return false;
}

/** A regular member on its way through: collected whole, or fed to a layer scan as it arrives. */
class Incoming {
  private parts: Buffer[] = [];
  private collected = 0;
  /** `collect`: kept whole (its size is counted in the budget); `undecided`: its first bytes will tell. */
  private state: 'collect' | 'undecided' | 'layer';
  private head: Buffer | null = null;
  private layer: { input: PassThrough; hash: Hash; bytes: number; scan: Promise<LayerScan>; failed: boolean } | null = null;
  private done = false;
  private onDone: (() => void) | null = null;
  /** Set when the layer's input is full: the reader waits for it to drain before feeding more. */
  blocked: PassThrough | null = null;

  constructor(
    readonly name: string,
    readonly size: number,
    private readonly tree: StreamedTree,
    keep: boolean,
  ) {
    this.state = keep ? 'collect' : 'undecided';
  }

  data(chunk: Uint8Array): void {
    if (this.state === 'layer') return this.feedLayer(chunk);
    // Copied: the outer chunk may be a megabyte; a kept member must not pin it.
    this.parts.push(Buffer.from(chunk));
    this.collected += chunk.length;
    if (this.state === 'undecided' && this.collected >= HEAD_BYTES) this.decide();
  }

  private decide(): void {
    const start = Buffer.concat(this.parts);
    this.parts = [start];
    if (this.size <= MAX_CONFIG_BYTES && looksLikeJson(start) && this.tree.keptBytes + this.size <= KEEP_BUDGET) {
      this.tree.keptBytes += this.size;
      this.state = 'collect';
      return;
    }
    this.parts = [];
    this.head = Buffer.from(start.subarray(0, HEAD_BYTES));
    this.startLayer();
    this.feedLayer(start);
  }

  private startLayer(): void {
    const input = new PassThrough({ highWaterMark: LAYER_BUFFER });
    // abort() destroys the input with the stream's error, perhaps after the scan has stopped listening (it failed
    // first): the scan's own promise reports the failure, so an error event here must not crash the process.
    input.on('error', () => {});
    const hash = createHash('sha256');
    const layer = { input, hash, bytes: 0, failed: false, scan: null as unknown as Promise<LayerScan> };
    let stored: { digest: string; size: number } | null = null;
    const storedBytes = () => (stored ??= { digest: `sha256:${hash.digest('hex')}`, size: layer.bytes });
    // The member size sets the estimate's sampling grid, as the blob size does when the archive is a file.
    layer.scan = scanLayer(input, { label: `${this.name} in ${this.tree.label}`, storedBytes, expectedSize: this.size }).catch((error: unknown) => {
      layer.failed = true;
      // Damage is a finding: the digest of everything stored, read to the member's end (the reader keeps hashing
      // after the scan gave up), tells a damaged blob from bad content.
      return new Promise<never>((_, reject) => {
        const settle = () => {
          const stored = storedBytes();
          reject(new PassScanError(errorMessage(error), stored.digest, stored.size, { cause: error }));
        };
        if (this.done) settle();
        else this.onDone = settle;
      });
    });
    // Read when the image is resolved, if ever (a stream cut short inside this member never gets there).
    layer.scan.catch(() => undefined);
    this.layer = layer;
    this.state = 'layer';
    this.tree.scannedLayers++;
  }

  private feedLayer(chunk: Uint8Array): void {
    const layer = this.layer!;
    layer.hash.update(chunk);
    layer.bytes += chunk.length;
    if (layer.failed || layer.input.destroyed) return;
    if (!layer.input.write(chunk)) this.blocked = layer.input;
  }

  /** The member's data ended. */
  end(): Member {
    if (this.state === 'undecided') this.decide(); // a short member that the budget did not let in at once
    if (this.layer) {
      this.layer.input.end();
      this.done = true;
      this.onDone?.();
      const scan = this.layer.scan;
      return { type: 'file', size: this.size, head: this.head ?? Buffer.alloc(0), bytes: null, scan };
    }
    const bytes = Buffer.concat(this.parts);
    this.parts = [];
    return { type: 'file', size: this.size, head: bytes.subarray(0, HEAD_BYTES), bytes, scan: null };
  }

  /** The stream stopped inside this member. */
  abort(error: Error): void {
    this.layer?.input.destroy(error);
    this.done = true;
    this.onDone?.();
  }
}

/**
 * Read a tar stream in one pass into a StreamedTree. A gzip/zstd/xz-wrapped stream is unwrapped on the way.
 * Rejects with an ImageReadError (exit 3) when the stream is not a tar archive, is cut short inside a member, or
 * breaks Go's tar rules.
 */
export async function readArchiveStream(source: AsyncIterable<Buffer | Uint8Array>, label: string, options: StreamReadOptions = {}): Promise<StreamedTree> {
  const members = new Map<string, Member>();
  const tree = new StreamedTree(label, members);
  let current: Incoming | null = null;
  let headers = 0;
  const pending: Promise<unknown>[] = [];

  const walker = new TarWalker({
    entry(header: TarEntryHeader) {
      headers++;
      const name = normalizeMemberName(header.name);
      if (header.sparse || (header.typeflag !== TYPE_REG && header.typeflag !== TYPE_LINK && header.typeflag !== TYPE_SYMLINK)) {
        // A sparse member's bytes are not one contiguous blob; directories and devices are nothing to read.
        if (name !== '') members.set(name, { type: 'other' });
        return false;
      }
      if (header.typeflag !== TYPE_REG) {
        if (name !== '') members.set(name, { type: header.typeflag === TYPE_LINK ? 'hardlink' : 'symlink', linkname: header.linkname });
        return false;
      }
      const keep = header.dataSize <= KEEP_SMALL && tree.keptBytes + header.dataSize <= KEEP_BUDGET;
      current = new Incoming(name, header.dataSize, tree, keep);
      if (keep) tree.keptBytes += header.dataSize;
      return true;
    },
    data(chunk) {
      current!.data(chunk);
    },
    entryEnd() {
      const incoming = current!;
      current = null;
      const member = incoming.end();
      if (incoming.name !== '') members.set(incoming.name, member);
      if (member.type === 'file' && member.scan) pending.push(member.scan.catch(() => undefined));
    },
  });

  let received = 0;
  let first = true;
  try {
    for await (const raw of unwrap(source)) {
      const chunk = raw instanceof Buffer ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      if (first && chunk.length > 0) {
        first = false;
        if (chunk.length >= BLOCK && !isTarHeader(chunk.subarray(0, BLOCK))) throw new ImageReadError(`${label} is not a tar archive`);
      }
      received += chunk.length;
      options.progress?.(received);
      if (walker.ended) continue; // Go ignores what follows the end marker; drain it so the writer is not cut off
      walker.feed(chunk);
      const blocked = (current as Incoming | null)?.blocked ?? null;
      if (blocked) {
        (current as Incoming | null)!.blocked = null;
        await new Promise<void>((resolve) => {
          const done = () => {
            blocked.off('drain', done);
            blocked.off('close', done);
            resolve();
          };
          blocked.on('drain', done);
          blocked.on('close', done);
        });
      }
      while (pending.length > SCANS_IN_FLIGHT) await pending.shift();
    }
    walker.end();
  } catch (error) {
    (current as Incoming | null)?.abort(error instanceof Error ? error : new Error(String(error)));
    if (error instanceof ImageReadError) throw error;
    if (error instanceof TarFormatError) {
      if (headers === 0) throw new ImageReadError(`${label} is not a tar archive (${error.message})`, { cause: error });
      if (error.truncated) throw new ImageReadError(`${label} is truncated: ${error.message}`, { cause: error });
      throw new ImageReadError(`${label} is corrupt: ${error.message}`, { cause: error });
    }
    throw new ImageReadError(`${label} could not be read (${errorMessage(error)})`, { cause: error });
  }
  if (headers === 0) throw new ImageReadError(`${label} is not a tar archive (no tar header found)`);
  tree.complete = walker.ended;
  await Promise.all(pending);
  options.debug?.(`${label}: read in one pass, ${received} bytes: ${tree.scannedLayers} member(s) scanned as layers as they streamed, ${tree.keptBytes} bytes of metadata kept, nothing written to disk`);
  return tree;
}

/** The stream itself, or its decompression when it is gzip/zstd/xz/bzip2-wrapped (sniffed from its first bytes). */
async function* unwrap(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer | Uint8Array> {
  // Standard input and ctr's pipe are Readables: their chunks as they came, not joined into copies (readable-chunks.ts).
  const iterator = isReadable(source) ? readableChunks(source) : source[Symbol.asyncIterator]();
  const start: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < 8) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    start.push(Buffer.from(next.value));
    length += next.value.length;
  }
  const head = Buffer.concat(start);
  const compression = sniffOuterCompression(head);
  async function* rest(): AsyncGenerator<Buffer | Uint8Array> {
    if (head.length) yield head;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (compression === 'none') {
    yield* rest();
    return;
  }
  const decompressor = createDecompressor(compression);
  const feeding = Readable.from(rest()).on('error', (error) => decompressor.destroy(error));
  feeding.pipe(decompressor);
  try {
    for await (const chunk of decompressor) yield chunk as Buffer;
  } catch (error) {
    if (error instanceof ImageReadError) throw error;
    throw new ImageReadError(`the stream is corrupt ${compression} data (${errorMessage(error)})`, { cause: error });
  } finally {
    feeding.destroy();
  }
}
