/**
 * Tar headers exactly as Go's `archive/tar` reads them (reader.go, strconv.go, format.go): the reader Docker,
 * containerd, BuildKit and umoci extract layers with. What layerlens lists must be what they extract, so every
 * rule here follows Go's, including the ones a lenient reader gets wrong on purpose-built input:
 * - header-only types (hardlink, symlink, char, block, directory, fifo) carry no data whatever the size field says;
 * - a PAX `size` (and `path`, `linkpath`, `uid`, `gid`) overrides the ustar field; a later `x` header replaces an
 *   earlier one; GNU long names override PAX paths; a `g` header does not apply to later entries;
 * - numeric fields are octal (spaces and NULs trimmed) or base-256; anything else is an invalid header;
 * - the checksum must match (unsigned or signed sum); one zero block followed by a non-zero block is invalid;
 * - meta entries (PAX, GNU long names) larger than 1 MiB are refused;
 * - GNU sparse files (old `S` headers and PAX 0.0/0.1/1.0) are validated as Go validates them.
 * Pure functions and a small stateful assembler shared by the layer scanner (streaming) and the outer-archive
 * index (positional), so both read the same bytes the same way.
 */
import { decodeSurrogateEscape } from './names.js';

export const BLOCK = 512;
/** Go's maxSpecialFileSize: PAX records and GNU long names above this are refused. */
export const MAX_META_SIZE = 1 << 20;

export const TYPE_REG = 0x30; // '0'
export const TYPE_REG_A = 0x00; // '\0', old regular file (or directory with a trailing slash)
export const TYPE_LINK = 0x31; // '1'
export const TYPE_SYMLINK = 0x32; // '2'
export const TYPE_CHAR = 0x33; // '3'
export const TYPE_BLOCK = 0x34; // '4'
export const TYPE_DIR = 0x35; // '5'
export const TYPE_FIFO = 0x36; // '6'
export const TYPE_CONT = 0x37; // '7'
export const TYPE_PAX = 0x78; // 'x'
export const TYPE_PAX_GLOBAL = 0x67; // 'g'
export const TYPE_GNU_LONG_NAME = 0x4c; // 'L'
export const TYPE_GNU_LONG_LINK = 0x4b; // 'K'
export const TYPE_GNU_SPARSE = 0x53; // 'S'

/** A tar stream that Go's reader refuses (its ErrHeader, ErrFieldTooLong or ErrUnexpectedEOF). */
export class TarFormatError extends Error {
  constructor(
    message: string,
    readonly truncated = false,
  ) {
    super(message);
    this.name = 'TarFormatError';
  }
}

