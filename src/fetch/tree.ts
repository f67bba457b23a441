/**
 * A FileTree is "a set of named files I can read": a directory on disk (an OCI layout) or an indexed tarball (a
 * docker save archive, an oci-archive). The OCI layout and docker-archive readers are written once against it.
 */
import { createReadStream, realpathSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ImageReadError } from '../errors.js';
import { pathParts } from '../image/paths.js';
import type { LayerScan } from '../model/layer.js';
import { indexTar, type TarIndex } from './tar-index.js';

/** Big positional reads: Node's sha256 and zlib only reach their speed when fed large buffers. */
export const READ_CHUNK = 1 << 20;

export interface FileTree {
  /** How a user would name this tree in a message: `oci:./dir`, `./app.tar`. */
  readonly label: string;
  /** Size of the file at `name` (links followed), or null when there is no such file. */
  size(name: string): Promise<number | null>;
  /** Whole small file; refuses files over `maxBytes` (manifests and configs are small, layers are not). */
  readFile(name: string, maxBytes: number): Promise<Buffer>;
  /** A stream of the file's bytes, read in large chunks. */
  open(name: string): Readable;
  /** Up to `length` bytes from the start of a file (to sniff its compression). */
  head(name: string, length: number): Promise<Buffer>;
  /** Every file name in the tree (for messages and detection). */
  names(): Promise<string[]>;
  /** A tree read in one pass (stream-archive.ts): the scan made of a member as it streamed by, or null. */
  scanned?(name: string): (() => Promise<LayerScan>) | null;
}

export function normalizeMemberName(name: string): string {
  return pathParts(name).join('/');
}

function tooLarge(label: string, name: string, size: number, maxBytes: number): ImageReadError {
  return new ImageReadError(`${name} in ${label} is ${size} bytes, more than the ${maxBytes} bytes allowed for a manifest or config`);
}

export class DirTree implements FileTree {
  private realRoot: string | null = null;

  constructor(
    private readonly root: string,
    readonly label: string,
  ) {}

  /**
   * The file a member name stands for, links resolved, or null when there is none. Member names come from
   * untrusted JSON and the files themselves may be symbolic links: neither may leave the layout directory. A link
   * to a file outside it (`index.json -> /etc/shadow`, a blob -> `~/.docker/config.json`) is refused before a
   * byte of it is read, so no message can quote it; the link's target is not named either.
   */
  private resolve(name: string): string | null {
    const joined = path.join(this.root, normalizeMemberName(name));
    let real: string;
    try {
      real = realpathSync(joined);
    } catch {
      return null; // absent, or a dangling link
    }
    this.realRoot ??= realpathSync(this.root);
    if (real !== this.realRoot && !real.startsWith(this.realRoot.endsWith(path.sep) ? this.realRoot : this.realRoot + path.sep)) {
      throw new ImageReadError(`${name} in ${this.label} is a symbolic link to a file outside the layout directory: refused (copy the file into the layout if it belongs to the image)`);
    }
    return real;
  }

  private existing(name: string): string {
    const file = this.resolve(name);
    if (file === null) throw new ImageReadError(`${name} is missing from ${this.label}`);
    return file;
  }

  async size(name: string): Promise<number | null> {
    const file = this.resolve(name);
    if (file === null) return null;
    try {
      const info = await stat(file);
      return info.isFile() ? info.size : null;
    } catch {
      return null;
    }
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const size = await this.size(name);
    if (size === null) throw new ImageReadError(`${name} is missing from ${this.label}`);
    if (size > maxBytes) throw tooLarge(this.label, name, size, maxBytes);
    const handle = await open(this.existing(name), 'r');
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  open(name: string): Readable {
    return createReadStream(this.existing(name), { highWaterMark: READ_CHUNK });
  }

  async head(name: string, length: number): Promise<Buffer> {
    const handle = await open(this.existing(name), 'r');
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async names(): Promise<string[]> {
    const { readdir } = await import('node:fs/promises');
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(this.root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
  }
}

/** An uncompressed tarball on disk, indexed once; each member is then a byte range read positionally. */
export class TarTree implements FileTree {
  private constructor(
    private readonly file: string,
    readonly label: string,
    private readonly index: TarIndex,
  ) {}

  static async open(file: string, label: string): Promise<TarTree> {
    return new TarTree(file, label, await indexTar(file, label));
  }

  /** Follow symlinks and hardlinks inside the archive (skopeo writes `<id>/layer.tar` as a symlink). */
  private member(name: string): { offset: number; size: number } | null {
    let current = normalizeMemberName(name);
    for (let hops = 0; hops < 32; hops++) {
      const entry = this.index.members.get(current);
      if (!entry) return null;
      if (entry.type === 'file') return entry;
      if (entry.type === 'hardlink') current = normalizeMemberName(entry.linkname);
      else if (entry.type === 'symlink') {
        current = entry.linkname.startsWith('/')
          ? normalizeMemberName(entry.linkname)
          : normalizeMemberName(path.posix.join(path.posix.dirname(current), entry.linkname));
      } else return null;
    }
    throw new ImageReadError(`${name} in ${this.label} is a link loop`);
  }

  private missing(name: string): ImageReadError {
    const hint = this.index.complete ? '' : ' (the archive has no tar end marker: it looks truncated)';
    return new ImageReadError(`${name} is missing from ${this.label}${hint}`);
  }

  /** True when the archive ends without tar's end marker (a cut-short copy). */
  get truncated(): boolean {
    return !this.index.complete;
  }

  async size(name: string): Promise<number | null> {
    return this.member(name)?.size ?? null;
  }

  async readFile(name: string, maxBytes: number): Promise<Buffer> {
    const entry = this.member(name);
    if (!entry) throw this.missing(name);
    if (entry.size > maxBytes) throw tooLarge(this.label, name, entry.size, maxBytes);
    const handle = await open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(entry.size);
      const { bytesRead } = await handle.read(buffer, 0, entry.size, entry.offset);
      if (bytesRead !== entry.size) throw new ImageReadError(`${this.label} is truncated inside ${name}`);
      return buffer;
    } finally {
      await handle.close();
    }
  }

  async head(name: string, length: number): Promise<Buffer> {
    const entry = this.member(name);
    if (!entry) throw this.missing(name);
    const handle = await open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(Math.min(length, entry.size));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, entry.offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  open(name: string): Readable {
    const entry = this.member(name);
    if (!entry) throw this.missing(name);
    if (entry.size === 0) return Readable.from([]);
    return createReadStream(this.file, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: READ_CHUNK });
  }

  async names(): Promise<string[]> {
    return [...this.index.members.keys()];
  }
}
