/**
 * `container:NAME`: a container of the local engine, as its image plus one more layer on top, the container's
 * writable layer. The engine says what the container changed (`GET /containers/{id}/changes`: added, modified,
 * deleted paths) and holds its whole filesystem (`GET /containers/{id}/export`); the writable layer is the export
 * cut to the changed paths, with a whiteout for each deletion, streamed once through the scanner as the layer a
 * `docker commit` would add. Nothing is written to disk. The layer has no digest or diff_id to check (no manifest
 * claims one): its figures are measured, and `container.writable.sizeRw` gives the engine's own count beside them.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { ImageReadError } from '../errors.js';
import { DeadlineError, guardStall } from './registry/transport.js';
import { MediaType } from '../image/mediatypes.js';
import type { ContainerInfo, LayerRef, ResolvedImage, Selection, SourceHandle } from '../model/source.js';
import { connectEngine, type EngineClient, type EngineReadOptions, openFromEngine } from './daemon.js';

/** One line of `/containers/{id}/changes`. */
export interface EngineChange {
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

/** How the writable layer's bytes are read: the whole export cut to the changes, or one `/archive` per change. */
export type ContainerRead = 'export' | 'archive';

/**
 * One `/containers/{id}/archive?path=` request: an added path comes whole (everything below a new directory is
 * new), a changed one as its first entry alone (a changed directory's own header, not all of `/usr` below it).
 */
interface ArchiveRead {
  path: string;
  whole: boolean;
}

/** Path components compared one by one: the order a directory walk (and so the engine's export) visits them. */
function walkOrder(a: string, b: string): number {
  const left = a.split('/');
  const right = b.split('/');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    if (left[i] !== right[i]) return left[i]! < right[i]! ? -1 : 1;
  }
  return left.length - right.length;
}

/** The engine's change list, paths normalised: what the layer keeps (added or changed), and what it deletes. */
function splitChanges(changes: EngineChange[]): { kept: { path: string; added: boolean }[]; deleted: string[] } {
  const kept: { path: string; added: boolean }[] = [];
  const deleted: string[] = [];
  for (const change of changes) {
    const path = normal(change.Path ?? '');
    if (!path) continue;
    if (change.Kind === 2) deleted.push(path);
    else kept.push({ path, added: change.Kind === 1 });
  }
  return { kept, deleted };
}

/** The `/archive` requests that read every added and changed path once. */
export function archivePlan(changes: EngineChange[]): ArchiveRead[] {
  const { kept } = splitChanges(changes);
  kept.sort((a, b) => walkOrder(a.path, b.path));
  const plan: ArchiveRead[] = [];
  let whole: string | null = null;
  for (const change of kept) {
    if (whole !== null && change.path.startsWith(`${whole}/`)) continue; // read with the new directory above it
    if (plan.at(-1)?.path === change.path) continue;
    plan.push({ path: change.path, whole: change.added });
    whole = change.added ? change.path : null;
  }
  return plan;
}

/**
 * Which read is cheaper, measured on the realistic image (382 MB) in Docker 20.10 on vfs: the export costs the
 * engine the whole filesystem (1.33 s through curl to /dev/null, whatever the container wrote), one `/archive`
 * request a few milliseconds plus the bytes it carries. So one request per 4 MB of filesystem left unread pays;
 * a container that rewrote thousands of scattered files is read from the export.
 */
export function chooseContainerRead(plan: ArchiveRead[], rootFsBytes: number | null, forced: string | undefined): ContainerRead {
  if (forced === 'export' || forced === 'archive') return forced;
  const budget = Math.min(2000, Math.max(16, Math.floor((rootFsBytes ?? 0) / 4_000_000)));
  return plan.length <= budget ? 'archive' : 'export';
}

/** An error answer's first 4 KiB, within the deadline; the rest is not read (an engine's error is a line). */
async function errorText(body: Readable, timeoutSeconds: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  const timer = setTimeout(() => body.destroy(), timeoutSeconds * 1000);
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= 4096) break;
    }
  } catch {
    // cut short: what arrived is the message
  } finally {
    clearTimeout(timer);
    body.destroy();
  }
  return JSON.stringify(Buffer.concat(chunks).subarray(0, 4096).toString('utf8').trim().slice(0, 200));
}

