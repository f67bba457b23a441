/**
 * Image arguments (CONTRACT.md "Invocation"): transports as prefixes, bare paths detected from content, and
 * registry references parsed by Docker's rules.
 */
import { existsSync } from 'node:fs';
import { ImageReadError, UsageError } from './errors.js';

export type Transport =
  | { kind: 'registry'; reference: RegistryReference; forced: boolean }
  | { kind: 'docker-archive'; path: string; ref: string | null }
  | { kind: 'oci-layout'; path: string; ref: string | null }
  | { kind: 'oci-archive'; path: string; ref: string | null }
  | { kind: 'path'; path: string; ref: string | null }
  | { kind: 'stdin' }
  | { kind: 'daemon'; engine: 'docker' | 'podman'; name: string }
  | { kind: 'containerd'; name: string }
  | { kind: 'container'; name: string };

export interface RegistryReference {
  /** Registry host as written (`docker.io` for Docker Hub). */
  registry: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  /** `docker.io/library/alpine:latest` — the fully qualified form. */
  canonical: string;
}

export const DOCKER_HUB = 'docker.io';

/**
 * Split `PATH[:REF]` where PATH may itself contain colons: the whole string if it names an existing file, else
 * the shortest prefix before a colon that does.
 */
function splitPathRef(text: string): { path: string; ref: string | null } {
  if (existsSync(text)) return { path: text, ref: null };
  for (let at = text.indexOf(':'); at !== -1; at = text.indexOf(':', at + 1)) {
    const candidate = text.slice(0, at);
    if (candidate && existsSync(candidate)) return { path: candidate, ref: text.slice(at + 1) || null };
  }
  const at = text.indexOf(':');
  return at === -1 ? { path: text, ref: null } : { path: text.slice(0, at), ref: text.slice(at + 1) || null };
}

export function parseImageArgument(argument: string): Transport {
  if (argument === '-') return { kind: 'stdin' };
  const prefixed = /^([a-z-]+):(.*)$/s.exec(argument);
  if (prefixed) {
    const [, transport, rest] = prefixed as unknown as [string, string, string];
    switch (transport) {
      case 'docker':
        if (!rest.startsWith('//')) throw new UsageError(`"${argument}": the registry transport is written docker://NAME`);
        return { kind: 'registry', reference: parseRegistryReference(rest.slice(2)), forced: true };
      case 'docker-archive':
        return { kind: 'docker-archive', ...splitPathRef(rest) };
      case 'oci':
        return { kind: 'oci-layout', ...splitPathRef(rest) };
      case 'oci-archive':
        return { kind: 'oci-archive', ...splitPathRef(rest) };
      case 'docker-daemon':
      case 'podman':
        if (rest.trim() === '') throw new UsageError(`"${argument}" names no image: write ${transport}:NAME[:TAG] or ${transport}:IMAGE-ID`);
        return { kind: 'daemon', engine: transport === 'podman' ? 'podman' : 'docker', name: rest };
      case 'containerd':
        if (rest.trim() === '') throw new UsageError(`"${argument}" names no image: write containerd:NAME (as ctr images ls lists it)`);
        return { kind: 'containerd', name: rest };
      case 'container':
        if (!/^[\w][\w.-]{0,254}$/.test(rest)) throw new UsageError(`"${argument}" names no container: write container:NAME or container:ID (as docker ps -a lists them)`);
        return { kind: 'container', name: rest };
      default:
        break; // `localhost:5000/app` and `./dir:ref` are not transports
    }
  }
  if (existsSync(argument)) return { kind: 'path', path: argument, ref: null };
  if (/^[./~]/.test(argument) || argument.includes('\\') || PATH_SUFFIX.test(argument)) {
    const split = splitPathRef(argument);
    if (existsSync(split.path)) return { kind: 'path', ...split };
    // It looks like a file (CONTRACT.md: a leading /, ./, ../, ~/ or an archive suffix): never a registry lookup.
    let asRegistry = '';
    if (!/^[./~]/.test(argument)) try {
      asRegistry = ` (as a registry name it would be ${parseRegistryReference(argument).canonical})`;
    } catch {
      // not a valid registry name either
    }
    throw new ImageReadError(`no such file ${argument}${asRegistry}`);
  }
  return { kind: 'registry', reference: parseRegistryReference(argument), forced: false };
}

/** Names that are files, not registry references, when they do not exist. */
const PATH_SUFFIX = /\.(?:tar|tgz|tar\.gz|tar\.xz|tar\.zst|oci)$/i;

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Docker's rules: docker.io by default, `library/` for one-segment Hub names, `latest` when no tag or digest. */
export function parseRegistryReference(text: string): RegistryReference {
  const bad = (why: string) => new UsageError(`invalid image reference "${text}": ${why}`);
  if (text === '') throw bad('it is empty');
  let rest = text;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`"${digest}" is not a digest (sha256:<64 hex>)`);
  }
  let tag: string | null = null;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash !== -1) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[') || first !== first.toLowerCase()) {
      registry = first;
      repository = rest.slice(firstSlash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (repository === '') throw bad('the repository name is empty');
  if (repository !== repository.toLowerCase()) throw bad('repository names must be lowercase');
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) throw bad(`"${component}" is not a valid repository path component`);
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!tag && !digest) tag = 'latest';
  const canonical = `${registry}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { registry, repository, tag, digest, canonical };
}

/** `--all`: the argument is a registry (`localhost:5000`, `registry.example.com`), not a repository. */
export function parseRegistryHost(text: string): string {
  const bare = (text.startsWith('docker://') ? text.slice('docker://'.length) : text).replace(/\/+$/, '');
  if (bare === '' || bare.includes('/') || bare.includes('@') || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(bare)) {
    throw new UsageError(`repo --all takes a registry (e.g. localhost:5000), not "${text}"`);
  }
  return bare === 'index.docker.io' || bare === 'registry-1.docker.io' ? 'docker.io' : bare;
}

/** `REGISTRY/REPOSITORY` (Docker's rules for the registry and `library/`); a tag or digest is a usage error. */
export function parseRepository(text: string): RegistryReference {
  const bare = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  const lastSlash = bare.lastIndexOf('/');
  if (lastSlash === -1 && /^(localhost|[\w-]+(\.[\w-]+)+|\[[0-9a-fA-F:.]+\])(:\d{1,5})?$|^[\w.-]+:\d{1,5}$/.test(bare)) {
    throw new UsageError(`"${text}" is a registry: name a repository (${bare}/app), or add --all for every repository it lists`);
  }
  if (bare.includes('@') || bare.slice(lastSlash + 1).includes(':')) {
    throw new UsageError(`repo takes a repository (REGISTRY/REPOSITORY), not a tag or digest: "${text}" (use --tags GLOB to pick tags)`);
  }
  const reference = parseRegistryReference(bare);
  return { ...reference, tag: null, canonical: `${reference.registry}/${reference.repository}` };
}
