/**
 * The Distribution API for one repository: manifests (size-limited, every media type we read in the Accept
 * header) and blobs (streamed; a connection cut or stalled mid-blob resumes with `Range` from the byte it reached,
 * never more than one byte past the descriptor's size, and the whole blob is still digest-checked by whoever
 * reads it). Registry errors become one-line messages.
 */
import { Readable } from 'node:stream';
import { ImageReadError } from '../../errors.js';
import { MediaType } from '../../image/mediatypes.js';
import { DOCKER_HUB, type RegistryReference } from '../../reference.js';
import { Authenticator, type Credentials } from './auth.js';
import { DeadlineError, errorCode, guardStall, isRetryable, quoteServerText, readLimited, RegistryTransport, type HttpResponse, type TransportOptions } from './transport.js';

export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
  // Accepted only so that we can refuse them with a clear message instead of a 404.
  MediaType.dockerManifestV1Signed,
  MediaType.dockerManifestV1,
].join(', ');

const MAX_RESUMES = 5;
/** Error bodies are read for their codes only. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export interface BlobOptions {
  /** The descriptor's size: reading stops one byte past it (the reader then sees the size mismatch). */
  size?: number | null;
  /** A config or other small document: the whole body falls under the deadline, not the stall rule. */
  document?: boolean;
  onResume?: (offset: number) => void;
}

export interface RegistryClientOptions extends TransportOptions {
  credentials: Credentials | null;
  /** A transport (connections, deadlines) shared with other clients of the same registry (`repo --all`). */
  transport?: RegistryTransport;
  /** Ask for push access too (`--attach`): the token scope becomes `pull,push`. */
  push?: boolean;
}

/** Docker Hub's API lives at registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/**
 * The registry answered with an error status. Callers that can say more than "not found" (a missing tag: which
 * tags exist; an Image ID given as a digest: which manifest holds it) look at `status` and `codes`.
 */
export class RegistryAnswerError extends ImageReadError {
  constructor(
    message: string,
    readonly status: number,
    readonly codes: string[],
  ) {
    super(message);
  }
}

/** What a tag may look like (the distribution spec's grammar): anything else a tag list holds is not shown. */
const TAG_NAME = /^[\w][\w.-]{0,127}$/;
/** A repository name as the distribution spec's grammar has it (path components of lowercase alphanumerics). */
const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
/** The tag list is asked for one page of this many, and read to at most this many bytes. */
export const TAG_LIST_PAGE = 100;
const MAX_TAG_LIST_BYTES = 256 * 1024;

interface RegistryErrorBody {
  errors?: { code?: string; message?: string }[];
}

async function errorCodes(response: HttpResponse): Promise<string[]> {
  let text: string;
  try {
    text = (await readLimited(response.body, MAX_ERROR_BODY_BYTES, () => new Error('too long'))).toString('utf8');
  } catch (error) {
    if (error instanceof DeadlineError) throw error; // an error body that drips is a stall like any other
    return [];
  }
  try {
    const parsed = JSON.parse(text) as RegistryErrorBody;
    return (parsed.errors ?? []).map((error) => (typeof error?.code === 'string' ? (error.code.length > 60 ? `${error.code.slice(0, 60)}…` : error.code) : '')).filter(Boolean);
  } catch {
    return [];
  }
}

export class RegistryClient {
  readonly transport: RegistryTransport;
  private readonly ownsTransport: boolean;
  private readonly auth: Authenticator;
  private readonly scope: string;

  constructor(
    readonly reference: RegistryReference,
    private readonly options: RegistryClientOptions,
  ) {
    this.transport = options.transport ?? new RegistryTransport(apiHost(reference.registry), options);
    this.ownsTransport = !options.transport;
    // Explicit credentials belong to the registry of the image they were given with, and to no other.
    const given = options.credentials;
    const explicit = given && (given.registry === undefined || given.registry === reference.registry) ? given : null;
    if (given && !explicit) options.debug?.(`--username is for ${given.registry}, not ${reference.registry}: using ${reference.registry}'s own credentials, if any`);
    this.auth = new Authenticator(reference.registry, explicit, this.transport, options.debug);
    this.scope = `repository:${reference.repository}:${options.push ? 'pull,push' : 'pull'}`;
  }