/** A body under the stall rule (CONTRACT.md `--timeout`): less than 64 KiB in S seconds of waiting fails the read. */
function stalled(client: EngineClient, what: string, timeoutSeconds: number): (received: number) => Error {
  return (received) => new DeadlineError(`${client.endpoint.address}: ${what} stalled after ${received} bytes: less than 64 KiB arrived in ${timeoutSeconds} s (--timeout ${timeoutSeconds})`);
}

/** Deletions last: a whiteout is a marker file, and a layer lists it after what it keeps, as engines write it. */
function packWhiteouts(pack: tar.Pack, deleted: string[]): void {
  const mtime = new Date(0);
  // An empty body, given: without one, tar-stream waits for the entry's stream to be written and ended.
  for (const path of deleted) pack.entry({ name: whiteoutOf(path), type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime }, Buffer.alloc(0));
  pack.finalize();
}

/** The deleted paths, without those below another deleted path (its whiteout hides them; one of its own would
 * name a path in a directory that no longer exists). */
function deletedPaths(changes: EngineChange[]): string[] {
  const deleted = [...new Set(splitChanges(changes).deleted)].sort(walkOrder);
  // In walk order everything below a path follows it at once: only the last path kept can be above the next.
  const kept: string[] = [];
  for (const path of deleted) {
    const above = kept.at(-1);
    if (above === undefined || !path.startsWith(`${above}/`)) kept.push(path);
  }
  return kept;
}

/**
 * The writable layer as a tar stream, from the export: the container's whole filesystem, each entry kept only
 * when the engine lists its path as added or modified, then a whiteout for each deleted path (a deleted
 * directory's whiteout hides its contents).
 */
function exportedLayer(client: EngineClient, id: string, changes: EngineChange[], timeoutSeconds: number): Readable {
  const keep = new Set(splitChanges(changes).kept.map((change) => change.path));
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
    // A body cut short or stalled destroys these two: the layer's stream (out) reports why, once.
    stream.on('error', (error: Error) => out.destroy(error));
    entry.on('error', (error: Error) => out.destroy(error));
    stream.pipe(entry);
  });
  extract.on('finish', () => packWhiteouts(pack, deletedPaths(changes)));
  extract.on('error', (error) => out.destroy(error));
  pack.on('error', (error) => out.destroy(error));
  pack.pipe(out);
  void (async () => {
    try {
      const response = await client.get(`/containers/${encodeURIComponent(id)}/export`, { headersTimeout: timeoutSeconds * 1000 });
      if (response.statusCode !== 200) {
        const text = await errorText(response.body, timeoutSeconds);
        throw new ImageReadError(`${client.endpoint.address}: the engine answered ${response.statusCode} for the export of container ${id.slice(0, 12)} (${text})`);
      }
      await pipeline(guardStall(response.body, timeoutSeconds, stalled(client, `the export of container ${id.slice(0, 12)}`, timeoutSeconds), { fromFirstByte: true }), extract);
    } catch (error) {
      out.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  })();
  return out;
}

/**
 * One archive's entries into the layer. The engine names them from the requested path's last component
 * (`/var/log/app` → `app`, `app/x.log`); they are put back under the path's parent. An entry outside that name is
 * the engine's error, not something to place.
 */
