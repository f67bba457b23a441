/**
 * Index an uncompressed tarball's members (name → byte offset and size) by walking its 512-byte headers and
 * seeking over the contents, so each blob can later be read as a byte range without re-reading the archive.
 * Headers are read with the same Go archive/tar rules as layers (src/image/tar.ts): header-only entries carry no
 * data whatever their size field says, PAX records and GNU long names override the ustar fields, malformed
 * numbers and checksums are refused.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ImageReadError } from '../errors.js';
import { pathParts } from '../image/paths.js';
import { BLOCK, isTarHeader, TYPE_DIR, TYPE_LINK, TYPE_REG, TYPE_SYMLINK, TarFormatError, TarHeaderAssembler, blockPadding, isZeroBlock } from '../image/tar.js';

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

export async function indexTar(file: string, label: string): Promise<TarIndex> {
  const handle = await open(file, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const reader = new WindowReader(handle);
    const index = new Map<string, TarMember>();
    const assembler = new TarHeaderAssembler();
    let complete = false;
    let position = 0;
    let headers = 0;
    try {
      while (position + BLOCK <= fileSize) {
        const block = await reader.read(position, BLOCK);
        if (isZeroBlock(block)) {
          // Go: a second zero block (or the end of the file) ends the archive; anything else is invalid.
          if (position + 2 * BLOCK <= fileSize && !isZeroBlock(await reader.read(position + BLOCK, BLOCK))) {
            throw new TarFormatError(`a zero block followed by data at byte ${position}`);
          }
          complete = true;
          break;
        }
        if (headers === 0 && !isTarHeader(block)) throw new ImageReadError(`${label} is not a tar archive`);
        const step = assembler.header(block, `at byte ${position}`);
        headers++;
        const dataStart = position + BLOCK;
        const dataSize = step.kind === 'meta' ? step.size : step.entry.dataSize;
        if (dataStart + dataSize > fileSize) {
          throw new ImageReadError(`${label} is truncated: a member needs ${dataStart + dataSize} bytes, the file has ${fileSize}`);
        }
        position = dataStart + dataSize + blockPadding(dataSize);
        if (step.kind === 'meta') {
          assembler.meta(step.typeflag, Buffer.from(await reader.read(dataStart, dataSize)), `at byte ${dataStart - BLOCK}`);
          continue;
        }
        const { entry } = step;
        // A sparse member's bytes are not one contiguous range: it cannot be read as a blob.
        const type: TarMember['type'] = entry.sparse ? 'other'
          : entry.typeflag === TYPE_REG ? 'file'
            : entry.typeflag === TYPE_DIR ? 'directory'
              : entry.typeflag === TYPE_SYMLINK ? 'symlink'
                : entry.typeflag === TYPE_LINK ? 'hardlink'
                  : 'other';
        // The one rule for member names (image/paths.ts), as the one-pass stream reader keys them and as docker
        // load's extraction cleans them: a file and its stream must find the same members.
        const normalized = pathParts(entry.name).join('/');
        if (normalized !== '') index.set(normalized, { type, offset: dataStart, size: type === 'file' ? entry.dataSize : 0, linkname: entry.linkname });
      }
    } catch (error) {
      if (!(error instanceof TarFormatError)) throw error;
      if (headers === 0) throw new ImageReadError(`${label} is not a tar archive (${error.message})`, { cause: error });
      throw new ImageReadError(`${label} is corrupt: ${error.message}`, { cause: error });
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
