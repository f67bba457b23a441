/**
 * Registry credentials and the Docker token flow. Credentials come from --username/--password-stdin, else
 * containers-auth.json(5) ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.config/containers/auth.json), else the docker config.json ($DOCKER_CONFIG or ~/.docker): `auths` (`auth` or
 * `identitytoken`), `credHelpers` and `credsStore` (docker-credential-<name> get). A 401 challenge says what to do: `Basic` sends the credentials;
 * `Bearer realm,service,scope` fetches a token (anonymously when there are no credentials), cached per scope until
 * it expires. No secret is ever put in a message or a debug line.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImageReadError, UsageError } from '../../errors.js';
import { DOCKER_HUB } from '../../reference.js';
import { isLoopback, quoteServerText, readLimited, type HttpResponse, type RegistryTransport } from './transport.js';

export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), used instead of the password at the token endpoint. */
  identityToken?: string;
  /**
   * The registry these credentials were given for (`--username` with an image): a client for any other registry
   * ignores them and falls back to that registry's own entry in the auth files. Unset: any registry (library use).
   */
  registry?: string;
}

/** The key docker's config.json uses for a registry. */
export function credentialKey(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export function dockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

/** An auth file in docker's config.json format (containers-auth.json(5) uses the same one), or null if absent. */
async function readAuthFile(file: string, fix: string): Promise<DockerConfig | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as DockerConfig;
  } catch {
    throw new UsageError(`${file} is not valid JSON; fix it or ${fix}`);
  }
}

/**
 * containers-auth.json(5), in the order podman and skopeo read it: $REGISTRY_AUTH_FILE (else
 * $XDG_RUNTIME_DIR/containers/auth.json), then ~/.config/containers/auth.json.
 */
function containersAuthFiles(): string[] {
  const primary = process.env.REGISTRY_AUTH_FILE || (process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : null);
  return [...(primary ? [primary] : []), path.join(os.homedir(), '.config', 'containers', 'auth.json')];
}

function lookupKeys(registry: string): string[] {
  const key = credentialKey(registry);
  return [key, `https://${key}`, `http://${key}`, `https://${key}/v1/`, `https://${key}/v2/`];
}

async function runHelper(name: string, server: string): Promise<Credentials | null> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new ImageReadError(error.code === 'ENOENT' ? `${program} (named in docker's config.json) is not installed` : `${program} failed to start`)),
    );
    child.on('close', (code) => {
      if (code !== 0) {
        // "credentials not found" is not an error: the registry may allow anonymous pulls.
        resolve(null);
        return;
      }
      try {
        const parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!parsed.Secret) return resolve(null);
        if (parsed.Username === '<token>') resolve({ username: '', password: '', identityToken: parsed.Secret });
        else resolve({ username: parsed.Username ?? '', password: parsed.Secret });
      } catch {
        reject(new ImageReadError(`${program} returned something that is not JSON`));
      }
    });
    child.stdin.end(server);
  });
}

