/**
 * dive's efficiency, wasted bytes and user-wasted percent, with dive's definitions (dive/filetree/efficiency.go,
 * dive/image/analysis.go), so thresholds written for dive carry over to the digit. It works on each layer's own
 * tree, not on the union:
 * - a layer's tree holds its entries by cleaned path; opaque markers (`.wh..wh..*`) are dropped; parents that
 *   have no entry of their own are placeholder nodes with no metadata (not directories, size 0);
 * - every leaf (no children in that layer) is keyed by its path with the `.wh.` prefix removed; a normal leaf
 *   adds its tar-header size; a whiteout adds, if the path was a directory in the layers below, the sizes of
 *   everything under it there, else 0; a whiteout of a path absent below stops dive's walk of that layer;
 * - efficiency = Σ smallest / Σ cumulative; wasted = Σ cumulative over paths seen twice or more.
 * The stacked "layers below" tree is kept incrementally instead of being re-stacked per whiteout, with dive's
 * own stacking rules (a placeholder in an upper layer overwrites the lower node's metadata).
 */
import type { LayerEntry } from '../model/layer.js';
import { pathParts } from '../image/paths.js';
import { WHITEOUT_PREFIX } from './union.js';

const OPAQUE_PREFIX = '.wh..wh..';

/**
 * A node of a layer's tree as dive builds it: the size and kind of the entry that last wrote the path, or a
 * placeholder (size 0, not a directory) for a parent with no entry of its own. Leaves have no children map: a
 * layer of a million files makes a million nodes, and a map each would double the cost.
 */
interface DiveNode {
  name: string;
  parent: DiveNode | null;
  children: Map<string, DiveNode> | null;
  size: number;
  isDir: boolean;
}

function newNode(name: string, parent: DiveNode | null): DiveNode {
  return { name, parent, children: null, size: 0, isDir: false };
}

function child(parent: DiveNode, name: string): DiveNode {
  let node = parent.children?.get(name);
  if (!node) {
    node = newNode(name, parent);
    (parent.children ??= new Map()).set(name, node);
  }
  return node;
}

const byName = (a: DiveNode, b: DiveNode) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function sortedChildren(node: DiveNode): DiveNode[] {
  return node.children ? [...node.children.values()].sort(byName) : [];
}

/** dive's lookup of a path: `/`-separated, empty names skipped (so `/a/` is `/a`). */
function getNode(root: DiveNode, path: string): DiveNode | null {
  let node: DiveNode | null = root;
  for (const part of path.split('/')) {
    if (part === '') continue;
    node = node.children?.get(part) ?? null;
    if (!node) return null;
  }
  return node;
}

function copyTree(node: DiveNode): DiveNode {
  const top: DiveNode = { ...node, parent: null, children: null };
  const stack: [DiveNode, DiveNode][] = [[node, top]];
  while (stack.length > 0) {
    const [source, copy] = stack.pop()!;
    if (!source.children) continue;
    copy.children = new Map();
    for (const [name, original] of source.children) {
      const childCopy: DiveNode = { ...original, parent: copy, children: null };
      copy.children.set(name, childCopy);
      stack.push([original, childCopy]);
    }
  }
  return top;
}

/** Σ of the sizes of a node and of everything below it (iterative: a crafted layer controls the depth). */
function subtreeSize(node: DiveNode): number {
  let total = 0;
  const stack = [node];
  while (stack.length > 0) {
    const current = stack.pop()!;
    total += current.size;
    if (current.children) for (const below of current.children.values()) stack.push(below);
  }
  return total;
}

/**
 * dive's per-path tallies, keyed by its path (the whiteout prefix removed from the last name) in a tree of their
 * own that nothing is ever deleted from: a path seen again in a later layer, even after a whiteout, finds its
 * tally by walking names, without a path string per leaf. Path strings are built only for paths seen twice.
 */
