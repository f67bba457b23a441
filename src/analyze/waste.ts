/**
 * Waste: dive's numbers under dive's names (so existing CI thresholds carry over), the honest reclaimable figure
 * beside them (dive counts every copy; squashing saves all copies but the smallest, dive#684), an explanation
 * of each entry by build step, same-content duplicates in the final filesystem, and the largest paths.
 */
import { diveEfficiency, type DivePathData } from './dive-efficiency.js';
import type { LayerEntry } from '../model/layer.js';
import { contentBytes, nodePath, parentsFirst, walk, type FsNode, type UnionFs } from './union.js';

export interface StepRef {
  layer: number;
  createdBy: string | null;
}

export interface WasteEntry {
  path: string;
  count: number;
  cumulativeSize: number;
  reclaimableBytes: number;
  layers: number[];
  explanation: { writtenBy: StepRef[]; removedBy: StepRef | null; hint: string };
}

export interface DuplicateGroup {
  hash: string;
  size: number;
  paths: string[];
  reclaimableBytes: number;
}

export interface SizedPath {
  path: string;
  size: number;
  layer: number;
}

export interface HiddenEntry {
  path: string;
  how: 'deleted' | 'overwritten';
  bytes: number;
  writtenBy: StepRef[];
  removedBy: StepRef;
  hint: string;
}

export interface WasteReport {
  efficiency: number;
  wastedBytes: number;
  userWastedPercent: number | null;
  sizeBytes: number;
  userSizeBytes: number;
  reclaimableBytes: number;
  /**
   * Bytes the layers ship that the final filesystem does not show (deleted or overwritten later): what squashing
   * really saves. Unlike dive's per-path view it sees files deleted with their directory (`rm -rf /var/cache/x`).
   */
  hiddenBytes: number;
  hidden: HiddenEntry[];
  entries: WasteEntry[];
  duplicates: DuplicateGroup[];
  duplicateBytes: number;
  largestFiles: SizedPath[];
  largestDirectories: SizedPath[];
  /** Layers dive stops walking early (a whiteout of a path absent below), where dive's numbers undercount. */
  diveTruncatedLayers: number[];
}

const CACHES: [RegExp, string][] = [
  [/^\/var\/lib\/apt\/lists(\/|$)/, 'apt package lists'],
  [/^\/var\/cache\/apt(\/|$)/, 'the apt cache'],
  [/^\/var\/cache\/apk(\/|$)/, 'the apk cache'],
  [/^\/var\/cache\/(yum|dnf)(\/|$)/, 'the yum/dnf cache'],
  [/\/\.cache\/pip(\/|$)/, 'the pip cache'],
  [/\/node_modules\/\.cache(\/|$)/, 'node_modules/.cache'],
  [/\/\.npm(\/|$)/, 'the npm cache'],
  [/\/\.cache\/go-build(\/|$)/, 'the Go build cache'],
  [/\/\.cache\/yarn(\/|$)|\/\.yarn\/cache(\/|$)/, 'the yarn cache'],
  [/^\/tmp(\/|$)/, 'temporary files'],
];

function step(layer: number, history: (string | null)[]): StepRef {
  return { layer, createdBy: history[layer] ?? null };
}

export function hintFor(path: string, writtenBy: StepRef[], removedBy: StepRef | null, overwrittenBy: StepRef | null = null): string {
  const cache = CACHES.find(([pattern]) => pattern.test(path));
  const firstWrite = writtenBy[0]?.layer;
  if (cache) {
    return `${cache[1]}: delete it in the same RUN that creates it (… && rm -rf ${path}) or use a cache mount (RUN --mount=type=cache)`;
  }
  if (removedBy && firstWrite !== undefined) {
    return `written in layer ${firstWrite} and deleted in layer ${removedBy.layer}: the bytes still ship in layer ${firstWrite}; do both in one RUN, or use a multi-stage build and copy only what is needed`;
  }
  if (writtenBy.length > 1 || overwrittenBy) {
    const layers = [...new Set([...writtenBy, ...(overwrittenBy ? [overwrittenBy] : [])].map((ref) => ref.layer))].join(', ');
    return `written again in layers ${layers} (a chmod, chown or edit copies the whole file): set it when first written (COPY --chmod/--chown) or change it in the same RUN`;
  }
  return 'present in several layers: combine the steps that write it';
}

