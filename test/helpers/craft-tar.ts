/**
 * A raw tar writer that can write anything, for hostile-input tests: ustar, GNU and V7 headers with any typeflag,
 * numeric fields in octal, base-256 or garbage, a correct, signed, wrong or raw checksum, PAX extended ('x') and
 * global ('g') headers with arbitrary records, GNU long names ('L'/'K'), old GNU sparse headers ('S') and PAX
 * sparse 0.0/0.1/1.0, data of any length (including another length than the header says), raw bytes anywhere,
 * 0/1/2 end blocks, and names given as Buffers (non-UTF-8 bytes). Nothing here imports src/ or a tar library:
 * every byte is placed by hand, so what the reader under test sees is exactly what the test wrote.
 *
 * Also writes OCI image layouts from layer tars (gzip or uncompressed, correct digests and diff_ids), one image
 * per layout directory, tagged `latest`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const BLOCK = 512;

/** Text or bytes: strings are written as UTF-8, Buffers as they are. */
export type Bytes = string | Buffer;

const bytesOf = (value: Bytes | Uint8Array): Buffer => (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.isBuffer(value) ? value : Buffer.from(value));

/**
 * A numeric header field. A plain number or bigint is written as Go's writer does: octal, zero-padded to the
 * field width minus one and NUL-terminated, or base-256 when it does not fit. The object forms force a spelling.
 */
export type NumField =
  | number
  | bigint
  | { octal: number | bigint; digits?: number; terminator?: string } // digits: how many (default width − 1)
  | { base256: number | bigint } // two's complement, big-endian, high bit of the first byte set
  | { raw: Bytes }; // the exact bytes (padded with NULs / cut to the field width)

export interface HeaderSpec {
  /** The 100-byte name field (cut when longer; use a PAX path or a GNU long name for long names). */
  name?: Bytes;
  mode?: NumField;
  uid?: NumField;
  gid?: NumField;
  size?: NumField;
  mtime?: NumField;
  /** One character ('0', '5', 'x', …) or a byte value (0 for the old NUL regular file). Default '0'. */
  typeflag?: string | number;
  linkname?: Bytes;
  /** 'ustar' (magic "ustar\0", version "00"), 'gnu' ("ustar  \0"), 'v7' (no magic) or the raw 8 bytes at 257. */
  format?: 'ustar' | 'gnu' | 'v7' | Buffer;
  uname?: Bytes;
  gname?: Bytes;
  devmajor?: NumField;
  devminor?: NumField;
  /** The ustar prefix field (345, 155 bytes): Go joins it as `prefix/name` for ustar/PAX headers only. */
  prefix?: Bytes;
  /**
   * The checksum field. 'correct' (default): the unsigned sum, as every writer does; 'signed': the sum of the
   * bytes taken as signed chars (Go accepts both); a number: that value, written in octal; `{ delta }`: the
   * correct sum plus delta; `{ raw }`: exact bytes.
   */
  checksum?: 'correct' | 'signed' | number | { delta: number } | { raw: Bytes };
  /** Byte patches applied to the block before the checksum is computed. */
  patches?: { offset: number; bytes: Bytes }[];
  /** Byte patches applied after the checksum is computed (they make it wrong unless they are neutral). */
  patchesAfterChecksum?: { offset: number; bytes: Bytes }[];
}

const FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;

function putBytes(block: Buffer, offset: number, width: number, value: Bytes): void {
  const bytes = bytesOf(value);
  block.fill(0, offset, offset + width);
  bytes.copy(block, offset, 0, Math.min(bytes.length, width));
}

/** base-256 (GNU binary) encoding of a signed integer in `width` bytes. */
export function base256(value: number | bigint, width: number): Buffer {
  let v = BigInt(value);
  const out = Buffer.alloc(width);
  const negative = v < 0n;
  if (negative) v = (1n << BigInt(width * 8)) + v; // two's complement over the whole field
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = negative ? out[0]! | 0xc0 : out[0]! | 0x80;
  return out;
}

function encodeNumber(field: NumField, width: number): Buffer {
  if (typeof field === 'number' || typeof field === 'bigint') {
    const v = BigInt(field);
    const digits = v >= 0n ? v.toString(8) : '';
    if (v >= 0n && digits.length <= width - 1) return encodeNumber({ octal: v }, width);
    return base256(v, width);
  }
  if ('octal' in field) {
    const digits = field.digits ?? width - 1;
    const text = BigInt(field.octal).toString(8).padStart(digits, '0') + (field.terminator ?? '\0');
    const out = Buffer.alloc(width);
    Buffer.from(text, 'latin1').copy(out, 0, 0, Math.min(text.length, width));
    return out;
  }
  if ('base256' in field) return base256(field.base256, width);
  const out = Buffer.alloc(width);
  bytesOf(field.raw).copy(out, 0, 0, Math.min(bytesOf(field.raw).length, width));
  return out;
}

