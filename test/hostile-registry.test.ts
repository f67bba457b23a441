/**
 * Registries that misbehave on purpose (issue 14, "Credentials and transport" and the cache bullets of "Resources
 * and cleanup"). Each test builds its hostile server here — an HTTPS redirect to plain HTTP, a plain-HTTP token
 * realm, a drip of headers, a manifest or a blob, an endless body, Retry-After: 3600, malformed challenges, a
 * stalled engine export — and asserts the exit code and the one line on stderr. The positive paths run against
 * the same small servers and, in test/registry.test.ts, against Debian's docker-registry.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as connectNet, createServer as createNetServer, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ChallengeError, parseChallenges } from '../src/fetch/registry/auth.js';
import { noProxy, proxyFor } from '../src/fetch/registry/transport.js';
import { scanLayer } from '../src/scan/scan.js';
import { ROOT, runCli, SAMPLES, type CliResult } from './helpers/cli.js';
import { layerTar } from './helpers/layout.js';
import { freePort, makeCertificates } from './helpers/registry.js';

let work: string;
let certs: { ca: string; cert: string; key: string };
const servers: { close(): Promise<void> }[] = [];

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-hostile-'));
  mkdirSync(path.join(work, 'docker-empty'));
  mkdirSync(path.join(work, 'tls'));
  certs = makeCertificates(path.join(work, 'tls'));
});
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    DOCKER_CONFIG: path.join(work, 'docker-empty'),
    XDG_CACHE_HOME: path.join(work, 'xdg-cache'),
    LAYERLENS_HTTP_BACKOFF_MS: '50',
    LAYERLENS_HTTP_ATTEMPTS: '1',
    DOCKER_HOST: 'unix:///nonexistent.sock',
    REGISTRY_AUTH_FILE: path.join(work, 'no-containers-auth.json'),
    ...Object.fromEntries(['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'].map((name) => [name, undefined])),
    ...extra,
  };
}

/** Exit code and exactly one line on stderr, matching; never an internal error or a stack trace. */
function expectOneLine(result: CliResult, code: number, pattern: RegExp): void {
  const lines = result.stderr.trim().split('\n');
  expect({ code: result.code, lines }).toEqual({ code, lines: [expect.stringMatching(pattern)] });
  expect(result.stderr).not.toMatch(/internal error|^\s+at /m);
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// A small image, and servers that serve it (or misbehave)

interface TinyImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
}

async function tinyImage(padding = 0): Promise<TinyImage> {
  const tar = await layerTar([
    { name: 'app/', type: 'directory' },
    { name: 'app/hello.txt', content: 'hello\n' },
    ...(padding > 0 ? [{ name: 'app/random.bin', content: randomBytes(padding) }] : []),
  ]);
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(tar)] }, history: [{ created_by: 'ADD app /app' }] }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), config, configDigest: sha256(config), layer, layerDigest: sha256(layer) };
}

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  range: string | undefined;
}

