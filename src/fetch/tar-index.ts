/**
 * Index an uncompressed tarball's members (name → byte offset and size) by walking its 512-byte headers and
 * seeking over the contents, so each blob can later be read as a byte range without re-reading the archive.
 * tar-stream parses layer contents; it cannot report offsets, hence this small header walker for the outer
 * archive. Handles ustar prefixes, pax `path`/`linkpath`/`size` records, GNU long names (L/K) and base-256 sizes.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ImageReadError } from '../errors.js';

export interface TarMember {
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  offset: number;
  size: number;
  linkname: string;
}

export interface TarIndex {
  members: Map<string, TarMember>;
  /** False when the file ends without tar's end-of-archive blocks: it was probably cut short. */
  complete: boolean;
}

const BLOCK = 512;
const WINDOW = 256 * 1024;

class WindowReader {
  private buffer = Buffer.alloc(0);
  private start = 0;

  constructor(private readonly handle: FileHandle) {}

  /** Bytes [position, position+length), or fewer at end of file. */
  async read(position: number, length: number): Promise<Buffer> {
    if (position >= this.start && position + length <= this.start + this.buffer.length) {
      return this.buffer.subarray(position - this.start, position - this.start + length);
    }
    const size = Math.max(WINDOW, length);
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await this.handle.read(buffer, 0, size, position);
    this.buffer = buffer.subarray(0, bytesRead);
    this.start = position;
    return this.buffer.subarray(0, Math.min(length, bytesRead));
  }
}

function cString(buffer: Buffer, start: number, length: number): string {
  const field = buffer.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** Octal number field, or GNU base-256 when the high bit of the first byte is set. */
export function tarNumber(buffer: Buffer, start: number, length: number): number {
  const field = buffer.subarray(start, start + length);
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return parseInt(text, 8);
}

export function isTarHeader(block: Buffer): boolean {
  if (block.length < BLOCK) return false;
  const stored = tarNumber(block, 148, 8);
  if (!Number.isFinite(stored)) return false;
  let unsigned = 0;
  for (let i = 0; i < BLOCK; i++) unsigned += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return stored === unsigned && !block.every((byte) => byte === 0);
}

function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let position = 0;
  while (position < data.length) {
    const space = data.indexOf(0x20, position);
    if (space === -1) break;
    const length = parseInt(data.subarray(position, space).toString('latin1'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, position + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    position += length;
  }
  return records;
}

export async function indexTar(file: string, label: string): Promise<TarIndex> {
  const handle = await open(file, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const reader = new WindowReader(handle);
    const index = new Map<string, TarMember>();
    let complete = false;
    let position = 0;
    let longName: string | null = null;
    let longLink: string | null = null;
    let pax: Map<string, string> | null = null;
    let headers = 0;
    while (position + BLOCK <= fileSize) {
      const block = await reader.read(position, BLOCK);
      if (block.every((byte) => byte === 0)) {
        complete = true; // end-of-archive marker
        break;
      }
      if (!isTarHeader(block)) {
        if (headers === 0) throw new ImageReadError(`${label} is not a tar archive`);
        throw new ImageReadError(`${label} is corrupt: bad tar header at byte ${position}`);
      }
      headers++;
      const typeflag = String.fromCharCode(block[156]!);
      let size = tarNumber(block, 124, 12);
      if (pax?.has('size')) size = Number(pax.get('size'));
      const dataStart = position + BLOCK;
      if (dataStart + size > fileSize) {
        throw new ImageReadError(`${label} is truncated: a member needs ${dataStart + size} bytes, the file has ${fileSize}`);
      }
      position = dataStart + Math.ceil(size / BLOCK) * BLOCK;
      if (typeflag === 'L' || typeflag === 'K') {
        const value = cString(await reader.read(dataStart, size), 0, size);
        if (typeflag === 'L') longName = value;
        else longLink = value;
        continue;
      }
      if (typeflag === 'x') {
        pax = parsePax(Buffer.from(await reader.read(dataStart, size)));
        continue;
      }
      if (typeflag === 'g') continue;
      const magic = block.subarray(257, 263).toString('latin1');
      const prefix = magic.startsWith('ustar') ? cString(block, 345, 155) : '';
      let name = cString(block, 0, 100);
      if (prefix) name = `${prefix}/${name}`;
      name = pax?.get('path') ?? longName ?? name;
      const linkname = pax?.get('linkpath') ?? longLink ?? cString(block, 157, 100);
      longName = longLink = pax = null;
      const type: TarMember['type'] =
        typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file'
          : typeflag === '5' ? 'directory'
            : typeflag === '2' ? 'symlink'
              : typeflag === '1' ? 'hardlink'
                : 'other';
      const normalized = name.split('/').filter((part) => part !== '' && part !== '.').join('/');
      if (normalized !== '') index.set(normalized, { type, offset: dataStart, size: type === 'file' ? size : 0, linkname });
    }
    if (headers === 0) throw new ImageReadError(`${label} is not a tar archive (no tar header found)`);
    if (!complete && position < fileSize) {
      throw new ImageReadError(`${label} is truncated: it ends inside a tar header at byte ${position}`);
    }
    return { members: index, complete };
  } finally {
    await handle.close();
  }
}
