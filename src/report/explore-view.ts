/**
 * What the explorer shows, as plain data and lines: the rows of the file tree for a layer, folded, filtered and
 * marked as the user asked, and each screen line already cut to its width. No terminal here (cli/explore.ts
 * draws these lines with a terminal UI library), so every rule of what is shown is testable without one.
 */
import { nodePath, parentsFirst, subtreeBytes, type FsNode, type LayerChanges, type UnionFs } from '../analyze/union.js';
import { escapeTerminal as esc } from './escape.js';
import { modeString } from './files-table.js';
import { humanSize, shorten, truncate, truncatePath, type Style } from './format.js';
import type { LayerReport, SingleReport } from './report.js';

export type ChangeMark = 'A' | 'M' | 'D' | ' ';

export interface TreeRow {
  /** Null for a removed path (a `D` row: not in the tree as of the layer). */
  node: FsNode | null;
  path: string;
  /** Tree guides drawn before the name: `│   ├── `. */
  prefix: string;
  name: string;
  mark: ChangeMark;
  /** A directory's size is everything below it. */
  size: number;
  directory: boolean;
  folded: boolean;
}

export interface TreeOptions {
  /** The layer whose changes are marked. */
  layer: number;
  /** Only that layer's changes (and the directories leading to them), its removals as `D` rows at the end. */
  layerOnly: boolean;
  /** Only changed paths (of the marked layer) and the directories leading to them. */
  hideUnchanged: boolean;
  /**
   * Hide what the marked layer added, modified or removed (dive's Ctrl+A, Ctrl+M, Ctrl+R). A directory so marked
   * stays while something below it is shown: hiding added files must not hide the unchanged ones under an added
   * directory's name (dive#151).
   */
  hideAdded?: boolean;
  hideModified?: boolean;
  hideRemoved?: boolean;
  /** A case-insensitive substring of the path; matching paths and the directories leading to them. */
  filter: string;
  /** Folded directories, by path. */
  folded: ReadonlySet<string>;
}

/** Directory sizes of one union, computed once: every tree of that union reuses them. */
const sizeCache = new WeakMap<UnionFs, Map<FsNode, number>>();

function sizesOf(union: UnionFs): Map<FsNode, number> {
  let sizes = sizeCache.get(union);
  if (sizes) return sizes;
  sizes = new Map();
  // Children before parents, without recursion (an image controls the depth).
  const order = parentsFirst(union.root);
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    const own = node.children ? (sizes.get(node) ?? 0) : subtreeBytes(node);
    if (!node.children) sizes.set(node, own);
    else if (!sizes.has(node)) sizes.set(node, 0);
    if (node.parent) sizes.set(node.parent, (sizes.get(node.parent) ?? 0) + own);
  }
  sizeCache.set(union, sizes);
  return sizes;
}

function markOf(changes: LayerChanges | undefined): Map<string, ChangeMark> {
  const marks = new Map<string, ChangeMark>();
  for (const path of changes?.added ?? []) marks.set(path, 'A');
  for (const path of changes?.modified ?? []) marks.set(path, 'M');
  return marks;
}

/** The paths a filter keeps, with every directory that leads to one. */
function keptPaths(paths: Iterable<string>): Set<string> {
  const kept = new Set<string>();
  for (const path of paths) {
    for (let end = path.length; end > 0; end = path.lastIndexOf('/', end - 1)) {
      const prefix = path.slice(0, end);
      if (kept.has(prefix)) break;
      kept.add(prefix);
    }
  }
  return kept;
}

/**
 * The paths of a hidden kind with nothing shown below them. Each topmost such path's subtree is walked once,
 * children before parents and without recursion (an image controls the depth): a node shows when its own mark is
 * not hidden or something below it shows.
 */