interface TestServer {
  host: string;
  port: number;
  requests: Seen[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function startServer(handler: Handler, options: { tls?: boolean } = {}): Promise<TestServer> {
  const requests: Seen[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', authorization: req.headers.authorization, range: req.headers.range });
    res.on('error', () => {});
    handler(req, res);
  };
  const server: Server = options.tls ? createHttpsServer({ key: readFileSync(certs.key), cert: readFileSync(certs.cert) }, listener) : createHttpServer(listener);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const handle: TestServer = {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

/** The Distribution API for `test/app` holding `image` under tag `1`: manifests, blobs (with Range), 404s. */
function serveImage(image: TinyImage, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  if (url === '/v2/' || url === '/v2') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    return;
  }
  const manifest = /^\/v2\/test\/app\/manifests\/([^/?]+)$/.exec(url);
  if (manifest && (manifest[1] === '1' || manifest[1] === image.manifestDigest)) {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': image.manifestDigest, 'content-length': image.manifest.length });
    res.end(req.method === 'HEAD' ? undefined : image.manifest);
    return;
  }
  const blob = /^\/v2\/test\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
  const bytes = blob?.[1] === image.configDigest ? image.config : blob?.[1] === image.layerDigest ? image.layer : null;
  if (bytes) {
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    if (from > 0) res.writeHead(206, { 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}`, 'content-length': bytes.length - from });
    else res.writeHead(200, { 'content-length': bytes.length });
    res.end(req.method === 'HEAD' ? undefined : bytes.subarray(from));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
}

/** Write `total` bytes one per second (bounded), stopping when the client goes away. */
function drip(res: ServerResponse | Socket, total = 120, byte = 'a'): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (sent++ >= total || res.destroyed) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(byte);
  }, 1000);
  res.on('close', () => clearInterval(timer));
}

const isLayer = (image: TinyImage, req: IncomingMessage) => req.url === `/v2/test/app/blobs/${image.layerDigest}`;
const isManifest = (req: IncomingMessage) => /\/manifests\//.test(req.url ?? '');

// ---------------------------------------------------------------------------------------------------------------

describe('WWW-Authenticate is read as RFC 7235 says', () => {
  test('several challenges in one header, Basic beside Bearer, quoted strings with commas and escapes', () => {
    expect(parseChallenges('Basic realm="reg", Bearer realm="https://auth.example/token",service="a,b \\"c\\"",scope="repository:x:pull"')).toEqual([
      { scheme: 'basic', params: { realm: 'reg' } },
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'a,b "c"', scope: 'repository:x:pull' } },
    ]);
    expect(parseChallenges(['Basic realm="reg"', 'BEARER Realm="https://auth.example/token" , Service = svc'])).toEqual([
      { scheme: 'basic', params: { realm: 'reg' } },
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'svc' } },
    ]);
    expect(parseChallenges('Negotiate abc+/==, Basic')).toEqual([
      { scheme: 'negotiate', params: { '': 'abc+/==' } },
      { scheme: 'basic', params: {} },
    ]);
    expect(parseChallenges('Bearer __proto__="x",constructor="y"')[0]!.params).toEqual({ ['__proto__']: 'x', constructor: 'y' });
  });

  test('what is not that grammar is rejected, not guessed', () => {
    // An unquoted URL is not a token (`:` and `/` are separators): RFC 7235 wants it quoted, as every registry does.
    for (const header of ['Bearer realm=https://a/token', 'Bearer realm="https://a/token', 'Bearer realm="a",realm="b"', 'Bearer realm="a" junk', '"Bearer"', 'Bearer realm="a\u0001b"', 'Bearer realm=a=b']) {
      expect(() => parseChallenges(header)).toThrow(ChallengeError);
    }
  });
});

describe('credentials never travel in clear text or to another host', () => {
  /** A TLS registry that wants Basic auth and, once it gets it, redirects manifests to `location`. */
  async function redirectingRegistry(location: (host: string, url: string) => string): Promise<TestServer> {
    const image = await tinyImage();
    return startServer(
      (req, res) => {
        if (!req.headers.authorization) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"' }).end();
          return;
        }
        if (isManifest(req)) {
          res.writeHead(307, { location: location(req.headers.host ?? '', req.url ?? '/') }).end();
          return;
        }
        serveImage(image, req, res);
      },
      { tls: true },
    );
  }

  test('an HTTPS registry redirecting to http:// on the very same host: refused, exit 3', async () => {
    let self = '';
    const registry = await redirectingRegistry((host, url) => `http://${(self = host)}${url}`);
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--ca-file', certs.ca, '--no-cache', '--username', 'ci', '--password-stdin'], { env: env(), input: 'job-token-secret\n' });
    expectOneLine(result, 3, /redirected from HTTPS to plain HTTP.*refusing/);
    expect(self).toBe(registry.host);
    expect(result.stderr).not.toContain('job-token-secret');
  });

  test('an HTTPS registry redirecting to a plain-HTTP host: refused before anything is sent there', async () => {
    const plain = await startServer((_req, res) => res.writeHead(200).end('{}'));
    const registry = await redirectingRegistry((_host, url) => `http://${plain.host}${url}`);
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--ca-file', certs.ca, '--no-cache', '--username', 'ci', '--password-stdin'], { env: env(), input: 'job-token-secret\n' });
    expectOneLine(result, 3, new RegExp(`${registry.host}: redirected from HTTPS to plain HTTP \\(${plain.host}\\)`));
    expect(plain.requests).toEqual([]);
    expect(registry.requests.some((request) => request.authorization)).toBe(true); // the registry itself did get them
  });

  test('an HTTPS registry naming a plain-HTTP token realm on another host: refused, exit 3', async () => {
    const registry = await startServer((req, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://token.invalid:8080/token",service="hostile"' }).end(), { tls: true });
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--ca-file', certs.ca, '--no-cache', '--username', 'ci', '--password-stdin'], { env: env(), input: 'job-token-secret\n' });
    expectOneLine(result, 3, /token service token\.invalid:8080 is plain HTTP .* while the registry is HTTPS; refusing/);
  });

  test('a 401 from where a redirect led (a CDN) is not answered: its token realm never sees the credentials', async () => {
    const image = await tinyImage();
    const realm = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"stolen"}'));
    const cdn = await startServer((_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realm.host}/token",service="cdn"` }).end());
    const registry = await startServer((req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"' }).end();
        return;
      }
      if (isLayer(image, req)) {
        res.writeHead(307, { location: `http://${cdn.host}${req.url}` }).end();
        return;
      }
      serveImage(image, req, res);
    });
    const result = await runCli(['layers', `docker://${registry.host}/test/app:1`, '--no-cache', '--username', 'ci', '--password-stdin'], { env: env(), input: 'job-token-secret\n' });
    expectOneLine(result, 3, new RegExp(`${cdn.host}, where the registry redirected blob ${image.layerDigest}, answered 401 Unauthorized`));
    expect(realm.requests).toEqual([]);
    expect(cdn.requests.length).toBeGreaterThan(0);
    expect(cdn.requests.every((request) => request.authorization === undefined)).toBe(true);
  });

  // The CDN's 401 can arrive before the scanner listens (it first loads its hasher): a stream that already failed,
  // or closed with no error, must fail the scan — waiting for an event that is gone made the process exit 13 with
  // nothing on stderr (one CI run in eight).
  test.each([
    ['failed', (stream: import('node:stream').PassThrough) => stream.destroy(new Error('401 from the CDN'))],
    ['closed with no error', (stream: import('node:stream').PassThrough) => stream.destroy()],
  ])('a layer stream that %s before the scan starts fails the scan, never leaves it waiting', async (_what, end) => {
    const { PassThrough } = await import('node:stream');
    const stream = new PassThrough();
    stream.on('error', () => undefined);
    end(stream);
    await new Promise((resolve) => setImmediate(resolve));
    await expect(scanLayer(stream, { label: 'layer 0' })).rejects.toThrow(/layer 0 could not be read/);
  });

  describe('--username belongs to the registry of the image it is given with', () => {
    async function basicRegistry(): Promise<TestServer> {
      const image = await tinyImage();
      const expected = 'Basic ' + Buffer.from('ci:job-token-secret').toString('base64');
      return startServer((req, res) => {
        if (req.headers.authorization !== expected) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end();
          return;
        }
        serveImage(image, req, res);
      });
    }

    async function anonymousRegistry(): Promise<TestServer> {
      const image = await tinyImage();
      return startServer((req, res) => serveImage(image, req, res));
    }

    const rules = ['--max-size', '1GB'];

    test('check: a --baseline on another registry never gets them', async () => {
      const own = await basicRegistry();
      const other = await anonymousRegistry();
      const result = await runCli(['check', `docker://${own.host}/test/app:1`, '--baseline', `docker://${other.host}/test/app:1`, ...rules, '--no-cache', '--username', 'ci', '--password-stdin'], { env: env(), input: 'job-token-secret\n', cwd: work });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(own.requests.some((request) => request.authorization)).toBe(true);
      expect(other.requests.length).toBeGreaterThan(0);
      expect(other.requests.filter((request) => request.authorization)).toEqual([]);
    });

    test('check: a --baseline on the same registry does get them (the password is read from stdin once)', async () => {
      const own = await basicRegistry();
      const result = await runCli(['check', `docker://${own.host}/test/app:1`, '--baseline', `docker://${own.host}/test/app:1`, ...rules, '--no-cache', '--username', 'ci', '--password-stdin'], { env: env(), input: 'job-token-secret\n', cwd: work });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    });

    test('containers-auth.json ($REGISTRY_AUTH_FILE) is read before docker config.json, and only for its registry', async () => {
      const own = await basicRegistry();
      const other = await anonymousRegistry();
      const file = path.join(work, 'containers-auth.json');
      writeFileSync(file, JSON.stringify({ auths: { [own.host]: { auth: Buffer.from('ci:job-token-secret').toString('base64') } } }));
      const dockerConfig = path.join(work, 'docker-wrong');
      mkdirSync(dockerConfig, { recursive: true });
      writeFileSync(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [own.host]: { auth: Buffer.from('ci:wrong').toString('base64') } } }));
      const result = await runCli(['check', `docker://${own.host}/test/app:1`, '--baseline', `docker://${other.host}/test/app:1`, ...rules, '--no-cache'], { env: env({ REGISTRY_AUTH_FILE: file, DOCKER_CONFIG: dockerConfig }), cwd: work });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(other.requests.filter((request) => request.authorization)).toEqual([]);
      writeFileSync(file, '{"auths": ');
      const broken = await runCli(['inspect', `docker://${own.host}/test/app:1`, '--no-cache'], { env: env({ REGISTRY_AUTH_FILE: file }) });
      expect(broken.code).toBe(2);
      expect(broken.stderr.split('\n')[0]).toBe(`layerlens: ${file} is not valid JSON; fix it or point REGISTRY_AUTH_FILE elsewhere`);
    });

    test('diff: sides on two registries cannot share them (exit 2); sides on one registry can', async () => {
      const own = await basicRegistry();
      const other = await anonymousRegistry();
      const refused = await runCli(['diff', `docker://${own.host}/test/app:1`, `docker://${other.host}/test/app:1`, '--no-cache', '--username', 'ci', '--password-stdin'], { env: env(), input: 'job-token-secret\n' });
      expect(refused.code).toBe(2);
      expect(refused.stderr.split('\n')[0]).toMatch(/--username\/--password-stdin are for one registry, but .* is on 127\.0\.0\.1:\d+ and .* on 127\.0\.0\.1:\d+/);
      expect(own.requests.concat(other.requests)).toEqual([]);
      const same = await runCli(['diff', `docker://${own.host}/test/app:1`, `docker://${own.host}/test/app:1`, '--no-cache', '--username', 'ci', '--password-stdin', '--json'], { env: env(), input: 'job-token-secret\n' });
      expect({ code: same.code, stderr: same.stderr }).toEqual({ code: 0, stderr: '' });
    });
  });
});