/** Types whose size field announces no data blocks (Go's isHeaderOnlyType). */
export function isHeaderOnly(typeflag: number): boolean {
  return typeflag >= TYPE_LINK && typeflag <= TYPE_FIFO;
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Bytes of padding after `size` bytes of data. */
export function blockPadding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** A C string field: the bytes up to the first NUL (Go's parseString). */
export function cString(block: Uint8Array, start: number, length: number): Uint8Array {
  const end = start + length;
  for (let i = start; i < end; i++) if (block[i] === 0) return block.subarray(start, i);
  return block.subarray(start, end);
}

const INVALID = Symbol('invalid');

/** Go's parseOctal: leading/trailing spaces and NULs trimmed, up to the first NUL, octal digits only, ≤ 2^64−1. */
function parseOctal(block: Uint8Array, start: number, length: number): number | typeof INVALID {
  let from = start;
  let to = start + length;
  while (from < to && (block[from] === 0x20 || block[from] === 0)) from++;
  while (to > from && (block[to - 1] === 0x20 || block[to - 1] === 0)) to--;
  if (from === to) return 0;
  let value = 0;
  let digits = 0;
  let i = from;
  for (; i < to && block[i] !== 0; i++) {
    const digit = block[i]! - 0x30;
    if (digit < 0 || digit > 7) return INVALID;
    value = value * 8 + digit;
    digits++;
  }
  if (digits <= 17) return value; // ≤ 51 bits: exact
  let big = 0n;
  for (let j = from; j < i; j++) big = big * 8n + BigInt(block[j]! - 0x30);
  if (big > 0xffffffffffffffffn) return INVALID;
  return Number(BigInt.asIntN(64, big)); // Go converts the uint64 to int64: ≥ 2^63 becomes negative
}

/** Go's parseNumeric: base-256 (two's complement, high bit set) or octal. */
function parseNumericField(block: Uint8Array, start: number, length: number): number | typeof INVALID {
  const first = block[start]!;
  if ((first & 0x80) === 0) return parseOctal(block, start, length);
  const invert = first & 0x40 ? 0xff : 0;
  let value = 0n;
  for (let i = 0; i < length; i++) {
    let byte = block[start + i]! ^ invert;
    if (i === 0) byte &= 0x7f;
    if (value >> 56n > 0n) return INVALID; // overflow
    value = (value << 8n) | BigInt(byte);
  }
  if (value >> 63n > 0n) return INVALID;
  return Number(invert ? ~value : value);
}

/** Go's strconv.ParseInt(s, 10, 64) on raw bytes: optional sign, decimal digits only. */
export function parseDecimal(text: Uint8Array | string): number | null {
  const s = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.length).toString('latin1');
  if (!/^[+-]?[0-9]+$/.test(s)) return null;
  const value = BigInt(s);
  if (value > 0x7fffffffffffffffn || value < -0x8000000000000000n) return null;
  return Number(value);
}

type Format = 'v7' | 'ustar' | 'star' | 'gnu';

function matches(block: Uint8Array, start: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (block[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Go's block.getFormat: the checksum (unsigned or signed sum, the field counted as spaces), then the magic. */
function headerFormat(block: Uint8Array): Format | null {
  const stored = parseOctal(block, 148, 8);
  if (stored === INVALID) return null;
  // Every header is summed, so this loop is per-entry cost: no branch per byte, and the signed sum (bytes over 127
  // counted as negative) derived from the unsigned one and the number of such bytes.
  let unsigned = 8 * 0x20; // the checksum field itself, as spaces
  let high = 0;
  for (let i = 0; i < 148; i++) {
    const byte = block[i]!;
    unsigned += byte;
    high += byte >>> 7;
  }
  for (let i = 156; i < BLOCK; i++) {
    const byte = block[i]!;
    unsigned += byte;
    high += byte >>> 7;
  }
  const signed = unsigned - 256 * high;
  if (stored !== unsigned && stored !== signed) return null;
  if (matches(block, 257, 'ustar\0')) return matches(block, 508, 'tar\0') ? 'star' : 'ustar';
  if (matches(block, 257, 'ustar ') && matches(block, 263, ' \0')) return 'gnu';
  return 'v7';
}

/** Quick test for sniffing: does this block look like a tar header (valid checksum, not all zeros)? */
export function isTarHeader(block: Uint8Array): boolean {
  return block.length >= BLOCK && !isZeroBlock(block) && headerFormat(block) !== null;
}

function isAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte >= 0x80) return false;
  return true;
}

/** One header block as Go's readHeader parses it, before PAX records and long names are merged in. */
export interface RawHeader {
  typeflag: number;
  name: Uint8Array;
  linkname: Uint8Array;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  format: Format;
}

/** Parse a non-zero header block; throws TarFormatError where Go returns ErrHeader. */
export function parseHeaderBlock(block: Uint8Array, where: string): RawHeader {
  const format = headerFormat(block);
  if (format === null) throw new TarFormatError(`invalid tar header ${where} (checksum mismatch or not a tar header)`);
  let bad: string | null = null;
  const numeric = (start: number, length: number, field: string): number => {
    const value = parseNumericField(block, start, length);
    if (value === INVALID) {
      bad ??= field;
      return 0;
    }
    return value;
  };
  const size = numeric(124, 12, 'size');
  const mode = numeric(100, 8, 'mode');
  const uid = numeric(108, 8, 'uid');
  const gid = numeric(116, 8, 'gid');
  numeric(136, 12, 'mtime');
  let name = cString(block, 0, 100);
  if (format !== 'v7') {
    numeric(329, 8, 'devmajor');
    numeric(337, 8, 'devminor');
    let prefix: Uint8Array = new Uint8Array(0);
    if (format === 'ustar') prefix = cString(block, 345, 155);
    else if (format === 'star') {
      prefix = cString(block, 345, 131);
      numeric(476, 12, 'atime');
      numeric(488, 12, 'ctime');
    } else {
      // GNU: atime/ctime where ustar has its prefix; Go falls back to a prefix when they do not parse (files
      // written by Go < 1.8) and the field is ASCII.
      const timesParse = [345, 357].every((at) => block[at] === 0 || parseNumericField(block, at, 12) !== INVALID);
      if (!timesParse) {
        const candidate = cString(block, 345, 155);
        if (isAscii(candidate)) prefix = candidate;
      }
    }
    if (prefix.length > 0) {
      const joined = new Uint8Array(prefix.length + 1 + name.length);
      joined.set(prefix, 0);
      joined[prefix.length] = 0x2f;
      joined.set(name, prefix.length + 1);
      name = joined;
    }
  }
  if (bad !== null) throw new TarFormatError(`invalid tar header ${where} (malformed ${bad} field)`);
  return { typeflag: block[156]!, name, linkname: cString(block, 157, 100), size, mode, uid, gid, format };
}

/**
 * PAX records (`"%d %s=%s\n"`), as Go's parsePAX reads them: every record must be well formed, keys non-empty,
 * no NUL in `path`/`linkpath`/`uname`/`gname` values nor in other keys. GNU sparse 0.0 offset/numbytes pairs are
 * folded into `GNU.sparse.map`, in order.
 */
export function parsePaxRecords(data: Uint8Array, where: string): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  const sparseMap: Uint8Array[] = [];
  const bad = (why: string) => new TarFormatError(`invalid PAX header ${where} (${why})`);
  let at = 0;
  while (at < data.length) {
    let space = at;
    while (space < data.length && data[space] !== 0x20) space++;
    if (space === data.length) throw bad('a record without a length');
    const length = parseDecimal(data.subarray(at, space));
    if (length === null || length < 5 || length > data.length - at) throw bad('a record length out of range');
    const recordEnd = at + length; // index of the byte after the newline
    if (recordEnd - 1 <= space) throw bad('a record length out of range');
    if (data[recordEnd - 1] !== 0x0a) throw bad('a record not ending in a newline');
    const record = data.subarray(space + 1, recordEnd - 1);
    const equals = record.indexOf(0x3d);
    if (equals === -1) throw bad('a record without "="');
    const key = Buffer.from(record.buffer, record.byteOffset, equals).toString('latin1');
    const value = record.subarray(equals + 1);
    if (key === '') throw bad('an empty key');
    const stringField = key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname';
    if (stringField ? value.includes(0) : key.includes('\0')) throw bad(`a NUL byte in ${stringField ? key : 'a key'}`);
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      const expected = sparseMap.length % 2 === 0 ? 'GNU.sparse.offset' : 'GNU.sparse.numbytes';
      if (key !== expected || value.includes(0x2c)) throw bad('GNU sparse 0.0 records out of order');
      sparseMap.push(value);
    } else records.set(key, value);
    at = recordEnd;
  }
  if (sparseMap.length > 0) records.set('GNU.sparse.map', Buffer.from(sparseMap.map((part) => Buffer.from(part).toString('latin1')).join(','), 'latin1'));
  return records;
}

