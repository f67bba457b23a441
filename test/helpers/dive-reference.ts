/**
 * The straightforward port of dive's efficiency (dive/filetree/efficiency.go) that src/analyze/dive-efficiency.ts
 * replaced on 2026-12-02 (its per-layer trees, paths rebuilt from the root for every node): kept as the reference
 * the faster one is compared with, on generated layers full of whiteouts, opaque markers and odd names.
 */
import type { LayerEntry } from '../../src/model/layer.js';
import { pathParts } from '../../src/image/paths.js';
import { WHITEOUT_PREFIX } from '../../src/analyze/union.js';
import type { DiveEfficiency, DivePathData } from '../../src/analyze/dive-efficiency.js';

const OPAQUE_PREFIX = '.wh..wh..';

interface Info {
  size: number;
  isDir: boolean;
}

const PLACEHOLDER: Info = { size: 0, isDir: false };

interface DiveNode {
  name: string;
  parent: DiveNode | null;
  children: Map<string, DiveNode>;
  info: Info;
}

function newNode(name: string, parent: DiveNode | null, info: Info): DiveNode {
  return { name, parent, children: new Map(), info };
}

function sortedChildren(node: DiveNode): DiveNode[] {
  return [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The node's path, with a whiteout prefix removed from its own (last) name. */
function divePath(node: DiveNode): string {
  const names: string[] = [];
  for (let current: DiveNode | null = node; current?.parent; current = current.parent) {
    names.push(current === node && current.name.startsWith(WHITEOUT_PREFIX) ? current.name.slice(WHITEOUT_PREFIX.length) : current.name);
  }
  return '/' + names.reverse().join('/');
}

function addPath(root: DiveNode, parts: string[], info: Info): void {
  let node = root;
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i]!;
    let child = node.children.get(name);
    if (!child) {
      if (name.startsWith(OPAQUE_PREFIX)) return;
      child = newNode(name, node, PLACEHOLDER);
      node.children.set(name, child);
    }
    node = child;
    if (i === parts.length - 1) node.info = info;
  }
}

function getNode(root: DiveNode, path: string): DiveNode | null {
  let node: DiveNode | null = root;
  for (const part of path.split('/')) {
    if (part === '') continue;
    node = node.children.get(part) ?? null;
    if (!node) return null;
  }
  return node;
}

function copyTree(node: DiveNode, parent: DiveNode | null): DiveNode {
  const top = newNode(node.name, parent, node.info);
  const stack: [DiveNode, DiveNode][] = [[node, top]];
  while (stack.length > 0) {
    const [source, copy] = stack.pop()!;
    for (const [name, child] of source.children) {
      const childCopy = newNode(child.name, copy, child.info);
      copy.children.set(name, childCopy);
      stack.push([child, childCopy]);
    }
  }
  return top;
}

/**
 * Depth-first, children before parents, names in sorted order; stops when the visitor returns false. An explicit
 * stack, not recursion: a crafted layer controls the depth.
 */
function visitChildFirst(root: DiveNode, visitor: (node: DiveNode) => boolean, leavesOnly: boolean): boolean {
  const stack: { node: DiveNode; children: DiveNode[]; next: number }[] = [{ node: root, children: sortedChildren(root), next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next < frame.children.length) {
      const child = frame.children[frame.next++]!;
      stack.push({ node: child, children: sortedChildren(child), next: 0 });
      continue;
    }
    stack.pop();
    const { node } = frame;
    if (!node.parent) continue;
    if (leavesOnly && node.children.size > 0) continue;
    if (!visitor(node)) return false;
  }
  return true;
}

function stack(lower: DiveNode, upper: DiveNode): void {
  visitChildFirst(
    upper,
    (node) => {
      const path = divePath(node);
      if (node.name.startsWith(WHITEOUT_PREFIX)) {
        const target = getNode(lower, path);
        if (target?.parent) target.parent.children.delete(target.name);
      } else {
        addPath(lower, pathParts(path), node.info);
      }
      return true;
    },
    false,
  );
}

export function layerTree(entries: LayerEntry[]): DiveNode {
  const root = newNode('', null, PLACEHOLDER);
  for (const entry of entries) {
    const parts = pathParts(entry.path);
    if (parts.length === 0) continue;
    addPath(root, parts, { size: entry.size, isDir: entry.type === 'dir' });
  }
  return root;
}

export function diveEfficiency(layers: LayerEntry[][]): DiveEfficiency {
  const trees = layers.map(layerTree);
  const byPath = new Map<string, DivePathData>();
  const inefficient: DivePathData[] = [];
  const truncatedLayers: number[] = [];
  // dive stacks every range onto a copy of the first layer's tree, then the layers from the first on.
  const stacked = trees.length > 0 ? copyTree(trees[0]!, null) : newNode('', null, PLACEHOLDER);

  trees.forEach((tree, layer) => {
    const completed = visitChildFirst(
      tree,
      (node) => {
        const path = divePath(node);
        let size = 0;
        const whiteout = node.name.startsWith(WHITEOUT_PREFIX);
        if (whiteout) {
          const previous = getNode(stacked, path);
          if (!previous) return false; // dive's visitor errors here and abandons the rest of this layer
          if (previous.info.isDir) visitChildFirst(previous, (below) => ((size += below.info.size), true), false);
        } else {
          size = node.info.size;
        }
        let data = byPath.get(path);
        if (!data) {
          data = { path, cumulativeSize: 0, minSize: -1, occurrences: [] };
          byPath.set(path, data);
        }
        data.cumulativeSize += size;
        if (data.minSize < 0 || size < data.minSize) data.minSize = size;
        data.occurrences.push({ layer, whiteout, size });
        if (data.occurrences.length === 2) inefficient.push(data);
        return true;
      },
      true,
    );
    if (!completed) truncatedLayers.push(layer);
    stack(stacked, tree);
  });

  let minimum = 0;
  let discovered = 0;
  for (const data of byPath.values()) {
    minimum += data.minSize;
    discovered += data.cumulativeSize;
  }
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
