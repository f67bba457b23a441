/**
 * Build small, real OCI image layouts from layer tarballs made in the test (tar-stream), so that tricky layer
 * sequences (opaque directories, type changes, hardlinks across layers, `./` and absolute names) can be unpacked by
 * umoci and read by layerlens from the same bytes. Also slices a layout's image to its first N layers, which is
 * what `files --layer N` must equal.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** An uncompressed layer tarball holding exactly these entries, in this order. */
export async function layerTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => {
    chunks.push(chunk as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const body = type === 'file' ? Buffer.from(entry.content ?? '') : undefined;
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      mtime: new Date(1_700_000_000_000),
      ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
      ...(body ? { size: body.length } : {}),
    };
    await new Promise<void>((resolve, reject) => pack.entry(header, body ?? '', (error) => (error ? reject(error) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function putBlob(layout: string, bytes: Buffer): { digest: string; size: number } {
  const digest = sha256(bytes);
  const dir = path.join(layout, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
}

function addToIndex(layout: string, descriptor: { digest: string; size: number }, tag: string): void {
  const indexFile = path.join(layout, 'index.json');
  let index: IndexJson;
  try {
    index = JSON.parse(readFileSync(indexFile, 'utf8')) as IndexJson;
  } catch {
    index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
  }
  index.manifests = index.manifests.filter((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] !== tag);
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...descriptor, annotations: { 'org.opencontainers.image.ref.name': tag } });
  writeFileSync(indexFile, JSON.stringify(index));
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

/** Write an image of these (uncompressed) layer tarballs, gzip-compressed, into an OCI layout under `tag`. */
export function writeImage(layout: string, tag: string, layers: Buffer[], createdBy: string[] = []): void {
  const descriptors = layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...putBlob(layout, gzipSync(layer, { level: 1 })) }));
  const config = {
    created: '2024-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map(sha256) },
    history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: createdBy[i] ?? `layer ${i}` })),
  };
  writeManifest(layout, tag, Buffer.from(JSON.stringify(config)), descriptors);
}

function writeManifest(layout: string, tag: string, configBytes: Buffer, layers: { mediaType: string; digest: string; size: number }[]): void {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(layout, configBytes) },
    layers,
  };
  addToIndex(layout, putBlob(layout, Buffer.from(JSON.stringify(manifest))), tag);
}

/** Tag `to` as the image `from` cut to its first `count` layers (config diff_ids and history cut to match). */
export function truncateImage(layout: string, from: string, to: string, count: number): void {
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as IndexJson;
  const entry = index.manifests.find((candidate) => candidate.annotations?.['org.opencontainers.image.ref.name'] === from);
  if (!entry) throw new Error(`no ${from} in ${layout}`);
  const blob = (digest: string) => readFileSync(path.join(layout, 'blobs', 'sha256', digest.slice(7)));
  const manifest = JSON.parse(blob(entry.digest).toString('utf8')) as { config: { digest: string }; layers: { mediaType: string; digest: string; size: number }[] };
  const config = JSON.parse(blob(manifest.config.digest).toString('utf8')) as {
    rootfs: { diff_ids: string[] };
    history?: { empty_layer?: boolean }[];
  };
  config.rootfs.diff_ids = config.rootfs.diff_ids.slice(0, count);
  if (config.history) {
    // Keep history entries up to and including the one that made the count-th layer.
    let seen = 0;
    const kept: typeof config.history = [];
    for (const item of config.history) {
      if (seen === count && !item.empty_layer) break;
      kept.push(item);
      if (!item.empty_layer) seen++;
    }
    config.history = kept;
  }
  writeManifest(layout, to, Buffer.from(JSON.stringify(config)), manifest.layers.slice(0, count));
}
