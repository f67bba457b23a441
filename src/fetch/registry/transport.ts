/**
 * HTTP for registries, on undici: one keep-alive connection pool per registry, TLS verified unless the user opts
 * out, the loopback rule (HTTPS first, plain HTTP only when the server does not speak TLS at all), retries with
 * backoff on 429 (honouring Retry-After up to a minute), 408, 5xx, connection resets and deadlines, and redirects
 * followed by hand so that `Authorization` never reaches another host or leaves HTTPS.
 *
 * Every attempt has a deadline (`--timeout S`): its response headers — and, for a small document (manifest,
 * config, token, error body), the whole body — must arrive within S seconds. A blob body is watched instead by
 * `guardStall`: it fails when less than 64 KiB arrive in S seconds of waiting for them.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Agent, Dispatcher, ProxyAgent } from 'undici';
import { undici } from '../http-client.js';
import { isReadable, readableChunks } from '../readable-chunks.js';
import { ImageReadError, TransferError, UsageError, errorMessage } from '../../errors.js';

export const DEFAULT_TIMEOUT_SECONDS = 30;
/** A blob body must bring at least this many bytes per S seconds of waiting. */
export const STALL_BYTES = 64 * 1024;
/** Longest Retry-After that is waited out; a registry asking for more is reported, not obeyed. */
export const MAX_RETRY_AFTER_MS = 60_000;

export interface TransportOptions {
  plainHttp: boolean;
  insecure: boolean;
  caFile: string | null;
  /** `--timeout S`: the per-attempt deadline for headers and small documents, and the blob stall window. */
  timeoutSeconds?: number;
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

export interface SendInit {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  /** A request body (the token service's POST form; a blob or manifest pushed with `--attach`). */
  body?: string | Buffer;
  /**
   * The Authorization header for a URL, or none. It is asked only for the origin the request started at (same
   * host, and never from HTTPS down to HTTP), so credentials for the registry never go to a CDN.
   */
  authorize?: (url: URL) => string | null;
  range?: number;
  /**
   * `document` (the default): the whole body falls under the deadline. `blob`: only the headers do; the body of a
   * 200/206 is the caller's to guard with `guardStall` (an error body stays a document).
   */
  kind?: 'document' | 'blob';
  /** What is asked for, for messages: `manifest "latest"`, `blob sha256:…`, `a token`. */
  what?: string;
  /** Follow redirects (default true). The token service's answer is taken as it is. */
  follow?: boolean;
  /** The body holds a secret (an identity token): it goes where credentials may go, and nowhere else. */
  secretBody?: boolean;
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

/** A deadline or stall: exit 3 like any unreadable image, but worth another attempt. */
export class DeadlineError extends TransferError {
  constructor(message: string) {
    super(message);
  }
}

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

/**
 * Server text in a message, quoted and cut to `max` characters. It is not escaped here: every stderr line is
 * escaped once where it is written (src/cli/output.ts), so escaping here too would show `\\n` for `\n`.
 */
export function quoteServerText(text: string, max = 200): string {
  return `"${text.length > max ? `${text.slice(0, max)}…` : text}"`;
}

export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name === '::1') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof DeadlineError) return true;
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

function seconds(value: number): string {
  return `${Number.isInteger(value) ? value : value.toFixed(1)} s`;
}

