/**
 * `container:NAME`: a container of the local engine, as its image plus one more layer on top, the container's
 * writable layer. The engine says what the container changed (`GET /containers/{id}/changes`: added, modified,
 * deleted paths) and holds its whole filesystem (`GET /containers/{id}/export`); the writable layer is the export
 * cut to the changed paths, with a whiteout for each deletion, streamed once through the scanner as the layer a
 * `docker commit` would add. Nothing is written to disk. The layer has no digest or diff_id to check (no manifest
 * claims one): its figures are measured, and `container.writable.sizeRw` gives the engine's own count beside them.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { ImageReadError } from '../errors.js';
import { MediaType } from '../image/mediatypes.js';
import type { ContainerInfo, LayerRef, Selection, SourceHandle } from '../model/source.js';
import { connectEngine, type EngineClient, type EngineReadOptions, openFromEngine } from './daemon.js';

/** One line of `/containers/{id}/changes`. */
interface EngineChange {
  Path?: string;
  /** 0 modified, 1 added, 2 deleted. */
  Kind?: number;
}

interface EngineContainer {
  Id?: string;
  Name?: string;
  Image?: string;
  Config?: { Image?: string };
  State?: { Status?: string };
  SizeRw?: number;
  SizeRootFs?: number;
}

/** A changes list is read to at most this many entries (a container that rewrote a million files still fits). */
const MAX_CHANGES = 2_000_000;

/** `tmp/x`, whatever the engine writes (`/tmp/x`, `./tmp/x/`). */
function normal(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

function whiteoutOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? `.wh.${path}` : `${path.slice(0, slash)}/.wh.${path.slice(slash + 1)}`;
}

/** Find the container on the Docker engine, else on Podman's; null when neither holds it. */
async function locate(name: string, tried: string[]): Promise<{ client: EngineClient; record: EngineContainer } | null> {
  for (const engine of ['docker', 'podman'] as const) {
    const client = await connectEngine(engine, tried).catch(() => null);
    if (!client) continue;
    const record = await client.getJson<EngineContainer>(`/containers/${encodeURIComponent(name)}/json?size=true`, `container ${name}`).catch(() => null);
    if (record?.Id) return { client, record };
    tried.push(`${client.endpoint.address}: no container "${name}"`);
    await client.close();
  }
  return null;
}

/**
 * The writable layer as a tar stream: the container's export, each entry kept only when the engine lists its path
 * as added or modified, then a whiteout for each deleted path (a deleted directory's whiteout hides its contents).
 */
function writableLayer(client: EngineClient, id: string, changes: EngineChange[], timeoutSeconds: number): Readable {
  const keep = new Set<string>();
  const deleted: string[] = [];
  for (const change of changes) {
    const path = normal(change.Path ?? '');
    if (!path) continue;
    if (change.Kind === 2) deleted.push(path);
    else keep.add(path);
  }
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const pack = tar.pack();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    if (!keep.has(normal(header.name))) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    const entry = pack.entry(header, (error) => next(error ?? undefined));
    stream.pipe(entry);
  });
  extract.on('finish', () => {
    // Deletions last: a whiteout is a marker file, and a layer lists it after what it keeps, as engines write it.
    const mtime = new Date(0);
    // An empty body, given: without one, tar-stream waits for the entry's stream to be written and ended.
    for (const path of deleted.sort()) pack.entry({ name: whiteoutOf(path), type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime }, Buffer.alloc(0));
    pack.finalize();
  });
  extract.on('error', (error) => out.destroy(error));
  pack.on('error', (error) => out.destroy(error));
  pack.pipe(out);
  void (async () => {
    try {
      const response = await client.get(`/containers/${encodeURIComponent(id)}/export`, { headersTimeout: timeoutSeconds * 1000 });
      if (response.statusCode !== 200) throw new ImageReadError(`${client.endpoint.address}: the engine answered ${response.statusCode} for the export of container ${id.slice(0, 12)}`);
      await pipeline(response.body, extract);
    } catch (error) {
      out.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  })();
  return out;
}

export async function openFromContainer(input: string, name: string, selection: Selection, options: EngineReadOptions = {}): Promise<SourceHandle> {
  const tried: string[] = [];
  const found = await locate(name, tried);
  if (!found) throw new ImageReadError(`no engine holds a container "${name}" (tried ${tried.join('; ') || 'no engine reachable'}); docker ps -a lists them`);
  const { client, record } = found;
  const id = record.Id!;
  const timeoutSeconds = options.timeoutSeconds ?? 30;
  let changes: EngineChange[];
  try {
    changes = (await client.getJson<EngineChange[] | null>(`/containers/${encodeURIComponent(id)}/changes`, `the changes of container ${name}`, Math.max(timeoutSeconds, 120))) ?? [];
  } catch (error) {
    await client.close();
    throw error;
  }
  if (!Array.isArray(changes) || changes.length > MAX_CHANGES) {
    await client.close();
    throw new ImageReadError(`${client.endpoint.address}: the changes of container ${name} are not a list of at most ${MAX_CHANGES} paths`);
  }
  const imageId = record.Image ?? '';
  if (!/^sha256:[0-9a-f]{64}$/.test(imageId)) {
    await client.close();
    throw new ImageReadError(`${client.endpoint.address}: container ${name} names no image ID (${JSON.stringify(imageId).slice(0, 80)})`);
  }
  const image = await openFromEngine(input, client, imageId, { ...selection, platform: null }, options);
  if (image.root.kind !== 'images' || image.root.images.length !== 1) {
    await image.close();
    throw new ImageReadError(`container ${name}: its image ${imageId.slice(0, 19)}… did not resolve to one image`);
  }
  const resolved = image.root.images[0]!;
  const writable: LayerRef = {
    index: resolved.layers.length,
    digest: null,
    size: null,
    mediaType: MediaType.ociLayer,
    storedSize: null,
    diffId: null,
    urls: [],
    foreign: false,
    available: true,
    location: `container ${name} (writable layer)`,
    writable: true,
    open: () => writableLayer(client, id, changes, timeoutSeconds),
  };
  // Its step in the history, as `docker commit` would record one (only where the history lines up with the layers).
  const steps = (resolved.config.history ?? []).filter((entry) => !entry.empty_layer).length;
  if (steps === resolved.layers.length) {
    resolved.config = { ...resolved.config, history: [...(resolved.config.history ?? []), { created_by: `container ${(record.Name ?? name).replace(/^\//, '')} (writable layer)` }] };
  }
  resolved.layers = [...resolved.layers, writable];
  const container: ContainerInfo = {
    id,
    name: (record.Name ?? name).replace(/^\//, ''),
    image: record.Config?.Image ?? null,
    imageId,
    state: record.State?.Status ?? null,
    writable: {
      changes: { added: changes.filter((change) => change.Kind === 1).length, modified: changes.filter((change) => change.Kind === 0).length, deleted: changes.filter((change) => change.Kind === 2).length },
      sizeRw: typeof record.SizeRw === 'number' ? record.SizeRw : null,
    },
  };
  return { ...image, info: { ...image.info, kind: 'container', reference: container.image ?? image.info.reference, container }, label: `container:${name}` };
}
