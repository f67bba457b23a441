/**
 * What changed between two images: files (added, removed, changed — content, size, mode, owner, type, link
 * target) in the final filesystems, layers (shared by digest or by diffId, only in A, only in B, the common base
 * = the longest shared prefix of diff_ids), totals, and config changes.
 */
import type { LayerRef, ResolvedImage } from '../model/source.js';
import { contentBytes, nodePath, walk, type FsNode, type UnionFs } from './union.js';

export type ChangeKind = 'content' | 'size' | 'mode' | 'owner' | 'type' | 'linkTarget';

export interface FileDelta {
  path: string;
  size: number;
  type: FsNode['type'];
}

export interface ChangedFile {
  path: string;
  sizeDelta: number;
  sizeA: number;
  sizeB: number;
  what: ChangeKind[];
}

export interface LayerMatch {
  digest: string | null;
  diffId: string | null;
  by?: 'digest' | 'diffId';
  index?: number;
  size?: number | null;
}

export interface ConfigChange {
  field: string;
  a: unknown;
  b: unknown;
  /**
   * `env` and `labels`: what changed, one variable or label at a time (null: absent on that side), so that a
   * reader sees `~ PATH: old → new` rather than two lists of twenty variables.
   */
  entries?: { key: string; a: string | null; b: string | null }[];
}

/** `KEY=VALUE` lists (Env) as key → value; a later duplicate wins, as the runtime's environment has it. */
function envMap(list: unknown): Map<string, string> {
  const map = new Map<string, string>();
  for (const item of Array.isArray(list) ? list : []) {
    if (typeof item !== 'string') continue;
    const at = item.indexOf('=');
    map.set(at === -1 ? item : item.slice(0, at), at === -1 ? '' : item.slice(at + 1));
  }
  return map;
}

function labelMap(labels: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (labels && typeof labels === 'object' && !Array.isArray(labels)) for (const [key, value] of Object.entries(labels)) map.set(key, String(value));
  return map;
}

/** Keys in A's order, then those only B has; only the ones that differ. */
export function entryChanges(a: Map<string, string>, b: Map<string, string>): NonNullable<ConfigChange['entries']> {
  const keys = [...a.keys(), ...[...b.keys()].filter((key) => !a.has(key))];
  return keys.filter((key) => a.get(key) !== b.get(key)).map((key) => ({ key, a: a.get(key) ?? null, b: b.get(key) ?? null }));
}

export interface ImageDiff {
  files: { added: FileDelta[]; removed: FileDelta[]; changed: ChangedFile[] };
  layers: { shared: LayerMatch[]; onlyA: LayerMatch[]; onlyB: LayerMatch[]; commonBase: number };
  /**
   * compressedSizeDelta: layers shared by diffId count 0, the others by compressed size (the estimate where a
   * layer is stored uncompressed); `measure` says so in words.
   */
  totals: { compressedSizeDelta: number | null; measure: string | null; uncompressedSizeDelta: number | null; filesDelta: number; layersDelta: number };
  config: ConfigChange[];
}

function index(union: UnionFs): Map<string, FsNode> {
  const map = new Map<string, FsNode>();
  for (const node of walk(union.root)) map.set(nodePath(node), node);
  return map;
}

export function compareNodes(a: FsNode, b: FsNode): ChangeKind[] {
  const what: ChangeKind[] = [];
  const typeA = a.type === 'hardlink' ? 'file' : a.type;
  const typeB = b.type === 'hardlink' ? 'file' : b.type;
  if (typeA !== typeB) what.push('type');
  if ((typeA === 'file' || typeB === 'file') && (a.contentHash !== b.contentHash || a.size !== b.size)) what.push('content');
  if (a.size !== b.size && (typeA === 'file' || typeB === 'file')) what.push('size');
  if ((a.mode & 0o7777) !== (b.mode & 0o7777) && typeA !== 'symlink') what.push('mode');
  if (a.uid !== b.uid || a.gid !== b.gid) what.push('owner');
  if (typeA === 'symlink' && typeB === 'symlink' && a.linkTarget !== b.linkTarget) what.push('linkTarget');
  return what;
}

