/**
 * The union filesystem a container sees, built incrementally from the scanned layers (oldest first), following
 * the OCI image-spec layer rules: `.wh.<name>` removes a lower path and everything below it, `.wh..wh..opq` hides
 * a directory's lower contents, a later entry replaces an earlier one, hardlinks take their target's content,
 * symlinks stay links, missing parents are created. Each layer is applied once: cost is linear in entries.
 * Nothing is written to disk.
 */
import { ImageReadError } from '../errors.js';
import type { EntryType, LayerEntry } from './scan.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export interface FsNode {
  name: string;
  parent: FsNode | null;
  /** Children of a directory (null for other types). */
  children: Map<string, FsNode> | null;
  type: EntryType;
  /** Bytes of content; for a hardlink, the size of the content it links to. */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  linkTarget: string | null;
  contentHash: string | null;
  /** The layer that last wrote this path. */
  layer: number;
  /** Created only because a deeper path needed it (no tar entry of its own). */
  implicit: boolean;
}

/** Bytes a layer ships that the final filesystem no longer shows: deleted by a whiteout or overwritten. */
export interface HiddenBytes {
  path: string;
  /** The layer that deleted or overwrote them. */
  layer: number;
  how: 'deleted' | 'overwritten';
  bytes: number;
  /** The layers that had written the hidden content. */
  writtenBy: number[];
}

export interface LayerChanges {
  added: string[];
  modified: string[];
  removed: string[];
  addedBytes: number;
  modifiedBytes: number;
  removedBytes: number;
}

/** Split a normalised entry path into clean components (`a/./b/../c` → [a, c]). */
export function pathParts(path: string): string[] {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts;
}

export function nodePath(node: FsNode): string {
  const names: string[] = [];
  for (let current: FsNode | null = node; current?.parent; current = current.parent) names.push(current.name);
  return '/' + names.reverse().join('/');
}

function newRoot(): FsNode {
  return { name: '', parent: null, children: new Map(), type: 'dir', size: 0, mode: 0o755, uid: 0, gid: 0, linkTarget: null, contentHash: null, layer: 0, implicit: true };
}

/** Σ of content sizes below (and at) a node; hardlinks count 0 here so shared content is counted once. */
export function subtreeBytes(node: FsNode): number {
  let total = 0;
  // Iterative: a crafted layer controls the depth of the tree, and recursion would overflow the stack.
  const stack: FsNode[] = [node];
  while (stack.length > 0) {
    const current = stack.pop()!;
    if (current.children) for (const child of current.children.values()) stack.push(child);
    else if (current.type !== 'hardlink') total += current.size;
  }
  return total;
}

function sortedChildren(node: FsNode): FsNode[] {
  const names = [...node.children!.keys()].sort();
  return names.map((name) => node.children!.get(name)!);
}