/** The unsigned and the signed checksum of a header block (checksum field counted as 8 spaces). */
export function checksums(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 256 : byte;
  }
  return { unsigned, signed };
}

/** One 512-byte header block. */
export function headerBlock(spec: HeaderSpec): Buffer {
  const block = Buffer.alloc(BLOCK);
  const typeflag = spec.typeflag ?? '0';
  const isDir = typeflag === '5';
  putBytes(block, FIELDS.name[0], FIELDS.name[1], spec.name ?? '');
  const num = (key: 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'devmajor' | 'devminor', value: NumField) => {
    const [offset, width] = FIELDS[key];
    encodeNumber(value, width).copy(block, offset);
  };
  num('mode', spec.mode ?? (isDir ? 0o755 : 0o644));
  num('uid', spec.uid ?? 0);
  num('gid', spec.gid ?? 0);
  num('size', spec.size ?? 0);
  num('mtime', spec.mtime ?? 1_700_000_000);
  block[156] = typeof typeflag === 'number' ? typeflag : typeflag.charCodeAt(0);
  putBytes(block, FIELDS.linkname[0], FIELDS.linkname[1], spec.linkname ?? '');
  const format = spec.format ?? 'ustar';
  const magic =
    format === 'ustar' ? Buffer.from('ustar\x0000', 'latin1') : format === 'gnu' ? Buffer.from('ustar  \x00', 'latin1') : format === 'v7' ? Buffer.alloc(8) : format;
  putBytes(block, FIELDS.magic[0], FIELDS.magic[1], magic);
  if (format !== 'v7') {
    putBytes(block, FIELDS.uname[0], FIELDS.uname[1], spec.uname ?? 'root');
    putBytes(block, FIELDS.gname[0], FIELDS.gname[1], spec.gname ?? 'root');
    num('devmajor', spec.devmajor ?? 0);
    num('devminor', spec.devminor ?? 0);
    if (spec.prefix !== undefined) putBytes(block, FIELDS.prefix[0], FIELDS.prefix[1], spec.prefix);
  }
  for (const patch of spec.patches ?? []) bytesOf(patch.bytes).copy(block, patch.offset);
  const sums = checksums(block);
  const checksum = spec.checksum ?? 'correct';
  let field: Buffer;
  if (checksum === 'correct' || checksum === 'signed' || typeof checksum === 'number' || 'delta' in checksum) {
    const value = checksum === 'correct' ? sums.unsigned : checksum === 'signed' ? sums.signed : typeof checksum === 'number' ? checksum : sums.unsigned + checksum.delta;
    // GNU and Go write six octal digits, NUL, space.
    field = Buffer.from(`${(value < 0 ? 0 : value).toString(8).padStart(6, '0')}\0 `, 'latin1');
    if (value < 0) field = Buffer.from(`-${(-value).toString(8).padStart(5, '0')}\0 `, 'latin1'); // never valid
  } else {
    field = Buffer.alloc(8);
    bytesOf(checksum.raw).copy(field, 0, 0, 8);
  }
  field.copy(block, 148, 0, 8);
  for (const patch of spec.patchesAfterChecksum ?? []) bytesOf(patch.bytes).copy(block, patch.offset);
  return block;
}

/** One PAX record, `"%d %s=%s\n"` with its own length counted. */
export function paxRecord(key: Bytes, value: Bytes): Buffer {
  const body = Buffer.concat([bytesOf(key), Buffer.from('='), bytesOf(value), Buffer.from('\n')]);
  let length = body.length + 2;
  while (String(length).length + 1 + body.length !== length) length = String(length).length + 1 + body.length;
  return Buffer.concat([Buffer.from(`${length} `), body]);
}

/** PAX records: a map or pairs (pairs keep order and duplicates), or raw bytes (written as they are). */
export type PaxRecords = Record<string, Bytes> | [Bytes, Bytes][] | Buffer;

export function paxData(records: PaxRecords): Buffer {
  if (Buffer.isBuffer(records)) return records;
  const pairs = Array.isArray(records) ? records : Object.entries(records);
  return Buffer.concat(pairs.map(([key, value]) => paxRecord(key, value)));
}

