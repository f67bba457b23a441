/**
 * The union filesystem a container sees, built incrementally from the scanned layers (oldest first), following
 * the OCI image-spec layer rules: `.wh.<name>` removes a lower path and everything below it, `.wh..wh..opq` hides
 * a directory's lower contents, a later entry replaces an earlier one, hardlinks take their target's content,
 * symlinks stay links, missing parents are created. Each layer is applied once: cost is linear in entries.
 * Nothing is written to disk.
 */
import { ImageReadError } from '../errors.js';
import { pathParts } from '../image/paths.js';
import type { EntryType, LayerEntry } from '../model/layer.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/**
 * A path of the union: the metadata of the tar entry that last wrote it (LayerEntry's, but `size` of a hardlink is
 * the size of the content it links to), where it sits in the tree.
 */
export interface FsNode extends Omit<LayerEntry, 'path'> {
  name: string;
  parent: FsNode | null;
  /** Children of a directory (null for other types). */
  children: Map<string, FsNode> | null;
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

/**
 * The size of each path of a layer's change lists, index for index (`added[i]` is `changes.added[i]`'s): the bytes
 * a file brought or took away, 0 for a hardlink (a name, not content), -1 for a directory. Kept only when asked for
 * (the HTML report's sortable lists): most runs need the totals alone.
 */
export interface ChangeSizes {
  added: Float64Array;
  modified: Float64Array;
  removed: Float64Array;
}

export interface LayerChanges {
  added: string[];
  modified: string[];
  removed: string[];
  addedBytes: number;
  modifiedBytes: number;
  removedBytes: number;
}

/**
 * The names that share one inode through hardlinks, oldest first. Only hardlinked content gets one (most nodes
 * never do, so it costs nothing per file). Extractors unlink a path before writing it, so replacing or deleting
 * one name leaves the others holding the old content: the first surviving name is then the file, the rest link
 * to it, exactly as the inode numbers of an extracted rootfs say.
 */
interface Inode {
  names: FsNode[];
  /** The inode's own type and symlink text (link(2) links a symlink, a fifo or a device as readily as a file). */
  type: EntryType;
  linkTarget: string | null;
}

export function nodePath(node: FsNode): string {
  const names: string[] = [];
  for (let current: FsNode | null = node; current?.parent; current = current.parent) names.push(current.name);
  return '/' + names.reverse().join('/');
}

function newRoot(): FsNode {
  return { name: '', parent: null, children: new Map(), type: 'dir', size: 0, mode: 0o755, uid: 0, gid: 0, linkTarget: null, contentHash: null, layer: 0, implicit: true };
}

/**
 * The bytes a path puts on disk: a regular file's content. A hardlink shares its target's content (counted once,
 * at the target); a symlink, device or fifo has none, whatever a crafted header's size field says (extractors
 * ignore it, as Go's reader does). The one rule for every total of a tree: directories, changes, waste, diff, HTML.
 */
export function contentBytes(node: FsNode): number {
  return node.type === 'file' ? node.size : 0;
}

/** Σ of content bytes below (and at) a node. */
export function subtreeBytes(node: FsNode): number {
  let total = 0;
  // Iterative: a crafted layer controls the depth of the tree, and recursion would overflow the stack.
  const stack: FsNode[] = [node];
  while (stack.length > 0) {
    const current = stack.pop()!;
    if (current.children) for (const child of current.children.values()) stack.push(child);
    else total += contentBytes(current);
  }
  return total;
}

function sortedChildren(node: FsNode): FsNode[] {
  const names = [...node.children!.keys()].sort();
  return names.map((name) => node.children!.get(name)!);
}

/**
 * Every node from `root` down, each parent before its children, without recursion (an image controls the depth);
 * read it from the end for children before parents (totals rolled up a tree).
 */
export function parentsFirst(root: FsNode): FsNode[] {
  const order: FsNode[] = [];
  const pending: FsNode[] = [root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    order.push(node);
    if (node.children) for (const child of node.children.values()) pending.push(child);
  }
  return order;
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

type ChangeKind = 'added' | 'modified' | 'removed';

/**
 * What one layer did to each path it touched, as it is applied: one map from path to a slot, the slot's kind and
 * bytes in arrays beside it (a layer of 640,000 files makes 640,000 entries here, not three maps' worth).
 */
class LayerChangeSet {
  private readonly slots = new Map<string, number>();
  private readonly paths: string[] = [];
  private readonly kinds: (ChangeKind | undefined)[] = [];
  /** Bytes an added or modified path brought (0 for directories and hardlinks). */
  private readonly changed: number[] = [];
  /** Bytes a removed path took away. */
  private readonly removed: number[] = [];
  /** With sizes kept: whether each slot's path is a directory (its size is then shown as -1, not 0 bytes). */
  private readonly directory: boolean[] = [];

  constructor(private readonly sized: boolean) {}

  /** The slot of a path, made on first use (with no kind yet). */
  slot(path: string): number {
    let slot = this.slots.get(path);
    if (slot === undefined) {
      slot = this.paths.length;
      this.slots.set(path, slot);
      this.paths.push(path);
      this.kinds.push(undefined);
      this.changed.push(0);
      this.removed.push(0);
      if (this.sized) this.directory.push(false);
    }
    return slot;
  }

  kind(slot: number): ChangeKind | undefined {
    return this.kinds[slot];
  }

  /** An implicit parent directory made or replaced. */
  markDirectory(slot: number, kind: 'added' | 'modified'): void {
    this.kinds[slot] = kind;
    if (this.sized) this.directory[slot] = true;
  }

  markChanged(slot: number, kind: 'added' | 'modified', bytes: number, directory: boolean): void {
    this.kinds[slot] = kind;
    this.changed[slot] = bytes;
    if (this.sized) this.directory[slot] = directory;
  }

  markRemoved(path: string, bytes: number, directory: boolean): void {
    const slot = this.slot(path);
    this.kinds[slot] = 'removed';
    this.removed[slot] = bytes;
    if (this.sized) this.directory[slot] = directory;
  }

  /** Each list's sizes in the order of its sorted paths (slots sorted by path: the lists and sizes stay aligned). */
  sizes(): ChangeSizes {
    const of = (kind: ChangeKind, bytes: number[]): Float64Array => {
      const slots: number[] = [];
      for (let slot = 0; slot < this.paths.length; slot++) if (this.kinds[slot] === kind) slots.push(slot);
      slots.sort((a, b) => (this.paths[a]! < this.paths[b]! ? -1 : 1));
      return Float64Array.from(slots, (slot) => (this.directory[slot] ? -1 : bytes[slot]!));
    };
    return { added: of('added', this.changed), modified: of('modified', this.changed), removed: of('removed', this.removed) };
  }

  /** The layer's change lists, each sorted. */
  result(): LayerChanges {
    const changes: LayerChanges = { added: [], modified: [], removed: [], addedBytes: 0, modifiedBytes: 0, removedBytes: 0 };
    for (let slot = 0; slot < this.paths.length; slot++) {
      const kind = this.kinds[slot];
      if (kind === 'removed') {
        changes.removed.push(this.paths[slot]!);
        changes.removedBytes += this.removed[slot]!;
      } else if (kind === 'added') {
        changes.added.push(this.paths[slot]!);
        changes.addedBytes += this.changed[slot]!;
      } else if (kind === 'modified') {
        changes.modified.push(this.paths[slot]!);
        changes.modifiedBytes += this.changed[slot]!;
      }
    }
    changes.added.sort();
    changes.modified.sort();
    changes.removed.sort();
    return changes;
  }
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
  /** Hardlinked names → their shared inode. */
  private readonly inodes = new Map<FsNode, Inode>();
  /** While a layer is applied: path of each node its whiteouts removed → that node and the whiteout's stream index. */
  private gone = new Map<string, { node: FsNode; index: number }>();
  /** While a layer is applied: the inodes of removed hardlinked names, as they were (names still in the tree). */
  private goneInodes = new Map<FsNode, Inode>();
  /**
   * While a layer is applied: the inodes whose content a removal has counted, and the names that became an
   * inode's file when its other name went. Removing every name of one inode (rm a b, or an opaque directory over
   * both) takes its bytes away once, not once per name.
   */
  private countedInodes = new Set<Inode>();
  private promoted = new Map<FsNode, Inode>();
  /** Per layer: what it added, modified and removed, in the order applied. */
  readonly changes: LayerChanges[] = [];
  /** Every deletion or overwrite that hid bytes some layer ships, in order (what squashing would save). */
  readonly hidden: HiddenBytes[] = [];
  /** Per layer, with `{ changeSizes: true }`: the size of each path of its change lists. */
  readonly changeSizes: ChangeSizes[] = [];

  constructor(private readonly options: { changeSizes?: boolean } = {}) {}

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
    const status = new LayerChangeSet(this.options.changeSizes === true);

    // Whiteouts only hide what lower layers put there, so they go first, before this layer adds anything. An
    // extractor meets them in stream order, though: an entry before a whiteout still sees the lower path it
    // removes (a hardlink to it links the old inode; an implicit parent keeps the lower directory's metadata, as
    // umoci leaves it). `gone` remembers what each whiteout took away, and where in the stream it stood.
    this.gone = new Map();
    this.goneInodes = new Map();
    this.countedInodes = new Set();
    this.promoted = new Map();
    for (const [index, entry] of entries.entries()) {
      if (!entry.path.includes(WHITEOUT_PREFIX)) continue; // most entries: no split needed
      const parts = pathParts(entry.path);
      const base = parts[parts.length - 1];
      if (!base?.startsWith(WHITEOUT_PREFIX)) continue;
      const dirParts = parts.slice(0, -1);
      if (base === OPAQUE_MARKER) {
        const dir = this.lookup(dirParts);
        if (!dir?.children || dir.children.size === 0) continue;
        this.recordHidden(dir, layer, 'deleted');
        for (const child of [...dir.children.values()]) {
          this.remember(child, index);
          this.remove(child, status);
        }
      } else {
        const target = this.lookup([...dirParts, base.slice(WHITEOUT_PREFIX.length)]);
        if (target) {
          this.recordHidden(target, layer, 'deleted');
          this.remember(target, index);
          this.remove(target, status);
        }
      }
    }

    for (const [index, entry] of entries.entries()) {
      const parts = pathParts(entry.path);
      if (parts.length === 0) continue; // the root directory itself
      if (parts[parts.length - 1]!.startsWith(WHITEOUT_PREFIX)) continue;
      const parent = this.ensureDir(parts, parts.length - 1, layer, status, index);
      const name = parts[parts.length - 1]!;
      let size = entry.size;
      let contentHash = entry.contentHash;
      let linkTarget = entry.linkTarget;
      let { mode, uid, gid } = entry;
      let type: EntryType = entry.type;
      let hardlinkTarget: FsNode | null = null;
      if (entry.type === 'hardlink') {
        // A hardlink is another name for its target's inode: content and metadata are the target's (as umoci
        // extracts it; the link's own header normally says the same).
        const targetParts = pathParts(entry.linkTarget ?? '');
        const present = this.lookup(targetParts);
        // Not there now, but a whiteout later in this layer's stream removed it: the link was made before that.
        const removedLater = present ? null : this.goneAfter(targetParts, index);
        const target = present ?? removedLater;
        // link(2) needs an existing non-directory: Docker, containerd and umoci fail the whole layer otherwise
        // ("link: no such file or directory"), so no container ever sees this image. A link to its own name
        // fails too: the extractor unlinks the path before linking to it.
        if (!target || target.children || target === parent.children!.get(name)) {
          const why = !target ? 'does not exist at that point' : target.children ? 'is a directory' : 'is the link itself (removed before linking)';
          throw new ImageReadError(
            `layer ${layer} cannot be extracted: hardlink ${JSON.stringify('/' + parts.join('/'))} points to ${JSON.stringify('/' + targetParts.join('/'))}, which ${why}`,
          );
        }
        ({ size, contentHash, mode, uid, gid } = target);
        linkTarget = '/' + targetParts.join('/');
        hardlinkTarget = present;
        if (removedLater) {
          // The whiteout took the name, not the inode: its other names, where any survive, still share it;
          // otherwise this link is now its only name, and simply that file (or symlink, fifo, device).
          const survivor = this.goneInodes.get(removedLater)?.names[0];
          if (survivor) {
            hardlinkTarget = survivor;
            linkTarget = nodePath(survivor);
          } else {
            type = this.goneInodes.get(removedLater)?.type ?? removedLater.type;
            linkTarget = type === 'symlink' ? removedLater.linkTarget : null;
          }
        }
      }
      const incoming = { type, size, mode, uid, gid, linkTarget, contentHash } as const;
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
        if (existing?.children) for (const child of [...existing.children.values()]) this.remove(child, status);
        // Written out, not spread from `incoming`: one object shape for every node, and no spread per entry.
        const node: FsNode = { name, parent, children: entry.type === 'dir' ? new Map() : null, type, size, mode, uid, gid, linkTarget, contentHash, layer, implicit: false };
        parent.children!.set(name, node);
        if (existing) this.detach([existing]);
        if (hardlinkTarget) this.link(node, hardlinkTarget);
      }
      const slot = status.slot(path);
      const previous = status.kind(slot);
      let next: 'added' | 'modified' | undefined;
      if (previous === 'removed') next = 'modified'; // whited out and re-created by the same layer: replaced
      else if (previous === 'added' || !existing) next = 'added';
      else if (!unchanged || previous === 'modified') next = 'modified';
      if (next) {
        this.spend(path);
        // A hardlink adds a name, not content: its bytes are the target's, counted where the target was written.
        status.markChanged(slot, next, entry.type === 'dir' || entry.type === 'hardlink' ? 0 : size, entry.type === 'dir');
      }
    }

    const changes = status.result();
    this.changes[layer] = changes;
    if (this.options.changeSizes) this.changeSizes[layer] = status.sizes();
    this.gone = new Map();
    this.goneInodes = new Map();
    this.countedInodes = new Set();
    this.promoted = new Map();
    return changes;
  }