function wasteEntry(data: DivePathData, history: (string | null)[]): WasteEntry {
  const writes = data.occurrences.filter((occurrence) => !occurrence.whiteout);
  const removal = [...data.occurrences].reverse().find((occurrence) => occurrence.whiteout);
  const writtenBy = writes.map((occurrence) => step(occurrence.layer, history));
  const removedBy = removal ? step(removal.layer, history) : null;
  return {
    path: data.path,
    count: data.occurrences.length,
    cumulativeSize: data.cumulativeSize,
    reclaimableBytes: data.cumulativeSize - data.minSize,
    layers: [...new Set(data.occurrences.map((occurrence) => occurrence.layer))].sort((a, b) => a - b),
    explanation: { writtenBy, removedBy, hint: hintFor(data.path, writtenBy, removedBy) },
  };
}

/** Identical content at different paths in the final filesystem; hardlinks share one inode and are not copies. */
export function findDuplicates(union: UnionFs): DuplicateGroup[] {
  const groups = new Map<string, { size: number; hash: string; nodes: FsNode[] }>();
  for (const node of walk(union.root)) {
    if (node.type !== 'file' || node.size === 0 || !node.contentHash) continue;
    const key = `${node.contentHash}/${node.size}`;
    let group = groups.get(key);
    if (!group) {
      group = { size: node.size, hash: node.contentHash, nodes: [] };
      groups.set(key, group);
    }
    group.nodes.push(node);
  }
  const duplicates: DuplicateGroup[] = [];
  for (const group of groups.values()) {
    if (group.nodes.length < 2) continue; // paths are built only for real duplicates
    duplicates.push({ hash: group.hash, size: group.size, paths: group.nodes.map(nodePath), reclaimableBytes: group.size * (group.nodes.length - 1) });
  }
  return duplicates.sort((a, b) => b.reclaimableBytes - a.reclaimableBytes || (a.paths[0]! < b.paths[0]! ? -1 : 1));
}

export function largestPaths(union: UnionFs, limit = 10): { files: SizedPath[]; directories: SizedPath[] } {
  const files: { node: FsNode; size: number }[] = [];
  const directories: { node: FsNode; size: number }[] = [];
  // Children before parents without recursion (a crafted layer controls the depth): list the nodes parents
  // first, then add each node's total into its parent's, last to first.
  const order = parentsFirst(union.root);
  const totals = new Map<FsNode, number>();
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    let total: number;
    if (!node.children) {
      if (node.type === 'file') files.push({ node, size: node.size });
      total = contentBytes(node);
    } else {
      total = totals.get(node) ?? 0;
      totals.delete(node);
      if (node.parent && total > 0) directories.push({ node, size: total });
    }
    if (node.parent) totals.set(node.parent, (totals.get(node.parent) ?? 0) + total);
  }
  return { files: top(files, limit), directories: top(directories, limit) };
}

/** The `limit` largest, ties by path; paths are built only for the candidates (not for 200k files). */
function top(items: { node: FsNode; size: number }[], limit: number): SizedPath[] {
  if (items.length === 0) return [];
  items.sort((a, b) => b.size - a.size);
  const cutoff = items[Math.min(limit, items.length) - 1]!.size;
  let end = 0;
  while (end < items.length && items[end]!.size >= cutoff) end++;
  return items
    .slice(0, end)
    .map(({ node, size }) => ({ path: nodePath(node), size, layer: node.layer }))
    .sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1))
    .slice(0, limit);
}

export function analyzeWaste(layers: LayerEntry[][], union: UnionFs, history: (string | null)[]): WasteReport {
  const dive = diveEfficiency(layers);
  const entries = dive.inefficiencies.map((data) => wasteEntry(data, history));
  const duplicates = findDuplicates(union);
  const hidden: HiddenEntry[] = union.hidden
    .map((event) => {
      const writtenBy = event.writtenBy.map((layer) => step(layer, history));
      const removedBy = step(event.layer, history);
      return { path: event.path, how: event.how, bytes: event.bytes, writtenBy, removedBy, hint: hintFor(event.path, writtenBy, event.how === 'deleted' ? removedBy : null, event.how === 'overwritten' ? removedBy : null) };
    })
    .sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1));
  const largest = largestPaths(union);
  return {
    efficiency: dive.efficiency,
    wastedBytes: dive.wastedBytes,
    userWastedPercent: dive.userWastedPercent,
    sizeBytes: dive.sizeBytes,
    userSizeBytes: dive.userSizeBytes,
    reclaimableBytes: entries.reduce((total, entry) => total + entry.reclaimableBytes, 0),
    hiddenBytes: hidden.reduce((total, entry) => total + entry.bytes, 0),
    hidden,
    entries,
    duplicates,
    duplicateBytes: duplicates.reduce((total, group) => total + group.reclaimableBytes, 0),
    largestFiles: largest.files,
    largestDirectories: largest.directories,
    diveTruncatedLayers: dive.truncatedLayers,
  };
}

