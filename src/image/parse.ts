/**
 * Untrusted JSON is validated here, at the edge. Every message names the file (or blob) and the field that is
 * wrong, e.g. `index.json in oci:./dir: manifests[2].digest must be a digest such as sha256:<64 hex>`.
 */
import { ImageReadError } from '../errors.js';
import { isDigest } from './digest.js';
import { isIndexMediaType, isManifestMediaType, isSchema1MediaType, MediaType } from './mediatypes.js';
import type {
  Descriptor,
  DockerArchiveEntry,
  HistoryEntry,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Platform,
  RunConfig,
} from './types.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

class Invalid extends Error {}

/**
 * Deeper than any image document (an index is 5 levels, a config 4, a saved report 7): a document nested deeper
 * is refused before anything walks it, so that no recursion (JSON.stringify, a join, a copy) can overflow.
 */
export const MAX_JSON_DEPTH = 100;

/** True when `value` nests arrays/objects more than `limit` levels deep (an iterative walk: no recursion). */
export function jsonTooDeep(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (depth > limit) return true;
    const children = Array.isArray(item) ? item : Object.values(item as object);
    for (const child of children) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** JSON.parse's reason without the excerpt of the input it quotes (`Unexpected token 'r', "root:x:0:0"...`). */
export function jsonErrorReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/, ".*"(?:\.\.\.)? is not valid JSON$/s, '');
}

export function parseJson(bytes: Uint8Array | string, where: string): Json {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  if (text.trim() === '') throw new ImageReadError(`${where} is empty: expected JSON`);
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch (error) {
    throw new ImageReadError(`${where} is not valid JSON (${jsonErrorReason(error)})`);
  }
  if (typeof value === 'object' && value !== null && jsonTooDeep(value)) {
    throw new ImageReadError(`${where} is JSON nested more than ${MAX_JSON_DEPTH} levels deep: not an image document`);
  }
  return value;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(path: string, expectation: string): never {
  throw new Invalid(`${path || 'the document'} ${expectation}`);
}

function object(value: Json | undefined, path: string): JsonObject {
  if (!isObject(value)) fail(path, 'must be an object');
  return value;
}

function str(value: Json | undefined, path: string): string {
  if (typeof value !== 'string') fail(path, 'must be a string');
  return value;
}

function optStr(value: Json | undefined, path: string): string | undefined {
  return value === undefined || value === null ? undefined : str(value, path);
}

function int(value: Json | undefined, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(path, 'must be a non-negative integer');
  return value;
}

function array(value: Json | undefined, path: string): Json[] {
  if (!Array.isArray(value)) fail(path, 'must be an array');
  return value;
}

function stringArray(value: Json | undefined, path: string): string[] {
  return array(value, path).map((item, i) => str(item, `${path}[${i}]`));
}

function optStringArray(value: Json | undefined, path: string): string[] | undefined {
  return value === undefined || value === null ? undefined : stringArray(value, path);
}

function stringMap(value: Json | undefined, path: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  const obj = object(value, path);
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(obj)) out[key] = str(item, `${path}.${key}`);
  return out;
}

function digest(value: Json | undefined, path: string): string {
  const text = str(value, path);
  if (!isDigest(text)) fail(path, `must be a digest such as sha256:<64 hex>, not "${text.slice(0, 80)}"`);
  return text;
}

function platform(value: Json | undefined, path: string): Platform | undefined {
  if (value === undefined || value === null) return undefined;
  const obj = object(value, path);
  const out: Platform = { os: str(obj.os, `${path}.os`), architecture: str(obj.architecture, `${path}.architecture`) };
  const variant = optStr(obj.variant, `${path}.variant`);
  if (variant) out.variant = variant;
  const osVersion = optStr(obj['os.version'], `${path}.os.version`);
  if (osVersion) out['os.version'] = osVersion;
  const features = optStringArray(obj['os.features'], `${path}.os.features`);
  if (features) out['os.features'] = features;
  return out;
}

function descriptor(value: Json | undefined, path: string): Descriptor {
  const obj = object(value, path);
  const out: Descriptor = {
    mediaType: str(obj.mediaType, `${path}.mediaType`),
    digest: digest(obj.digest, `${path}.digest`),
    size: int(obj.size, `${path}.size`),
  };
  const urls = optStringArray(obj.urls, `${path}.urls`);
  if (urls) out.urls = urls;
  const annotations = stringMap(obj.annotations, `${path}.annotations`);
  if (annotations) out.annotations = annotations;
  const plat = platform(obj.platform, `${path}.platform`);
  if (plat) out.platform = plat;
  const artifactType = optStr(obj.artifactType, `${path}.artifactType`);
  if (artifactType) out.artifactType = artifactType;
  return out;
}