  private recordHidden(node: FsNode, layer: number, how: HiddenBytes['how']): void {
    const writers = new Set<number>();
    let bytes = 0;
    const stack: FsNode[] = [node];
    while (stack.length > 0) {
      const current = stack.pop()!;
      if (current.children) for (const child of current.children.values()) stack.push(child);
      else if (current.type !== 'hardlink' && current.size > 0 && !this.survivesOutside(current, node)) {
        bytes += current.size;
        writers.add(current.layer);
      }
    }
    if (bytes > 0) this.hidden.push({ path: nodePath(node), layer, how, bytes, writtenBy: [...writers].sort((a, b) => a - b) });
  }

  /** Remove a node; the layer's change list names it and everything below it (each with its own bytes). */
  private remove(node: FsNode, status: LayerChangeSet): void {
    const path = nodePath(node);
    node.parent?.children?.delete(node.name);
    const stack: [FsNode, string][] = [[node, path]];
    const linked: FsNode[] = [];
    while (stack.length > 0) {
      const [current, currentPath] = stack.pop()!;
      this.spend(currentPath);
      const inode = this.inodes.get(current);
      let bytes = current.children || current.type === 'hardlink' ? 0 : current.size;
      const shared = inode ?? this.promoted.get(current);
      if (shared && bytes > 0) {
        if (this.countedInodes.has(shared)) bytes = 0;
        else this.countedInodes.add(shared);
      }
      status.markRemoved(currentPath, bytes, current.children !== null);
      if (inode) {
        linked.push(current);
        this.goneInodes.set(current, inode);
      }
      if (current.children) for (const [name, child] of current.children) stack.push([child, `${currentPath}/${name}`]);
    }
    this.detach(linked);
  }