export function diffFiles(a: UnionFs, b: UnionFs): ImageDiff['files'] {
  const left = index(a);
  const right = index(b);
  const added: FileDelta[] = [];
  const removed: FileDelta[] = [];
  const changed: ChangedFile[] = [];
  for (const [path, node] of right) if (!left.has(path)) added.push({ path, size: contentBytes(node), type: node.type });
  for (const [path, node] of left) {
    const other = right.get(path);
    if (!other) {
      removed.push({ path, size: contentBytes(node), type: node.type });
      continue;
    }
    const what = compareNodes(node, other);
    if (what.length) changed.push({ path, sizeDelta: contentBytes(other) - contentBytes(node), sizeA: contentBytes(node), sizeB: contentBytes(other), what });
  }
  const bySize = <T extends { path: string }>(size: (item: T) => number) => (x: T, y: T) => size(y) - size(x) || (x.path < y.path ? -1 : 1);
  added.sort(bySize((item) => item.size));
  removed.sort(bySize((item) => item.size));
  changed.sort(bySize((item) => Math.abs(item.sizeDelta)));
  return { added, removed, changed };
}

function describe(layer: LayerRef): LayerMatch {
  return { digest: layer.digest, diffId: layer.diffId, index: layer.index, size: layer.size ?? layer.storedSize };
}

export function diffLayers(a: ResolvedImage, b: ResolvedImage): ImageDiff['layers'] {
  const shared: LayerMatch[] = [];
  const onlyA: LayerMatch[] = [];
  const matchedB = new Set<number>();
  for (const layer of a.layers) {
    let match = b.layers.findIndex((other, i) => !matchedB.has(i) && layer.digest !== null && other.digest === layer.digest);
    let by: 'digest' | 'diffId' = 'digest';
    if (match === -1) {
      match = b.layers.findIndex((other, i) => !matchedB.has(i) && layer.diffId !== null && other.diffId === layer.diffId);
      by = 'diffId';
    }
    if (match === -1) onlyA.push(describe(layer));
    else {
      matchedB.add(match);
      shared.push({ digest: layer.digest, diffId: layer.diffId, by });
    }
  }
  const onlyB = b.layers.filter((_, i) => !matchedB.has(i)).map(describe);
  let commonBase = 0;
  while (commonBase < a.layers.length && commonBase < b.layers.length && a.layers[commonBase]!.diffId !== null && a.layers[commonBase]!.diffId === b.layers[commonBase]!.diffId) commonBase++;
  return { shared, onlyA, onlyB, commonBase };
}

export function diffConfig(a: ResolvedImage, b: ResolvedImage): ConfigChange[] {
  const run = (image: ResolvedImage) => image.config.config ?? {};
  const fields: [string, (image: ResolvedImage) => unknown][] = [
    ['platform', (image) => [image.config.os, image.config.architecture, image.config.variant].filter(Boolean).join('/')],
    ['entrypoint', (image) => run(image).Entrypoint ?? null],
    ['cmd', (image) => run(image).Cmd ?? null],
    ['env', (image) => run(image).Env ?? []],
    ['user', (image) => run(image).User || null],
    ['workingDir', (image) => run(image).WorkingDir || null],
    ['exposedPorts', (image) => Object.keys(run(image).ExposedPorts ?? {}).sort()],
    ['labels', (image) => run(image).Labels ?? {}],
  ];
  const changes: ConfigChange[] = [];
  for (const [field, get] of fields) {
    const valueA = get(a);
    const valueB = get(b);
    if (JSON.stringify(valueA) === JSON.stringify(valueB)) continue;
    const change: ConfigChange = { field, a: valueA, b: valueB };
    if (field === 'env') change.entries = entryChanges(envMap(valueA), envMap(valueB));
    if (field === 'labels') change.entries = entryChanges(labelMap(valueA), labelMap(valueB));
    changes.push(change);
  }
  return changes;
}

