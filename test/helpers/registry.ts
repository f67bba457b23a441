/**
 * Real registries for tests: Debian's docker-registry (CNCF distribution) on 127.0.0.1 with temp storage, in
 * three set-ups — plain HTTP; TLS with a CA made here plus htpasswd basic auth; TLS plus token auth against a
 * small token issuer (Docker Hub's flow: a JWT whose x5c certificate the registry trusts). Images get in with
 * skopeo. Every process started here is killed when the test process exits.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export type RegistryMode = 'plain' | 'tls-basic' | 'token';

export interface RunningRegistry {
  mode: RegistryMode;
  host: string;
  port: number;
  storageDir: string;
  caFile: string | null;
  username: string | null;
  password: string | null;
  /** A DOCKER_CONFIG directory holding these credentials in `auths`. */
  dockerConfigDir: string | null;
  /** Token requests the issuer answered (token mode). */
  tokenRequests: () => number;
  blobPath(digest: string): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA and a server certificate for 127.0.0.1 and localhost signed by it. */
export function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=layerlens test CA'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext'], dir);
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Docker's token flow: GET /token?service=…&scope=repository:NAME:pull with Basic credentials → a signed JWT. */
async function startTokenIssuer(dir: string, service: string, username: string, password: string, grants: { pullOnly: boolean } = { pullOnly: false }): Promise<{ realm: string; bundle: string; count: () => number; close: () => Promise<void> }> {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '2', '-subj', '/CN=layerlens token issuer'], dir);
  const key = readFileSync(path.join(dir, 'token.key'), 'utf8');
  const pem = readFileSync(path.join(dir, 'token.crt'), 'utf8');
  const der = new X509Certificate(pem).raw.toString('base64');
  let requests = 0;
  const server: Server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const url = new URL(req.url ?? '/', 'http://issuer');
    const auth = req.headers.authorization;
    const expected = 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
    if (auth !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"wrong credentials"}');
      return;
    }
    const scope = url.searchParams.get('scope') ?? '';
    const [, name, actions] = /^repository:(.+):([a-z,*]+)$/.exec(scope) ?? [];
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
    const claims = base64url(
      JSON.stringify({ iss: 'layerlens-test-issuer', sub: username, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access: name ? [{ type: 'repository', name, actions: actions!.split(',').filter((action) => !grants.pullOnly || action === 'pull') }] : [] }),
    );
    const signature = base64url(createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key));
    const token = `${header}.${claims}.${signature}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { realm: `http://127.0.0.1:${port}/token`, bundle: path.join(dir, 'token.crt'), count: () => requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function waitUntilUp(host: string, tls: boolean, caFile: string | null, child: ChildProcess, log: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${readFileSync(log, 'utf8').slice(-2000)}`);
    try {
      execFileSync('curl', ['-s', '-o', '/dev/null', '--max-time', '1', ...(tls ? ['--cacert', caFile!] : []), `${tls ? 'https' : 'http'}://${host}/v2/`]);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`docker-registry did not come up: ${readFileSync(log, 'utf8').slice(-2000)}`);
}

/** `proxyOf`: the URL of another registry this one is a pull-through cache of (distribution's `proxy.remoteurl`). */
/**
 * `grants.pullOnly` (token mode), read at each token request: the issuer grants pull and nothing else, as a read-only
 * robot account's token would (set it after pushing the test's images).
 */