  /** Remember a node a whiteout at stream position `index` removes (its subtree stays reachable through it). */
  private remember(node: FsNode, index: number): void {
    const path = nodePath(node);
    const earlier = this.gone.get(path);
    if (!earlier || earlier.index > index) this.gone.set(path, { node, index });
  }

  /** The node at `parts` that a whiteout after stream position `index` removed (directly or with a parent), or null. */
  private goneAfter(parts: string[], index: number): FsNode | null {
    if (this.gone.size === 0) return null;
    let path = '';
    for (let depth = 0; depth < parts.length; depth++) {
      path += `/${parts[depth]}`;
      const removed = this.gone.get(path);
      if (!removed || removed.index < index) continue;
      let node: FsNode | null = removed.node;
      for (const part of parts.slice(depth + 1)) node = node?.children?.get(part) ?? null;
      return node;
    }
    return null;
  }

  /** `link` becomes another name of `target`'s inode. */
  private link(link: FsNode, target: FsNode): void {
    let inode = this.inodes.get(target);
    if (!inode) {
      inode = { names: [target], type: target.type, linkTarget: target.linkTarget };
      this.inodes.set(target, inode);
    }
    inode.names.push(link);
    this.inodes.set(link, inode);
  }

  /**
   * Names that left the tree (replaced or deleted) leave their inodes; what still names an inode keeps its
   * content: the oldest surviving name becomes the file and the others link to it.
   */
  private detach(nodes: FsNode[]): void {
    const touched = new Set<Inode>();
    for (const node of nodes) {
      const inode = this.inodes.get(node);
      if (!inode) continue;
      this.inodes.delete(node);
      inode.names.splice(inode.names.indexOf(node), 1);
      touched.add(inode);
    }
    for (const inode of touched) {
      const [first, ...others] = inode.names;
      if (!first) continue;
      if (others.length === 0) this.inodes.delete(first);
      this.promoted.set(first, inode);
      Object.assign(first, { type: inode.type, linkTarget: inode.linkTarget });
      const firstPath = nodePath(first);
      for (const other of others) Object.assign(other, { type: 'hardlink', linkTarget: firstPath });
    }
  }

