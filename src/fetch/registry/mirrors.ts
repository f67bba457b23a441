/**
 * Registry mirrors, as Docker and podman use them: `--registry-mirror URL` for Docker Hub (Docker's
 * `registry-mirrors`), and the `[[registry.mirror]]` entries of containers-registries.conf(5) for the registries
 * they name. Mirrors are tried in order and the origin last (podman's fall-back); whichever answers the manifest
 * serves every blob of the image.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { DOCKER_HUB, type RegistryReference } from '../../reference.js';

export interface Mirror {
  /** How the report names it (`source.mirror`): the URL or registries.conf location as configured. */
  label: string;
  /** The mirror's host[:port]. */
  registry: string;
  /** The repository on the mirror. */
  repository: string;
  plainHttp: boolean;
  insecure: boolean;
}

interface ConfMirror {
  location: string;
  insecure: boolean;
  pullFromMirror: 'all' | 'digest-only' | 'tag-only';
}

export interface ConfRegistry {
  prefix: string;
  mirrorByDigestOnly: boolean;
  mirrors: ConfMirror[];
}

type TomlValue = string | boolean | number | string[];

/**
 * The subset of TOML registries.conf uses: `[[registry]]` and `[[registry.mirror]]` tables of `key = value`
 * (strings, booleans, numbers, arrays of strings), comments. Other tables (`[aliases]`, v1's `[registries.search]`)
 * are skipped; a line that is not TOML at all is a configuration error naming the file and line.
 */
export function parseRegistriesConf(text: string, file: string): ConfRegistry[] {
  const registries: ConfRegistry[] = [];
  let table: Record<string, TomlValue> | null = null;
  let section: 'registry' | 'mirror' | 'other' = 'other';
  const finish: (() => void)[] = [];
  const lines = text.split(/\r?\n/);
  for (let number = 0; number < lines.length; number++) {
    const line = lines[number]!.replace(/^\s+|\s+$/g, '');
    if (line === '' || line.startsWith('#')) continue;
    const header = /^(\[\[?)\s*([A-Za-z0-9_.-]+)\s*(\]\]?)$/.exec(line);
    if (header) {
      const name = header[2]!;
      table = {};
      if (header[1] === '[[' && name === 'registry') {
        section = 'registry';
        const entry: ConfRegistry = { prefix: '', mirrorByDigestOnly: false, mirrors: [] };
        registries.push(entry);
        const values = table;
        finish.push(() => {
          const location = typeof values.location === 'string' ? values.location : '';
          entry.prefix = typeof values.prefix === 'string' && values.prefix ? values.prefix : location;
          entry.mirrorByDigestOnly = values['mirror-by-digest-only'] === true;
        });
      } else if (header[1] === '[[' && name === 'registry.mirror' && registries.length > 0) {
        section = 'mirror';
        const owner = registries[registries.length - 1]!;
        const values = table;
        finish.push(() => {
          if (typeof values.location !== 'string' || !values.location) throw new UsageError(`${file}: a [[registry.mirror]] of ${owner.prefix || 'a registry'} has no location`);
          const pull = values['pull-from-mirror'];
          owner.mirrors.push({ location: values.location, insecure: values.insecure === true, pullFromMirror: pull === 'digest-only' || pull === 'tag-only' ? pull : 'all' });
        });
      } else section = 'other';
      continue;
    }
    const pair = /^("?)([A-Za-z0-9_.-]+)\1\s*=\s*(.+)$/.exec(line);
    if (!pair) throw new UsageError(`${file}:${number + 1}: not a TOML key = value line`);
    let value = pair[3]!;
    // An array may span lines (unqualified-search-registries = [ … ]): read on to its closing bracket.
    if (value.startsWith('[')) {
      const uncommented = (text: string) => text.replace(/\s+#[^"']*$/, '').trim();
      value = uncommented(value);
      while (!value.endsWith(']') && number + 1 < lines.length) value += ` ${uncommented(lines[++number]!)}`;
    }
    if (section === 'other' || !table) continue;
    table[pair[2]!] = tomlValue(value, `${file}:${number + 1}`);
  }
  for (const step of finish) step();
  return registries.filter((entry) => entry.prefix);
}

function tomlValue(raw: string, where: string): TomlValue {
  const text = raw.replace(/\s+#.*$/, '').trim();
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^[+-]?\d+$/.test(text)) return Number(text);
  const string = /^"((?:[^"\\]|\\.)*)"$/.exec(text) ?? /^'([^']*)'$/.exec(text);
  if (string) return text.startsWith('"') ? (JSON.parse(`"${string[1]!}"`) as string) : string[1]!;
  if (text.startsWith('[')) {
    const items = [...text.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g)].map((match) => match[1] ?? match[2]!);
    return items;
  }
  throw new UsageError(`${where}: cannot read the value ${text}`);
}

