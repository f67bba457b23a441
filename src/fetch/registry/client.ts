/**
 * The Distribution API for one repository: manifests (size-limited, every media type we read in the Accept
 * header) and blobs (streamed; a connection cut mid-blob resumes with `Range` from the byte it reached, and the
 * whole blob is still digest-checked by whoever reads it). Registry errors become one-line messages.
 */
import { Readable } from 'node:stream';
import { ImageReadError } from '../../errors.js';
import { MediaType } from '../../image/mediatypes.js';
import { DOCKER_HUB, type RegistryReference } from '../../reference.js';
import { Authenticator, type Credentials } from './auth.js';
import { errorCode, isRetryable, RegistryTransport, type HttpResponse, type TransportOptions } from './transport.js';

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

export interface RegistryClientOptions extends TransportOptions {
  credentials: Credentials | null;
}

/** Docker Hub's API lives at registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

interface RegistryErrorBody {
  errors?: { code?: string; message?: string }[];
}

async function errorCodes(response: HttpResponse): Promise<string[]> {
  try {
    const text = await response.body.text();
    const parsed = JSON.parse(text) as RegistryErrorBody;
    return (parsed.errors ?? []).map((error) => error.code ?? '').filter(Boolean);
  } catch {
    return [];
  }
}

export class RegistryClient {
  readonly transport: RegistryTransport;
  private readonly auth: Authenticator;
  private readonly scope: string;

  constructor(
    readonly reference: RegistryReference,
    private readonly options: RegistryClientOptions,
  ) {
    this.transport = new RegistryTransport(apiHost(reference.registry), options);
    this.auth = new Authenticator(reference.registry, options.credentials, this.transport.dispatcher, options.debug);
    this.scope = `repository:${reference.repository}:pull`;
  }

  get name(): string {
    return `${this.reference.registry}/${this.reference.repository}`;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /** GET with the registry's auth dance: on 401, answer the challenge and try again (twice at most). */
  private async get(path: string, headers: Record<string, string>, range?: number, method: 'GET' | 'HEAD' = 'GET'): Promise<HttpResponse> {
    const url = `${await this.transport.baseUrl()}/v2/${this.reference.repository}/${path}`;
    for (let round = 0; ; round++) {
      const response = await this.transport.send(url, { method, headers, range, authorize: () => this.auth.header(this.scope) });
      if (response.status !== 401 || round >= 2) return response;
      const challenge = response.headers['www-authenticate'];
      await response.body.dump();
      if (!(await this.auth.handleChallenge(challenge, this.scope))) {
        return { ...response, body: Readable.from([]) as unknown as HttpResponse['body'] };
      }
    }
  }

  private async fail(response: HttpResponse, what: string): Promise<never> {
    const codes = response.status === 401 ? [] : await errorCodes(response);
    const name = this.name;
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
        if (codes.includes('NAME_UNKNOWN')) throw new ImageReadError(`${name}: repository not found`);
        if (codes.includes('MANIFEST_UNKNOWN')) throw new ImageReadError(`${name}: ${what} not found (manifest unknown)`);
        if (codes.includes('BLOB_UNKNOWN')) throw new ImageReadError(`${name}: ${what} is missing from the registry (blob unknown)`);
        throw new ImageReadError(`${name}: ${what} not found (404)`);
      case 429:
        throw new ImageReadError(`${this.reference.registry}: rate limited (429 Too Many Requests) after retrying; wait and try again, or log in`);
      default:
        throw new ImageReadError(`${name}: the registry answered ${response.status} for ${what}${codes.length ? ` (${codes.join(', ')})` : ''}`);
    }
  }

  /** The digest a tag points to now (HEAD, no body), or null when the registry does not say. */
  async manifestDigest(tag: string): Promise<string | null> {
    const response = await this.get(`manifests/${tag}`, { accept: MANIFEST_ACCEPT }, undefined, 'HEAD');
    await response.body.dump();
    if (response.status !== 200) return null;
    const header = response.headers['docker-content-digest'];
    return (Array.isArray(header) ? header[0] : header) ?? null;
  }

  /** A manifest or index by tag or digest; at most `maxBytes`, checked before it is parsed. */
  async manifest(reference: string, maxBytes: number): Promise<{ bytes: Buffer; mediaType: string | null; digestHeader: string | null }> {
    const what = reference.includes(':') ? `manifest ${reference}` : `tag "${reference}"`;
    const response = await this.get(`manifests/${reference}`, { accept: MANIFEST_ACCEPT });
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

  /** A blob as a stream that survives dropped connections by resuming with Range. */
  blob(digest: string, onResume?: (offset: number) => void): Readable {
    return Readable.from(this.blobChunks(digest, onResume), { objectMode: false, highWaterMark: 1 << 20 });
  }

  private async *blobChunks(digest: string, onResume?: (offset: number) => void): AsyncGenerator<Buffer> {
    let received = 0;
    let resumes = 0;
    for (;;) {
      const response = await this.get(`blobs/${digest}`, {}, received > 0 ? received : undefined);
      let skip = 0;
      if (received > 0) {
        if (response.status === 206) {
          const range = /bytes (\d+)-/.exec(String(response.headers['content-range'] ?? ''));
          if (!range || Number(range[1]) !== received) {
            await response.body.dump();
            throw new ImageReadError(`${this.name}: blob ${digest}: the registry resumed at the wrong offset (${response.headers['content-range'] ?? 'no Content-Range'})`);
          }
        } else if (response.status === 200) {
          skip = received; // the server ignored Range: read past what we already have
        } else {
          await this.fail(response, `blob ${digest}`);
        }
      } else if (response.status !== 200) {
        await this.fail(response, `blob ${digest}`);
      }
      try {
        for await (const raw of response.body) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          received += chunk.length;
          yield chunk;
        }
        return;
      } catch (error) {
        if (isRetryable(error) && resumes < MAX_RESUMES) {
          resumes++;
          this.options.debug?.(`blob ${digest.slice(0, 19)} cut at byte ${received} (${errorCode(error)}); resuming with Range`);
          onResume?.(received);
          continue;
        }
        if (error instanceof ImageReadError) throw error;
        throw this.transport.describe(error, `https://${this.transport.host}/`);
      }
    }
  }
}