describe('every request has a deadline (--timeout)', () => {
  test('response headers that drip one byte a second: exit 3 naming the host, once per attempt', async () => {
    let requests = 0;
    const server = createNetServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        requests++;
        socket.write('HTTP/1.1 200 OK\r\nX-Drip: ');
        drip(socket);
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    servers.push({ close: () => new Promise((resolve) => server.close(() => resolve())) });
    const sockets = new Set<Socket>();
    server.on('connection', (socket) => sockets.add(socket));
    try {
      const result = await runCli(['inspect', `docker://127.0.0.1:${port}/test/app:1`, '--plain-http', '--no-cache', '--timeout', '2'], { env: env({ LAYERLENS_HTTP_ATTEMPTS: '2' }) });
      expectOneLine(result, 3, new RegExp(`127\\.0\\.0\\.1:${port}: no response headers for the manifest of tag "1" within 2 s \\(--timeout 2\\)`));
      expect(requests).toBe(2);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  test('a manifest body that drips: exit 3, the whole document must arrive within S', async () => {
    const image = await tinyImage();
    const registry = await startServer((req, res) => {
      if (isManifest(req) && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': image.manifest.length });
        drip(res, 60, ' ');
        return;
      }
      serveImage(image, req, res);
    });
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache', '--timeout', '2'], { env: env() });
    expectOneLine(result, 3, new RegExp(`${registry.host}: the manifest of tag "1" did not arrive within 2 s \\(--timeout 2\\)`));
  });

  test('a token that drips: exit 3 naming the token service', async () => {
    const image = await tinyImage();
    const realm = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      drip(res, 60, ' ');
    });
    const registry = await startServer((req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realm.host}/token",service="svc"` }).end();
        return;
      }
      serveImage(image, req, res);
    });
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache', '--timeout', '2'], { env: env() });
    expectOneLine(result, 3, new RegExp(`${realm.host}: a token for ${registry.host} did not arrive within 2 s`));
  });

  test('a blob that drips one byte a second: exit 3 saying it stalled; a stalled blob resumes once per attempt', async () => {
    const image = await tinyImage();
    const registry = await startServer((req, res) => {
      if (isLayer(image, req)) {
        // The blob's own bytes, from where the client asks, one a second.
        let at = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
        res.writeHead(at > 0 ? 206 : 200, at > 0 ? { 'content-range': `bytes ${at}-${image.layer.length - 1}/${image.layer.length}` } : {});
        const timer = setInterval(() => (at < image.layer.length && !res.destroyed ? res.write(image.layer.subarray(at, ++at)) : clearInterval(timer)), 1000);
        res.on('close', () => clearInterval(timer));
        return;
      }
      serveImage(image, req, res);
    });
    const result = await runCli(['layers', `docker://${registry.host}/test/app:1`, '--no-cache', '--timeout', '2'], { env: env({ LAYERLENS_HTTP_ATTEMPTS: '2' }) });
    expectOneLine(result, 3, new RegExp(`${registry.host}: blob ${image.layerDigest} stalled after \\d+ bytes: less than 64 KiB arrived in 2 s \\(--timeout 2\\)`));
    const layerRequests = registry.requests.filter((request) => request.url.endsWith(image.layerDigest));
    expect(layerRequests.map((request) => request.range !== undefined)).toEqual([false, true]);
  });

  test('a bad --timeout is a usage error', async () => {
    for (const value of ['0', '-1', 'soon']) {
      const result = await runCli(['inspect', 'docker://127.0.0.1:9/test/app:1', '--timeout', value], { env: env() });
      expect({ value, code: result.code }).toEqual({ value, code: 2 });
      expect(result.stderr.split('\n')[0]).toMatch(/--timeout .*give the number of seconds/);
    }
  });
});