function descriptors(value: Json | undefined, path: string, allowNull: boolean): Descriptor[] {
  if (allowNull && (value === null || value === undefined)) return [];
  return array(value, path).map((item, i) => descriptor(item, `${path}[${i}]`));
}

function withWhere<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof Invalid) throw new ImageReadError(`${where}: ${error.message}`);
    throw error;
  }
}

function refuseSchema1(obj: JsonObject, where: string): void {
  const mediaType = typeof obj.mediaType === 'string' ? obj.mediaType : undefined;
  if (obj.schemaVersion === 1 || isSchema1MediaType(mediaType) || 'fsLayers' in obj) {
    throw new ImageReadError(
      `${where} is a Docker schema 1 manifest, a format registries stopped serving in 2019; ` +
        'convert the image (e.g. `skopeo copy --format v2s2`) or pull a newer tag',
    );
  }
}

export type ParsedManifest =
  | { kind: 'index'; index: ImageIndex; mediaType: string }
  | { kind: 'manifest'; manifest: ImageManifest; mediaType: string };

/**
 * Parse an index or a manifest, deciding which from the media type (the descriptor's, the document's own, or the
 * HTTP Content-Type) and, when none is given, from the shape (`manifests` vs `config`+`layers`).
 */
export function parseManifestOrIndex(bytes: Uint8Array, where: string, declaredMediaType?: string): ParsedManifest {
  const root = parseJson(bytes, where);
  return withWhere(where, () => {
    const obj = object(root, '');
    refuseSchema1(obj, where);
    const ownType = optStr(obj.mediaType, 'mediaType');
    if (declaredMediaType && ownType && declaredMediaType !== ownType && isKnownType(declaredMediaType) && isKnownType(ownType)) {
      fail('mediaType', `is "${ownType}" but it was referenced as "${declaredMediaType}"`);
    }
    const mediaType = ownType ?? declaredMediaType;
    const looksLikeIndex = isIndexMediaType(mediaType) || (!isManifestMediaType(mediaType) && 'manifests' in obj && !('config' in obj));
    if (looksLikeIndex) return { kind: 'index', index: indexFrom(obj), mediaType: mediaType ?? MediaType.ociIndex };
    if (isManifestMediaType(mediaType) || ('config' in obj && 'layers' in obj)) {
      return { kind: 'manifest', manifest: manifestFrom(obj), mediaType: mediaType ?? MediaType.ociManifest };
    }
    if (mediaType) fail('mediaType', `"${mediaType}" is not an image index or manifest`);
    fail('', 'is neither an image index (no "manifests") nor an image manifest (no "config" and "layers")');
  });
}

function isKnownType(mediaType: string): boolean {
  return isIndexMediaType(mediaType) || isManifestMediaType(mediaType);
}

function indexFrom(obj: JsonObject): ImageIndex {
  const out: ImageIndex = {
    schemaVersion: int(obj.schemaVersion, 'schemaVersion'),
    // Docker 25+ writes `"manifests": null` into a docker save's index.json when it lists nothing.
    manifests: descriptors(obj.manifests, 'manifests', true),
  };
  const mediaType = optStr(obj.mediaType, 'mediaType');
  if (mediaType) out.mediaType = mediaType;
  const artifactType = optStr(obj.artifactType, 'artifactType');
  if (artifactType) out.artifactType = artifactType;
  if (obj.subject !== undefined && obj.subject !== null) out.subject = descriptor(obj.subject, 'subject');
  const annotations = stringMap(obj.annotations, 'annotations');
  if (annotations) out.annotations = annotations;
  return out;
}

function manifestFrom(obj: JsonObject): ImageManifest {
  const out: ImageManifest = {
    schemaVersion: int(obj.schemaVersion, 'schemaVersion'),
    config: descriptor(obj.config, 'config'),
    layers: descriptors(obj.layers, 'layers', false),
  };
  const mediaType = optStr(obj.mediaType, 'mediaType');
  if (mediaType) out.mediaType = mediaType;
  const artifactType = optStr(obj.artifactType, 'artifactType');
  if (artifactType) out.artifactType = artifactType;
  if (obj.subject !== undefined && obj.subject !== null) out.subject = descriptor(obj.subject, 'subject');
  const annotations = stringMap(obj.annotations, 'annotations');
  if (annotations) out.annotations = annotations;
  return out;
}