/** At most `maxBytes` of a body, as text; more is an error naming what was too long. */
export async function readLimited(body: AsyncIterable<unknown> & { destroy(error?: Error): unknown }, maxBytes: number, tooLong: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      body.destroy();
      throw tooLong();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A blob body under the stall rule: every 64 KiB must arrive within `seconds` of waiting for them. Only time
 * spent waiting for the server counts — not time the consumer (a slow decompressor) holds the data — and the
 * stalled body is destroyed. A local engine's export uses it with `fromFirstByte`: watched once bytes flow.
 */
export async function* guardStall(body: AsyncIterable<unknown>, seconds: number, onStall: (received: number) => Error, options: { fromFirstByte?: boolean } = {}): AsyncGenerator<Buffer> {
  const limit = seconds * 1000;
  // A stream's chunks as they came (readable-chunks.ts): its own iterator copies whatever is buffered into one.
  const iterator = isReadable(body) ? readableChunks(body) : body[Symbol.asyncIterator]();
  let waited = 0;
  let sinceMark = 0;
  let received = 0;
  let gaveUp = false;
  try {
    for (;;) {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      // A local engine may think long before its first byte (Docker 20.10 writes the whole export first).
      const watched = !(options.fromFirstByte && received === 0);
      const stalled = new Promise<never>((_, reject) => {
        if (!watched) return;
        timer = setTimeout(() => {
          const error = onStall(received);
          gaveUp = true;
          // Destroy the body ourselves: its iterator cannot be returned while a read is pending.
          (body as { destroy?: (error?: Error) => void }).destroy?.(error);
          reject(error);
        }, Math.max(0, limit - waited));
      });
      let result: IteratorResult<unknown>;
      try {
        result = await Promise.race([iterator.next(), stalled]);
      } finally {
        clearTimeout(timer);
      }
      if (watched) waited += Date.now() - started;
      if (result.done) return;
      const chunk = result.value as Buffer;
      received += chunk.length;
      sinceMark += chunk.length;
      if (sinceMark >= STALL_BYTES) {
        sinceMark = 0;
        waited = 0;
      }
      yield chunk;
    }
  } finally {
    // Ends (destroys) the body when we stop early: a size cap, a consumer that gave up (a stall destroyed it).
    if (!gaveUp) await iterator.return?.().catch(() => undefined);
  }
}

function environment(names: string[], env: NodeJS.ProcessEnv): string {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return '';
}

function ipv4(text: string): number | null {
  if (isIP(text) !== 4) return null;
  return text.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

/** Whether NO_PROXY (as Go, and so docker, reads it) exempts a URL: `*`, hosts, domain suffixes, IPs, IPv4 CIDRs, `:port`. */
export function noProxy(url: URL, list: string): boolean {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of list.split(',')) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const cidr = /^([\d.]+)\/(\d+)$/.exec(entry);
    if (cidr) {
      const base = ipv4(cidr[1]!);
      const address = ipv4(host);
      const bits = Number(cidr[2]);
      if (base !== null && address !== null && bits <= 32) {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        if ((base & mask) >>> 0 === (address & mask) >>> 0) return true;
      }
      continue;
    }
    let entryPort: string | null = null;
    if (isIP(entry.replace(/^\[(.*)\]$/, '$1')) === 6) entry = entry.replace(/^\[(.*)\]$/, '$1');
    else {
      const withPort = /^(.*?):(\d+)$/.exec(entry.replace(/^\[(.*)\](?=:)/, '$1'));
      if (withPort) {
        entry = withPort[1]!;
        entryPort = withPort[2]!;
      }
    }
    if (entryPort && entryPort !== port) continue;
    const domain = entry.replace(/^\*?\./, '');
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/**
 * The proxy for a URL from HTTPS_PROXY (https) or HTTP_PROXY (http), either case, unless NO_PROXY exempts it —
 * as Go's net/http (and so docker) reads them. Loopback is never proxied. Null: connect directly.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | null {
  if (isLoopback(url.host)) return null;
  const names = url.protocol === 'https:' ? ['HTTPS_PROXY', 'https_proxy'] : ['HTTP_PROXY', 'http_proxy'];
  const raw = environment(names, env);
  if (!raw || noProxy(url, environment(['NO_PROXY', 'no_proxy'], env))) return null;
  let proxy: URL;
  try {
    proxy = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new UsageError(`${names[0]} is not a URL (give http://HOST:PORT)`); // never echoed: it may hold a password
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') throw new UsageError(`${names[0]}: only http:// and https:// proxies are supported (got ${proxy.protocol})`);
  return proxy;
}

export class RegistryTransport {
  private readonly agent: Agent;
  /** One tunnelling agent per proxy, made when a request first needs it. */
  private readonly proxies = new Map<string, ProxyAgent>();
  private readonly tls: { rejectUnauthorized: boolean; ca?: string };
  private scheme: 'https' | 'http' | null;
  private readonly attempts: number;
  private readonly backoffMs: number;
  readonly timeoutSeconds: number;

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
    this.timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    const deadline = Math.ceil(this.timeoutSeconds * 1000);
    this.tls = { rejectUnauthorized: !options.insecure, ...(ca ? { ca } : {}) };
    this.agent = new (undici().Agent)({
      connect: { ...this.tls, timeout: deadline },
      keepAliveTimeout: 30_000,
      // The deadlines of this class replace undici's idle timers (a drip is never idle); these stay as backstops.
      headersTimeout: deadline * 2,
      bodyTimeout: 0,
      connections: 8,
    });
    this.scheme = options.plainHttp ? 'http' : isLoopback(host) ? null : 'https';
    this.attempts = options.attempts ?? Number(process.env.LAYERLENS_HTTP_ATTEMPTS ?? 4);
    this.backoffMs = options.backoffMs ?? Number(process.env.LAYERLENS_HTTP_BACKOFF_MS ?? 500);
  }

  async close(): Promise<void> {
    await Promise.all([this.agent.close(), ...[...this.proxies.values()].map((proxy) => proxy.close())]);
  }

  /** How a URL is reached: directly, or through the proxy the environment names (a CONNECT tunnel). */
  private route(url: URL): { dispatcher: Dispatcher; proxy: URL | null } {
    const proxy = proxyFor(url);
    if (!proxy) return { dispatcher: this.agent, proxy: null };
    let agent = this.proxies.get(proxy.href);
    if (!agent) {
      const deadline = Math.ceil(this.timeoutSeconds * 1000);
      // The registry's TLS settings (--ca-file, --insecure) are for the registry, inside the tunnel; the proxy's own
      // certificate (an https:// proxy) is checked against the system's CAs.
      agent = new (undici().ProxyAgent)({ uri: proxy.href, requestTls: { ...this.tls, timeout: deadline }, proxyTls: { timeout: deadline }, headersTimeout: deadline * 2, bodyTimeout: 0, connections: 8 });
      this.proxies.set(proxy.href, agent);
    }
    return { dispatcher: agent, proxy };
  }

  /** How many attempts a retryable failure gets (the first included). */
  get maxAttempts(): number {
    return this.attempts;
  }

  /** Whether the registry itself is spoken to over plain HTTP (`--plain-http`, or the loopback fallback). */
  get plainHttp(): boolean {
    return this.scheme === 'http';
  }

  /** The base URL, deciding http/https for loopback registries on first use. */
  async baseUrl(): Promise<string> {
    if (!this.scheme) {
      const url = `https://${this.host}/v2/`;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(this.deadlineError('headers', url, url, 'the /v2/ endpoint')), this.timeoutSeconds * 1000);
      try {
        const probe = await undici().request(url, { dispatcher: this.route(new URL(url)).dispatcher, method: 'GET', signal: controller.signal });
        await probe.body.dump();
        this.scheme = 'https';
      } catch (error) {
        if (speaksNoTls(error)) {
          this.options.debug?.(`${this.host} does not speak TLS; using plain HTTP (loopback registry)`);
          this.scheme = 'http';
        } else {
          if (error instanceof ImageReadError) throw error;
          throw this.describe(error, url);
        }
      } finally {
        clearTimeout(timer);
      }
    }
    return `${this.scheme}://${this.host}`;
  }

  /** Turn a low-level failure into the one-line message a user needs. */
  describe(error: unknown, url: string): TransferError {
    const code = errorCode(error);
    const where = new URL(url).host;
    if (code && TLS_TRUST_CODES.has(code)) {
      return new TransferError(`${where}: the TLS certificate is not trusted (${code}); pass --ca-file with the CA that signed it, or --insecure to skip verification`, { cause: error });
    }
    if (code === 'ECONNREFUSED') return new TransferError(`${where}: connection refused; is the registry running at that address?`, { cause: error });
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new TransferError(`${where}: no such host (DNS lookup failed)`, { cause: error });
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') {
      return new TransferError(`${where}: timed out waiting for the registry (--timeout ${this.timeoutSeconds})`, { cause: error });
    }
    if (code === 'UND_ERR_HEADERS_OVERFLOW') return new TransferError(`${where}: the registry sent response headers larger than allowed`, { cause: error });
    if (speaksNoTls(error)) return new TransferError(`${where} does not speak TLS; if it is a plain-HTTP registry, pass --plain-http`, { cause: error });
    return new TransferError(`${where}: request failed (${code ?? deepMessage(error)})`, { cause: error });
  }

  /** The host that failed, and the one the request was sent to when a redirect led elsewhere. */
  private where(start: string, url: string): string {
    const from = new URL(start).host;
    const host = new URL(url).host;
    return host === from ? host : `${host} (redirected from ${from})`;
  }

  private deadlineError(phase: 'headers' | 'body', start: string, url: string, what: string): DeadlineError {
    const where = this.where(start, url);
    const limit = `${seconds(this.timeoutSeconds)} (--timeout ${this.timeoutSeconds})`;
    return new DeadlineError(
      phase === 'headers'
        ? `${where}: no response headers for ${what} within ${limit}; the registry is stalled or too slow`
        : `${where}: ${what} did not arrive within ${limit}; the registry is stalled or too slow`,
    );
  }

  /** The stall error for a blob body (see `guardStall`). */
  stallError(start: string, url: string, what: string, received: number): DeadlineError {
    const where = this.where(start, url);
    return new DeadlineError(
      `${where}: ${what} stalled after ${received} bytes: less than 64 KiB arrived in ${seconds(this.timeoutSeconds)} (--timeout ${this.timeoutSeconds}); the registry is stalled or too slow`,
    );
  }

  /**
   * One request with retries and redirects, each attempt under its deadline. `authorize` gives the
   * Authorization header; see SendInit.
   */
  async send(url: string, init: SendInit): Promise<HttpResponse> {
    const what = init.what ?? new URL(url).pathname;
    let attempt = 0;
    for (;;) {
      attempt++;
      const controller = new AbortController();
      const state: { url: string; proxy: string | null } = { url, proxy: null };
      let phase: 'headers' | 'body' = 'headers';
      let timer: NodeJS.Timeout | undefined = setTimeout(() => controller.abort(this.deadlineError(phase, url, state.url, what)), this.timeoutSeconds * 1000);
      timer.unref();
      const disarm = () => {
        clearTimeout(timer);
        timer = undefined;
      };
      try {
        const response = await this.follow(url, init, controller.signal, state);
        const asked = RETRYABLE_STATUS.has(response.status) ? retryAfterMs(response.headers['retry-after']) : null;
        if (RETRYABLE_STATUS.has(response.status) && (attempt < this.attempts || (asked !== null && asked > MAX_RETRY_AFTER_MS))) {
          await response.body.dump().catch(() => undefined); // still under this attempt's deadline
          disarm();
          if (asked !== null && asked > MAX_RETRY_AFTER_MS) {
            const at = new Date(Date.now() + asked).toISOString().replace(/\.\d{3}Z$/, 'Z');
            throw new ImageReadError(
              `${new URL(response.url).host}: the registry answered ${response.status} and asks to be retried in ${Math.round(asked / 1000)} s (at ${at}); not waiting that long, try again then`,
            );
          }
          const wait = asked ?? this.backoffMs * 2 ** (attempt - 1);
          this.options.debug?.(`${response.status} from ${new URL(url).host}; retrying in ${wait} ms (attempt ${attempt + 1} of ${this.attempts})`);
          await sleep(wait);
          continue;
        }
        if (init.kind === 'blob' && (response.status === 200 || response.status === 206)) {
          disarm(); // the body is guarded by the stall rule instead
        } else if (timer) {
          // A document: the deadline runs on until its body has arrived (or been abandoned).
          phase = 'body';
          response.body.once('close', disarm);
          if (response.body.destroyed) disarm();
        }
        return response;
      } catch (error) {
        disarm();
        const failure = controller.signal.aborted && controller.signal.reason instanceof DeadlineError ? controller.signal.reason : error;
        if (isRetryable(failure) && attempt < this.attempts) {
          const wait = this.backoffMs * 2 ** (attempt - 1);
          this.options.debug?.(`${failure instanceof DeadlineError ? 'deadline' : errorCode(failure)} on ${new URL(state.url).host}; retrying in ${wait} ms (attempt ${attempt + 1} of ${this.attempts})`);
          await sleep(wait);
          continue;
        }
        if (failure instanceof ImageReadError || failure instanceof UsageError) throw failure;
        if (state.proxy) {
          const host = new URL(state.url).host;
          const refused = /Proxy response \((\d+)\)/.exec(errorMessage(failure));
          if (refused) throw new TransferError(`${host}: the proxy ${state.proxy} refused the tunnel (${refused[1]}${refused[1] === '407' ? ': it wants credentials in the proxy URL' : ''})`, { cause: failure });
          const code = errorCode(failure);
          if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new TransferError(`${host}: the proxy ${state.proxy} cannot be reached (${code}); check HTTPS_PROXY / HTTP_PROXY`, { cause: failure });
        }
        throw this.describe(failure, state.url);
      }
    }
  }

  private async follow(url: string, init: SendInit, signal: AbortSignal, state: { url: string; proxy: string | null }): Promise<HttpResponse> {
    let current = new URL(url);
    const origin = current;
    for (let hops = 0; hops < 10; hops++) {
      state.url = current.toString();
      const headers: Record<string, string> = { 'user-agent': 'layerlens', ...init.headers };
      // Credentials belong to the origin the request started at: the same host, and never over plain HTTP when the
      // origin was HTTPS (on default ports an http:// redirect names the very same host).
      const sameOrigin = current.host === origin.host && (current.protocol === origin.protocol || current.protocol === 'https:');
      const authorization = sameOrigin ? init.authorize?.(current) : null;
      const { dispatcher, proxy } = this.route(current);
      if ((authorization || init.secretBody) && proxy && current.protocol === 'http:') {
        // Inside a tunnel, plain HTTP is still readable by the proxy: credentials cross a proxy only inside TLS.
        throw new ImageReadError(`${current.host}: refusing to send credentials through the proxy ${proxy.host} over plain HTTP; use HTTPS, or add ${current.hostname} to NO_PROXY`);
      }
      if (authorization) headers.authorization = authorization;
      if (init.range) headers.range = `bytes=${init.range}-`;
      state.proxy = proxy?.host ?? null;
      const response = await undici().request(current, { dispatcher, method: init.method ?? 'GET', headers, signal, ...(init.body !== undefined ? { body: init.body } : {}) });
      if (init.follow !== false && [301, 302, 303, 307, 308].includes(response.statusCode) && response.headers.location) {
        await response.body.dump().catch(() => undefined);
        const location = Array.isArray(response.headers.location) ? response.headers.location[0]! : response.headers.location;
        let next: URL;
        try {
          next = new URL(location, current);
        } catch {
          throw new ImageReadError(`${current.host}: redirected to ${quoteServerText(location)}, which is not a URL`);
        }
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new ImageReadError(`${current.host}: redirected to a ${quoteServerText(next.protocol)} URL; only http and https are followed`);
        if (next.protocol === 'http:' && current.protocol === 'https:') {
          // Plain HTTP is only for --plain-http and loopback registries that do not speak TLS; a tag's manifest
          // over HTTP could be anyone's.
          throw new ImageReadError(
            `${current.host}: redirected from HTTPS to plain HTTP (${next.host}); refusing to follow (plain HTTP is only used with --plain-http or for a loopback registry that does not speak TLS)`,
          );
        }
        this.options.debug?.(`redirected to ${next.host}${next.host === origin.host && next.protocol === origin.protocol ? '' : ' (without credentials)'}`);
        current = next;
        continue;
      }
      return { status: response.statusCode, headers: response.headers, body: response.body, url: current.toString() };
    }
    throw new ImageReadError(`${origin.host}: too many redirects`);
  }
}