/** The entry a config holds for a registry (an `auths` entry, else a credential helper), or null. */
async function entryCredentials(config: DockerConfig, registry: string, keys: string[], file: string): Promise<Credentials | null> {
  const key = credentialKey(registry);
  const helper = config.credHelpers?.[key] ?? config.credHelpers?.[registry];
  if (typeof helper === 'string' && helper) return runHelper(helper, key);
  for (const candidate of keys) {
    const entry = config.auths?.[candidate];
    if (!entry || typeof entry !== 'object') continue;
    if (typeof entry.identitytoken === 'string' && entry.identitytoken) return { username: '', password: '', identityToken: entry.identitytoken };
    if (typeof entry.auth === 'string' && entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) throw new UsageError(`the "auth" entry for ${candidate} in ${file} is not base64 of user:password`);
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  return null;
}

/**
 * Credentials for a registry from the auth files (CONTRACT.md "Credentials"), or null: containers-auth.json(5)
 * first, then docker's config.json (`auths`, `credHelpers`, then `credsStore`). Entries are per registry: the
 * per-repository keys containers-auth.json allows (`registry/namespace`) are not read.
 */
export async function configCredentials(registry: string): Promise<Credentials | null> {
  for (const file of containersAuthFiles()) {
    const config = await readAuthFile(file, 'point REGISTRY_AUTH_FILE elsewhere');
    if (!config) continue;
    const found = await entryCredentials(config, registry, registry === DOCKER_HUB ? ['docker.io', 'index.docker.io', ...lookupKeys(registry)] : [registry, ...lookupKeys(registry)], file);
    if (found) return found;
  }
  const file = path.join(dockerConfigDir(), 'config.json');
  const config = await readAuthFile(file, 'point DOCKER_CONFIG elsewhere');
  if (!config) return null;
  const found = await entryCredentials(config, registry, lookupKeys(registry), "docker's config.json");
  if (found) return found;
  if (typeof config.credsStore === 'string' && config.credsStore) return runHelper(config.credsStore, credentialKey(registry));
  return null;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** A WWW-Authenticate header that cannot be read as RFC 7235 says. */
export class ChallengeError extends Error {}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Every challenge of `WWW-Authenticate` (RFC 7235 §4.1: `1#challenge`, where a challenge is
 * `auth-scheme [ 1*SP ( token68 / #auth-param ) ]` and a param's value is a token or a quoted-string with
 * backslash escapes). Several headers are read as one list. Throws ChallengeError when the text is not that
 * grammar (an unterminated quote, a parameter given twice, stray characters): guessing would let a hostile
 * server choose what is read.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = (Array.isArray(header) ? header : header === undefined ? [] : [header]).join(', ');
  const challenges: Challenge[] = [];
  let at = 0;
  const spaces = () => {
    while (at < text.length && (text[at] === ' ' || text[at] === '\t')) at++;
  };
  const token = (): string => {
    const from = at;
    while (at < text.length && TOKEN.test(text[at]!)) at++;
    return text.slice(from, at);
  };
  const quoted = (): string => {
    at++; // the opening quote
    let value = '';
    while (at < text.length) {
      const char = text[at]!;
      if (char === '"') {
        at++;
        return value;
      }
      if (char === '\\') {
        if (at + 1 >= text.length) break;
        value += text[at + 1];
        at += 2;
        continue;
      }
      if (char.charCodeAt(0) < 0x20 && char !== '\t') throw new ChallengeError('a control character inside a quoted string');
      value += char;
      at++;
    }
    throw new ChallengeError('an unterminated quoted string');
  };
  /** At a list separator: skip it (and empty list elements). */
  const separators = () => {
    for (;;) {
      spaces();
      if (text[at] !== ',') return;
      at++;
    }
  };
  separators();
  while (at < text.length) {
    const scheme = token();
    if (!scheme) throw new ChallengeError(`an unexpected ${JSON.stringify(text[at])} where a scheme was expected`);
    const params = new Map<string, string>();
    challenges.push({ scheme: scheme.toLowerCase(), params: {} });
    spaces();
    // token68 (e.g. `Negotiate abc==`): kept as the parameter "" so that nothing is lost.
    const token68 = /^[A-Za-z0-9\-._~+/]+=*(?=\s*(,|$))/.exec(text.slice(at));
    if (token68 && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=\s*[^=\s,]/.test(text.slice(at))) {
      params.set('', token68[0]);
      challenges[challenges.length - 1]!.params = Object.fromEntries(params);
      at += token68[0].length;
      separators();
      continue;
    }
    for (;;) {
      const mark = at;
      const name = token();
      spaces();
      if (!name || text[at] !== '=') {
        at = mark; // not a parameter: the next challenge's scheme (or the end)
        break;
      }
      at++;
      spaces();
      const value = text[at] === '"' ? quoted() : token();
      const key = name.toLowerCase();
      if (params.has(key)) throw new ChallengeError(`the parameter ${JSON.stringify(key)} given twice in one challenge`);
      params.set(key, value);
      spaces();
      if (at < text.length && text[at] !== ',') throw new ChallengeError(`an unexpected ${JSON.stringify(text[at])} after the parameter ${JSON.stringify(key)}`);
      separators();
    }
    // Own properties only, whatever the names (`__proto__`, `constructor`): a plain object built from the map.
    challenges[challenges.length - 1]!.params = Object.fromEntries(params);
    separators();
    if (at < text.length && !TOKEN.test(text[at]!)) throw new ChallengeError(`an unexpected ${JSON.stringify(text[at])}`);
  }
  return challenges;
}

/** The first challenge of a `WWW-Authenticate` header, or null when there is none or it cannot be read. */
export function parseChallenge(header: string | string[] | undefined): Challenge | null {
  try {
    return parseChallenges(header)[0] ?? null;
  } catch {
    return null;
  }
}

function basic(credentials: Credentials): string {
  return 'Basic ' + Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
}

interface CachedToken {
  token: string;
  expires: number;
}

/** The largest token-service answer read (Docker Hub's are a few KB). */
const MAX_TOKEN_RESPONSE_BYTES = 1 << 20;

/**
 * Holds a registry's credentials and tokens; answers "what Authorization header for this request?". The rules
 * (docs/SECURITY-registry.md): credentials answer only a challenge the registry itself sent, and go only to the
 * registry and to the token realm that challenge names; a realm must be an http(s) URL, and plain HTTP only when
 * the registry itself is plain HTTP (--plain-http, the loopback fallback) or the realm is on loopback.
 */
export class Authenticator {
  private readonly tokens = new Map<string, CachedToken>();
  private basicAuth = false;
  private credentialsLoaded = false;
  private credentials: Credentials | null;

  constructor(
    private readonly registry: string,
    explicit: Credentials | null,
    private readonly transport: RegistryTransport,
    private readonly debug?: (line: string) => void,
  ) {
    this.credentials = explicit;
    this.credentialsLoaded = explicit !== null;
  }

  private async loadCredentials(): Promise<Credentials | null> {
    if (!this.credentialsLoaded) {
      this.credentials = await configCredentials(this.registry);
      this.credentialsLoaded = true;
      if (this.credentials) this.debug?.(`using credentials for ${credentialKey(this.registry)} from the auth files`);
    }
    return this.credentials;
  }

  get hasCredentials(): boolean {
    return this.credentials !== null;
  }

  /** The header for a request in this scope, if one is known. */
  header(scope: string): string | null {
    const cached = this.tokens.get(scope);
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.token}`;
    if (this.basicAuth && this.credentials) return basic(this.credentials);
    return null;
  }

  /**
   * React to a 401 from the registry: remember Basic, or fetch a token for the challenge's scope (Bearer is
   * preferred when both are offered, as docker does). Returns false when nothing can help; throws
   * ImageReadError for a challenge that cannot be read or names a realm credentials must not go to.
   */
  async handleChallenge(header: string | string[] | undefined, scope: string): Promise<boolean> {
    let challenges: Challenge[];
    try {
      challenges = parseChallenges(header);
    } catch (error) {
      const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
      throw new ImageReadError(`${this.registry}: the registry's WWW-Authenticate header cannot be read (${(error as Error).message}): ${quoteServerText(text)}`);
    }
    const credentials = await this.loadCredentials();
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
    if (bearer) {
      const realm = this.realmUrl(bearer.params.realm);
      this.tokens.set(scope, await this.fetchToken(realm, bearer.params, scope, credentials));
      return true;
    }
    if (challenges.some((challenge) => challenge.scheme === 'basic')) {
      if (!credentials || this.basicAuth) return false;
      this.basicAuth = true;
      return true;
    }
    return false;
  }

  private realmUrl(realm: string | undefined): URL {
    if (!realm) throw new ImageReadError(`${this.registry}: the registry asks for a Bearer token but names no token realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ImageReadError(`${this.registry}: the registry's Bearer challenge names a token realm that is not a URL: ${quoteServerText(realm)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ImageReadError(`${this.registry}: the registry's Bearer challenge names a token realm that is not an http(s) URL: ${quoteServerText(realm)}`);
    }
    if (url.username || url.password) throw new ImageReadError(`${this.registry}: the registry's Bearer challenge names a token realm with credentials in its URL; refusing it`);
    if (url.protocol === 'http:' && !this.transport.plainHttp && !isLoopback(url.host)) {
      throw new ImageReadError(
        `${this.registry}: the registry's token service ${url.host} is plain HTTP (${quoteServerText(url.origin)}) while the registry is HTTPS; refusing to send credentials or ask for tokens in clear text`,
      );
    }
    return url;
  }

  private async fetchToken(realm: URL, params: Record<string, string>, scope: string, credentials: Credentials | null): Promise<CachedToken> {
    const wanted = params.scope ?? scope;
    const service = params.service;
    const what = `a token for ${this.registry}`;
    let response: HttpResponse;
    // Credentials for this realm's origin only; the token service's answer is not followed anywhere.
    const sameRealm = (url: URL) => url.origin === realm.origin;
    if (credentials?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: 'layerlens', scope: wanted });
      if (service) form.set('service', service);
      response = await this.transport.send(realm.toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        secretBody: true,
        what,
        follow: false,
      });
    } else {
      if (service) realm.searchParams.set('service', service);
      realm.searchParams.set('scope', wanted);
      response = await this.transport.send(realm.toString(), { method: 'GET', authorize: (url) => (credentials && sameRealm(url) ? basic(credentials) : null), what, follow: false });
    }
    const text = (await readLimited(response.body, MAX_TOKEN_RESPONSE_BYTES, () => new ImageReadError(`${this.registry}: the token service at ${realm.host} sent more than ${MAX_TOKEN_RESPONSE_BYTES} bytes`))).toString('utf8');
    if (response.status === 401 || response.status === 403) {
      throw new ImageReadError(
        credentials
          ? `${this.registry}: unauthorized: the token service rejected the credentials for user "${credentials.username || '<identity token>'}" (wrong password?)`
          : `${this.registry}: unauthorized: this repository needs credentials (docker login, or --username with --password-stdin)`,
      );
    }
    if (response.status !== 200) throw new ImageReadError(`${this.registry}: the token service at ${realm.host} answered ${response.status}`);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new ImageReadError(`${this.registry}: the token service at ${realm.host} returned something that is not JSON`);
    }
    const token = (body && typeof body === 'object' ? (body.token ?? body.access_token) : undefined) as unknown;
    if (token === undefined || token === null || token === '') throw new ImageReadError(`${this.registry}: the token service at ${realm.host} returned no token`);
    // A token goes into a header: visible ASCII only (a CR/LF would split the request), and of a sane length.
    if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token) || token.length > 65_536) {
      throw new ImageReadError(`${this.registry}: the token service at ${realm.host} returned a token that cannot be used in a header`);
    }
    const expiresIn = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) ? body.expires_in : 60;
    const lifetime = Math.min(Math.max(60, expiresIn), 86_400) * 1000;
    this.debug?.(`got a token for ${wanted} from ${realm.host} (valid ${lifetime / 1000} s)`);
    // Renew a little before expiry so a long download does not start with a token about to lapse.
    return { token, expires: Date.now() + lifetime - 10_000 };
  }
}