function droppedPaths(union: UnionFs, marks: Map<string, ChangeMark>, hidden: ReadonlySet<ChangeMark>): Set<string> {
  const dropped = new Set<string>();
  const isHidden = (path: string) => hidden.has(marks.get(path) ?? ' ');
  const hasHiddenAncestor = (path: string) => {
    for (let end = path.lastIndexOf('/'); end > 0; end = path.lastIndexOf('/', end - 1)) if (isHidden(path.slice(0, end))) return true;
    return false;
  };
  for (const [path, mark] of marks) {
    if (!hidden.has(mark) || hasHiddenAncestor(path)) continue;
    const top = union.get(path);
    if (!top) continue;
    const order: [FsNode, string][] = [];
    const pending: [FsNode, string][] = [[top, path]];
    while (pending.length > 0) {
      const [node, nodePath] = pending.pop()!;
      order.push([node, nodePath]);
      if (node.children) for (const [name, child] of node.children) pending.push([child, `${nodePath}/${name}`]);
    }
    const showing = new Set<FsNode>();
    for (let i = order.length - 1; i >= 0; i--) {
      const [node, nodePath] = order[i]!;
      if (!isHidden(nodePath) || showing.has(node)) {
        if (node !== top && node.parent) showing.add(node.parent);
      } else dropped.add(nodePath);
    }
  }
  return dropped;
}

/** The rows of the tree as of `options.layer`, depth first, names sorted, folded directories closed. */
export function treeRows(union: UnionFs, options: TreeOptions): TreeRow[] {
  const sizes = sizesOf(union);
  const changes = union.changes[options.layer];
  const marks = markOf(changes);
  const needle = options.filter.toLowerCase();
  const changedOnly = options.layerOnly || options.hideUnchanged;
  const hidden = new Set<ChangeMark>([...(options.hideAdded ? ['A' as const] : []), ...(options.hideModified ? ['M' as const] : [])]);
  const shown = (path: string, mark: ChangeMark) => !hidden.has(mark) && (!needle || path.toLowerCase().includes(needle));
  // Which paths to show, decided before the walk: the changed ones (when asked) of the kinds not hidden that match
  // the filter (when given); then every directory leading to one.
  let kept: Set<string> | null = null;
  // Kinds hidden and nothing else asked: only the hidden paths' subtrees are looked at (dropped when nothing below
  // them is shown), not every path of the tree (a second per key on 200k paths).
  const dropped = hidden.size > 0 && !changedOnly && !needle ? droppedPaths(union, marks, hidden) : null;
  if (changedOnly || needle || (hidden.size > 0 && !dropped)) {
    const candidates: string[] = [];
    if (changedOnly) {
      for (const [path, mark] of marks) if (shown(path, mark)) candidates.push(path);
    } else {
      const pending: [FsNode, string][] = [[union.root, '']];
      while (pending.length > 0) {
        const [node, path] = pending.pop()!;
        if (node.children) for (const [name, child] of node.children) pending.push([child, `${path}/${name}`]);
        if (node.parent && shown(path, marks.get(path) ?? ' ')) candidates.push(path);
      }
    }
    kept = keptPaths(candidates);
  }
  const rows: TreeRow[] = [];
  const stack: { node: FsNode; path: string; prefix: string; last: boolean }[] = [];
  const push = (parent: FsNode, path: string, prefix: string) => {
    const names = [...parent.children!.keys()].filter((name) => (!kept || kept.has(`${path}/${name}`)) && (!dropped || !dropped.has(`${path}/${name}`))).sort();
    for (let i = names.length - 1; i >= 0; i--) stack.push({ node: parent.children!.get(names[i]!)!, path: `${path}/${names[i]}`, prefix, last: i === names.length - 1 });
  };
  push(union.root, '', '');
  while (stack.length > 0) {
    const { node, path, prefix, last } = stack.pop()!;
    const directory = node.children !== null;
    const folded = directory && options.folded.has(path);
    rows.push({ node, path, prefix: `${prefix}${last ? '└── ' : '├── '}`, name: node.name, mark: marks.get(path) ?? ' ', size: sizes.get(node) ?? 0, directory, folded });
    if (directory && !folded) push(node, path, `${prefix}${last ? '    ' : '│   '}`);
  }
  if (options.layerOnly && !options.hideRemoved) {
    for (const path of changes?.removed ?? []) {
      if (needle && !path.toLowerCase().includes(needle)) continue;
      rows.push({ node: null, path, prefix: '', name: path, mark: 'D', size: 0, directory: false, folded: false });
    }
  }
  return rows;
}

