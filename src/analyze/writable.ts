/**
 * A container's writable layer (the top layer of a `container:NAME`), summarised for "why is this container's disk
 * growing?": how much it wrote and where, and what its writes do to the image below it. Pure: it reads the union
 * built over every layer, the writable one included.
 */
import { contentBytes, nodePath, type FsNode, type UnionFs } from './union.js';

export interface WrittenPath {
  path: string;
  size: number;
}

export interface WritableSummary {
  /** Bytes of the files the container wrote (added or rewrote): the writable layer's content. */
  writtenBytes: number;
  writtenFiles: number;
  /**
   * Image files the container rewrote: the image still ships their old bytes under the new ones (a copy-up on
   * overlayfs), so each rewrite costs the disk both.
   */
  overwritten: { paths: number; bytes: number };
  /** Image paths the container deleted: hidden from the container, still on disk in the image's layers. */
  deleted: { paths: number; bytes: number };
  /** The largest files the container wrote, largest first. */
  largestFiles: WrittenPath[];
  /** Where the writes went: the bytes written below each directory, two levels deep (`/var/log`, `/tmp`). */
  byDirectory: WrittenPath[];
}

/** Paths listed in `largestFiles` and `byDirectory`. */
const LISTED = 10;

/** The directory a write is accounted to: its first two levels (`/var/log/app/x.log` → `/var/log`). */
function accountOf(path: string): string {
  const parts = path.split('/', 4);
  return parts.length <= 2 ? '/' : parts.length === 3 ? `/${parts[1]}` : `/${parts[1]}/${parts[2]}`;
}

export function summariseWritable(union: UnionFs, layer: number): WritableSummary {
  const written: { node: FsNode; size: number }[] = [];
  let writtenBytes = 0;
  // No recursion: a container controls the depth of what it writes.
  const pending: FsNode[] = [union.root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.children) for (const child of node.children.values()) pending.push(child);
    else if (node.layer === layer && node.type === 'file') {
      written.push({ node, size: contentBytes(node) });
      writtenBytes += contentBytes(node);
    }
  }
  const byDirectory = new Map<string, number>();
  for (const { node, size } of written) {
    if (size === 0) continue;
    const account = accountOf(nodePath(node));
    byDirectory.set(account, (byDirectory.get(account) ?? 0) + size);
  }
  const tally = (how: 'deleted' | 'overwritten') => {
    const events = union.hidden.filter((event) => event.layer === layer && event.how === how);
    return { paths: events.length, bytes: events.reduce((total, event) => total + event.bytes, 0) };
  };
  const largest = (items: WrittenPath[]) => items.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1)).slice(0, LISTED);
  // Paths are built only for the candidates: the largest files by size first (ties kept), then named.
  written.sort((a, b) => b.size - a.size);
  const cutoff = written[Math.min(LISTED, written.length) - 1]?.size ?? 0;
  const candidates = written.filter((item, index) => index < LISTED || item.size === cutoff).filter((item) => item.size > 0);
  return {
    writtenBytes,
    writtenFiles: written.length,
    overwritten: tally('overwritten'),
    deleted: tally('deleted'),
    largestFiles: largest(candidates.map(({ node, size }) => ({ path: nodePath(node), size }))),
    byDirectory: largest([...byDirectory].map(([path, size]) => ({ path, size }))),
  };
}