const padding = (length: number) => Buffer.alloc((BLOCK - (length % BLOCK)) % BLOCK);

/** One sparse data fragment (offset in the expanded file, length), as old GNU and PAX sparse headers list them. */
export type SparseMap = [offset: number, length: number][];

/** A tar stream built piece by piece; every method appends and returns `this`. */
export class TarBuilder {
  private readonly pieces: Buffer[] = [];

  /** A header block, nothing more (write its data with `data()`, or none: the header may lie about its size). */
  header(spec: HeaderSpec): this {
    this.pieces.push(headerBlock(spec));
    return this;
  }

  /** Data bytes, padded with zeros to a block boundary unless `pad` is false. */
  data(bytes: Bytes, pad = true): this {
    const buffer = bytesOf(bytes);
    this.pieces.push(buffer);
    if (pad) this.pieces.push(padding(buffer.length));
    return this;
  }

  /** Raw bytes, no padding (a header needing alignment, trailing garbage, …). */
  raw(bytes: Bytes): this {
    this.pieces.push(bytesOf(bytes));
    return this;
  }

  /** `count` zero blocks (two are the end-of-archive marker). */
  zeros(count: number): this {
    this.pieces.push(Buffer.alloc(count * BLOCK));
    return this;
  }

  /** The end-of-archive marker: two zero blocks (or as many as asked). */
  end(blocks = 2): this {
    return this.zeros(blocks);
  }

  /** A regular file whose size field is its content's length (unless `spec.size` says otherwise). */
  file(name: Bytes, content: Bytes = '', spec: HeaderSpec = {}): this {
    const body = bytesOf(content);
    return this.header({ size: body.length, ...spec, name, typeflag: spec.typeflag ?? '0' }).data(body);
  }

  dir(name: Bytes, spec: HeaderSpec = {}): this {
    return this.header({ ...spec, name, typeflag: '5' });
  }

  symlink(name: Bytes, target: Bytes, spec: HeaderSpec = {}): this {
    return this.header({ mode: 0o777, ...spec, name, linkname: target, typeflag: '2' });
  }

  hardlink(name: Bytes, target: Bytes, spec: HeaderSpec = {}): this {
    return this.header({ ...spec, name, linkname: target, typeflag: '1' });
  }

  fifo(name: Bytes, spec: HeaderSpec = {}): this {
    return this.header({ ...spec, name, typeflag: '6' });
  }

  char(name: Bytes, major: number, minor: number, spec: HeaderSpec = {}): this {
    return this.header({ ...spec, name, typeflag: '3', devmajor: major, devminor: minor });
  }

  block(name: Bytes, major: number, minor: number, spec: HeaderSpec = {}): this {
    return this.header({ ...spec, name, typeflag: '4', devmajor: major, devminor: minor });
  }

  /** A PAX extended header ('x', or 'g' when global) and its records; `spec` can override its header (size…). */
  pax(records: PaxRecords, options: { global?: boolean; spec?: HeaderSpec; pad?: boolean } = {}): this {
    const body = paxData(records);
    const typeflag = options.global ? 'g' : 'x';
    this.header({ name: options.global ? 'pax_global_header' : 'PaxHeaders.0/entry', size: body.length, ...options.spec, typeflag: options.spec?.typeflag ?? typeflag });
    return this.data(body, options.pad ?? true);
  }

  /** A GNU long name ('L') or long link name ('K') header and its data (NUL-terminated unless `nul` is false). */
  gnuLong(kind: 'L' | 'K', value: Bytes, options: { nul?: boolean; spec?: HeaderSpec } = {}): this {
    const body = Buffer.concat([bytesOf(value), options.nul === false ? Buffer.alloc(0) : Buffer.alloc(1)]);
    this.header({ name: '././@LongLink', size: body.length, format: 'gnu', ...options.spec, typeflag: kind });
    return this.data(body);
  }