export interface DirectoryDelta {
  path: string;
  added: number;
  removed: number;
  changed: number;
  /** Bytes B has minus bytes A has below this directory, from the changed paths. */
  sizeDelta: number;
}

/** Roll file changes up to directories `depth` levels deep, largest absolute size change first. */
export function rollUp(files: ImageDiff['files'], depth: number): DirectoryDelta[] {
  const dirs = new Map<string, DirectoryDelta>();
  const bucket = (path: string) => {
    const parts = path.split('/').filter(Boolean);
    const key = '/' + parts.slice(0, Math.min(depth, parts.length - 1)).join('/');
    let entry = dirs.get(key);
    if (!entry) dirs.set(key, (entry = { path: key, added: 0, removed: 0, changed: 0, sizeDelta: 0 }));
    return entry;
  };
  for (const file of files.added) {
    const entry = bucket(file.path);
    entry.added++;
    entry.sizeDelta += file.size;
  }
  for (const file of files.removed) {
    const entry = bucket(file.path);
    entry.removed++;
    entry.sizeDelta -= file.size;
  }
  for (const file of files.changed) {
    const entry = bucket(file.path);
    entry.changed++;
    entry.sizeDelta += file.sizeDelta;
  }
  return [...dirs.values()].sort((x, y) => Math.abs(y.sizeDelta) - Math.abs(x.sizeDelta) || (x.path < y.path ? -1 : 1));
}

/** A layer as size comparisons see it: its diffId and what it costs. */
export interface SizedLayer {
  diffId: string | null;
  /** The pull cost: the real compressed size, or the gzip -6 estimate of a layer stored uncompressed; null if unknown. */
  compressedSize: number | null;
  /** Whether `compressedSize` is an estimate. */
  estimated: boolean;
  uncompressedSize: number | null;
}

export interface SizeGrowth {
  base: number;
  now: number;
  /** Layers matched by diffId (counted as no growth). */
  shared: number;
  /** Whether an estimate entered the comparison. */
  estimated: boolean;
}

/**
 * Growth from `base` to `now`, like with like: a layer both hold (same diffId: the same content, however each
 * stores it) grows by nothing, whatever its stored sizes; the others add or take away their own size. Null when
 * the size of a layer that is not shared is unknown.
 */
export function sizeGrowth(base: SizedLayer[], now: SizedLayer[], pick: 'compressedSize' | 'uncompressedSize'): SizeGrowth | null {
  const unmatched = new Map<string, number[]>();
  now.forEach((layer, i) => {
    if (layer.diffId) unmatched.set(layer.diffId, [...(unmatched.get(layer.diffId) ?? []), i]);
  });
  const sharedNow = new Set<number>();
  let baseTotal = 0;
  let growth = 0;
  let shared = 0;
  let estimated = false;
  for (const layer of base) {
    const match = layer.diffId ? unmatched.get(layer.diffId)?.shift() : undefined;
    if (match !== undefined) {
      sharedNow.add(match);
      shared++;
      // The baseline's own size where it has one, else the image's: the layer is the same content.
      const size = layer[pick] ?? now[match]![pick];
      if (size === null) return null;
      baseTotal += size;
      continue;
    }
    const size = layer[pick];
    if (size === null) return null;
    baseTotal += size;
    growth -= size;
    if (pick === 'compressedSize' && layer.estimated) estimated = true;
  }
  for (const [i, layer] of now.entries()) {
    if (sharedNow.has(i)) continue;
    const size = layer[pick];
    if (size === null) return null;
    growth += size;
    if (pick === 'compressedSize' && layer.estimated) estimated = true;
  }
  return { base: baseTotal, now: baseTotal + growth, shared, estimated };
}

/** What a growth figure compared, for reports (`check.rules[].measure`, `diff.totals.measure`). */
export function growthMeasure(pick: 'compressedSize' | 'uncompressedSize', growth: SizeGrowth): string {
  const what = pick === 'compressedSize' ? `compressed size${growth.estimated ? ' (gzip -6 estimate for layers stored uncompressed)' : ''}` : 'uncompressed size';
  return `${what}; ${growth.shared} layer(s) shared by diffId count 0`;
}