async function packArchive(client: EngineClient, id: string, read: ArchiveRead, pack: tar.Pack, timeoutSeconds: number): Promise<void> {
  const slash = read.path.lastIndexOf('/');
  const parent = slash === -1 ? '' : read.path.slice(0, slash + 1);
  const base = read.path.slice(slash + 1);
  const place = (name: string): string => {
    const relative = normal(name);
    if (relative !== base && !relative.startsWith(`${base}/`)) throw new ImageReadError(`${client.endpoint.address}: the archive of ${JSON.stringify(`/${read.path}`)} in container ${id.slice(0, 12)} holds ${JSON.stringify(name.slice(0, 200))}, outside it`);
    return `${parent}${relative}`;
  };
  const response = await client.get(`/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(`/${read.path}`)}`, { headersTimeout: timeoutSeconds * 1000 });
  if (response.statusCode === 404) {
    await errorText(response.body, timeoutSeconds);
    // The path is gone since the change list was read (a running container deletes its temporary files): not in
    // the layer. The container being gone is another 404, and no layer at all.
    if (!(await client.getJson(`/containers/${encodeURIComponent(id)}/json`, `container ${id.slice(0, 12)}`, timeoutSeconds))) {
      throw new ImageReadError(`${client.endpoint.address}: container ${id.slice(0, 12)} was removed while its writable layer was read`);
    }
    return;
  }
  if (response.statusCode !== 200) {
    const text = await errorText(response.body, timeoutSeconds);
    throw new ImageReadError(`${client.endpoint.address}: the engine answered ${response.statusCode} for the archive of ${JSON.stringify(`/${read.path}`)} in container ${id.slice(0, 12)} (${text})`);
  }
  // Watched from the start: the engine streams an archive as it walks the path.
  const body = Readable.from(guardStall(response.body, timeoutSeconds, stalled(client, `the archive of ${JSON.stringify(`/${read.path}`)} in container ${id.slice(0, 12)}`, timeoutSeconds)));
  const extract = tar.extract();
  let entries = 0;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else if (entries === 0) reject(new ImageReadError(`${client.endpoint.address}: the archive of ${JSON.stringify(`/${read.path}`)} in container ${id.slice(0, 12)} is empty`));
      else resolve();
    };
    extract.on('entry', (header, stream, next) => {
      entries++;
      let renamed: tar.Header;
      try {
        renamed = { ...header, name: place(header.name), ...(header.type === 'link' && header.linkname ? { linkname: place(header.linkname) } : {}) };
      } catch (error) {
        finish(error);
        body.destroy();
        return;
      }
      stream.on('error', (error: Error) => finish(error));
      const entry = pack.entry(renamed, (error) => {
        if (error || read.whole) {
          next(error ?? undefined);
          return;
        }
        // The changed path's own entry is all that is wanted: stop the engine walking the rest of the directory.
        finish();
        body.destroy();
        extract.destroy();
      });
      entry.on('error', (error: Error) => finish(error));
      stream.pipe(entry);
    });
    extract.on('finish', () => finish());
    extract.on('error', (error) => finish(error));
    body.on('error', (error) => finish(error));
    body.pipe(extract);
  });
}

/** The writable layer as a tar stream, from one `/archive` request per added or changed path, then the whiteouts. */
function archivedLayer(client: EngineClient, id: string, plan: ArchiveRead[], changes: EngineChange[], timeoutSeconds: number): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const pack = tar.pack();
  pack.on('error', (error) => out.destroy(error));
  pack.pipe(out);
  void (async () => {
    try {
      for (const read of plan) {
        if (out.destroyed) return;
        await packArchive(client, id, read, pack, timeoutSeconds);
      }
      packWhiteouts(pack, deletedPaths(changes));
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
  if (image.root.kind !== 'claims') {
    await image.close();
    throw new ImageReadError(`container ${name}: its image ${imageId.slice(0, 19)}… is not one image`);
  }
  const plan = archivePlan(changes);
  const read = chooseContainerRead(plan, typeof record.SizeRootFs === 'number' ? record.SizeRootFs : null, process.env.LAYERLENS_CONTAINER_READ);
  options.debug?.(`container ${name}: ${changes.length} change(s); the writable layer is read ${read === 'archive' ? `with ${plan.length} /archive request(s)` : `from the export cut to them (${plan.length} /archive requests would be more than one per 4 MB of its ${record.SizeRootFs ?? '?'}-byte filesystem)`}`);
  const writable: LayerRef = {
    index: 0, // set on top of the image's layers
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
    open: () => (read === 'archive' ? archivedLayer(client, id, plan, changes, timeoutSeconds) : exportedLayer(client, id, changes, timeoutSeconds)),
  };
  // The image resolved as any other (its claims checked), then the writable layer on top of it.
  const withWritable = (resolved: ResolvedImage): ResolvedImage => {
    // Its step in the history, as `docker commit` would record one (only where the history lines up with the layers).
    const steps = (resolved.config.history ?? []).filter((entry) => !entry.empty_layer).length;
    const config = steps === resolved.layers.length ? { ...resolved.config, history: [...(resolved.config.history ?? []), { created_by: `container ${(record.Name ?? name).replace(/^\//, '')} (writable layer)` }] } : resolved.config;
    return { ...resolved, config, layers: [...resolved.layers, { ...writable, index: resolved.layers.length }] };
  };
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
  return { ...image, info: { ...image.info, kind: 'container', reference: container.image ?? image.info.reference, container }, label: `container:${name}`, finish: withWritable };
}