  /**
   * An old GNU sparse file ('S'): `data` holds the fragments back to back, `map` where they go in a file of
   * `realSize` bytes. Up to 4 fragments fit in the header; the rest go in extension blocks of 21.
   */
  gnuSparse(name: Bytes, realSize: number, map: SparseMap, data: Bytes, spec: HeaderSpec = {}): this {
    const body = bytesOf(data);
    const entry = (offset: number, length: number) => Buffer.concat([encodeNumber(offset, 12), encodeNumber(length, 12)]);
    const inHeader = map.slice(0, 4);
    const rest = map.slice(4);
    const patches: { offset: number; bytes: Bytes }[] = inHeader.map(([offset, length], i) => ({ offset: 386 + i * 24, bytes: entry(offset, length) }));
    if (rest.length > 0) patches.push({ offset: 482, bytes: Buffer.from([1]) });
    patches.push({ offset: 483, bytes: encodeNumber(realSize, 12) });
    this.header({ size: body.length, format: 'gnu', ...spec, name, typeflag: 'S', patches: [...patches, ...(spec.patches ?? [])] });
    for (let i = 0; i < rest.length; i += 21) {
      const ext = Buffer.alloc(BLOCK);
      rest.slice(i, i + 21).forEach(([offset, length], j) => entry(offset, length).copy(ext, j * 24));
      if (i + 21 < rest.length) ext[504] = 1;
      this.pieces.push(ext);
    }
    return this.data(body);
  }

  /**
   * A PAX sparse file. 0.0: GNU.sparse.size/numblocks/offset/numbytes records; 0.1: GNU.sparse.map; 1.0: the map
   * in the data section (decimal lines, padded to a block) before the fragments. `name` is the real name
   * (GNU.sparse.name); the ustar name is the GNUSparseFile.0/ placeholder GNU tar writes.
   */
  paxSparse(version: '0.0' | '0.1' | '1.0', name: Bytes, realSize: number, map: SparseMap, data: Bytes, spec: HeaderSpec = {}): this {
    const body = bytesOf(data);
    const records: [Bytes, Bytes][] = [];
    let payload = body;
    if (version === '0.0') {
      records.push(['GNU.sparse.size', String(realSize)], ['GNU.sparse.numblocks', String(map.length)]);
      for (const [offset, length] of map) records.push(['GNU.sparse.offset', String(offset)], ['GNU.sparse.numbytes', String(length)]);
      records.push(['GNU.sparse.name', name]);
    } else if (version === '0.1') {
      records.push(['GNU.sparse.size', String(realSize)], ['GNU.sparse.numblocks', String(map.length)], ['GNU.sparse.map', map.flat().join(',')], ['GNU.sparse.name', name]);
    } else {
      records.push(['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', name], ['GNU.sparse.realsize', String(realSize)]);
      const text = Buffer.from(`${map.length}\n${map.map(([offset, length]) => `${offset}\n${length}\n`).join('')}`, 'latin1');
      payload = Buffer.concat([text, padding(text.length), body]);
    }
    this.pax(records);
    const base = path.posix.basename(bytesOf(name).toString('latin1'));
    return this.header({ name: `GNUSparseFile.0/${base}`, size: payload.length, ...spec, typeflag: spec.typeflag ?? '0' }).data(payload);
  }

  /** The stream so far. */
  build(): Buffer {
    return Buffer.concat(this.pieces);
  }
}

export const tar = (): TarBuilder => new TarBuilder();

/** The stream cut to its first `length` bytes (negative: that many bytes fewer). */
export function truncate(stream: Buffer, length: number): Buffer {
  return stream.subarray(0, length < 0 ? stream.length + length : length);
}

/** Printable form of bytes: ASCII as it is, anything else (and `\`) as \xNN. */
export function showBytes(value: Bytes): string {
  let out = '';
  for (const byte of bytesOf(value)) out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// OCI layouts

export type LayerCompression = 'gzip' | 'none';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function putBlob(layout: string, bytes: Buffer): { digest: string; size: number } {
  const digest = sha256(bytes);
  const dir = path.join(layout, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

export const LAYER_MEDIA_TYPES: Record<LayerCompression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

/**
 * Writes `layers` (uncompressed tar streams, as they are: no repair) as one image into a new OCI layout at
 * `layout`, tagged `latest`: each blob gzip-compressed or stored as it is, with its digest, size and diff_id
 * (sha256 of the uncompressed stream) right, so that only the tar content can be at fault.
 */
export function writeLayout(layout: string, layers: Buffer[], compression: LayerCompression | LayerCompression[] = 'gzip'): void {
  mkdirSync(layout, { recursive: true });
  const descriptors = layers.map((layer, i) => {
    const kind = Array.isArray(compression) ? (compression[i] ?? 'gzip') : compression;
    return { mediaType: LAYER_MEDIA_TYPES[kind], ...putBlob(layout, kind === 'gzip' ? gzipSync(layer, { level: 1 }) : layer) };
  });
  const config = {
    created: '2024-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map(sha256) },
    history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `hostile layer ${i}` })),
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(layout, Buffer.from(JSON.stringify(config))) },
    layers: descriptors,
  };
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...putBlob(layout, Buffer.from(JSON.stringify(manifest))),
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ],
  };
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}
