/**
 * Engine sockets for tests that must see what layerlens asks an engine: `countingProxy` forwards a unix socket to
 * a real engine and records every request line and the bytes the engine sent back; `fakeEngine` is a small
 * Docker Engine API (node http on a unix socket) that reports any API version and serves a docker save tarball
 * as the export, recording the URLs it was asked for.
 */
import { createReadStream } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';

export interface ProxyLog {
  /** `unix://…` of the proxy: the value for DOCKER_HOST / CONTAINER_HOST. */
  address: string;
  /** Request lines seen so far, e.g. `GET /images/app/json`. */
  requests(): string[];
  /** Bytes the engine sent back so far (headers and bodies). */
  bytesFromEngine(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function countingProxy(engineSocket: string, dir: string): Promise<ProxyLog> {
  const socket = path.join(dir, `proxy-${process.pid}-${Math.random().toString(36).slice(2, 8)}.sock`);
  let requests: string[] = [];
  let fromEngine = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(engineSocket);
    open.add(client).add(upstream);
    let pending = '';
    client.on('data', (chunk: Buffer) => {
      // Request lines only (bodies of GETs are empty): enough to know which endpoints were called.
      pending += chunk.toString('latin1');
      for (const match of pending.matchAll(/(?:^|\r\n)((?:GET|HEAD|POST|PUT|DELETE) \S+) HTTP\/1\.[01]\r\n/g)) requests.push(match[1]!);
      pending = pending.slice(-2048);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      fromEngine += chunk.length;
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    address: `unix://${socket}`,
    requests: () => [...requests],
    bytesFromEngine: () => fromEngine,
    reset: () => {
      requests = [];
      fromEngine = 0;
    },
    close: async () => {
      for (const each of open) each.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface FakeEngine {
  address: string;
  /** URLs of every request, in order. */
  urls: string[];
  close(): Promise<void>;
}

/**
 * A Docker engine that holds one image, `name`, whose export is `archive` (a docker save tarball) and whose
 * record says `size` bytes and the given platform; `apiVersion` is what /version reports.
 */
/** A route of the fake engine's own: answer `pathname` (API version prefix removed) and return true, or false. */
export type FakeRoute = (pathname: string, url: string, response: ServerResponse) => boolean;

export async function fakeEngine(options: { dir: string; apiVersion: string; name: string; archive: string; record: Record<string, unknown>; routes?: FakeRoute }): Promise<FakeEngine> {
  const socket = path.join(options.dir, `fake-engine-${options.apiVersion}-${Math.random().toString(36).slice(2, 8)}.sock`);
  const urls: string[] = [];
  const server: HttpServer = createHttpServer((request, response) => {
    const url = request.url ?? '/';
    urls.push(url);
    const pathname = url.replace(/\?.*$/, '').replace(/^\/v\d+\.\d+/, '');
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (options.routes?.(pathname, url, response)) return;
    if (pathname === '/_ping') {
      response.writeHead(200, { 'content-type': 'text/plain', 'api-version': options.apiVersion });
      response.end('OK');
    } else if (pathname === '/version') {
      send(200, { Version: `fake-${options.apiVersion}`, ApiVersion: options.apiVersion, Components: [{ Name: 'Engine', Version: `fake-${options.apiVersion}` }] });
    } else if (pathname === `/images/${options.name}/json`) {
      send(200, options.record);
    } else if (pathname === `/images/${options.name}/get`) {
      response.writeHead(200, { 'content-type': 'application/x-tar' });
      createReadStream(options.archive).pipe(response);
    } else {
      send(404, { message: `No such image: ${pathname}` });
    }
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    address: `unix://${socket}`,
    urls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // undici keeps its connections alive
      }),
  };
}
