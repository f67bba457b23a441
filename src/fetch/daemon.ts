/**
 * Local engines over the Docker Engine API (which Podman serves too), on undici: find the endpoint the way the
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
import { Agent, request, type Dispatcher } from 'undici';
import { errorMessage, ImageReadError } from '../errors.js';
import { resolveDockerArchive } from './docker-archive.js';
import { DEFAULT_TIMEOUT_SECONDS, DeadlineError, errorCode, guardStall, quoteServerText } from './registry/transport.js';
import type { Progress } from '../report/progress.js';
import type { ResolvedImage, Selection, SourceHandle } from './source.js';
import { makeTempDir, removeTempDir, sweepStale } from './tempfiles.js';
import { readArchiveStream, SecondPassNeeded } from './stream-archive.js';
import { TarTree } from './tree.js';

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
  private readonly agent: Agent;
  private readonly base: string;

  constructor(readonly endpoint: Endpoint) {
    const address = endpoint.address;
    if (address.startsWith('unix://')) {
      this.agent = new Agent({ connect: { socketPath: address.slice('unix://'.length) }, headersTimeout: 60_000, bodyTimeout: 0 });
      this.base = 'http://engine';
    } else if (address.startsWith('tcp://') || address.startsWith('http://') || address.startsWith('https://')) {
      const url = new URL(address.replace(/^tcp:/, 'http:'));
      const certPath = process.env.DOCKER_CERT_PATH || dockerConfigDir();
      const tls = (process.env.DOCKER_TLS_VERIFY ?? '') !== '' || address.startsWith('https://');
      if (tls) {
        const read = (file: string) => (existsSync(path.join(certPath, file)) ? readFileSync(path.join(certPath, file)) : undefined);
        this.agent = new Agent({ connect: { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), rejectUnauthorized: true }, bodyTimeout: 0 });
        this.base = `https://${url.host}`;
      } else {
        this.agent = new Agent({ bodyTimeout: 0 });
        this.base = `http://${url.host}`;
      }
    } else if (address.startsWith('ssh://')) {
      // The docker CLI tunnels these through `ssh HOST docker system dial-stdio`; layerlens does not run ssh.
      throw new UnsupportedEndpoint(`${endpoint.origin} is an ssh:// endpoint (${quoteServerText(address)}), which layerlens does not support; forward the socket (ssh -L /tmp/docker.sock:/var/run/docker.sock HOST) and set DOCKER_HOST=unix:///tmp/docker.sock`);
    } else {
      throw new ImageReadError(`${endpoint.origin} is "${address}": expected unix://PATH or tcp://HOST:PORT`);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  describeFailure(error: unknown): string {
    const code = errorCode(error);
    if (code === 'EACCES') return `permission denied on ${this.endpoint.address} (add yourself to the docker group, or run with access to the socket)`;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return `no engine at ${this.endpoint.address} (${this.endpoint.origin})`;
    return `${this.endpoint.address}: ${code ?? String(error)}`;
  }

  async get(pathname: string, options: { headersTimeout?: number } = {}): Promise<Dispatcher.ResponseData> {
    return request(`${this.base}${pathname}`, { dispatcher: this.agent, method: 'GET', headers: { 'user-agent': 'layerlens' }, ...options });
  }

  async version(): Promise<{ name: string; version: string }> {
    const response = await this.get('/version');
    const body = (await response.body.json()) as { Version?: string; Components?: { Name?: string; Version?: string }[] };
    const podman = body.Components?.find((component) => /podman/i.test(component.Name ?? ''));
    return podman ? { name: 'podman', version: podman.Version ?? body.Version ?? 'unknown' } : { name: 'docker', version: body.Version ?? 'unknown' };
  }

  /** The engine's record of an image, or null when it does not hold that name. */
  async inspect(name: string): Promise<{ Id: string; RepoTags: string[] | null; RepoDigests: string[] | null; Size: number } | null> {
    const response = await this.get(`/images/${encodeURI(name)}/json`);
    if (response.statusCode === 404) {
      await response.body.dump();
      return null;
    }
    if (response.statusCode !== 200) {
      const text = await response.body.text();
      throw new ImageReadError(`${this.endpoint.address}: the engine answered ${response.statusCode} for ${name} (${text.trim().slice(0, 200)})`);
    }
    return (await response.body.json()) as { Id: string; RepoTags: string[] | null; RepoDigests: string[] | null; Size: number };
  }
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