interface Tally {
  name: string;
  parent: Tally | null;
  children: Map<string, Tally> | null;
  /** The path's first occurrence while it has one; its DivePathData from the second on. */
  seen: Occurrence | DivePathData | null;
}

function tallyChild(parent: Tally, name: string): Tally {
  let node = parent.children?.get(name);
  if (!node) {
    node = { name, parent, children: null, seen: null };
    (parent.children ??= new Map()).set(name, node);
  }
  return node;
}

function tallyPath(tally: Tally): string {
  const names: string[] = [];
  for (let current: Tally | null = tally; current?.parent; current = current.parent) names.push(current.name);
  return '/' + names.reverse().join('/');
}

/** Every leaf of a layer's tree in dive's order (depth first, names sorted), with the tally of its dive path. */
function* leaves(root: DiveNode, tallies: Tally): Generator<[DiveNode, Tally]> {
  const stack: [DiveNode, Tally][] = sortedChildren(root)
    .reverse()
    .map((node) => [node, tallies] as [DiveNode, Tally]);
  while (stack.length > 0) {
    const [node, parent] = stack.pop()!;
    if (node.children && node.children.size > 0) {
      const here = tallyChild(parent, node.name);
      const children = sortedChildren(node);
      for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]!, here]);
      continue;
    }
    const name = node.name.startsWith(WHITEOUT_PREFIX) ? node.name.slice(WHITEOUT_PREFIX.length) : node.name;
    yield [node, tallyChild(parent, name)];
  }
}

/**
 * Stack `upper` onto `lower` as dive does (a child-first walk of `upper`, names sorted: a whiteout deletes its
 * target in `lower`, any other node is written over the same path, placeholders created for missing parents),
 * walking both trees side by side instead of from the root for every node. A lower node is created only when a
 * node below needs it, as dive's path-by-path writes create them.
 */
function stack(lower: DiveNode, upper: DiveNode): void {
  interface Frame {
    upper: DiveNode;
    /** The same path in `lower`; null while `lower` has none. */
    lower: DiveNode | null;
    parent: Frame | null;
    children: DiveNode[];
    next: number;
  }
  const ensure = (frame: Frame): DiveNode => {
    const missing: Frame[] = [];
    let current: Frame = frame;
    while (!current.lower) {
      missing.push(current);
      current = current.parent!;
    }
    let node = current.lower;
    for (let i = missing.length - 1; i >= 0; i--) {
      node = child(node, missing[i]!.upper.name);
      missing[i]!.lower = node;
    }
    return node;
  };
  const frames: Frame[] = [{ upper, lower, parent: null, children: sortedChildren(upper), next: 0 }];
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    if (frame.next < frame.children.length) {
      const next = frame.children[frame.next++]!;
      frames.push({ upper: next, lower: frame.lower?.children?.get(next.name) ?? null, parent: frame, children: sortedChildren(next), next: 0 });
      continue;
    }
    frames.pop();
    const parent = frame.parent;
    if (!parent) continue;
    const node = frame.upper;
    if (node.name.startsWith(WHITEOUT_PREFIX)) {
      const name = node.name.slice(WHITEOUT_PREFIX.length);
      // `.wh.` alone names its own directory (dive's lookup skips the empty name): the parent itself goes.
      const target = name === '' ? parent.lower : (parent.lower?.children?.get(name) ?? null);
      if (target?.parent) {
        target.parent.children!.delete(target.name);
        if (target === parent.lower) parent.lower = null;
      }
    } else {
      const written = ensure(frame);
      written.size = node.size;
      written.isDir = node.isDir;
    }
  }
}

export function layerTree(entries: LayerEntry[]): DiveNode {
  const root = newNode('', null);
  for (const entry of entries) {
    const parts = pathParts(entry.path);
    if (parts.length === 0) continue;
    let node = root;
    let dropped = false;
    for (const name of parts) {
      const existing = node.children?.get(name);
      if (existing) {
        node = existing;
        continue;
      }
      // dive drops opaque markers (and anything a crafted layer puts below one).
      if (name.startsWith(OPAQUE_PREFIX)) {
        dropped = true;
        break;
      }
      node = child(node, name);
    }
    if (dropped) continue;
    node.size = entry.size;
    node.isDir = entry.type === 'dir';
  }
  return root;
}