/**
 * The registries.conf podman reads: `$CONTAINERS_REGISTRIES_CONF`, else the user's
 * `$HOME/.config/containers/registries.conf` when it exists, else `/etc/containers/registries.conf`.
 */
export async function loadRegistriesConf(env: NodeJS.ProcessEnv = process.env): Promise<ConfRegistry[]> {
  const candidates = env.CONTAINERS_REGISTRIES_CONF ? [env.CONTAINERS_REGISTRIES_CONF] : [path.join(env.HOME ?? os.homedir(), '.config', 'containers', 'registries.conf'), '/etc/containers/registries.conf'];
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new UsageError(`${file}: ${(error as Error).message}`);
    }
    return parseRegistriesConf(text, file);
  }
  return [];
}

/** `--registry-mirror URL`: a Docker Hub mirror as Docker's daemon.json names one (scheme and host, no path). */
export function parseMirrorUrl(value: string): { label: string; registry: string; plainHttp: boolean } {
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(value) ? value : `https://${value}`);
  } catch {
    throw new UsageError(`--registry-mirror ${value}: not a URL (e.g. https://mirror.example.com)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--registry-mirror ${value}: the scheme must be https or http`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) {
    throw new UsageError(`--registry-mirror ${value}: a mirror is a scheme and host only, as Docker's registry-mirrors (no path, query or user)`);
  }
  return { label: value, registry: url.host, plainHttp: url.protocol === 'http:' };
}

/** Whether `name` (registry/repository) falls under a registries.conf prefix: whole path segments only. */
function underPrefix(name: string, prefix: string): boolean {
  if (prefix.startsWith('*.')) {
    const host = name.split('/')[0]!;
    return host.endsWith(prefix.slice(1));
  }
  return name === prefix || name.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/** The mirrors to try for a reference, in order (flags first, then registries.conf); the origin is not listed. */
export function mirrorsFor(reference: RegistryReference, dockerMirrors: string[], conf: ConfRegistry[]): Mirror[] {
  const mirrors: Mirror[] = [];
  if (reference.registry === DOCKER_HUB) {
    for (const value of dockerMirrors) {
      const { label, registry, plainHttp } = parseMirrorUrl(value);
      mirrors.push({ label, registry, repository: reference.repository, plainHttp, insecure: false });
    }
  }
  const name = `${reference.registry}/${reference.repository}`;
  // The most specific prefix wins, as in containers-registries.conf(5).
  const entry = conf.filter((candidate) => underPrefix(name, candidate.prefix)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
  if (entry) {
    for (const mirror of entry.mirrors) {
      const byDigest = reference.digest !== null;
      if ((entry.mirrorByDigestOnly || mirror.pullFromMirror === 'digest-only') && !byDigest) continue;
      if (mirror.pullFromMirror === 'tag-only' && byDigest) continue;
      const rest = entry.prefix.startsWith('*.') ? name.slice(name.indexOf('/')) : name.slice(entry.prefix.length);
      const mirrored = `${mirror.location.replace(/\/+$/, '')}${rest.startsWith('/') || rest === '' ? rest : `/${rest}`}`;
      const slash = mirrored.indexOf('/');
      if (slash < 0) continue;
      mirrors.push({ label: mirror.location, registry: mirrored.slice(0, slash), repository: mirrored.slice(slash + 1), plainHttp: false, insecure: mirror.insecure });
    }
  }
  return mirrors;
}