describe('a blob body is never read past its size', () => {
  /** A registry whose layer blob is the real bytes followed by `tail` forever (bounded at 256 MiB). */
  async function endlessRegistry(image: TinyImage, tail: Buffer): Promise<{ registry: TestServer; sent: () => number }> {
    let sent = 0;
    const registry = await startServer((req, res) => {
      if (isLayer(image, req) && req.method === 'GET') {
        res.writeHead(200, {});
        res.write(image.layer);
        const pump = () => {
          while (!res.destroyed && sent < 256 << 20) {
            sent += tail.length;
            if (!res.write(tail)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      serveImage(image, req, res);
    });
    return { registry, sent: () => sent };
  }

  test('an endless body after a valid layer: reading stops at size + 1, the size check fails, exit 1; nothing cached', async () => {
    const image = await tinyImage();
    const { registry, sent } = await endlessRegistry(image, Buffer.alloc(64 * 1024));
    const cache = path.join(work, 'cache-endless');
    const result = await runCli(['layers', `docker://${registry.host}/test/app:1`, '--cache-dir', cache, '--json'], { env: env() });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 1, stderr: '' });
    const report = JSON.parse(result.stdout) as { verify: { ok: boolean; checks: { what: string; ok: boolean; expected: unknown; actual: unknown }[] } };
    expect(report.verify.checks.find((check) => check.what === 'layer 0 blob size')).toMatchObject({ ok: false, expected: image.layer.length, actual: image.layer.length + 1 });
    expect(report.verify.checks.find((check) => check.what === 'layer 0 blob digest')).toMatchObject({ ok: false, expected: image.layerDigest });
    expect(sent()).toBeLessThan(256 << 20);
    const blobs = readdirSync(path.join(cache, 'blobs', 'sha256'));
    expect(blobs).not.toContain(image.layerDigest.slice(7));
    expect(blobs.filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  // Damage is a finding (CONTRACT.md): junk that is not the blob fails its digest check, exit 1 — `layers` with its
  // report (the layer's figures null), `files` with one line naming the digest the bytes do not have.
  test('an endless body of junk: the run ends, a failed digest check (exit 1) naming the digest the bytes do not have', async () => {
    const image = await tinyImage();
    const { registry } = await endlessRegistry(image, Buffer.alloc(64 * 1024, 'x'));
    const result = await runCli(['layers', `docker://${registry.host}/test/app:1`, '--no-cache', '--json'], { env: env() });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 1, stderr: '' });
    const report = JSON.parse(result.stdout) as { layers: { uncompressedSize: number | null }[]; verify: { checks: { what: string; ok: boolean; expected: unknown; actual: unknown }[] } };
    expect(report.verify.checks.find((check) => check.what === 'layer 0 blob digest')).toMatchObject({ ok: false, expected: image.layerDigest });
    expect(report.verify.checks.find((check) => check.what === 'layer 0 blob size')).toMatchObject({ ok: false, expected: image.layer.length, actual: image.layer.length + 1 });
    expect(report.layers[0]!.uncompressedSize).toBeNull();
    expectOneLine(await runCli(['files', `docker://${registry.host}/test/app:1`, '--no-cache'], { env: env() }), 1, new RegExp(`not ${image.layerDigest} as its manifest says`));
  });
});

describe('Retry-After', () => {
  test('a registry asking to be retried in an hour is not waited for: exit 3 saying when', async () => {
    for (const [retryAfter, attempts] of [['3600', '4'], [new Date(Date.now() + 7_200_000).toUTCString(), '4'], ['3600', '1']]) {
      const registry = await startServer((_req, res) => res.writeHead(429, { 'retry-after': retryAfter }).end());
      const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache'], { env: env({ LAYERLENS_HTTP_ATTEMPTS: attempts }) });
      expectOneLine(result, 3, new RegExp(`${registry.host}: the registry answered 429 and asks to be retried in \\d+ s \\(at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\); not waiting`));
      expect(registry.requests.filter(isManifestRequest)).toHaveLength(1);
    }
  });
});

function isManifestRequest(request: Seen): boolean {
  return request.url.includes('/manifests/');
}

describe('malformed WWW-Authenticate: parsed, or exit 3 — never an internal error', () => {
  /** A registry wanting `Bearer good-token`, challenging with `challenge(realmHost)`; a token service beside it. */
  async function challenging(challenge: (realm: string) => string | string[]): Promise<{ registry: TestServer; realm: TestServer }> {
    const image = await tinyImage();
    const realm = await startServer((req, res) => {
      const service = new URL(req.url ?? '/', 'http://x').searchParams.get('service');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: service === 'a,b "c"' || service === 'svc' ? 'good-token' : 'wrong-service' }));
    });
    const registry = await startServer((req, res) => {
      if (req.headers.authorization !== 'Bearer good-token') {
        res.writeHead(401, { 'www-authenticate': challenge(`http://${realm.host}/token`) }).end();
        return;
      }
      serveImage(image, req, res);
    });
    return { registry, realm };
  }

  test('Basic and Bearer offered in one header, or in two: Bearer is used', async () => {
    for (const header of [(realm: string) => `Basic realm="r", Bearer realm="${realm}",service="svc"`, (realm: string) => ['Basic realm="r"', `Bearer realm="${realm}",service="svc"`]]) {
      const { registry, realm } = await challenging(header);
      const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache'], { env: env() });
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(realm.requests).toHaveLength(1);
    }
  });

  test('quoted strings with commas and escapes are read exactly', async () => {
    const { registry } = await challenging((realm) => `Bearer realm="${realm}",service="a,b \\"c\\"",scope="repository:test/app:pull"`);
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache'], { env: env() });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test.each([
    ['a realm that is not a URL', () => 'Bearer realm="not a url",service="svc"', /names a token realm that is not a URL: "not a url"/],
    ['a realm that is not http(s)', () => 'Bearer realm="file:///etc/passwd"', /token realm that is not an http\(s\) URL/],
    ['no realm at all', () => 'Bearer service="svc"', /asks for a Bearer token but names no token realm/],
    ['an unterminated quoted string', (realm: string) => `Bearer realm="${realm}`, /WWW-Authenticate header cannot be read \(an unterminated quoted string\)/],
    ['a parameter given twice', (realm: string) => `Bearer realm="${realm}",realm="http://127.0.0.1:1/"`, /cannot be read \(the parameter "realm" given twice/],
    ['a realm with credentials in its URL', () => 'Bearer realm="https://user:pw@auth.example/token"', /token realm with credentials in its URL; refusing it/],
  ])('%s: exit 3', async (_name, challenge, pattern) => {
    const { registry, realm } = await challenging(challenge);
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache'], { env: env() });
    expectOneLine(result, 3, pattern);
    expect(realm.requests).toEqual([]);
  });

  test('a token service answering with a token that cannot go in a header: exit 3', async () => {
    const image = await tinyImage();
    const realm = await startServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'abc\r\nX-Injected: 1' })));
    const registry = await startServer((req, res) => {
      if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realm.host}/token"` }).end();
      serveImage(image, req, res);
    });
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache'], { env: env() });
    expectOneLine(result, 3, /returned a token that cannot be used in a header/);
  });
});

