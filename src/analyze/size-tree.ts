/**
 * The filesystem as a small tree of sizes, for a treemap: each node's bytes, the layer that wrote most of them, and
 * the bytes one chosen layer wrote below it (what a view "as of layer N" highlights). Paths too small to draw are
 * merged into one entry per directory, so a 200k-file image stays a few tens of thousands of nodes.
 */
import type { LayerEntry } from '../model/layer.js';
import { contentBytes, parentsFirst, UnionFs, type ChangeSizes, type FsNode } from './union.js';

/**
 * [name, bytes, layer, children, own]: `layer` is the layer that wrote most of the bytes (for a group of small
 * items, -1 - that layer: drawn hatched); `children` is null for a file or a group; `own`, present only when
 * non-zero, is the bytes the tree's chosen layer wrote below the node. A file without `own` stops at `layer`: the
 * page holds tens of thousands of these.
 */
export type SizeTreeNode = [name: string, bytes: number, layer: number, children?: SizeTreeNode[] | null, own?: number];

export interface SizeTree {
  tree: SizeTreeNode;
  /** Nodes in the tree (groups count one). */
  nodes: number;
}

/** The nodes a whole-image tree keeps: enough to draw every cell a screen can show, few enough to open fast. */
export const SIZE_TREE_NODES = 25_000;

/**
 * Each node's bytes, the layer that wrote most of them (a directory is coloured by its bytes, not by the layer that
 * wrote its directory entry: /var/cache made by the base layer but filled with .debs by the next is the next's), and
 * the bytes `chosen` wrote. Children before parents, without recursion: an image controls the depth.
 */
function measure(union: UnionFs, chosen: number): { bytes: Map<FsNode, number>; layer: Map<FsNode, number>; own: Map<FsNode, number> } {
  const bytes = new Map<FsNode, number>();
  const layer = new Map<FsNode, number>();
  const own = new Map<FsNode, number>();
  const perLayer = new Map<FsNode, Map<number, number>>();
  const order = parentsFirst(union.root);
  const credit = (node: FsNode, by: number, amount: number) => {
    if (amount === 0) return;
    let tally = perLayer.get(node);
    if (!tally) perLayer.set(node, (tally = new Map()));
    tally.set(by, (tally.get(by) ?? 0) + amount);
  };
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    if (!node.children) {
      const size = contentBytes(node);
      bytes.set(node, size);
      layer.set(node, node.layer);
      if (node.layer === chosen && size > 0) own.set(node, size);
      if (node.parent) credit(node.parent, node.layer, size);
      continue;
    }
    const tally = perLayer.get(node);
    perLayer.delete(node);
    let total = 0;
    let best = node.layer;
    let bestBytes = -1;
    for (const [by, amount] of tally ?? []) {
      total += amount;
      if (amount > bestBytes || (amount === bestBytes && by < best)) [best, bestBytes] = [by, amount];
    }
    bytes.set(node, total);
    layer.set(node, best);
    const chosenBytes = tally?.get(chosen) ?? 0;
    if (chosenBytes > 0) own.set(node, chosenBytes);
    if (node.parent) for (const [by, amount] of tally ?? []) credit(node.parent, by, amount);
  }
  return { bytes, layer, own };
}

/**
 * The union as nested arrays of at most about `maxNodes` nodes: paths smaller than total/maxNodes are merged into
 * one entry per directory, coloured by the layer that wrote most of its bytes. `chosen` (default: the last layer
 * applied) is the layer whose bytes each node's `own` counts.
 */
