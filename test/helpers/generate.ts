/**
 * Generators of real images for tests, streamed (never stored in the repo): a docker save archive whose one
 * uncompressed layer holds a few large files. The layer is written first (hashing it on the way), then the config
 * that names its diff_id, then manifest.json — a valid archive in a single pass.
 */
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';

const BLOCK = 512;

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

export interface BigImageOptions {
  files: number;
  fileSize: number;
}

/** Bytes of the inner layer tar: one header per file, padded contents, 1024 bytes of end marker. */
export function layerTarSize({ files, fileSize }: BigImageOptions): number {
  return files * (BLOCK + padded(fileSize)) + 2 * BLOCK;
}

function writeEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, body: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header as tar.Header, body, (error) => (error ? reject(error) : resolve())));
}

export async function streamBigDockerArchive(out: Writable, options: BigImageOptions): Promise<void> {
  const outer = tar.pack();
  let failure: Error | null = null;
  const failed = new Promise<never>((_, reject) =>
    out.once('error', (error) => {
      failure = error;
      outer.destroy(error);
      reject(error);
    }),
  );
  failed.catch(() => {});
  outer.pipe(out);
  const layerName = 'layer0/layer.tar';
  const layerSize = layerTarSize(options);
  const hash = createHash('sha256');
  const entry = outer.entry({ name: layerName, size: layerSize, mode: 0o644, mtime: new Date(0) });
  const inner = tar.pack();
  inner.on('data', (data: unknown) => {
    const chunk = data as Buffer;
    hash.update(chunk);
    if (!entry.write(chunk)) {
      inner.pause();
      entry.once('drain', () => inner.resume());
    }
  });
  const innerDone = new Promise<void>((resolve, reject) => {
    inner.on('end', resolve);
    inner.on('error', reject);
  });
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
  for (let file = 0; file < options.files; file++) {
    const stream = inner.entry({ name: `data/big-${file}.bin`, size: options.fileSize, mode: 0o644, mtime: new Date(0) });
    let left = options.fileSize;
    while (left > 0) {
      if (failure) throw failure;
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!stream.write(piece)) await Promise.race([new Promise<void>((resolve) => stream.once('drain', () => resolve())), failed]);
    }
    await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
  inner.finalize();
  await innerDone;
  await new Promise<void>((resolve) => entry.end(resolve));
  const diffId = `sha256:${hash.digest('hex')}`;
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created_by: 'COPY big files /data' }],
  });
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  await writeEntry(outer, { name: configName, mode: 0o644, mtime: new Date(0) }, config);
  await writeEntry(outer, { name: 'manifest.json', mode: 0o644, mtime: new Date(0) }, JSON.stringify([{ Config: configName, RepoTags: ['big:latest'], Layers: [layerName] }]));
  outer.finalize();
  await Promise.race([new Promise<void>((resolve) => out.on('finish', resolve)), failed]);
}
