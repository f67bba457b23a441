/**
 * What the HTML report's layer views stand on: the union's change-list sizes (aligned with the sorted lists, every
 * kind of change) and the size tree as of each layer (its bytes, and what the chosen layer wrote), on layer
 * sequences with the cases that make them hard: a whiteout of a tree, an opaque directory, a directory replaced by
 * a file, a hardlink, a rewrite.
 */
import { buildUnion, UnionFs } from '../src/analyze/union.js';
import { sizeTree, unionWithLayerTrees, type SizeTreeNode } from '../src/analyze/size-tree.js';
import type { LayerEntry } from '../src/model/layer.js';

const entry = (path: string, type: LayerEntry['type'], size = 0, linkTarget: string | null = null): LayerEntry => ({ path, type, size, mode: 0o755, uid: 0, gid: 0, linkTarget, contentHash: type === 'file' ? `h${path}${size}` : null });

const layers: LayerEntry[][] = [
  [entry('etc', 'dir'), entry('etc/a.conf', 'file', 100), entry('opt', 'dir'), entry('opt/x', 'dir'), entry('opt/x/big', 'file', 5000), entry('opt/x/small', 'file', 7), entry('srv', 'dir'), entry('srv/data', 'file', 300)],
  // A rewrite, a hardlink, a whiteout of a tree, a directory replaced by a file.
  [entry('etc/a.conf', 'file', 120), entry('etc/b.conf', 'hardlink', 0, 'etc/a.conf'), entry('opt/.wh.x', 'file'), entry('srv', 'file', 42), entry('new', 'dir'), entry('new/file', 'file', 9)],
  // An opaque directory over /etc, with one file written again.
  [entry('etc/.wh..wh..opq', 'file'), entry('etc/c.conf', 'file', 11)],
];

test('each change list has its sizes, index for index: a file its bytes, a hardlink 0, a directory -1; removals as they were', () => {
  const union = new UnionFs({ changeSizes: true });
  for (const [i, layer] of layers.entries()) union.apply(i, layer);
  const sized = (i: number, kind: 'added' | 'modified' | 'removed') => Object.fromEntries(union.changes[i]![kind].map((path, k) => [path, union.changeSizes[i]![kind][k]]));
  expect(sized(1, 'modified')).toEqual({ '/etc/a.conf': 120, '/srv': 42 });
  expect(sized(1, 'added')).toEqual({ '/etc/b.conf': 0, '/new': -1, '/new/file': 9 });
  expect(sized(1, 'removed')).toEqual({ '/opt/x': -1, '/opt/x/big': 5000, '/opt/x/small': 7, '/srv/data': 300 });
  expect(sized(2, 'removed')).toEqual({ '/etc/a.conf': 120, '/etc/b.conf': 0 });
  expect(sized(2, 'added')).toEqual({ '/etc/c.conf': 11 });
  // The totals the report gives are the sums of the sizes (directories count nothing).
  for (const [i, changes] of union.changes.entries()) {
    for (const kind of ['added', 'modified', 'removed'] as const) {
      expect(union.changeSizes[i]![kind].length).toBe(changes[kind].length);
      expect([...union.changeSizes[i]![kind]].reduce((sum, size) => sum + Math.max(0, size), 0)).toBe(changes[`${kind}Bytes`]);
    }
  }
  // Asked for nothing, the union keeps nothing beside its lists.
  expect(buildUnion(layers).changeSizes).toEqual([]);
});

const find = (tree: SizeTreeNode, path: string): SizeTreeNode | undefined => {
  let node: SizeTreeNode | undefined = tree;
  for (const name of path.split('/').filter(Boolean)) node = (node?.[3] ?? []).find((child) => child[0] === name);
  return node;
};

test('the size tree as of each layer: the bytes there then, and what that layer wrote below each node', () => {
  const { union, trees } = unionWithLayerTrees(layers);
  expect(trees).toHaveLength(3);
  // As of layer 0: everything is layer 0's.
  expect(trees[0]!.tree.slice(0, 3)).toEqual(['/', 5407, 0]);
  expect(find(trees[0]!.tree, 'opt')!.slice(1)).toEqual([5007, 0, expect.any(Array), 5007]);
  // As of layer 1: /opt/x is gone (an empty /opt has no bytes to draw), /srv is a 42-byte file of layer 1.
  expect(find(trees[1]!.tree, 'opt')).toBeUndefined();
  expect(find(trees[1]!.tree, 'srv')).toEqual(['srv', 42, 1, null, 42]);
  expect(find(trees[1]!.tree, 'etc')!.slice(0, 3)).toEqual(['etc', 120, 1]); // the hardlink shares a.conf's bytes
  expect(trees[1]!.tree[1]).toBe(120 + 42 + 9);
  expect(trees[1]!.tree[4]).toBe(120 + 42 + 9); // all of it written by layer 1
  // As of layer 2: the opaque /etc holds only c.conf; layer 2 wrote 11 of the 62 bytes.
  expect(find(trees[2]!.tree, 'etc')).toEqual(['etc', 11, 2, [['c.conf', 11, 2, null, 11]], 11]);
  expect(trees[2]!.tree.slice(1, 3)).toEqual([62, 1]);
  expect(trees[2]!.tree[4]).toBe(11);
  // The last tree is the whole image's, as the report's own tree of the same union.
  expect(trees[2]!.tree).toEqual(sizeTree(union).tree);
  expect(sizeTree(buildUnion(layers)).tree).toEqual(trees[2]!.tree);
});

test('small paths are grouped per directory, the group keeping its bytes and what the chosen layer wrote', () => {
  // 100 kB and 51 one-byte files: below the whole image's 25,000th (4 bytes), each too small to draw apart.
  const many = [[entry('d', 'dir'), entry('d/big', 'file', 100_000), ...Array.from({ length: 50 }, (_, i) => entry(`d/f${i}`, 'file', 1))], [entry('d/late', 'file', 1)]];
  const { trees } = unionWithLayerTrees(many);
  const d = find(trees[1]!.tree, 'd')!;
  const group = d[3]!.find((child) => child[0].startsWith('('))!;
  expect(group.slice(0, 3)).toEqual(['(51 smaller items)', 51, -1]); // -1 - layer 0: most of it is layer 0's
  expect(group[4]).toBe(1); // layer 1's one small file
  expect(d[4]).toBe(1);
  expect(sizeTree(buildUnion(many), { maxNodes: 1_000_000 }).nodes).toBe(54); // nothing grouped when there is room: /, d, big and 51 files
});
