/**
 * HTTP to a local engine (the Docker Engine API, which Podman serves too) on Node's own client, not undici. The
 * registry needs undici (proxies, its retry and redirect rules); an engine is one socket on this machine, and for
 * it undici costs more than it gives: loading it and compiling its WebAssembly HTTP parser at the first request
 * took 54 MB of memory and about 0.1 s here (a GET /version over a unix socket: 98 MB peak RSS on undici, 44 MB on
 * node:http), which made reading an image from an engine cost more memory than reading its `docker save` file.
 * The response is the small shape the engine code reads: a status, headers, and the body as a Readable with
 * `text()`, `json()` and `dump()`.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export interface EngineBody extends Readable {
  text(): Promise<string>;
  json(): Promise<unknown>;
  /** Drop the rest of the body (and the connection it holds). */
  dump(): Promise<void>;
}

export interface EngineResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: EngineBody;
}

export type EngineTarget = { socketPath: string } | { url: URL; tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | null };

/** A response that sent no headers within the deadline (an engine that accepts the connection and says nothing). */
export class HeadersTimeoutError extends Error {
  readonly code = 'ENGINE_HEADERS_TIMEOUT';
}

/** Node's words for a connection the engine closed ("socket hang up", "aborted"), said plainly. */
function closedError(error: Error, when: string): Error {
  if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') return error;
  return Object.assign(new Error(`the engine closed the connection ${when}`, { cause: error }), { code: 'ECONNRESET' });
}

function withHelpers(message: IncomingMessage): EngineBody {
  const body = message as IncomingMessage & Partial<EngineBody>;
  // A body cut short errors with "aborted": the first listener renames it, so every reader says what happened.
  message.prependListener('error', (error: Error) => {
    if ((error as NodeJS.ErrnoException).code === 'ECONNRESET') error.message = 'the engine closed the connection before the response ended';
  });
  body.text = async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of message) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  body.json = async () => JSON.parse(await body.text!()) as unknown;
  body.dump = async () => {
    message.destroy();
  };
  return body as EngineBody;
}

export class EngineHttp {
  private readonly agent: http.Agent;

  constructor(private readonly target: EngineTarget) {
    // Keep-alive: a run asks an engine a few small questions before the export, on one connection.
    this.agent = 'socketPath' in target || !target.tls ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true, ...target.tls, rejectUnauthorized: true });
  }

  /** GET `pathname`. `headersTimeout` in ms (0: none, for an export that writes nothing until it is ready). */
  get(pathname: string, options: { headersTimeout?: number; signal?: AbortSignal } = {}): Promise<EngineResponse> {
    const target = this.target;
    const requestOptions: http.RequestOptions = { method: 'GET', path: pathname, agent: this.agent, headers: { 'user-agent': 'layerlens', host: 'socketPath' in target ? 'engine' : target.url.host } };
    if ('socketPath' in target) requestOptions.socketPath = target.socketPath;
    else Object.assign(requestOptions, { hostname: target.url.hostname, port: target.url.port || (target.tls ? 443 : 80) });
    if (options.signal) requestOptions.signal = options.signal;
    const send = 'socketPath' in target || !target.tls ? http.request : https.request;
    return new Promise((resolve, reject) => {
      const request = send(requestOptions);
      const limit = options.headersTimeout ?? 0;
      const timer = limit > 0 ? setTimeout(() => request.destroy(new HeadersTimeoutError(`no response headers within ${Math.round(limit / 1000)} s`)), limit) : null;
      request.once('response', (message) => {
        if (timer) clearTimeout(timer);
        resolve({ statusCode: message.statusCode ?? 0, headers: message.headers, body: withHelpers(message) });
      });
      request.once('error', (error) => {
        if (timer) clearTimeout(timer);
        reject(closedError(error, 'before it answered'));
      });
      request.end();
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