export function sizeTree(union: UnionFs, options: { maxNodes?: number; chosen?: number } = {}): SizeTree {
  const chosen = options.chosen ?? union.changes.length - 1;
  const { bytes, layer, own } = measure(union, chosen);
  const sizeOf = (node: FsNode) => bytes.get(node) ?? 0;
  const total = sizeOf(union.root);
  const minBytes = Math.max(1, Math.floor(total / (options.maxNodes ?? SIZE_TREE_NODES)));
  let nodes = 0;
  const make = (node: FsNode, name: string): SizeTreeNode => {
    const entry: SizeTreeNode = [name, sizeOf(node), layer.get(node) ?? node.layer];
    const mine = own.get(node);
    if (node.children || mine) entry.push(node.children ? [] : null);
    if (mine) entry.push(mine);
    return entry;
  };
  // Depth-first with an explicit stack: each entry fills its parent's children array.
  const rootNode = make(union.root, union.root.name || '/');
  const stack: [FsNode, SizeTreeNode][] = [[union.root, rootNode]];
  nodes++;
  while (stack.length > 0) {
    const [node, out] = stack.pop()!;
    const kept = out[3]!;
    const small = new Map<number, number>();
    let smallBytes = 0;
    let smallOwn = 0;
    let smallCount = 0;
    let only: FsNode | null = null;
    for (const child of [...node.children!.values()].sort((a, b) => sizeOf(b) - sizeOf(a))) {
      const childSize = sizeOf(child);
      if (childSize === 0) continue;
      if (childSize < minBytes) {
        smallBytes += childSize;
        smallOwn += own.get(child) ?? 0;
        smallCount++;
        only = child;
        small.set(layer.get(child)!, (small.get(layer.get(child)!) ?? 0) + childSize);
        continue;
      }
      kept.push(place(child));
    }
    if (smallCount === 1 && only) kept.push(place(only));
    else if (smallCount > 0) {
      // The group takes the colour of the layer that wrote most of it, and stays hatched (the page draws it so).
      const dominant = [...small].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
      const group: SizeTreeNode = [`(${smallCount} smaller items)`, smallBytes, -1 - dominant];
      if (smallOwn > 0) group.push(null, smallOwn);
      kept.push(group);
      nodes++;
    }
  }
  function place(child: FsNode): SizeTreeNode {
    nodes++;
    const entry = make(child, child.name);
    if (child.children) stack.push([child, entry]);
    return entry;
  }
  return { tree: rootNode, nodes };
}

/**
 * The union of every layer, built one layer at a time, with a size tree as of each layer (its `own` counting what
 * that layer wrote) and the sizes of every change list: what the HTML report's layer selector shows. A view of an
 * earlier layer keeps fewer nodes (at least 1,000), so a 100-layer image's report stays a few megabytes.
 */
export function unionWithLayerTrees(layers: LayerEntry[][]): { union: UnionFs; trees: SizeTree[] } {
  const union = new UnionFs({ changeSizes: true });
  const trees: SizeTree[] = [];
  const earlier = Math.max(1000, Math.floor(SIZE_TREE_NODES / Math.max(1, layers.length)));
  for (let i = 0; i < layers.length; i++) {
    union.apply(i, layers[i]!);
    trees.push(sizeTree(union, { chosen: i, maxNodes: i === layers.length - 1 ? SIZE_TREE_NODES : earlier }));
  }
  return { union, trees };
}

/** Every path of the final filesystem, with each one's bytes and the layer that wrote it. */
export interface PathIndex {
  /** One path per line, in path order (a list of 200k strings costs the page more to parse than one string). */
  paths: string;
  sizes: number[];
  layers: number[];
}

/** The paths of `union` for the HTML report's search box; a name holding a newline stays one line, escaped. */
export function pathIndex(union: UnionFs): PathIndex {
  const paths: string[] = [];
  const sizes: number[] = [];
  const layers: number[] = [];
  const pending: [FsNode, string][] = [[union.root, '']];
  while (pending.length > 0) {
    const [node, path] = pending.pop()!;
    if (node.parent) {
      paths.push(path.replace(/\n/g, '\\n'));
      sizes.push(contentBytes(node));
      layers.push(node.layer);
    }
    if (node.children) for (const [name, child] of [...node.children].sort((a, b) => (a[0] < b[0] ? 1 : -1))) pending.push([child, `${path}/${name}`]);
  }
  return { paths: paths.join('\n'), sizes, layers };
}

/** What the HTML report draws of one image beside its Report: the renderer reads this and the Report, nothing else. */
export interface PageData {
  /** The size tree as of each layer, the whole image's last; or only the whole image's (no layer selector). */
  trees: SizeTree[];
  perLayer: boolean;
  paths: PathIndex | null;
  /** Per layer, the size of each path of its change lists, where the union kept them. */
  changeSizes: (ChangeSizes | undefined)[];
}

/** The page's data from an image's union (null: an image whose content could not be read) and its layer trees. */
export function pageData(union: UnionFs | null, layerTrees: SizeTree[] | null): PageData {
  return {
    trees: layerTrees ?? (union ? [sizeTree(union)] : []),
    perLayer: layerTrees !== null,
    paths: union ? pathIndex(union) : null,
    changeSizes: union?.changeSizes ?? [],
  };
}