  /** Whether `node`'s content stays reachable through a hardlinked name outside the subtree at `removed`. */
  private survivesOutside(node: FsNode, removed: FsNode): boolean {
    const inode = this.inodes.get(node);
    if (!inode) return false;
    return inode.names.some((name) => {
      for (let current: FsNode | null = name; current; current = current.parent) if (current === removed) return false;
      return true;
    });
  }

  /** Walk to the directory of `parts[0..depth)`, creating missing parents (and replacing a non-directory in the way). */
  private ensureDir(parts: string[], depth: number, layer: number, status: LayerChangeSet, index: number): FsNode {
    let node = this.root;
    for (let level = 0; level < depth; level++) {
      const part = parts[level]!;
      let child = node.children!.get(part);
      if (!child || !child.children) {
        // The path is built only here, where a directory is made: most entries find every parent in place.
        const path = '/' + parts.slice(0, level + 1).join('/');
        if (child) this.recordHidden(child, layer, 'overwritten');
        this.spend(path);
        const slot = status.slot(path);
        status.markDirectory(slot, child || status.kind(slot) === 'removed' ? 'modified' : 'added');
        // Extractors mkdir missing parents (0755, root); in a setgid directory the kernel gives the new one the
        // parent's group and the setgid bit, as umoci and containerd leave it. A lower directory that a whiteout
        // later in this stream removes was still there when this entry was written: it keeps its metadata.
        const setgid = node.mode & 0o2000;
        const earlier = child ? null : this.goneAfter(parts.slice(0, level + 1), index);
        const { mode, uid, gid } = earlier?.children ? earlier : { mode: 0o755 | setgid, uid: 0, gid: setgid ? node.gid : 0 };
        const replaced = child;
        child = { name: part, parent: node, children: new Map(), type: 'dir', size: 0, mode, uid, gid, linkTarget: null, contentHash: null, layer, implicit: true };
        node.children!.set(part, child);
        if (replaced) this.detach([replaced]);
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
