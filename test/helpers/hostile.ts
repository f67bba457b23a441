/**
 * Hostile inputs built by the tests themselves: a tiny tar writer that puts any bytes in a name (tar-stream
 * encodes names as UTF-8, so it cannot write `\xff\xfe`), and an OCI layout writer whose config, history and
 * ref name are whatever the test says.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  /** The name field as bytes (a string is written as UTF-8). At most 100 bytes. */
  name: string | Buffer;
  /** Typeflag: '0' file, '2' symlink, '5' directory… */
  type?: string;
  data?: string | Buffer;
  linkname?: string | Buffer;
  mode?: number;
}

function field(header: Buffer, offset: number, length: number, value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.length > length) throw new Error(`tar field too long: ${bytes.length} > ${length}`);
  bytes.copy(header, offset);
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

/** One ustar header (and its data, padded to 512) per entry, then the two zero blocks that end an archive. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const type = entry.type ?? '0';
    const data = type === '0' ? Buffer.from(entry.data ?? '') : Buffer.alloc(0);
    const header = Buffer.alloc(512);
    field(header, 0, 100, entry.name);
    field(header, 100, 8, octal(entry.mode ?? (type === '5' ? 0o755 : 0o644), 8));
    field(header, 108, 8, octal(0, 8));
    field(header, 116, 8, octal(0, 8));
    field(header, 124, 12, octal(data.length, 12));
    field(header, 136, 12, octal(1_700_000_000, 12));
    header.fill(' ', 148, 156);
    field(header, 156, 1, type);
    if (entry.linkname !== undefined) field(header, 157, 100, entry.linkname);
    field(header, 257, 6, 'ustar\0');
    field(header, 263, 2, '00');
    field(header, 265, 32, 'root');
    field(header, 297, 32, 'root');
    let sum = 0;
    for (const byte of header) sum += byte;
    field(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function putBlob(layout: string, bytes: Buffer): { digest: string; size: number } {
  const digest = sha256(bytes);
  const dir = path.join(layout, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

export interface LayoutOptions {
  /** Uncompressed layer tarballs (stored gzip-compressed). */
  layers: Buffer[];
  /** The config's `config` object (User, Env, Cmd, Labels…). */
  runConfig?: Record<string, unknown>;
  createdBy?: string[];
  refName?: string;
  architecture?: string;
  variant?: string;
}

/** A one-image OCI layout in `layout` (created), every string as the test gives it. */
export function writeLayout(layout: string, options: LayoutOptions): void {
  mkdirSync(layout, { recursive: true });
  const layers = options.layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...putBlob(layout, gzipSync(layer, { level: 1 })) }));
  const config = {
    created: '2024-01-01T00:00:00Z',
    architecture: options.architecture ?? 'amd64',
    ...(options.variant ? { variant: options.variant } : {}),
    os: 'linux',
    config: options.runConfig ?? {},
    rootfs: { type: 'layers', diff_ids: options.layers.map(sha256) },
    history: options.layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: options.createdBy?.[i] ?? `layer ${i}` })),
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(layout, Buffer.from(JSON.stringify(config))) },
    layers,
  };
  const descriptor = putBlob(layout, Buffer.from(JSON.stringify(manifest)));
  const entry = { mediaType: manifest.mediaType, ...descriptor, ...(options.refName !== undefined ? { annotations: { 'org.opencontainers.image.ref.name': options.refName } } : {}) };
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry] }));
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}
