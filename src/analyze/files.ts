/** The final (or as-of-layer-N) filesystem as the contract's `files` list, with path, glob and change filters. */
import picomatch from 'picomatch';
import { UsageError } from '../errors.js';
import { pathParts } from '../image/paths.js';
import { nodePath, walk, type FsNode, type LayerChanges, type UnionFs } from './union.js';

export interface FileFilter {
  /** Only this path and what is below it. */
  path?: string;
  /** A picomatch pattern matched against the absolute path (leading `/` optional). */
  glob?: string;
  /** Only paths this layer added or modified. */
  changed?: LayerChanges;
}

export function globMatcher(glob: string | undefined): ((path: string) => boolean) | null {
  if (!glob) return null;
  try {
    // flags 's': picomatch's `**` is built on `.`, which without it skips a name holding a newline or CR.
    const match = picomatch(glob.replace(/^\/+/, ''), { dot: true, flags: 's' });
    return (path: string) => match(path.replace(/^\/+/, ''));
  } catch (error) {
    throw new UsageError(`bad --glob pattern "${glob}": ${(error as Error).message}`);
  }
}

/** The node at --path (or the root); a usage error when it does not exist. */
export function focusNode(union: UnionFs, path: string | undefined): FsNode {
  if (!path || path === '/') return union.root;
  const node = union.lookup(pathParts(path));
  if (!node) throw new UsageError(`--path ${path}: no such path in the image's filesystem`);
  return node;
}

export function selectFiles(union: UnionFs, filter: FileFilter): FsNode[] {
  const focus = focusNode(union, filter.path);
  const match = globMatcher(filter.glob);
  const changed = filter.changed ? new Set([...filter.changed.added, ...filter.changed.modified]) : null;
  return [...walk(focus)].filter((node) => {
    const path = nodePath(node);
    if (match && !match(path)) return false;
    if (changed && !changed.has(path)) return false;
    return true;
  });
}
