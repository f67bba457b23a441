/** The filesystem as a tree: mode, owner, size (rolled up for directories), the layer that wrote it, the name. */
import { focusNode } from '../analyze/files.js';
import { nodePath, subtreeBytes, type FsNode, type UnionFs } from '../analyze/union.js';
import { escapeTerminal as esc } from './escape.js';
import { humanSize, platformText, truncate, type Style } from './format.js';
import { isMultiReport, type ImageReport, type Report } from './report.js';
import { sourceLine } from './table.js';

export interface FilesTableOptions {
  path?: string;
  depth?: number;
  glob?: string;
  changed: boolean;
  layer?: number;
}

const TYPE_CHAR: Record<string, string> = { dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p', file: '-' };

export function modeString(node: FsNode): string {
  const bits = node.mode;
  const rwx = (shift: number, special: number, char: string) =>
    `${bits & (4 << shift) ? 'r' : '-'}${bits & (2 << shift) ? 'w' : '-'}${bits & special ? (bits & (1 << shift) ? char : char.toUpperCase()) : bits & (1 << shift) ? 'x' : '-'}`;
  return `${TYPE_CHAR[node.type] ?? '?'}${rwx(6, 0o4000, 's')}${rwx(3, 0o2000, 's')}${rwx(0, 0o1000, 't')}`;
}

/**
 * `selection`: the nodes `files` selected (analyze/files.ts selectFiles: --path, --glob, --changed), which its JSON
 * lists; the table draws them and the directories leading to them, and decides nothing of its own.
 */
function renderTree(image: ImageReport, union: UnionFs, selection: FsNode[], style: Style, options: FilesTableOptions): { lines: string[]; rows: number; depthLimited: boolean } {
  const focus = focusNode(union, options.path);
  const layerIndex = options.layer ?? image.layers.length - 1;
  const changes = options.changed ? union.changes[layerIndex] : undefined;
  const changedKind = new Map<string, string>();
  for (const path of changes?.added ?? []) changedKind.set(path, 'A');
  for (const path of changes?.modified ?? []) changedKind.set(path, 'M');
  const filtering = Boolean(options.glob || changes);
  const maxDepth = options.depth ?? (filtering ? Number.POSITIVE_INFINITY : 3);
  const lines: string[] = [];
  const sizes = new Map<FsNode, number>();
  const size = (node: FsNode) => {
    let value = sizes.get(node);
    if (value === undefined) sizes.set(node, (value = subtreeBytes(node)));
    return value;
  };
  // The paths the filter selects (not the directories shown only to lead to them): what the footer counts.
  const selected = new Set(filtering ? selection : []);
  // With a filter, only the selected paths and the directories leading to them (up to the focus) are drawn.
  const keep = new Set<FsNode>();
  for (const node of selected) {
    for (let at: FsNode | null = node; at && !keep.has(at); at = at === focus ? null : at.parent) keep.add(at);
  }
  keep.add(focus);
  const nameWidth = Math.max(20, style.width - 44);
  const line = (node: FsNode, prefix: string) => {
    const path = nodePath(node);
    const mark = changes ? (changedKind.get(path) ?? ' ') + ' ' : '';
    const name = node === focus ? path : node.name;
    const target = node.linkTarget ? ` → ${node.linkTarget}` : '';
    // Name and link target as stored in the layer: truncate escapes them (keepSpaces: names are shown exactly).
    const label = truncate(`${prefix}${name}${node.children ? '/' : ''}${target}`, nameWidth, true);
    const colored = node.children ? style.color.blue(label) : node.type === 'symlink' || node.type === 'hardlink' ? style.color.cyan(label) : label;
    const owner = `${node.uid}:${node.gid}`;
    return `${mark}${modeString(node)} ${owner.padStart(9)} ${humanSize(size(node)).padStart(9)} ${`L${node.layer}`.padStart(4)}  ${colored}`;
  };
  let rows = 0;
  let depthLimited = false;
  const counted = (node: FsNode) => !filtering || selected.has(node);
  if (focus.parent) {
    lines.push(line(focus, ''));
    if (counted(focus)) rows++;
  }
  const descend = (node: FsNode, prefix: string, depth: number) => {
    if (!node.children) return;
    if (depth > maxDepth) {
      if (node.children.size > 0) depthLimited = true;
      return;
    }
    const children = [...node.children.values()].filter((child) => !filtering || keep.has(child)).sort((a, b) => (a.name < b.name ? -1 : 1));
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      lines.push(line(child, `${prefix}${last ? '└── ' : '├── '}`));
      if (counted(child)) rows++;
      descend(child, `${prefix}${last ? '    ' : '│   '}`, depth + 1);
    });
  };
  descend(focus, '', 1);
  if (changes && changes.removed.length) {
    lines.push('', style.color.bold(`Removed by layer ${layerIndex}:`));
    for (const path of changes.removed) lines.push(style.color.red(`D ${esc(path)}`));
  }
  return { lines, rows, depthLimited };
}

export function renderFilesTable(report: Report, unions: (UnionFs | null)[], selections: (FsNode[] | null)[], style: Style, options: FilesTableOptions): string {
  const out: string[] = [style.color.bold(sourceLine(report))];
  const images = isMultiReport(report) ? report.images : [report];
  images.forEach((image, i) => {
    const union = unions[i];
    if (!union) return;
    const platform = platformText(image.platform);
    const layerIndex = options.layer ?? image.layers.length - 1;
    const asOf = options.changed ? `what layer ${layerIndex} changed (A added, M modified)` : options.layer !== undefined ? `as of layer ${options.layer}` : `all ${image.layers.length} layers`;
    out.push(style.color.dim(`${platform}, ${asOf}; sizes of directories include everything below them`));
    out.push(style.color.bold(`${options.changed ? '  ' : ''}${'Mode'.padEnd(10)} ${'UID:GID'.padStart(9)} ${'Size'.padStart(9)} ${'By'.padStart(4)}  Path`));
    const tree = renderTree(image, union, selections[i] ?? [], style, options);
    for (const line of tree.lines) out.push(line); // not a spread: 200k lines overflow the argument stack
    // The rows printed, of the paths the selection holds (what `files --json` lists).
    const total = (image.files ?? []).length;
    const more = tree.rows < total && tree.depthLimited ? '; --depth to see more' : '';
    out.push('', style.color.dim(`${tree.rows.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} paths${more}`));
  });
  return out.join('\n') + '\n';
}