/** Go's parsePAXTime, for validation only (a malformed time refuses the entry). */
function validPaxTime(value: Uint8Array): boolean {
  const text = Buffer.from(value).toString('latin1');
  const dot = text.indexOf('.');
  const seconds = dot === -1 ? text : text.slice(0, dot);
  if (parseDecimal(seconds) === null) return false;
  return dot === -1 || /^[0-9]*$/.test(text.slice(dot + 1));
}

/** A header name as a string (see names.ts): ASCII (nearly every name) without a decoder call. */
export function decodeName(bytes: Uint8Array): string {
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  return decodeSurrogateEscape(bytes);
}

export interface SparseRegion {
  offset: number;
  length: number;
}

/** An entry as Go's Reader.Next returns it, with what the stream holds for it. */
export interface TarEntryHeader {
  typeflag: number;
  name: string;
  linkname: string;
  /** Go's Header.Size: the logical size (a sparse file's real size). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow the header in the stream (0 for header-only types), padding excluded. */
  dataSize: number;
  /** Sparse data regions; null for a plain entry. */
  sparse: SparseRegion[] | null;
  /** The sparse map still to be read from the start of the data (PAX sparse 1.0). */
  sparseMapInData: boolean;
  /** Old GNU sparse: extension blocks still to read right after the header (not part of the data). */
  sparseExtended: boolean;
}

/** What a header block turned out to be. */
export type HeaderStep =
  | { kind: 'meta'; typeflag: number; size: number } // PAX or GNU long name: its data follows, then the next header
  | { kind: 'entry'; entry: TarEntryHeader };

function sparseFromOldGnu(block: Uint8Array, start: number, count: number, regions: SparseRegion[], where: string): void {
  for (let i = 0; i < count; i++) {
    const at = start + i * 24;
    if (block[at] === 0) break; // GNU and BSD tar end the list here
    const offset = parseNumericField(block, at, 12);
    const length = parseNumericField(block, at + 12, 12);
    if (offset === INVALID || length === INVALID) throw new TarFormatError(`invalid GNU sparse header ${where}`);
    regions.push({ offset, length });
  }
}

