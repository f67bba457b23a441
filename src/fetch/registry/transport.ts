/**
 * HTTP for registries, on undici: one keep-alive connection pool per registry, TLS verified unless the user opts
 * out, the loopback rule (HTTPS first, plain HTTP only when the server does not speak TLS at all), retries with
 * backoff on 429 (honouring Retry-After), 408, 5xx and connection resets, and redirects followed by hand so that
 * `Authorization` never reaches another host.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { ImageReadError, UsageError, errorMessage } from '../../errors.js';

export interface TransportOptions {
  plainHttp: boolean;
  insecure: boolean;
  caFile: string | null;
  /** Attempts for a retryable failure before giving up (the first try included). */
  attempts?: number;
  /** Base delay for exponential backoff, ms (tests shorten it). */
  backoffMs?: number;
  debug?: (line: string) => void;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  url: string;
}

const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function deepMessage(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  return cause ? `${errorMessage(error)}: ${deepMessage(cause)}` : errorMessage(error);
}

export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name === '::1') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

export function isRetryable(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

function speaksNoTls(error: unknown): boolean {
  const code = errorCode(error) ?? '';
  const message = deepMessage(error);
  return code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || /wrong version number|packet length too long|http request/i.test(message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retry-After is seconds or an HTTP date. */
export function retryAfterMs(value: string | string[] | undefined): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

export class RegistryTransport {
  private readonly agent: Agent;
  private scheme: 'https' | 'http' | null;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(
    /** host[:port] of the registry API. */
    readonly host: string,
    private readonly options: TransportOptions,
  ) {
    let ca: string | undefined;
    if (options.caFile) {
      try {
        ca = readFileSync(options.caFile, 'utf8');
      } catch (error) {
        throw new UsageError(`--ca-file ${options.caFile}: ${errorCode(error) ?? errorMessage(error)}`);
      }
    }
    this.agent = new Agent({
      connect: { rejectUnauthorized: !options.insecure, ...(ca ? { ca } : {}) },
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 120_000,
      connections: 8,
    });
    this.scheme = options.plainHttp ? 'http' : isLoopback(host) ? null : 'https';
    this.attempts = options.attempts ?? Number(process.env.LAYERLENS_HTTP_ATTEMPTS ?? 4);
    this.backoffMs = options.backoffMs ?? Number(process.env.LAYERLENS_HTTP_BACKOFF_MS ?? 500);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** The connection pool, for the token service (same TLS trust settings). */
  get dispatcher(): Dispatcher {
    return this.agent;
  }

  /** The base URL, deciding http/https for loopback registries on first use. */
  async baseUrl(): Promise<string> {
    if (!this.scheme) {
      try {
        const probe = await request(`https://${this.host}/v2/`, { dispatcher: this.agent, method: 'GET' });
        await probe.body.dump();
        this.scheme = 'https';
      } catch (error) {
        if (speaksNoTls(error)) {
          this.options.debug?.(`${this.host} does not speak TLS; using plain HTTP (loopback registry)`);
          this.scheme = 'http';
        } else {
          throw this.describe(error, `https://${this.host}/v2/`);
        }
      }
    }
    return `${this.scheme}://${this.host}`;
  }

  /** Turn a low-level failure into the one-line message a user needs. */
  describe(error: unknown, url: string): ImageReadError {
    const code = errorCode(error);
    const where = new URL(url).host;
    if (code && TLS_TRUST_CODES.has(code)) {
      return new ImageReadError(`${where}: the TLS certificate is not trusted (${code}); pass --ca-file with the CA that signed it, or --insecure to skip verification`, { cause: error });
    }
    if (code === 'ECONNREFUSED') return new ImageReadError(`${where}: connection refused; is the registry running at that address?`, { cause: error });
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ImageReadError(`${where}: no such host (DNS lookup failed)`, { cause: error });
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') {
      return new ImageReadError(`${where}: timed out waiting for the registry`, { cause: error });
    }
    if (speaksNoTls(error)) return new ImageReadError(`${where} does not speak TLS; if it is a plain-HTTP registry, pass --plain-http`, { cause: error });
    return new ImageReadError(`${where}: request failed (${code ?? deepMessage(error)})`, { cause: error });
  }

  /**
   * One request with retries and redirects. `authorize` gives the Authorization header for a URL's host (or
   * none): it is asked again after every redirect, so credentials for the registry never go to a CDN.
   */
  async send(
    url: string,
    init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; authorize?: (url: URL) => string | null; range?: number },
  ): Promise<HttpResponse> {
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        const response = await this.follow(url, init);
        if (RETRYABLE_STATUS.has(response.status) && attempt < this.attempts) {
          const wait = retryAfterMs(response.headers['retry-after']) ?? this.backoffMs * 2 ** (attempt - 1);
          await response.body.dump();
          this.options.debug?.(`${response.status} from ${new URL(url).host}; retrying in ${wait} ms (attempt ${attempt + 1} of ${this.attempts})`);
          await sleep(Math.min(wait, 60_000));
          continue;
        }
        return response;
      } catch (error) {
        if (isRetryable(error) && attempt < this.attempts) {
          const wait = this.backoffMs * 2 ** (attempt - 1);
          this.options.debug?.(`${errorCode(error)} from ${new URL(url).host}; retrying in ${wait} ms`);
          await sleep(wait);
          continue;
        }
        if (error instanceof ImageReadError) throw error;
        throw this.describe(error, url);
      }
    }
  }

  private async follow(
    url: string,
    init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; authorize?: (url: URL) => string | null; range?: number },
  ): Promise<HttpResponse> {
    let current = new URL(url);
    const origin = current.host;
    for (let hops = 0; hops < 10; hops++) {
      const headers: Record<string, string> = { 'user-agent': 'layerlens', ...init.headers };
      // Credentials belong to the registry's own host only; a redirect elsewhere (blob storage, a CDN) gets none.
      const authorization = current.host === origin ? init.authorize?.(current) : null;
      if (authorization) headers.authorization = authorization;
      if (init.range) headers.range = `bytes=${init.range}-`;
      const response = await request(current, { dispatcher: this.agent, method: init.method ?? 'GET', headers });
      if ([301, 302, 303, 307, 308].includes(response.statusCode) && response.headers.location) {
        await response.body.dump();
        const location = Array.isArray(response.headers.location) ? response.headers.location[0]! : response.headers.location;
        current = new URL(location, current);
        this.options.debug?.(`redirected to ${current.host}${current.host === origin ? '' : ' (without credentials)'}`);
        continue;
      }
      return { status: response.statusCode, headers: response.headers, body: response.body, url: current.toString() };
    }
    throw new ImageReadError(`${origin}: too many redirects`);
  }
}