  get name(): string {
    return `${this.reference.registry}/${this.reference.repository}`;
  }

  async close(): Promise<void> {
    if (this.ownsTransport) await this.transport.close();
  }

  /**
   * GET with the registry's auth dance: on 401, answer the challenge and try again (twice at most). Only a
   * challenge from the registry itself is answered: a 401 from where a redirect led (storage, a CDN) is not.
   */
  private async get(path: string, headers: Record<string, string>, options: { range?: number; method?: 'GET' | 'HEAD' | 'POST' | 'PUT'; body?: Buffer; kind?: 'document' | 'blob'; what: string; root?: boolean; scope?: string; absolute?: boolean }): Promise<HttpResponse> {
    const base = await this.transport.baseUrl();
    // `root`: an endpoint of the registry, not of this repository (`_catalog`), in its own scope. `absolute`: a URL
    // the registry gave (an upload's Location); credentials go with it only if it is the registry's own origin.
    const url = options.absolute ? path : options.root ? `${base}/v2/${path}` : `${base}/v2/${this.reference.repository}/${path}`;
    const scope = options.scope ?? this.scope;
    const origin = new URL(base).origin;
    for (let round = 0; ; round++) {
      const response = await this.transport.send(url, {
        method: options.method ?? 'GET',
        headers,
        range: options.range,
        kind: options.kind,
        what: options.what,
        ...(options.body !== undefined ? { body: options.body } : {}),
        authorize: (target) => (target.origin === origin ? this.auth.header(scope) : null),
      });
      if (response.status !== 401 || round >= 2 || new URL(response.url).origin !== origin) return response;
      const challenge = response.headers['www-authenticate'];
      await response.body.dump().catch(() => undefined);
      if (!(await this.auth.handleChallenge(challenge, scope))) {
        return { ...response, body: Readable.from([]) as unknown as HttpResponse['body'] };
      }
    }
  }

  private async fail(response: HttpResponse, what: string): Promise<never> {
    const codes = response.status === 401 ? [] : await errorCodes(response);
    const name = this.name;
    const answeredBy = new URL(response.url).host;
    if (response.status === 401 && answeredBy !== this.transport.host) {
      await response.body.dump().catch(() => undefined);
      throw new ImageReadError(`${name}: ${answeredBy}, where the registry redirected ${what}, answered 401 Unauthorized (credentials are never sent there)`);
    }
    switch (response.status) {
      case 401:
        throw new ImageReadError(
          this.auth.hasCredentials
            ? `${name}: unauthorized: the registry rejected the credentials (wrong user name or password?)`
            : `${name}: unauthorized: this repository needs credentials (docker login, or --username with --password-stdin)`,
        );
      case 403:
        throw new ImageReadError(`${name}: access denied to ${what} (the credentials are valid but do not allow pulling)`);
      case 404:
        if (codes.includes('NAME_UNKNOWN')) throw new RegistryAnswerError(`${name}: repository not found`, 404, codes);
        if (codes.includes('MANIFEST_UNKNOWN')) throw new RegistryAnswerError(`${name}: ${what} not found (manifest unknown)`, 404, codes);
        if (codes.includes('BLOB_UNKNOWN')) throw new RegistryAnswerError(`${name}: ${what} is missing from the registry (blob unknown)`, 404, codes);
        throw new RegistryAnswerError(`${name}: ${what} not found (404)`, 404, codes);
      case 429:
        throw new ImageReadError(`${this.reference.registry}: rate limited (429 Too Many Requests) after retrying; wait and try again, or log in`);
      default:
        throw new RegistryAnswerError(`${name}: the registry answered ${response.status} for ${what}${codes.length ? ` (${codes.join(', ')})` : ''}`, response.status, codes);
    }
  }