export function parseConfig(bytes: Uint8Array, where: string): ImageConfig {
  const root = parseJson(bytes, where);
  return withWhere(where, () => {
    const obj = object(root, '');
    const rootfs = object(obj.rootfs, 'rootfs');
    const out: ImageConfig = {
      architecture: str(obj.architecture, 'architecture'),
      os: str(obj.os, 'os'),
      rootfs: {
        type: str(rootfs.type, 'rootfs.type'),
        diff_ids: rootfs.diff_ids === null ? [] : array(rootfs.diff_ids, 'rootfs.diff_ids').map((item, i) => digest(item, `rootfs.diff_ids[${i}]`)),
      },
    };
    const variant = optStr(obj.variant, 'variant');
    if (variant) out.variant = variant;
    const osVersion = optStr(obj['os.version'], 'os.version');
    if (osVersion) out['os.version'] = osVersion;
    const created = optStr(obj.created, 'created');
    if (created) out.created = created;
    const author = optStr(obj.author, 'author');
    if (author) out.author = author;
    if (obj.config !== undefined && obj.config !== null) out.config = runConfig(obj.config, 'config');
    if (obj.history !== undefined && obj.history !== null) {
      out.history = array(obj.history, 'history').map((item, i) => historyEntry(item, `history[${i}]`));
    }
    return out;
  });
}

function runConfig(value: Json, path: string): RunConfig {
  const obj = object(value, path);
  const out: RunConfig = {};
  const user = optStr(obj.User, `${path}.User`);
  if (user !== undefined) out.User = user;
  const workdir = optStr(obj.WorkingDir, `${path}.WorkingDir`);
  if (workdir !== undefined) out.WorkingDir = workdir;
  const env = optStringArray(obj.Env, `${path}.Env`);
  if (env) out.Env = env;
  if (obj.Entrypoint !== undefined) out.Entrypoint = commandLine(obj.Entrypoint, `${path}.Entrypoint`);
  if (obj.Cmd !== undefined) out.Cmd = commandLine(obj.Cmd, `${path}.Cmd`);
  const labels = stringMap(obj.Labels, `${path}.Labels`);
  if (labels) out.Labels = labels;
  if (isObject(obj.ExposedPorts)) out.ExposedPorts = obj.ExposedPorts;
  if (isObject(obj.Volumes)) out.Volumes = obj.Volumes;
  const stopSignal = optStr(obj.StopSignal, `${path}.StopSignal`);
  if (stopSignal !== undefined) out.StopSignal = stopSignal;
  return out;
}

/** Entrypoint/Cmd: an array of strings, null, or (old Docker) a single string. */
function commandLine(value: Json, path: string): string[] | null {
  if (value === null) return null;
  if (typeof value === 'string') return [value];
  return stringArray(value, path);
}

function historyEntry(value: Json, path: string): HistoryEntry {
  const obj = object(value, path);
  const out: HistoryEntry = {};
  const created = optStr(obj.created, `${path}.created`);
  if (created !== undefined) out.created = created;
  const createdBy = optStr(obj.created_by, `${path}.created_by`);
  if (createdBy !== undefined) out.created_by = createdBy;
  const author = optStr(obj.author, `${path}.author`);
  if (author !== undefined) out.author = author;
  const comment = optStr(obj.comment, `${path}.comment`);
  if (comment !== undefined) out.comment = comment;
  if (obj.empty_layer !== undefined && obj.empty_layer !== null) {
    if (typeof obj.empty_layer !== 'boolean') fail(`${path}.empty_layer`, 'must be a boolean');
    out.empty_layer = obj.empty_layer;
  }
  return out;
}

/** A `docker save` manifest.json: an array of {Config, RepoTags, Layers}. */
export function parseDockerArchiveManifest(bytes: Uint8Array, where: string): DockerArchiveEntry[] {
  const root = parseJson(bytes, where);
  return withWhere(where, () => {
    if (root === null) fail('', 'is null: the archive lists no image');
    const entries = array(root, '');
    if (entries.length === 0) fail('', 'is an empty list: the archive holds no image');
    return entries.map((item, i) => {
      const obj = object(item, `[${i}]`);
      const entry: DockerArchiveEntry = {
        Config: str(obj.Config, `[${i}].Config`),
        RepoTags: obj.RepoTags === null || obj.RepoTags === undefined ? [] : stringArray(obj.RepoTags, `[${i}].RepoTags`),
        Layers: obj.Layers === null ? [] : stringArray(obj.Layers, `[${i}].Layers`),
      };
      if (isObject(obj.LayerSources)) {
        const sources: Record<string, Descriptor> = {};
        for (const [key, value] of Object.entries(obj.LayerSources)) sources[key] = descriptor(value, `[${i}].LayerSources.${key}`);
        entry.LayerSources = sources;
      }
      return entry;
    });
  });
}
