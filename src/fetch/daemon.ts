/**
 * Local engines over the Docker Engine API (which Podman serves too), on node:http (engine-http.ts): find the endpoint the way the
 * docker and podman CLIs do, ask the engine whether it holds the name as typed (`GET /images/{name}/json`), and
 * stream `GET /images/{name}/get` — a docker save tarball — through the one-pass reader (stream-archive.ts): layers
 * are scanned as they arrive and nothing touches the disk.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { EngineHttp, type EngineResponse } from './engine-http.js';
import { errorMessage, ImageReadError } from '../errors.js';
import { describeDockerArchive, type DescribedArchive } from './docker-archive.js';
import { DEFAULT_TIMEOUT_SECONDS, DeadlineError, errorCode, guardStall, quoteServerText } from './registry/transport.js';
import type { ProgressSink } from '../model/progress.js';
import type { ImageClaims, Selection, SourceHandle } from '../model/source.js';
import { makeTempDir, removeTempDir, sweepStale } from './tempfiles.js';
import { readArchiveStream, SecondPassNeeded } from './stream-archive.js';
import { TarTree } from './tree.js';
import { claimsFromRecord, EngineRecordStore, historyFromDocker, type EngineHistoryItem, type EngineImageRecord } from './engine-record.js';
import type { HistoryEntry, Platform } from '../image/types.js';

export type EngineKind = 'docker' | 'podman';

export interface Endpoint {
  /** As a user would write it: unix:///var/run/docker.sock, tcp://host:2376. */
  address: string;
  /** Where it came from, for messages: $DOCKER_HOST, docker context "x", default. */
  origin: string;
}

function dockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

/** The current docker context's endpoint, if one other than "default" is selected. */
function contextEndpoint(): Endpoint | null {
  const name = process.env.DOCKER_CONTEXT || readCurrentContext();
  if (!name || name === 'default') return null;
  const metaFile = path.join(dockerConfigDir(), 'contexts', 'meta', createHash('sha256').update(name).digest('hex'), 'meta.json');
  try {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { Endpoints?: { docker?: { Host?: string } } };
    const host = meta.Endpoints?.docker?.Host;
    return host ? { address: host, origin: `docker context "${name}"` } : null;
  } catch {
    return null;
  }
}

function readCurrentContext(): string | null {
  try {
    const config = JSON.parse(readFileSync(path.join(dockerConfigDir(), 'config.json'), 'utf8')) as { currentContext?: string };
    return config.currentContext ?? null;
  } catch {
    return null;
  }
}

/** Endpoints to try, in the order the docker or podman CLI would use them. */
export function engineEndpoints(engine: EngineKind): Endpoint[] {
  if (engine === 'docker') {
    if (process.env.DOCKER_HOST) return [{ address: process.env.DOCKER_HOST, origin: '$DOCKER_HOST' }];
    const context = contextEndpoint();
    if (context) return [context];
    return [{ address: 'unix:///var/run/docker.sock', origin: 'the default docker socket' }];
  }
  if (process.env.CONTAINER_HOST) return [{ address: process.env.CONTAINER_HOST, origin: '$CONTAINER_HOST' }];
  const endpoints: Endpoint[] = [];
  if (process.env.XDG_RUNTIME_DIR) endpoints.push({ address: `unix://${path.join(process.env.XDG_RUNTIME_DIR, 'podman', 'podman.sock')}`, origin: 'the rootless podman socket' });
  endpoints.push({ address: 'unix:///run/podman/podman.sock', origin: 'the podman socket' });
  return endpoints;
}

/** An endpoint layerlens cannot talk to (ssh://): said in one line when the user named the engine. */
export class UnsupportedEndpoint extends ImageReadError {}

export class EngineClient {
  private readonly http: EngineHttp;