export interface DivePathData {
  path: string;
  cumulativeSize: number;
  minSize: number;
  /** Layer of each occurrence, in visiting order, and whether it was a whiteout. */
  occurrences: { layer: number; whiteout: boolean; size: number }[];
}

export interface DiveEfficiency {
  efficiency: number;
  wastedBytes: number;
  /** wastedBytes / userSizeBytes; null when the image has no bytes above its first layer (dive divides by 0). */
  userWastedPercent: number | null;
  sizeBytes: number;
  userSizeBytes: number;
  /** Paths seen in two or more layers, largest cumulative size first. */
  inefficiencies: DivePathData[];
  /** Layers whose walk dive stops early (a whiteout of a path absent below); reported for transparency. */
  truncatedLayers: number[];
}

type Occurrence = DivePathData['occurrences'][number];

export function diveEfficiency(layers: LayerEntry[][]): DiveEfficiency {
  const tallies: Tally = { name: '', parent: null, children: null, seen: null };
  const inefficient: DivePathData[] = [];
  const truncatedLayers: number[] = [];
  // Σ over paths of the smallest occurrence, and of every occurrence.
  let minimum = 0;
  let discovered = 0;
  // dive stacks every range onto a copy of the first layer's tree, then the layers from the first on. Each layer's
  // own tree is built when its turn comes and dropped after it is stacked.
  let stacked: DiveNode | null = null;

  layers.forEach((entries, layer) => {
    const tree = layerTree(entries);
    stacked ??= copyTree(tree);
    let completed = true;
    for (const [node, tally] of leaves(tree, tallies)) {
      let size = 0;
      const whiteout = node.name.startsWith(WHITEOUT_PREFIX);
      if (whiteout) {
        const previous = getNode(stacked, tallyPath(tally));
        if (!previous) {
          completed = false; // dive's visitor errors here and abandons the rest of this layer
          break;
        }
        if (previous.isDir) size = subtreeSize(previous);
      } else {
        size = node.size;
      }
      const occurrence: Occurrence = { layer, whiteout, size };
      const seen = tally.seen;
      discovered += size;
      if (!seen) {
        tally.seen = occurrence;
        minimum += size;
      } else if ('occurrences' in seen) {
        seen.cumulativeSize += size;
        if (size < seen.minSize) {
          minimum -= seen.minSize - size;
          seen.minSize = size;
        }
        seen.occurrences.push(occurrence);
      } else {
        const data: DivePathData = { path: tallyPath(tally), cumulativeSize: seen.size + size, minSize: Math.min(seen.size, size), occurrences: [seen, occurrence] };
        minimum -= seen.size - data.minSize;
        tally.seen = data;
        inefficient.push(data);
      }
    }
    if (!completed) truncatedLayers.push(layer);
    stack(stacked, tree);
  });

  const wastedBytes = inefficient.reduce((total, data) => total + data.cumulativeSize, 0);
  const layerSizes = layers.map((entries) => entries.reduce((total, entry) => total + entry.size, 0));
  const sizeBytes = layerSizes.reduce((a, b) => a + b, 0);
  const userSizeBytes = sizeBytes - (layerSizes[0] ?? 0);
  return {
    efficiency: discovered === 0 ? 1 : minimum / discovered,
    wastedBytes,
    userWastedPercent: userSizeBytes === 0 ? null : wastedBytes / userSizeBytes,
    sizeBytes,
    userSizeBytes,
    inefficiencies: inefficient.sort((a, b) => b.cumulativeSize - a.cumulativeSize || (a.path < b.path ? -1 : 1)),
    truncatedLayers,
  };
}