/** Go's validateSparseEntries (the checks BSD tar makes). */
export function validSparse(regions: SparseRegion[], size: number): boolean {
  if (size < 0) return false;
  let previousEnd = 0;
  for (const { offset, length } of regions) {
    if (offset < 0 || length < 0) return false;
    if (offset > Number.MAX_SAFE_INTEGER - length) return false;
    if (offset + length > size) return false;
    if (previousEnd > offset) return false;
    previousEnd = offset + length;
  }
  return true;
}

/**
 * The state Go's Reader.next keeps between the headers of one entry (PAX records, GNU long name and link), and
 * the merge of them into the entry that follows. Drivers feed it header blocks and meta entries' data.
 */
export class TarHeaderAssembler {
  private pax: Map<string, Uint8Array> | null = null;
  private longName: Uint8Array | null = null;
  private longLink: Uint8Array | null = null;

  /** A non-zero header block at `where` (for messages). */
  header(block: Uint8Array, where: string): HeaderStep {
    const raw = parseHeaderBlock(block, where);
    // Go sets up a data reader for every header, meta ones included, before looking at the type.
    if (!isHeaderOnly(raw.typeflag) && raw.size < 0) throw new TarFormatError(`invalid tar header ${where} (negative size)`);
    switch (raw.typeflag) {
      case TYPE_PAX:
      case TYPE_PAX_GLOBAL:
      case TYPE_GNU_LONG_NAME:
      case TYPE_GNU_LONG_LINK:
        if (raw.size > MAX_META_SIZE) throw new TarFormatError(`tar meta header ${where} is larger than 1 MiB (${raw.size} bytes)`);
        return { kind: 'meta', typeflag: raw.typeflag, size: raw.size };
    }
    const entry = this.merge(raw, block, where);
    this.pax = this.longName = this.longLink = null;
    return { kind: 'entry', entry };
  }

  /** The data of the meta header `header()` just announced. */
  meta(typeflag: number, data: Uint8Array, where: string): void {
    if (typeflag === TYPE_PAX) this.pax = parsePaxRecords(data, where);
    else if (typeflag === TYPE_PAX_GLOBAL) {
      // Go returns a global header as an entry of its own and applies it to nothing; Docker and containerd skip
      // it. Its records must still parse, and it ends the pending extended headers.
      parsePaxRecords(data, where);
      this.pax = this.longName = this.longLink = null;
    } else if (typeflag === TYPE_GNU_LONG_NAME) this.longName = cString(data, 0, data.length);
    else this.longLink = cString(data, 0, data.length);
  }

  private merge(raw: RawHeader, block: Uint8Array, where: string): TarEntryHeader {
    let { typeflag, name, linkname, size, uid, gid } = raw;
    const pax = this.pax;
    const bad = (field: string) => new TarFormatError(`invalid PAX ${field} record ${where}`);
    if (pax) {
      for (const [key, value] of pax) {
        if (value.length === 0) continue; // Go keeps the ustar value
        switch (key) {
          case 'path':
            name = value;
            break;
          case 'linkpath':
            linkname = value;
            break;
          case 'uid':
          case 'gid':
          case 'size': {
            const number = parseDecimal(value);
            if (number === null) throw bad(key);
            if (key === 'uid') uid = number;
            else if (key === 'gid') gid = number;
            else size = number;
            break;
          }
          case 'atime':
          case 'mtime':
          case 'ctime':
            if (!validPaxTime(value)) throw bad(key);
            break;
        }
      }
    }
    if (this.longName && this.longName.length > 0) name = this.longName;
    if (this.longLink && this.longLink.length > 0) linkname = this.longLink;
    if (typeflag === TYPE_REG_A) typeflag = name.length > 0 && name[name.length - 1] === 0x2f ? TYPE_DIR : TYPE_REG;
    const dataSize = isHeaderOnly(typeflag) ? 0 : size;
    if (dataSize < 0) throw new TarFormatError(`invalid tar header ${where} (negative size)`);
    const entry: TarEntryHeader = {
      typeflag,
      name: '',
      linkname: '',
      size,
      mode: raw.mode,
      uid,
      gid,
      dataSize,
      sparse: null,
      sparseMapInData: false,
      sparseExtended: false,
    };
    if (typeflag === TYPE_GNU_SPARSE) {
      if (raw.format !== 'gnu') throw new TarFormatError(`invalid GNU sparse header ${where} (not in GNU format)`);
      const realSize = parseNumericField(block, 483, 12);
      if (realSize === INVALID) throw new TarFormatError(`invalid GNU sparse header ${where}`);
      entry.size = realSize;
      entry.sparse = [];
      sparseFromOldGnu(block, 386, 4, entry.sparse, where);
      entry.sparseExtended = block[482]! > 0;
    } else if (pax) {
      const text = (key: string) => (pax.has(key) ? Buffer.from(pax.get(key)!).toString('latin1') : '');
      const major = text('GNU.sparse.major');
      const minor = text('GNU.sparse.minor');
      let version: '0.x' | '1.0' | null = null;
      if (major === '0' && (minor === '0' || minor === '1')) version = '0.x';
      else if (major === '1' && minor === '0') version = '1.0';
      else if (major === '' && minor === '' && text('GNU.sparse.map') !== '') version = '0.x';
      if (version) {
        const sparseName = pax.get('GNU.sparse.name');
        if (sparseName && sparseName.length > 0) name = sparseName;
        const realSize = text('GNU.sparse.size') || text('GNU.sparse.realsize');
        if (realSize !== '') {
          const parsed = parseDecimal(realSize);
          if (parsed === null) throw new TarFormatError(`invalid GNU sparse size ${where}`);
          entry.size = parsed;
        }
        if (version === '1.0') {
          entry.sparse = [];
          entry.sparseMapInData = true;
        } else entry.sparse = sparseFrom0x1(text('GNU.sparse.numblocks'), text('GNU.sparse.map'), where);
      }
    }
    entry.name = decodeName(name);
    entry.linkname = decodeName(linkname);
    if (entry.sparse && !entry.sparseMapInData && !entry.sparseExtended) this.checkSparse(entry, where);
    return entry;
  }