/** Every node below `node` (and `node` itself unless it is the root), depth first, names in sorted order. */
export function* walk(node: FsNode): Generator<FsNode> {
  if (node.parent) yield node;
  if (!node.children) return;
  // An explicit stack, children pushed in reverse so the smallest name comes off first: no recursion and no
  // generator delegation, whose cost per yielded node grows with the depth.
  const stack = sortedChildren(node).reverse();
  while (stack.length > 0) {
    const current = stack.pop()!;
    yield current;
    if (current.children && current.children.size > 0) {
      const children = sortedChildren(current);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }
}

function sameContent(a: FsNode, entry: { type: EntryType; size: number; mode: number; uid: number; gid: number; linkTarget: string | null; contentHash: string | null }): boolean {
  return (
    a.type === entry.type &&
    a.size === entry.size &&
    a.mode === entry.mode &&
    a.uid === entry.uid &&
    a.gid === entry.gid &&
    a.linkTarget === entry.linkTarget &&
    a.contentHash === entry.contentHash
  );
}

/**
 * The most path text a union may name in its change lists (every path is listed, so a tree 2,000 levels deep
 * under many names costs the square of its depth): far above real images (a million files at 60 bytes is 60 MB),
 * and below V8's 512 MiB string limit that one JSON document must fit in today.
 */
export const PATH_TEXT_BUDGET = 256 * 1024 * 1024;

export class UnionFs {
  readonly root: FsNode = newRoot();
  private pathText = 0;
  private applying = 0;

  /** Count a path the change lists will name; refuse an image whose listing would exceed the budget. */
  private spend(path: string): void {
    this.pathText += path.length;
    if (this.pathText > PATH_TEXT_BUDGET) {
      throw new ImageReadError(
        `layer ${this.applying}: the image's file tree names more than ${PATH_TEXT_BUDGET / 1024 / 1024} MiB of paths (a tree thousands of directories deep under many names?); layerlens refuses to list it`,
      );
    }
  }
  /** Per layer: what it added, modified and removed, in the order applied. */
  readonly changes: LayerChanges[] = [];
  /** Every deletion or overwrite that hid bytes some layer ships, in order (what squashing would save). */
  readonly hidden: HiddenBytes[] = [];

  lookup(parts: string[]): FsNode | null {
    let node: FsNode | null = this.root;
    for (const part of parts) {
      node = node?.children?.get(part) ?? null;
      if (!node) return null;
    }
    return node;
  }

  get(path: string): FsNode | null {
    return this.lookup(pathParts(path));
  }

  /** Apply one layer's entries on top of what is there. */
  apply(layer: number, entries: LayerEntry[]): LayerChanges {
    this.applying = layer;
    const status = new Map<string, 'added' | 'modified' | 'removed'>();
    const removedBytesByPath = new Map<string, number>();
    const changedBytes = new Map<string, number>();

    // Whiteouts only hide what lower layers put there, so they go first, before this layer adds anything.
    for (const entry of entries) {
      if (!entry.path.includes(WHITEOUT_PREFIX)) continue; // most entries: no split needed
      const parts = pathParts(entry.path);
      const base = parts[parts.length - 1];
      if (!base?.startsWith(WHITEOUT_PREFIX)) continue;
      const dirParts = parts.slice(0, -1);
      if (base === OPAQUE_MARKER) {
        const dir = this.lookup(dirParts);
        if (!dir?.children || dir.children.size === 0) continue;
        this.recordHidden(dir, layer, 'deleted');
        for (const child of [...dir.children.values()]) this.remove(child, status, removedBytesByPath);
      } else {
        const target = this.lookup([...dirParts, base.slice(WHITEOUT_PREFIX.length)]);
        if (target) {
          this.recordHidden(target, layer, 'deleted');
          this.remove(target, status, removedBytesByPath);
        }
      }
    }

    for (const entry of entries) {
      const parts = pathParts(entry.path);
      if (parts.length === 0) continue; // the root directory itself
      if (parts[parts.length - 1]!.startsWith(WHITEOUT_PREFIX)) continue;
      const parent = this.ensureDir(parts.slice(0, -1), layer, status);
      const name = parts[parts.length - 1]!;
      let size = entry.size;
      let contentHash = entry.contentHash;
      let linkTarget = entry.linkTarget;
      let { mode, uid, gid } = entry;
      if (entry.type === 'hardlink') {
        // A hardlink is another name for its target's inode: content and metadata are the target's (as umoci
        // extracts it; the link's own header normally says the same).
        const target = this.get(entry.linkTarget ?? '');
        // link(2) needs an existing non-directory: Docker, containerd and umoci fail the whole layer otherwise
        // ("link: no such file or directory"), so no container ever sees this image.
        if (!target || target.children) {
          throw new ImageReadError(
            `layer ${layer} cannot be extracted: hardlink ${JSON.stringify('/' + parts.join('/'))} points to ${JSON.stringify('/' + pathParts(entry.linkTarget ?? '').join('/'))}, which ${target ? 'is a directory' : 'does not exist at that point'}`,
          );
        }
        size = target?.size ?? 0;
        contentHash = target?.contentHash ?? null;
        if (target) ({ mode, uid, gid } = target);
        linkTarget = '/' + pathParts(entry.linkTarget ?? '').join('/');
      }
      const incoming = { type: entry.type, size, mode, uid, gid, linkTarget, contentHash };
      const existing = parent.children!.get(name);
      const path = '/' + parts.join('/'); // ensureDir walked exactly these parts from the root
      const bothDirs = existing?.type === 'dir' && entry.type === 'dir';
      // Compared before the node is updated below.
      const unchanged = existing !== undefined && (bothDirs ? existing.mode === entry.mode && existing.uid === entry.uid && existing.gid === entry.gid : sameContent(existing, incoming));
      if (bothDirs) {
        // Re-listing a directory keeps what is in it; only its own metadata can change.
        Object.assign(existing!, { mode: entry.mode, uid: entry.uid, gid: entry.gid, layer, implicit: false });
      } else {
        if (existing) this.recordHidden(existing, layer, 'overwritten');
        // A directory replaced by a file takes everything below it away.
        if (existing?.children) for (const child of [...existing.children.values()]) this.remove(child, status, removedBytesByPath);
        parent.children!.set(name, { name, parent, children: entry.type === 'dir' ? new Map() : null, ...incoming, layer, implicit: false });
      }
      const previous = status.get(path);
      let next: 'added' | 'modified' | undefined;
      if (previous === 'removed') next = 'modified'; // whited out and re-created by the same layer: replaced
      else if (previous === 'added' || !existing) next = 'added';
      else if (!unchanged || previous === 'modified') next = 'modified';
      if (next) {
        this.spend(path);
        status.set(path, next);
        // A hardlink adds a name, not content: its bytes are the target's, counted where the target was written.
        changedBytes.set(path, entry.type === 'dir' || entry.type === 'hardlink' ? 0 : size);
      }
    }

    const changes: LayerChanges = { added: [], modified: [], removed: [], addedBytes: 0, modifiedBytes: 0, removedBytes: 0 };
    for (const [path, kind] of status) {
      if (kind === 'removed') {
        changes.removed.push(path);
        changes.removedBytes += removedBytesByPath.get(path) ?? 0;
      } else if (kind === 'added') {
        changes.added.push(path);
        changes.addedBytes += changedBytes.get(path) ?? 0;
      } else {
        changes.modified.push(path);
        changes.modifiedBytes += changedBytes.get(path) ?? 0;
      }
    }
    changes.added.sort();
    changes.modified.sort();
    changes.removed.sort();
    this.changes[layer] = changes;
    return changes;
  }

  private recordHidden(node: FsNode, layer: number, how: HiddenBytes['how']): void {
    const writers = new Set<number>();
    let bytes = 0;
    const stack: FsNode[] = [node];
    while (stack.length > 0) {
      const current = stack.pop()!;
      if (current.children) for (const child of current.children.values()) stack.push(child);
      else if (current.type !== 'hardlink' && current.size > 0) {
        bytes += current.size;
        writers.add(current.layer);
      }
    }
    if (bytes > 0) this.hidden.push({ path: nodePath(node), layer, how, bytes, writtenBy: [...writers].sort((a, b) => a - b) });
  }

  /** Remove a node; the layer's change list names it and everything below it (each with its own bytes). */
  private remove(node: FsNode, status: Map<string, string>, removedBytes: Map<string, number>): void {
    const path = nodePath(node);
    node.parent?.children?.delete(node.name);
    const stack: [FsNode, string][] = [[node, path]];
    while (stack.length > 0) {
      const [current, currentPath] = stack.pop()!;
      this.spend(currentPath);
      status.set(currentPath, 'removed');
      removedBytes.set(currentPath, current.children || current.type === 'hardlink' ? 0 : current.size);
      if (current.children) for (const [name, child] of current.children) stack.push([child, `${currentPath}/${name}`]);
    }
  }

  /** Walk to a directory, creating missing parents (and replacing a non-directory in the way). */
  private ensureDir(parts: string[], layer: number, status: Map<string, string>): FsNode {
    let node = this.root;
    let path = ''; // built as the walk goes down: one path per level, not one per level per level
    for (const part of parts) {
      path += `/${part}`;
      let child = node.children!.get(part);
      if (!child || !child.children) {
        if (child) this.recordHidden(child, layer, 'overwritten');
        this.spend(path);
        status.set(path, child ? 'modified' : 'added');
        // Extractors mkdir missing parents (0755, root); in a setgid directory the kernel gives the new one the
        // parent's group and the setgid bit, as umoci and containerd leave it.
        const setgid = node.mode & 0o2000;
        child = { name: part, parent: node, children: new Map(), type: 'dir', size: 0, mode: 0o755 | setgid, uid: 0, gid: setgid ? node.gid : 0, linkTarget: null, contentHash: null, layer, implicit: true };
        node.children!.set(part, child);
      }
      node = child;
    }
    return node;
  }
}

/** Build the union of all layers (or of layers 0..upTo). */
export function buildUnion(layers: LayerEntry[][], upTo = layers.length - 1): UnionFs {
  const union = new UnionFs();
  for (let i = 0; i <= upTo && i < layers.length; i++) union.apply(i, layers[i]!);
  return union;
}