  /** The digest a tag points to now (HEAD, no body), or null when the registry does not say. */
  async manifestDigest(tag: string): Promise<string | null> {
    const response = await this.get(`manifests/${tag}`, { accept: MANIFEST_ACCEPT }, { method: 'HEAD', what: `the digest of tag "${tag}"` });
    await response.body.dump();
    if (response.status !== 200) return null;
    const header = response.headers['docker-content-digest'];
    return (Array.isArray(header) ? header[0] : header) ?? null;
  }

  /** A manifest or index by tag or digest; at most `maxBytes`, checked before it is parsed. */
  async manifest(reference: string, maxBytes: number): Promise<{ bytes: Buffer; mediaType: string | null; digestHeader: string | null }> {
    const what = reference.includes(':') ? `manifest ${reference}` : `tag "${reference}"`;
    const response = await this.get(`manifests/${reference}`, { accept: MANIFEST_ACCEPT }, { what: reference.includes(':') ? what : `the manifest of ${what}` });
    if (response.status !== 200) return this.fail(response, what);
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.body.dump();
      throw new ImageReadError(`${this.name}: ${what} is ${declared} bytes, more than the ${maxBytes} allowed for a manifest`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of response.body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        response.body.destroy();
        throw new ImageReadError(`${this.name}: ${what} is more than the ${maxBytes} bytes allowed for a manifest`);
      }
      chunks.push(chunk as Buffer);
    }
    const type = response.headers['content-type'];
    const digestHeader = response.headers['docker-content-digest'];
    return {
      bytes: Buffer.concat(chunks),
      mediaType: (Array.isArray(type) ? type[0] : type)?.split(';')[0]?.trim() ?? null,
      digestHeader: (Array.isArray(digestHeader) ? digestHeader[0] : digestHeader) ?? null,
    };
  }

  /**
   * The repository's tags: one page of at most TAG_LIST_PAGE (`?n=`), the body read to at most 256 KiB under the
   * document deadline. `more` says the registry has further pages (a `Link` header, or a full page). Only names
   * that are valid tags are kept: the rest is server text no one could pull.
   */
  async tags(): Promise<{ tags: string[]; more: boolean }> {
    const response = await this.get(`tags/list?n=${TAG_LIST_PAGE}`, { accept: 'application/json' }, { what: 'the tag list' });
    if (response.status !== 200) return this.fail(response, 'the tag list');
    const bytes = await readLimited(response.body, MAX_TAG_LIST_BYTES, () => new ImageReadError(`${this.name}: the tag list is more than ${MAX_TAG_LIST_BYTES} bytes`));
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ImageReadError(`${this.name}: the tag list is not JSON`);
    }
    const list = (parsed as { tags?: unknown })?.tags;
    const tags = Array.isArray(list) ? list.filter((tag): tag is string => typeof tag === 'string' && TAG_NAME.test(tag)) : [];
    const link = response.headers.link;
    return { tags: tags.slice(0, TAG_LIST_PAGE), more: Boolean(link && String(link).includes('rel="next"')) || (Array.isArray(list) && list.length >= TAG_LIST_PAGE) };
  }

  /** Whether the repository holds this blob (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const response = await this.get(`blobs/${digest}`, {}, { method: 'HEAD', what: `blob ${digest}` });
    await response.body.dump().catch(() => undefined);
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    return this.fail(response, `blob ${digest}`);
  }

  /** Push a small blob in one request (POST an upload, PUT its bytes with the digest); skipped when it is there. */
  async pushBlob(digest: string, bytes: Buffer): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const started = await this.get('blobs/uploads/', { 'content-length': '0' }, { method: 'POST', body: Buffer.alloc(0), what: 'a blob upload' });
    await started.body.dump().catch(() => undefined);
    if (started.status !== 202) return this.fail(started, `an upload of blob ${digest}`);
    const location = started.headers.location;
    const where = Array.isArray(location) ? location[0] : location;
    if (!where) throw new ImageReadError(`${this.name}: the registry started an upload without saying where to send it (no Location)`);
    const base = await this.transport.baseUrl();
    let url: URL;
    try {
      url = new URL(where, base);
    } catch {
      throw new ImageReadError(`${this.name}: the upload Location ${quoteServerText(where.slice(0, 200))} is not a URL`);
    }
    url.searchParams.set('digest', digest);
    const put = await this.get(url.toString(), { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }, { method: 'PUT', body: bytes, absolute: true, what: `blob ${digest}` });
    await put.body.dump().catch(() => undefined);
    if (put.status !== 201) return this.fail(put, `the upload of blob ${digest}`);
  }

  /** PUT a manifest or index under a tag or its digest. `subject`: the registry said it indexes referrers (OCI-Subject). */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<{ subject: boolean }> {
    const response = await this.get(`manifests/${reference}`, { 'content-type': mediaType, 'content-length': String(bytes.length) }, { method: 'PUT', body: bytes, what: `manifest ${reference}` });
    await response.body.dump().catch(() => undefined);
    if (response.status !== 201) return this.fail(response, `the push of manifest ${reference}`);
    return { subject: response.headers['oci-subject'] !== undefined };
  }

  /**
   * The OCI 1.1 referrers API: an index of the manifests whose subject is `digest`, filtered by artifact type; null
   * when the registry has no such API (404: use the referrers tag schema instead).
   */
  async referrers(digest: string, artifactType: string): Promise<Buffer | null> {
    const response = await this.get(`referrers/${digest}?artifactType=${encodeURIComponent(artifactType)}`, { accept: MediaType.ociIndex }, { what: `the referrers of ${digest}` });
    if (response.status === 404 || response.status === 400 || response.status === 405) {
      await response.body.dump().catch(() => undefined);
      return null;
    }
    if (response.status !== 200) return this.fail(response, `the referrers of ${digest}`);
    return readLimited(response.body, 4 << 20, () => new ImageReadError(`${this.name}: the referrers of ${digest} are more than 4 MiB`));
  }

  /**
   * One page of the tag list for `layerlens repo`: `cursor` is null for the first page, else what the previous page
   * returned. The next page is the registry's `Link: <…>; rel="next"` when it has one; a link to another origin or
   * another endpoint is refused (credentials and answers stay where they belong). Without a link, a full page goes
   * on from its last name (`last=`, the spec's pagination). Names that are not valid tags are dropped and counted.
   * The caller stops on a page that brings no new name (a registry that loops).
   */
  tagPage(cursor: string | null, pageSize: number): Promise<{ names: string[]; next: string | null; dropped: number }> {
    return this.listPage({ path: 'tags/list', key: 'tags', valid: TAG_NAME, what: 'the tag list', root: false }, cursor, pageSize);
  }

  /** One page of the registry's repositories (`/v2/_catalog`, scope `registry:catalog:*`), paginated as tagPage. */
  catalogPage(cursor: string | null, pageSize: number): Promise<{ names: string[]; next: string | null; dropped: number }> {
    return this.listPage({ path: '_catalog', key: 'repositories', valid: REPOSITORY_NAME, what: 'the repository catalog', root: true, scope: 'registry:catalog:*' }, cursor, pageSize);
  }

  private async listPage(list: { path: string; key: string; valid: RegExp; what: string; root: boolean; scope?: string }, cursor: string | null, pageSize: number): Promise<{ names: string[]; next: string | null; dropped: number }> {
    const path = cursor ?? `${list.path}?n=${pageSize}`;
    const response = await this.get(path, { accept: 'application/json' }, { what: list.what, root: list.root, ...(list.scope ? { scope: list.scope } : {}) });
    if (response.status !== 200) return this.fail(response, list.what);
    const limit = Math.max(MAX_TAG_LIST_BYTES, pageSize * 300);
    const bytes = await readLimited(response.body, limit, () => new ImageReadError(`${this.name}: a page of ${list.what} is more than ${limit} bytes`));
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ImageReadError(`${this.name}: ${list.what} is not JSON`);
    }
    const field = (parsed as Record<string, unknown> | null)?.[list.key];
    const raw = Array.isArray(field) ? field : [];
    const names = raw.filter((name): name is string => typeof name === 'string' && list.valid.test(name));
    const header = response.headers.link;
    const link = /<([^>]*)>\s*;[^,]*rel="?next"?/i.exec(Array.isArray(header) ? header.join(', ') : (header ?? ''));
    let next: string | null = null;
    const base = await this.transport.baseUrl();
    const expected = list.root ? `/v2/${list.path}` : `/v2/${this.reference.repository}/${list.path}`;
    if (link) {
      let url: URL;
      try {
        url = new URL(link[1]!, base);
      } catch {
        throw new ImageReadError(`${this.name}: ${list.what}'s next-page link ${quoteServerText(link[1]!.slice(0, 200))} is not a URL`);
      }
      if (url.origin !== new URL(base).origin || url.pathname !== expected) {
        throw new ImageReadError(`${this.name}: ${list.what}'s next-page link points elsewhere (${quoteServerText(url.href.slice(0, 200))}); not followed`);
      }
      next = `${list.path}${url.search}`;
    } else if (raw.length >= pageSize && names.length > 0) {
      next = `${list.path}?n=${pageSize}&last=${encodeURIComponent(names[names.length - 1]!)}`;
    }
    return { names, next, dropped: raw.length - names.length };
  }

  /** A blob as a stream that survives dropped and stalled connections by resuming with Range. */
  blob(digest: string, options: BlobOptions = {}): Readable {
    return Readable.from(this.blobChunks(digest, options), { objectMode: false, highWaterMark: 1 << 20 });
  }

  private async *blobChunks(digest: string, options: BlobOptions): AsyncGenerator<Buffer> {
    const what = `${options.document ? 'the config blob' : 'blob'} ${digest}`;
    // One byte past the descriptor's size is enough to prove the size wrong; an endless body stops there.
    const cap = typeof options.size === 'number' && options.size >= 0 ? options.size + 1 : Infinity;
    let received = 0;
    let resumes = 0;
    let stalls = 0;
    for (;;) {
      const url = `${await this.transport.baseUrl()}/v2/${this.reference.repository}/blobs/${digest}`;
      const response = await this.get(`blobs/${digest}`, {}, { range: received > 0 ? received : undefined, kind: options.document ? 'document' : 'blob', what });
      let skip = 0;
      if (received > 0) {
        if (response.status === 206) {
          const range = /bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''));
          if (!range || Number(range[1]) !== received) {
            await response.body.dump().catch(() => undefined);
            throw new ImageReadError(`${this.name}: blob ${digest}: the registry resumed at the wrong offset (${quoteServerText(String(response.headers['content-range'] ?? 'no Content-Range'), 80)})`);
          }
        } else if (response.status === 200) {
          skip = received; // the server ignored Range: read past what we already have
        } else {
          await this.fail(response, `blob ${digest}`);
        }
      } else if (response.status !== 200) {
        await this.fail(response, `blob ${digest}`);
      }
      const body = options.document ? response.body : guardStall(response.body, this.transport.timeoutSeconds, () => this.transport.stallError(url, response.url, what, received));
      try {
        for await (const raw of body) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          if (received + chunk.length >= cap) {
            yield chunk.subarray(0, cap - received);
            received = cap;
            this.options.debug?.(`blob ${digest.slice(0, 19)}: more bytes than the ${cap - 1} its descriptor names; stopped reading`);
            response.body.destroy();
            return;
          }
          received += chunk.length;
          yield chunk;
        }
        return;
      } catch (error) {
        const stalled = error instanceof DeadlineError;
        if (stalled ? stalls < this.transport.maxAttempts - 1 : isRetryable(error) && resumes < MAX_RESUMES) {
          if (stalled) stalls++;
          else resumes++;
          this.options.debug?.(`blob ${digest.slice(0, 19)} ${stalled ? 'stalled' : 'cut'} at byte ${received} (${stalled ? 'deadline' : errorCode(error)}); resuming with Range`);
          options.onResume?.(received);
          continue;
        }
        if (error instanceof ImageReadError) throw error;
        throw this.transport.describe(error, response.url);
      }
    }
  }
}