  constructor(readonly endpoint: Endpoint) {
    const address = endpoint.address;
    if (address.startsWith('unix://')) {
      this.http = new EngineHttp({ socketPath: address.slice('unix://'.length) });
    } else if (address.startsWith('tcp://') || address.startsWith('http://') || address.startsWith('https://')) {
      const url = new URL(address.replace(/^tcp:/, 'http:'));
      const certPath = process.env.DOCKER_CERT_PATH || dockerConfigDir();
      const tls = (process.env.DOCKER_TLS_VERIFY ?? '') !== '' || address.startsWith('https://');
      const read = (file: string) => (existsSync(path.join(certPath, file)) ? readFileSync(path.join(certPath, file)) : undefined);
      this.http = new EngineHttp({ url, tls: tls ? { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') } : null });
    } else if (address.startsWith('ssh://')) {
      // The docker CLI tunnels these through `ssh HOST docker system dial-stdio`; layerlens does not run ssh.
      throw new UnsupportedEndpoint(`${endpoint.origin} is an ssh:// endpoint (${quoteServerText(address)}), which layerlens does not support; forward the socket (ssh -L /tmp/docker.sock:/var/run/docker.sock HOST) and set DOCKER_HOST=unix:///tmp/docker.sock`);
    } else {
      throw new ImageReadError(`${endpoint.origin} is "${address}": expected unix://PATH or tcp://HOST:PORT`);
    }
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  describeFailure(error: unknown): string {
    const code = errorCode(error);
    if (code === 'EACCES') return `permission denied on ${this.endpoint.address} (add yourself to the docker group, or run with access to the socket)`;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return `no engine at ${this.endpoint.address} (${this.endpoint.origin})`;
    return `${this.endpoint.address}: ${code ?? String(error)}`;
  }

  /** GET on the engine; headers within `headersTimeout` ms (default 60 s; 0: no deadline, for an export). */
  async get(pathname: string, options: { headersTimeout?: number; signal?: AbortSignal } = {}): Promise<EngineResponse> {
    return this.http.get(pathname, { headersTimeout: 60_000, ...options });
  }

  /**
   * A small JSON document, whole within the deadline (headers and body: an engine that accepts the connection
   * and then says nothing must not hang the run). Null on 404.
   */
  async getJson<T>(pathname: string, what: string, timeoutSeconds = DEFAULT_TIMEOUT_SECONDS): Promise<T | null> {
    const signal = AbortSignal.timeout(timeoutSeconds * 1000);
    try {
      const response = await this.get(pathname, { signal });
      if (response.statusCode === 404) {
        await response.body.dump();
        return null;
      }
      if (response.statusCode !== 200) {
        const text = await response.body.text();
        throw new ImageReadError(`${this.endpoint.address}: the engine answered ${response.statusCode} for ${what} (${quoteServerText(text.trim().slice(0, 200))})`);
      }
      return (await response.body.json()) as T;
    } catch (error) {
      if (signal.aborted) throw new ImageReadError(`${this.endpoint.address}: no answer for ${what} within ${timeoutSeconds} s (--timeout ${timeoutSeconds})`, { cause: error });
      if (error instanceof ImageReadError) throw error;
      throw new ImageReadError(`${this.endpoint.address}: ${what}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async version(timeoutSeconds?: number): Promise<EngineVersion> {
    const body = (await this.getJson<{ Version?: string; ApiVersion?: string; Components?: { Name?: string; Version?: string }[] }>('/version', 'GET /version', timeoutSeconds)) ?? {};
    const podman = body.Components?.find((component) => /podman/i.test(component.Name ?? ''));
    const apiVersion = body.ApiVersion ?? null;
    return podman ? { name: 'podman', version: podman.Version ?? body.Version ?? 'unknown', apiVersion } : { name: 'docker', version: body.Version ?? 'unknown', apiVersion };
  }

  /** The engine's record of an image, or null when it does not hold that name. */
  async inspect(name: string, timeoutSeconds?: number): Promise<EngineImageRecord | null> {
    return this.getJson<EngineImageRecord>(`/images/${encodeURI(name)}/json`, name, timeoutSeconds);
  }
}

export interface EngineVersion {
  name: string;
  version: string;
  /** The Engine API version the engine speaks (Podman: the Docker API version its compat layer serves). */
  apiVersion: string | null;
}

/** Docker 25+ (a containerd image store) exports one platform of a multi-platform image when asked (API 1.48). */
export const EXPORT_PLATFORM_API = '1.48';

/** Whether an API version (`1.41`) is at least `wanted`; an unknown version is not. */
export function apiAtLeast(version: string | null, wanted: string): boolean {
  if (!version) return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [wantMajor = 0, wantMinor = 0] = wanted.split('.').map(Number);
  return major !== wantMajor ? major > wantMajor : minor >= wantMinor;
}

/**
 * `/images/{name}/get`, with `?platform=` (a JSON OCI platform) only where the engine understands it: older
 * engines answer 200 and ignore it, so sending it there would promise a choice nobody made; the platform the
 * export holds is then checked against --platform when the image is resolved.
 */
export function exportPath(name: string, platform: Platform | null, apiVersion: string | null): string {
  const base = `/images/${encodeURI(name)}/get`;
  if (!platform || !apiAtLeast(apiVersion, EXPORT_PLATFORM_API)) return base;
  const oci = { os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) };
  return `${base}?platform=${encodeURIComponent(JSON.stringify(oci))}`;
}

/** The first engine endpoint that answers, or null; `tried` lists every endpoint and why it failed. */
export async function connectEngine(engine: EngineKind, tried: string[], options: { strict?: boolean } = {}): Promise<EngineClient | null> {
  for (const endpoint of engineEndpoints(engine)) {
    let client: EngineClient;
    try {
      client = new EngineClient(endpoint);
    } catch (error) {
      if (options.strict && error instanceof UnsupportedEndpoint) throw error;
      tried.push(errorMessage(error)); // e.g. an ssh:// DOCKER_HOST: skip it, try the next endpoint
      continue;
    }
    try {
      const response = await client.get('/_ping');
      await response.body.dump();
      if (response.statusCode === 200) return client;
      tried.push(`${endpoint.address}: answered ${response.statusCode}`);
    } catch (error) {
      tried.push(client.describeFailure(error));
    }
    await client.close();
  }
  return null;
}

export interface EngineReadOptions {
  debug?: ((line: string) => void) | undefined;
  timeoutSeconds?: number | undefined;
  /** The TTY progress line; with --debug, plain log lines are written instead (no carriage-return redraws). */
  progress?: ProgressSink | null | undefined;
  /**
   * The command reads no layer (inspect, platforms): answer from the engine's image record and history instead
   * of exporting the image, which the engine must write out whole (Docker 20.10 does so before its first byte).
   */
  metadataOnly?: boolean | undefined;
}

/** Read an image the engine holds: its metadata, then `docker save` of it, scanned in one pass as it streams. */
export async function openFromEngine(input: string, client: EngineClient, name: string, selection: Selection, options: EngineReadOptions = {}): Promise<SourceHandle> {
  const { debug, progress = null, metadataOnly = false } = options;
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!metadataOnly) sweepStale(); // what a killed run left (before one pass, an export always went through a temp file)
  try {
    const engine = await client.version(timeoutSeconds);
    const record = await client.inspect(name, timeoutSeconds);
    if (!record) {
      throw new ImageReadError(`${engine.name} at ${client.endpoint.address} has no image "${name}"; pull it first (${engine.name} pull ${name}) or read the registry with docker://${name}`);
    }
    const label = `${engine.name}:${name}`;
    const reference = matchingTag(record.RepoTags ?? [], name) ?? record.RepoTags?.[0] ?? name;
    const info = { input, kind: 'daemon' as const, reference, engine: { name: engine.name, version: engine.version }, repoDigests: record.RepoDigests ?? [], imageId: record.Id };
    if (metadataOnly) {
      const claims = await claimsFromEngineRecord(client, engine, record, label, timeoutSeconds, debug);
      return { info, store: new EngineRecordStore(label), label, root: { kind: 'claims', claims, reference: null, index: null }, close: () => client.close() };
    }
    const exportUrl = exportPath(name, selection.platform, engine.apiVersion);
    debug?.(`streaming ${name} from ${engine.name} ${engine.version} (API ${engine.apiVersion ?? 'unknown'}; GET ${exportUrl}; ${record.Size} bytes by the engine's count), scanning layers as they pass`);
    if (selection.platform && !exportUrl.includes('?')) {
      debug?.(`${label}: API ${engine.apiVersion ?? 'unknown'} < ${EXPORT_PLATFORM_API} takes no platform= for an export; the platform the export holds is checked against --platform`);
    }
    let cleanup = () => {};
    let described: DescribedArchive;
    try {
      const report = exportReporter(label, record.Size ?? null, progress, debug);
      let tree;
      try {
        tree = await readArchiveStream(await exportStream(client, engine.name, name, exportUrl, timeoutSeconds), label, { ...(debug ? { debug } : {}), ...(report ? { progress: report.bytes } : {}) });
      } finally {
        report?.done();
      }
      described = await describeDockerArchive(tree, null);
    } catch (error) {
      if (!(error instanceof SecondPassNeeded)) throw error;
      // The one pass did not keep a member that turned out to be needed whole: export again, into a file.
      debug?.(`${label}: ${error.message}; exporting it again into a temporary file (removed when done)`);
      const spilled = await exportToFile(client, engine.name, name, exportUrl, timeoutSeconds);
      cleanup = spilled.cleanup;
      try {
        described = await describeDockerArchive(await TarTree.open(spilled.file, label), null);
      } catch (inner) {
        cleanup();
        throw inner;
      }
    }
    return {
      info,
      store: described.store,
      label,
      root: { kind: 'claims', claims: described.claims, reference: null, index: null },
      close: async () => {
        cleanup();
        await client.close();
      },
    };
  } catch (error) {
    await client.close();
    throw error;
  }
}

/**
 * The image from the engine's records alone: `/images/{name}/json` (config, diff_ids, platform) and the history
 * (Podman's libpod API has it as the config holds it, empty_layer included; Docker's compat history has step
 * sizes, from which inferEmptyLayers tells the steps that made layers).
 */
async function claimsFromEngineRecord(
  client: EngineClient,
  engine: EngineVersion,
  record: EngineImageRecord,
  label: string,
  timeoutSeconds: number,
  debug?: (line: string) => void,
): Promise<ImageClaims> {
  const id = encodeURIComponent(record.Id.replace(/^sha256:/, ''));
  let history: HistoryEntry[] | null = null;
  if (engine.name === 'podman') {
    // The libpod API is routed only under a version prefix (`/v4.3.1/libpod/…`): the engine's own version.
    const libpod = await client.getJson<{ History?: HistoryEntry[] | null }>(`/v${encodeURIComponent(engine.version)}/libpod/images/${id}/json`, `the libpod record of ${record.Id}`, timeoutSeconds);
    if (libpod) history = libpod.History ?? [];
    else debug?.(`${label}: no libpod record of ${record.Id}; using the Docker-compatible history`);
  }
  if (!history) {
    const items = (await client.getJson<EngineHistoryItem[]>(`/images/${id}/history`, `the history of ${record.Id}`, timeoutSeconds)) ?? [];
    const inferred = historyFromDocker(items, record.RootFS?.Layers?.length ?? 0);
    if (inferred.guessed) debug?.(`${label}: the engine's history does not say which steps of size 0 made a layer; layers were matched to steps by instruction (RUN/COPY/ADD first), a guess where several fit`);
    history = inferred.history;
  }
  debug?.(`${label}: answered from the engine's image record (GET /images/{name}/json and the history): no export, no layer read`);
  return claimsFromRecord(record, history, label);
}

/**
 * How an export's progress is shown: the TTY line (bytes, the engine's Size as the expected total, a
 * percentage), or with --debug plain log lines, one per tenth of the expected size (per 64 MiB when the engine
 * gives none) and one at the end; null when neither is wanted (off a TTY: nothing).
 */
export function exportReporter(label: string, expected: number | null, progress: ProgressSink | null, debug?: (line: string) => void): { bytes: (received: number) => void; done: () => void } | null {
  if (debug) {
    const step = expected && expected > 0 ? Math.max(1, Math.ceil(expected / 10)) : 64 * 2 ** 20;
    let next = step;
    let last = 0;
    return {
      bytes: (received) => {
        last = received;
        if (received < next) return;
        while (next <= received) next += step;
        debug(`${label}: ${exportShare(received, expected)} exported so far`);
      },
      done: () => debug(`${label}: export read: ${last} bytes${expected ? ` (the engine counted ${expected})` : ''}`),
    };
  }
  if (!progress) return null;
  return { bytes: (received) => progress.exporting(label, received, expected), done: () => progress.done() };
}

function exportShare(received: number, expected: number | null): string {
  if (!expected || expected <= 0) return `${received} bytes`;
  return `${received} of ~${expected} bytes (${Math.min(99, Math.floor((received / expected) * 100))} %)`;
}

/**
 * The body of `GET /images/{name}/get`, watched by the stall rule once bytes flow (no headers deadline: Docker
 * 20.10 writes the whole export before its first byte). Consumed with `for await` (piping a body through
 * default-sized stream buffers, as this once did on undici, crawled at 1-4 MB/s on a chunked unix-socket response).
 */
async function exportStream(client: EngineClient, engineName: string, name: string, pathname: string, timeoutSeconds: number): Promise<AsyncIterable<Buffer>> {
  const response = await client.get(pathname, { headersTimeout: 0 });
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    throw new ImageReadError(`${engineName} could not export ${name}: ${response.statusCode} ${quoteServerText(text.trim().slice(0, 200))}`);
  }
  const stalled = (received: number) =>
    new DeadlineError(`${engineName} at ${client.endpoint.address}: the export of ${name} stalled after ${received} bytes: less than 64 KiB arrived in ${timeoutSeconds} s (--timeout ${timeoutSeconds})`);
  return guardStall(response.body, timeoutSeconds, stalled, { fromFirstByte: true });
}

async function exportToFile(client: EngineClient, engineName: string, name: string, pathname: string, timeoutSeconds: number): Promise<{ file: string; cleanup: () => void }> {
  const dir = makeTempDir('engine');
  const file = path.join(dir, 'image.tar');
  try {
    const out = createWriteStream(file, { highWaterMark: 4 << 20 });
    for await (const chunk of await exportStream(client, engineName, name, pathname, timeoutSeconds)) {
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
  } catch (error) {
    removeTempDir(dir);
    throw error;
  }
  return { file, cleanup: () => removeTempDir(dir) };
}

/**
 * The engine's tag that names what the user typed (engines qualify names: `app` is `localhost/app:latest` in
 * Podman, `docker.io/library/app:latest` in Docker), so the report names the tag asked for, not the image's first.
 */
export function matchingTag(tags: string[], name: string): string | null {
  const withTag = /:[\w][\w.-]*$/.test(name.split('/').pop() ?? '') || name.includes('@') ? name : `${name}:latest`;
  return tags.find((tag) => tag === name || tag === withTag || tag.endsWith(`/${withTag}`)) ?? null;
}