/** Read an image the engine holds: its metadata, then `docker save` of it, scanned in one pass as it streams. */
export async function openFromEngine(
  input: string,
  client: EngineClient,
  name: string,
  selection: Selection,
  debug?: (line: string) => void,
  timeoutSeconds = DEFAULT_TIMEOUT_SECONDS,
  progress: Progress | null = null,
): Promise<SourceHandle> {
  sweepStale(); // what a killed run left (before one pass, an export always went through a temp file)
  try {
    const engine = await client.version();
    const record = await client.inspect(name);
    if (!record) {
      throw new ImageReadError(`${engine.name} at ${client.endpoint.address} has no image "${name}"; pull it first (${engine.name} pull ${name}) or read the registry with docker://${name}`);
    }
    const label = `${engine.name}:${name}`;
    debug?.(`streaming ${name} from ${engine.name} ${engine.version} (${record.Size} bytes by the engine's count), scanning layers as they pass`);
    let cleanup = () => {};
    let images: ResolvedImage[];
    try {
      const onBytes = progress ? (bytes: number) => progress.exporting(label, bytes, record.Size ?? null) : undefined;
      let tree;
      try {
        tree = await readArchiveStream(await exportStream(client, engine.name, name, timeoutSeconds), label, { ...(debug ? { debug } : {}), ...(onBytes ? { progress: onBytes } : {}) });
      } finally {
        progress?.done();
      }
      images = await resolveDockerArchive(tree, { ...selection, ref: null });
    } catch (error) {
      if (!(error instanceof SecondPassNeeded)) throw error;
      // The one pass did not keep a member that turned out to be needed whole: export again, into a file.
      debug?.(`${label}: ${error.message}; exporting it again into a temporary file (removed when done)`);
      const spilled = await exportToFile(client, engine.name, name, timeoutSeconds);
      cleanup = spilled.cleanup;
      try {
        images = await resolveDockerArchive(await TarTree.open(spilled.file, label), { ...selection, ref: null });
      } catch (inner) {
        cleanup();
        throw inner;
      }
    }
    const reference = matchingTag(record.RepoTags ?? [], name) ?? record.RepoTags?.[0] ?? name;
    return {
      info: { input, kind: 'daemon', reference, engine, repoDigests: record.RepoDigests ?? [], imageId: record.Id },
      store: null,
      label,
      root: { kind: 'images', images },
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
 * The body of `GET /images/{name}/get`, watched by the stall rule once bytes flow (no headers deadline: Docker
 * 20.10 writes the whole export before its first byte). Consumed with `for await`: piping undici's body through
 * default-sized stream buffers crawls at 1-4 MB/s on a chunked unix-socket response.
 */
async function exportStream(client: EngineClient, engineName: string, name: string, timeoutSeconds: number): Promise<AsyncIterable<Buffer>> {
  const response = await client.get(`/images/${encodeURI(name)}/get`, { headersTimeout: 0 });
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    throw new ImageReadError(`${engineName} could not export ${name}: ${response.statusCode} ${quoteServerText(text.trim().slice(0, 200))}`);
  }
  const stalled = (received: number) =>
    new DeadlineError(`${engineName} at ${client.endpoint.address}: the export of ${name} stalled after ${received} bytes: less than 64 KiB arrived in ${timeoutSeconds} s (--timeout ${timeoutSeconds})`);
  return guardStall(response.body, timeoutSeconds, stalled, { fromFirstByte: true });
}

async function exportToFile(client: EngineClient, engineName: string, name: string, timeoutSeconds: number): Promise<{ file: string; cleanup: () => void }> {
  const dir = makeTempDir('engine');
  const file = path.join(dir, 'image.tar');
  try {
    const out = createWriteStream(file, { highWaterMark: 4 << 20 });
    for await (const chunk of await exportStream(client, engineName, name, timeoutSeconds)) {
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