/** Every directory of the union folded: what "collapse all" starts from. */
export function allDirectories(union: UnionFs): Set<string> {
  const paths = new Set<string>();
  const pending: FsNode[] = [union.root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (!node.children) continue;
    if (node.parent) paths.add(nodePath(node));
    for (const child of node.children.values()) pending.push(child);
  }
  return paths;
}

/** Cut or pad to exactly `width` columns. */
export function fit(text: string, width: number): string {
  const cut = shorten(text, width);
  return cut + ' '.repeat(Math.max(0, width - cut.length));
}

/**
 * One tree line: change mark, mode, owner, size, tree guides and name (escaped), the selected row marked `▶`.
 * Without `attributes` (dive's Ctrl+B) the mode and owner give their room to the names.
 */
export function treeLine(row: TreeRow, width: number, style: Style, selected: boolean, attributes = true): string {
  const { color } = style;
  const cursor = selected ? '▶' : ' ';
  if (!row.node) return `${cursor}${color.red(fit(`D  ${esc(row.path)}`, width - 1))}`;
  const node = row.node;
  // The owner column only where the names keep room (a tree pane of 66 columns or more).
  const owner = attributes && width >= 66 ? ` ${`${node.uid}:${node.gid}`.padStart(9)}` : '';
  const head = `${row.mark} ${attributes ? `${modeString(node)}${owner} ` : ''}${humanSize(row.size).padStart(9)}  `;
  const target = node.linkTarget ? ` → ${node.linkTarget}` : '';
  const name = truncate(`${row.prefix}${row.name}${row.directory ? '/' : ''}${target}${row.folded ? ' …' : ''}`, Math.max(1, width - 1 - head.length), true);
  const body = fit(`${head}${name}`, width - 1);
  const painted = row.mark === 'A' ? color.green(body) : row.mark === 'M' ? color.yellow(body) : row.directory ? color.blue(body) : body;
  return `${cursor}${selected ? color.inverse(painted) : painted}`;
}

export function changeCounts(changes: LayerChanges | undefined): string {
  return changes ? `+${changes.added.length} ~${changes.modified.length} -${changes.removed.length}` : '';
}

/** One line of the layers pane: index, size, changes, the step that made it. */
export function layerLine(layer: LayerReport, changes: LayerChanges | undefined, width: number, style: Style, selected: boolean, changesWidth = 11): string {
  const size = humanSize(layer.contentSize ?? layer.uncompressedSize ?? 0).padStart(9);
  const text = `${String(layer.index).padStart(3)} ${size} ${changeCounts(changes).padEnd(changesWidth)} ${truncate(layer.createdBy ?? '', width)}`;
  const body = fit(text, width - 1);
  return `${selected ? '▶' : ' '}${selected ? style.color.inverse(body) : body}`;
}

/** The bottom line: dive's figures and the honest ones, from the analyze report. */
export function wasteLine(report: SingleReport, width: number): string {
  const waste = report.waste;
  if (!waste) return fit('', width);
  const efficiency = `${(waste.efficiency * 100).toFixed(2)} %`;
  return fit(`Efficiency ${efficiency} · Wasted ${humanSize(waste.wastedBytes)} · Reclaimable ${humanSize(waste.reclaimableBytes)} · Hidden by later layers ${humanSize(waste.hiddenBytes)}`, width);
}

/**
 * dive's image details, in the room the layers pane has left: the paths more than one layer wrote, the costliest
 * first (how many times, the bytes of every copy, the path), as its "potential wasted space" list.
 */
export function wasteListLines(report: SingleReport, width: number, room: number): string[] {
  const entries = report.waste?.entries ?? [];
  if (room < 3 || entries.length === 0) return [];
  const lines = [fit(`Count     Total  Path (${entries.length.toLocaleString('en-US')} in 2+ layers)`, width)];
  // The path cut in its middle: its directory's start and its file name are what tell rows apart.
  for (const entry of entries.slice(0, room - 1)) {
    const head = `${String(entry.count).padStart(5)} ${humanSize(entry.cumulativeSize).padStart(9)}  `;
    lines.push(fit(`${head}${truncatePath(entry.path, Math.max(1, width - 1 - head.length))}`, width));
  }
  return lines;
}