describe('the blob cache', () => {
  const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

  function temps(cache: string): string[] {
    const dir = path.join(cache, 'blobs', 'sha256');
    return existsSync(dir) ? readdirSync(dir).filter((name) => name.includes('.tmp-')) : [];
  }

  async function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
    return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  test.each(['SIGINT', 'SIGTERM'] as const)('%s during a download leaves no .tmp- file behind', async (signal) => {
    const image = await tinyImage(300_000);
    const registry = await startServer((req, res) => {
      if (isLayer(image, req)) {
        res.writeHead(200, { 'content-length': image.layer.length });
        res.write(image.layer.subarray(0, 100_000)); // then nothing: the download waits (well within --timeout)
        return;
      }
      serveImage(image, req, res);
    });
    const cache = path.join(work, `cache-${signal}`);
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'layerlens.js'), 'layers', `docker://${registry.host}/test/app:1`, '--cache-dir', cache, '--timeout', '60'], { env: { ...process.env, ...env() }, stdio: 'ignore' });
    try {
      let downloading = false;
      for (let tries = 0; tries < 200 && !downloading; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        downloading = temps(cache).some((name) => statSync(path.join(cache, 'blobs', 'sha256', name)).size >= 50_000);
      }
      expect(downloading).toBe(true);
      child.kill(signal);
      expect(await exitOf(child)).toEqual({ code: null, signal });
      expect(temps(cache)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('temp files a killed run left are swept at start: older than a day, or from a process of this host that is gone', async () => {
    const image = await tinyImage();
    const registry = await startServer((req, res) => serveImage(image, req, res));
    const cache = path.join(work, 'cache-sweep');
    const dir = path.join(cache, 'blobs', 'sha256');
    mkdirSync(dir, { recursive: true });
    const gone = spawn(process.execPath, ['-e', '']);
    await exitOf(gone);
    const hex = 'ab'.repeat(32);
    const names = {
      deadHere: `${hex}.tmp-${HOST_TAG}-${gone.pid}-00000001`,
      deadOldForm: `${hex}.tmp-${gone.pid}-00000002`,
      oldElsewhere: `${hex}.tmp-ffffffff-${process.pid}-00000003`,
      liveHere: `${hex}.tmp-${HOST_TAG}-${process.pid}-00000004`,
      freshElsewhere: `${hex}.tmp-ffffffff-${gone.pid}-00000005`,
    };
    for (const name of Object.values(names)) writeFileSync(path.join(dir, name), 'partial');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(path.join(dir, names.oldElsewhere), twoDaysAgo, twoDaysAgo);
    const result = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--cache-dir', cache], { env: env() });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(temps(cache).sort()).toEqual([names.liveHere, names.freshElsewhere].sort());
  });

  test('a cached layer blob that no longer matches its digest is evicted and fetched again, with one note', async () => {
    const image = await tinyImage();
    const registry = await startServer((req, res) => serveImage(image, req, res));
    const cache = path.join(work, 'cache-rot');
    const first = await runCli(['layers', `docker://${registry.host}/test/app:1`, '--cache-dir', cache, '--json'], { env: env() });
    expect(first.code).toBe(0);
    const file = path.join(cache, 'blobs', 'sha256', image.layerDigest.slice(7));
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0xff; // bit rot
    writeFileSync(file, bytes);
    // So that the blob itself is read again: neither its scan nor the image's report may stand in for it.
    rmSync(path.join(cache, 'scans'), { recursive: true, force: true });
    rmSync(path.join(cache, 'reports'), { recursive: true, force: true });
    registry.requests.length = 0;
    const second = await runCli(['layers', `docker://${registry.host}/test/app:1`, '--cache-dir', cache, '--json'], { env: env() });
    expectOneLine({ ...second, stdout: '' }, 0, new RegExp(`the cached copy of ${image.layerDigest} .* no longer matched its digest .*; removed it and fetching the blob again`));
    expect(JSON.parse(second.stdout).layers).toEqual(JSON.parse(first.stdout).layers);
    expect(registry.requests.filter((request) => request.method === 'GET' && request.url.endsWith(image.layerDigest))).toHaveLength(1);
    expect(sha256(readFileSync(file))).toBe(image.layerDigest);
  });

  test('a --cache-dir that is a file: no cache, one note, the run succeeds', async () => {
    const image = await tinyImage();
    const registry = await startServer((req, res) => serveImage(image, req, res));
    const file = path.join(work, 'cache-is-a-file');
    writeFileSync(file, 'not a directory');
    for (const command of [['layers', `docker://${registry.host}/test/app:1`], ['diff', `docker://${registry.host}/test/app:1`, `docker://${registry.host}/test/app:1`]]) {
      const result = await runCli([...command, '--cache-dir', file, '--json'], { env: env() });
      expectOneLine({ ...result, stdout: '' }, 0, new RegExp(`the cache directory ${file} cannot be used \\(it is a file, not a directory\\); going on without a cache`));
    }
    expect(readFileSync(file, 'utf8')).toBe('not a directory');
  });

  test('a read-only --cache-dir: no cache, one note, the run succeeds', async () => {
    const image = await tinyImage();
    const registry = await startServer((req, res) => serveImage(image, req, res));
    const dir = path.join(work, 'cache-read-only');
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    // root writes anywhere: run the CLI as nobody then.
    const asRoot = process.getuid?.() === 0;
    chmodSync(work, 0o755);
    const command = [path.join(ROOT, 'bin', 'layerlens.js'), 'layers', `docker://${registry.host}/test/app:1`, '--cache-dir', dir];
    const child = asRoot
      ? spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...command], { env: { ...process.env, ...env(), HOME: '/nonexistent', NO_COLOR: '1' } })
      : spawn(process.execPath, command, { env: { ...process.env, ...env(), NO_COLOR: '1' } });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.stdout!.resume();
    const { code } = await exitOf(child);
    expectOneLine({ code: code ?? -1, stdout: '', stderr }, 0, new RegExp(`the cache directory ${dir} cannot be used \\(it is read-only \\(EACCES\\)\\); going on without a cache`));
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY): credentials cross one only inside TLS', () => {
  test('which URLs are proxied, as Go reads the variables', () => {
    const env = { HTTPS_PROXY: 'http://user:pw@proxy:3128', http_proxy: 'proxy:8080', NO_PROXY: 'internal.example, .corp.example,10.0.0.0/8,ghcr.io:8443' };
    const via = (url: string) => proxyFor(new URL(url), env)?.host ?? null;
    expect(via('https://ghcr.io/v2/')).toBe('proxy:3128');
    expect(via('http://ghcr.io/v2/')).toBe('proxy:8080');
    expect(via('https://ghcr.io:8443/v2/')).toBeNull();
    expect(via('https://internal.example/v2/')).toBeNull();
    expect(via('https://a.internal.example/v2/')).toBeNull();
    expect(via('https://x.corp.example/v2/')).toBeNull();
    expect(via('https://10.1.2.3:5000/v2/')).toBeNull();
    expect(via('https://11.1.2.3:5000/v2/')).toBe('proxy:3128');
    for (const loopback of ['https://127.0.0.1:5000/', 'https://localhost/', 'https://[::1]:5000/']) expect(via(loopback)).toBeNull();
    expect(proxyFor(new URL('https://ghcr.io/'), { HTTP_PROXY: 'http://proxy:8080' })).toBeNull(); // https uses HTTPS_PROXY only
    expect(noProxy(new URL('https://anything.example/'), '*')).toBe(true);
  });

  /** A CONNECT proxy that sends every tunnel to 127.0.0.1 (so `registry.test:PORT` reaches a test server). */
  async function connectProxy(options: { answer?: number } = {}): Promise<{ host: string; tunnels: string[]; clearText: () => string; close(): Promise<void> }> {
    const tunnels: string[] = [];
    let seen = '';
    const sockets = new Set<Socket>();
    const server = createNetServer((client) => {
      sockets.add(client);
      client.on('error', () => {});
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        client.off('data', onData);
        const target = /^CONNECT (\S+):(\d+) HTTP/.exec(head.toString('latin1'));
        if (!target || options.answer) {
          client.end(`HTTP/1.1 ${options.answer ?? 400} No\r\n\r\n`);
          return;
        }
        tunnels.push(`${target[1]}:${target[2]}`);
        const upstream = connectNet(Number(target[2]), '127.0.0.1', () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          const rest = head.subarray(end + 4);
          if (rest.length) upstream.write(rest);
          client.on('data', (data: Buffer) => (seen += data.toString('latin1')));
          client.pipe(upstream).pipe(client);
        });
        sockets.add(upstream);
        upstream.on('error', () => client.destroy());
      };
      client.on('data', onData);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const handle = {
      host: `127.0.0.1:${port}`,
      tunnels,
      clearText: () => seen,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
    servers.push(handle);
    return handle;
  }

  /** A CA-signed certificate for registry.test, for a TLS registry only the proxy can reach by that name. */
  function registryTestCertificate(): { cert: string; key: string } {
    const dir = path.join(work, 'tls');
    if (!existsSync(path.join(dir, 'named.crt'))) {
      writeFileSync(path.join(dir, 'named.ext'), 'subjectAltName=DNS:registry.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
      execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'named.key', '-out', 'named.csr', '-subj', '/CN=registry.test'], { cwd: dir, stdio: 'pipe' });
      execFileSync('openssl', ['x509', '-req', '-in', 'named.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'named.crt', '-days', '2', '-extfile', 'named.ext'], { cwd: dir, stdio: 'pipe' });
    }
    return { cert: path.join(dir, 'named.crt'), key: path.join(dir, 'named.key') };
  }

  async function namedTlsRegistry(): Promise<TestServer> {
    const image = await tinyImage();
    const named = registryTestCertificate();
    const requests: Seen[] = [];
    const expected = 'Basic ' + Buffer.from('ci:job-token-secret').toString('base64');
    const server = createHttpsServer({ key: readFileSync(named.key), cert: readFileSync(named.cert) }, (req, res) => {
      requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', authorization: req.headers.authorization, range: req.headers.range });
      if (req.headers.authorization !== expected) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end();
      serveImage(image, req, res);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const handle = { host: `127.0.0.1:${port}`, port, requests, close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
    servers.push(handle);
    return handle;
  }

  test('an HTTPS registry through HTTPS_PROXY: a CONNECT tunnel, the credentials only inside TLS', async () => {
    const proxy = await connectProxy();
    const registry = await namedTlsRegistry();
    const result = await runCli(['inspect', `docker://registry.test:${registry.port}/test/app:1`, '--ca-file', certs.ca, '--no-cache', '--username', 'ci', '--password-stdin'], {
      env: env({ HTTPS_PROXY: `http://${proxy.host}` }),
      input: 'job-token-secret\n',
    });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(proxy.tunnels).toContain(`registry.test:${registry.port}`);
    expect(registry.requests.some((request) => request.authorization)).toBe(true);
    expect(proxy.clearText()).not.toMatch(/authorization|job-token-secret|Y2k6/i);
  });

  test('a plain-HTTP registry through HTTP_PROXY: anonymous works, credentials are refused (exit 3)', async () => {
    const proxy = await connectProxy();
    const image = await tinyImage();
    const registry = await startServer((req, res) => serveImage(image, req, res));
    const name = `docker://registry.test:${registry.port}/test/app:1`;
    const anonymous = await runCli(['inspect', name, '--plain-http', '--no-cache'], { env: env({ HTTP_PROXY: `http://${proxy.host}` }) });
    expect({ code: anonymous.code, stderr: anonymous.stderr }).toEqual({ code: 0, stderr: '' });
    expect(proxy.tunnels).toContain(`registry.test:${registry.port}`);
    const withCredentials = await startServer((req, res) => {
      if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end();
      serveImage(image, req, res);
    });
    const refused = await runCli(['inspect', `docker://registry.test:${withCredentials.port}/test/app:1`, '--plain-http', '--no-cache', '--username', 'ci', '--password-stdin'], {
      env: env({ HTTP_PROXY: `http://${proxy.host}` }),
      input: 'job-token-secret\n',
    });
    expectOneLine(refused, 3, new RegExp(`registry\\.test:${withCredentials.port}: refusing to send credentials through the proxy ${proxy.host} over plain HTTP`));
    expect(withCredentials.requests.filter((request) => request.authorization)).toEqual([]);
    expect(proxy.clearText()).not.toMatch(/authorization|job-token-secret/i);
  });

  test('loopback is never proxied; NO_PROXY is honoured; a proxy that refuses the tunnel: exit 3 naming it', async () => {
    const proxy = await connectProxy();
    const image = await tinyImage();
    const registry = await startServer((req, res) => serveImage(image, req, res));
    const direct = await runCli(['inspect', `docker://${registry.host}/test/app:1`, '--no-cache'], { env: env({ HTTPS_PROXY: `http://${proxy.host}`, HTTP_PROXY: `http://${proxy.host}` }) });
    expect({ code: direct.code, stderr: direct.stderr }).toEqual({ code: 0, stderr: '' });
    const exempt = await runCli(['inspect', `docker://registry.test:${registry.port}/test/app:1`, '--plain-http', '--no-cache'], { env: env({ HTTP_PROXY: `http://${proxy.host}`, NO_PROXY: 'registry.test' }) });
    expectOneLine(exempt, 3, /registry\.test:\d+: no such host \(DNS lookup failed\)/);
    expect(proxy.tunnels).toEqual([]);
    const refusing = await connectProxy({ answer: 407 });
    const denied = await runCli(['inspect', `docker://registry.test:${registry.port}/test/app:1`, '--plain-http', '--no-cache'], { env: env({ HTTP_PROXY: `http://user:proxy-secret@${refusing.host}` }) });
    expectOneLine(denied, 3, new RegExp(`the proxy ${refusing.host} refused the tunnel \\(407`));
    expect(denied.stderr).not.toContain('proxy-secret');
  });
});

describe('a local engine: no headers deadline, the stall rule once bytes flow', () => {
  /** A Docker Engine API on tcp:// whose `/images/app/get` is `exportImage`. */
  async function fakeEngine(exportImage: (res: ServerResponse) => void): Promise<TestServer> {
    return startServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/_ping') return void res.writeHead(200).end('OK');
      if (url === '/version') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"Version":"24.0.0"}');
      if (url === '/images/app/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"Id":"sha256:00","RepoTags":["app:latest"],"RepoDigests":[],"Size":1}');
      if (url === '/images/app/get') return exportImage(res);
      res.writeHead(404).end('{}');
    });
  }

  test('an engine that thinks longer than --timeout before its first byte is waited for', async () => {
    const archive = readFileSync(path.join(SAMPLES, 'busybox-amd64.tar'));
    const engine = await fakeEngine((res) => {
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/x-tar' }).end(archive), 3000);
      res.on('close', () => clearTimeout(timer));
    });
    // layers reads the export (inspect answers from the image record and never asks for it).
    const result = await runCli(['layers', 'docker-daemon:app', '--timeout', '2'], { env: env({ DOCKER_HOST: `tcp://${engine.host}` }) });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('an export that stops once bytes flow: exit 3 saying it stalled', async () => {
    const archive = readFileSync(path.join(SAMPLES, 'busybox-amd64.tar'));
    const engine = await fakeEngine((res) => {
      res.writeHead(200, { 'content-type': 'application/x-tar' });
      res.write(archive.subarray(0, 100_000)); // and then nothing more
    });
    const result = await runCli(['layers', 'docker-daemon:app', '--timeout', '2'], { env: env({ DOCKER_HOST: `tcp://${engine.host}` }) });
    expectOneLine(result, 3, new RegExp(`docker at tcp://${engine.host.replace(/\./g, '\\.')}: the export of app stalled after \\d+ bytes: less than 64 KiB arrived in 2 s`));
  });
});