export async function startRegistry(mode: RegistryMode, options: { proxyOf?: string; grants?: { pullOnly: boolean } } = {}): Promise<RunningRegistry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `layerlens-registry-${mode}-`));
  const storageDir = path.join(dir, 'storage');
  mkdirSync(storageDir);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const tls = mode !== 'plain';
  const certs = tls ? makeCertificates(dir) : null;
  const username = mode === 'plain' ? null : 'tester';
  const password = mode === 'plain' ? null : `pw-${randomBytes(6).toString('hex')}`;
  let issuer: Awaited<ReturnType<typeof startTokenIssuer>> | null = null;
  const lines = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${storageDir}`, '  delete:', '    enabled: true', 'http:', `  addr: ${host}`];
  if (certs) lines.push('  tls:', `    certificate: ${certs.cert}`, `    key: ${certs.key}`);
  if (mode === 'tls-basic') {
    const htpasswd = path.join(dir, 'htpasswd');
    writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', username!, password!], { encoding: 'utf8' }));
    lines.push('auth:', '  htpasswd:', '    realm: layerlens-test', `    path: ${htpasswd}`);
  }
  if (mode === 'token') {
    issuer = await startTokenIssuer(dir, 'layerlens-test-registry', username!, password!, options.grants);
    lines.push('auth:', '  token:', `    realm: ${issuer.realm}`, '    service: layerlens-test-registry', '    issuer: layerlens-test-issuer', `    rootcertbundle: ${issuer.bundle}`);
  }
  if (options.proxyOf) lines.push('proxy:', `  remoteurl: ${options.proxyOf}`);
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, lines.join('\n') + '\n');
  const log = path.join(dir, 'registry.log');
  const out = openSync(log, 'a');
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', out, out] });
  children.add(child);
  await waitUntilUp(host, tls, certs?.ca ?? null, child, log);
  let dockerConfigDir: string | null = null;
  if (username) {
    dockerConfigDir = path.join(dir, 'docker');
    mkdirSync(dockerConfigDir);
    writeFileSync(path.join(dockerConfigDir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }));
  }
  return {
    mode,
    host,
    port,
    storageDir,
    caFile: certs?.ca ?? null,
    username,
    password,
    dockerConfigDir,
    tokenRequests: () => issuer?.count() ?? 0,
    blobPath: (digest: string) => {
      const hex = digest.slice(digest.indexOf(':') + 1);
      return path.join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    stop: async () => {
      child.kill('SIGTERM');
      children.delete(child);
      await issuer?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}


/** Copy an image in with skopeo (`--all` for an index); returns the digest of the pushed manifest. */
const run = promisify(execFile);

/**
 * Push an image with skopeo and return the pushed manifest's digest. Asynchronous on purpose: the token registry's
 * issuer runs in this process, so a synchronous child would deadlock waiting for a token nobody can serve.
 */
export async function pushImage(registry: RunningRegistry, source: string, repoAndTag: string, options: { all?: boolean } = {}): Promise<string> {
  const auth = registry.username ? ['--dest-creds', `${registry.username}:${registry.password}`] : [];
  await run('skopeo', ['copy', '--quiet', ...(options.all ? ['--all'] : []), '--dest-tls-verify=false', ...auth, source, `docker://${registry.host}/${repoAndTag}`], { timeout: 120_000 });
  const srcAuth = registry.username ? ['--creds', `${registry.username}:${registry.password}`] : [];
  const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...srcAuth, `docker://${registry.host}/${repoAndTag}`], { encoding: 'buffer', timeout: 60_000, maxBuffer: 8 << 20 });
  return `sha256:${createHash('sha256').update(stdout).digest('hex')}`;
}

/** An HTTP proxy in front of a plain registry that injects faults; `requests` records what it saw. */
export interface FaultProxy {
  host: string;
  requests: { method: string; url: string; authorization: boolean; range: string | undefined }[];
  stop(): Promise<void>;
}

export interface Faults {
  /** Cut each blob GET's connection after this many body bytes, the first time that blob is asked for. */
  cutBlobAfterBytes?: number;
  /** Answer the first `times` requests matching with 429 and Retry-After. */
  tooManyRequests?: { match: RegExp; times: number; retryAfterSeconds: number };
  /** Redirect blob GETs (307) to this other host, which serves them (and records its requests). */
  redirectBlobsTo?: string;
  /** Act as a registry that wants Basic auth: 401 with a challenge for any request without Authorization. */
  requireBasicAuth?: boolean;
  /** After cutting a blob, stop answering at all (the registry is gone and does not come back). */
  dieAfterCut?: boolean;
}

export async function startFaultProxy(target: string, faults: Faults, listenHost = '127.0.0.1'): Promise<FaultProxy> {
  const requests: FaultProxy['requests'] = [];
  const cut = new Set<string>();
  let limited = 0;
  const server = createHttpServer((req, res) => {
    const url = req.url ?? '/';
    requests.push({ method: req.method ?? 'GET', url, authorization: req.headers.authorization !== undefined, range: req.headers.range });
    if (faults.requireBasicAuth && !req.headers.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="layerlens-test"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (faults.tooManyRequests && faults.tooManyRequests.match.test(url) && limited < faults.tooManyRequests.times) {
      limited++;
      res.writeHead(429, { 'retry-after': String(faults.tooManyRequests.retryAfterSeconds) }).end();
      return;
    }
    const isBlob = /\/blobs\/sha256:/.test(url) && req.method === 'GET';
    if (isBlob && faults.redirectBlobsTo) {
      res.writeHead(307, { location: `http://${faults.redirectBlobsTo}${url}` }).end();
      return;
    }
    const headers = { ...req.headers, host: target };
    const upstream = httpRequest({ host: target.split(':')[0], port: Number(target.split(':')[1]), method: req.method, path: url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const cutAfter = faults.cutBlobAfterBytes;
      if (isBlob && cutAfter !== undefined && !req.headers.range && !cut.has(url) && answer.statusCode === 200) {
        cut.add(url);
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= cutAfter) return;
          const piece = chunk.subarray(0, cutAfter - sent);
          sent += piece.length;
          res.write(piece);
          if (sent >= cutAfter) {
            answer.destroy();
            res.socket?.destroy(); // the connection drops mid-blob
            if (faults.dieAfterCut) {
              server.closeAllConnections();
              server.close();
            }
          }
        });
        answer.on('end', () => {
          if (sent < cutAfter) res.end(); // shorter than the cut: delivered whole
        });
        return;
      }
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const port = await freePort(listenHost);
  await new Promise<void>((resolve) => server.listen(port, listenHost, resolve));
  return {
    host: `${listenHost}:${port}`,
    requests,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