  /** Old GNU sparse: one extension block; returns whether another follows. */
  sparseExtension(entry: TarEntryHeader, block: Uint8Array, where: string): boolean {
    sparseFromOldGnu(block, 0, 21, entry.sparse!, where);
    const more = block[504]! > 0;
    if (!more) {
      entry.sparseExtended = false;
      this.checkSparse(entry, where);
    }
    return more;
  }

  /**
   * PAX sparse 1.0: the map is newline-separated decimals at the start of the data, read in whole blocks. Feed
   * blocks until it returns true; the blocks it took are no longer part of the entry's data.
   */
  sparseMapBlock(entry: TarEntryHeader, block: Uint8Array, where: string): boolean {
    const state = (this.mapState ??= { blocks: [], lines: 0, count: null });
    const text = Buffer.from(block.buffer, block.byteOffset, block.length).toString('latin1');
    state.blocks.push(text);
    // Each block is scanned once; the text is split only when the first line, then the whole map, is there.
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) state.lines++;
    const bad = () => new TarFormatError(`invalid GNU sparse map ${where}`);
    if (state.lines === 0) return false;
    if (state.count === null) {
      const joined = state.blocks.join('');
      state.count = parseDecimal(joined.slice(0, joined.indexOf('\n')));
      if (state.count === null || state.count < 0) throw bad();
    }
    if (state.lines < 1 + 2 * state.count) return false;
    const tokens = state.blocks.join('').split('\n');
    const regions: SparseRegion[] = [];
    for (let i = 0; i < state.count; i++) {
      const offset = parseDecimal(tokens[1 + 2 * i]!);
      const length = parseDecimal(tokens[2 + 2 * i]!);
      if (offset === null || length === null) throw bad();
      regions.push({ offset, length });
    }
    entry.sparse = regions;
    entry.sparseMapInData = false;
    this.mapState = null;
    this.checkSparse(entry, where);
    return true;
  }

  private mapState: { blocks: string[]; lines: number; count: number | null } | null = null;

  private checkSparse(entry: TarEntryHeader, where: string): void {
    if (isHeaderOnly(entry.typeflag) || !validSparse(entry.sparse!, entry.size)) throw new TarFormatError(`invalid sparse map ${where}`);
  }

}

function sparseFrom0x1(numBlocks: string, map: string, where: string): SparseRegion[] {
  const count = parseDecimal(numBlocks);
  if (count === null || count < 0) throw new TarFormatError(`invalid GNU sparse map ${where}`);
  const parts = map === '' ? [] : map.split(',');
  if (parts.length !== 2 * count) throw new TarFormatError(`invalid GNU sparse map ${where}`);
  const regions: SparseRegion[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const offset = parseDecimal(parts[i]!);
    const length = parseDecimal(parts[i + 1]!);
    if (offset === null || length === null) throw new TarFormatError(`invalid GNU sparse map ${where}`);
    regions.push({ offset, length });
  }
  return regions;
}

/** Σ of a sparse file's data regions: the bytes its data section must hold after the map. */
export function sparseDataBytes(regions: SparseRegion[]): number {
  let total = 0;
  for (const region of regions) total += region.length;
  return total;
}
