/**
 * Registry credentials and the Docker token flow. Credentials come from --username/--password-stdin, else the
 * docker config.json ($DOCKER_CONFIG or ~/.docker): `auths` (`auth` or `identitytoken`), `credHelpers` and
 * `credsStore` (docker-credential-<name> get). A 401 challenge says what to do: `Basic` sends the credentials;
 * `Bearer realm,service,scope` fetches a token (anonymously when there are no credentials), cached per scope until
 * it expires. No secret is ever put in a message or a debug line.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request, type Dispatcher } from 'undici';
import { ImageReadError, UsageError } from '../../errors.js';
import { DOCKER_HUB } from '../../reference.js';

export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), used instead of the password at the token endpoint. */
  identityToken?: string;
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

async function readDockerConfig(): Promise<DockerConfig | null> {
  const file = path.join(dockerConfigDir(), 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch {
    throw new UsageError(`${file} is not valid JSON; fix it or point DOCKER_CONFIG elsewhere`);
  }
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

/** Credentials for a registry from docker's config.json, or null. */
export async function configCredentials(registry: string): Promise<Credentials | null> {
  const config = await readDockerConfig();
  if (!config) return null;
  const key = credentialKey(registry);
  const helper = config.credHelpers?.[key] ?? config.credHelpers?.[registry];
  if (helper) return runHelper(helper, key);
  for (const candidate of lookupKeys(registry)) {
    const entry = config.auths?.[candidate];
    if (!entry) continue;
    if (entry.identitytoken) return { username: '', password: '', identityToken: entry.identitytoken };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) throw new UsageError(`the "auth" entry for ${candidate} in docker's config.json is not base64 of user:password`);
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  if (config.credsStore) return runHelper(config.credsStore, key);
  return null;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string | string[] | undefined): Challenge | null {
  const text = Array.isArray(header) ? header[0] : header;
  if (!text) return null;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(text);
  if (!match) return null;
  const params: Record<string, string> = {};
  for (const pair of match[2]!.matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[pair[1]!.toLowerCase()] = pair[2] ?? pair[3] ?? '';
  return { scheme: match[1]!.toLowerCase(), params };
}

function basic(credentials: Credentials): string {
  return 'Basic ' + Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
}

interface CachedToken {
  token: string;
  expires: number;
}

/** Holds a registry's credentials and tokens; answers "what Authorization header for this request?". */
export class Authenticator {
  private readonly tokens = new Map<string, CachedToken>();
  private basicAuth = false;
  private credentialsLoaded = false;
  private credentials: Credentials | null;

  constructor(
    private readonly registry: string,
    explicit: Credentials | null,
    private readonly tokenAgent: Dispatcher,
    private readonly debug?: (line: string) => void,
  ) {
    this.credentials = explicit;
    this.credentialsLoaded = explicit !== null;
  }

  private async loadCredentials(): Promise<Credentials | null> {
    if (!this.credentialsLoaded) {
      this.credentials = await configCredentials(this.registry);
      this.credentialsLoaded = true;
      if (this.credentials) this.debug?.(`using credentials for ${credentialKey(this.registry)} from docker's config.json`);
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

  /** React to a 401: remember Basic, or fetch a token for the challenge's scope. Returns false when nothing can help. */
  async handleChallenge(header: string | string[] | undefined, scope: string): Promise<boolean> {
    const challenge = parseChallenge(header);
    const credentials = await this.loadCredentials();
    if (!challenge) return false;
    if (challenge.scheme === 'basic') {
      if (!credentials || this.basicAuth) return false;
      this.basicAuth = true;
      return true;
    }
    if (challenge.scheme !== 'bearer' || !challenge.params.realm) return false;
    const token = await this.fetchToken(challenge.params, scope, credentials);
    this.tokens.set(scope, token);
    return true;
  }

  private async fetchToken(params: Record<string, string>, scope: string, credentials: Credentials | null): Promise<CachedToken> {
    const realm = new URL(params.realm!);
    const wanted = params.scope ?? scope;
    const service = params.service;
    let response;
    try {
      if (credentials?.identityToken) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: 'layerlens', scope: wanted });
        if (service) form.set('service', service);
        response = await request(realm, {
          dispatcher: this.tokenAgent,
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'layerlens' },
          body: form.toString(),
        });
      } else {
        if (service) realm.searchParams.set('service', service);
        realm.searchParams.set('scope', wanted);
        const headers: Record<string, string> = { 'user-agent': 'layerlens' };
        if (credentials) headers.authorization = basic(credentials);
        response = await request(realm, { dispatcher: this.tokenAgent, method: 'GET', headers });
      }
    } catch (error) {
      throw new ImageReadError(`${this.registry}: could not reach the token service at ${realm.host} (${(error as { code?: string }).code ?? 'request failed'})`, { cause: error });
    }
    const text = await response.body.text();
    if (response.statusCode === 401 || response.statusCode === 403) {
      throw new ImageReadError(
        credentials
          ? `${this.registry}: unauthorized: the token service rejected the credentials for user "${credentials.username || '<identity token>'}" (wrong password?)`
          : `${this.registry}: unauthorized: this repository needs credentials (docker login, or --username with --password-stdin)`,
      );
    }
    if (response.statusCode !== 200) throw new ImageReadError(`${this.registry}: the token service at ${realm.host} answered ${response.statusCode}`);
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new ImageReadError(`${this.registry}: the token service at ${realm.host} returned something that is not JSON`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new ImageReadError(`${this.registry}: the token service at ${realm.host} returned no token`);
    const lifetime = Math.max(60, body.expires_in ?? 60) * 1000;
    this.debug?.(`got a token for ${wanted} from ${realm.host} (valid ${lifetime / 1000} s)`);
    // Renew a little before expiry so a long download does not start with a token about to lapse.
    return { token, expires: Date.now() + lifetime - 10_000 };
  }
}
