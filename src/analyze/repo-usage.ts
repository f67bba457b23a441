/**
 * Who stores what in a repository: from each tag's manifest graph, the bytes a tag shares with other digests and
 * the bytes only it references (what deleting it would free once garbage-collected). Pure: no I/O.
 *
 * A blob is counted once per digest that references it (two tags on one digest are one reference), and artifacts
 * (referrers tags) reference blobs too: a layer an attestation also names is not freed by deleting the image tag.
 */
import type { ManifestGraph, RepoArtifact, RepoReport, RepoTag } from '../model/repo.js';

/** Code-unit order: the same on every machine (no locale). */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface TaggedGraph {
  repository: string;
  tag: string;
  graph: ManifestGraph;
  /** Shown in the report (`--tags`); a tag not chosen still counts as a reference to what it shares. */
  chosen?: boolean;
}

/**
 * A manifest is stored per repository (deleting it in one leaves the other's), a blob once for the registry (its
 * garbage collector keeps it while any repository's manifest names it): roots are keyed by repository and digest.
 */
const rootKey = (entry: TaggedGraph) => `${entry.repository}@${entry.graph.digest}`;

export function repoUsage(tagged: TaggedGraph[], artifacts: TaggedGraph[], options: { complete: boolean } = { complete: true }): { tags: RepoTag[]; artifacts: RepoArtifact[]; totals: RepoReport['totals'] } {
  // Distinct roots (digests) and how many of them reference each blob.
  const roots = new Map<string, ManifestGraph>();
  for (const entry of [...tagged, ...artifacts]) roots.set(rootKey(entry), entry.graph);
  const referencedBy = new Map<string, number>();
  const sizes = new Map<string, number>();
  for (const graph of roots.values()) {
    for (const [digest, bytes] of graph.blobs) {
      referencedBy.set(digest, (referencedBy.get(digest) ?? 0) + 1);
      sizes.set(digest, bytes);
    }
  }
  const tagsByRoot = new Map<string, string[]>();
  for (const entry of tagged) tagsByRoot.set(rootKey(entry), [...(tagsByRoot.get(rootKey(entry)) ?? []), entry.tag]);
  const artifactRoots = new Set(artifacts.map(rootKey));

  const tags: RepoTag[] = tagged.filter((entry) => entry.chosen !== false).map((entry) => {
    const { repository, tag, graph } = entry;
    let size = 0;
    let shared = 0;
    for (const [digest, bytes] of graph.blobs) {
      size += bytes;
      if ((referencedBy.get(digest) ?? 0) > 1) shared += bytes;
    }
    const sameDigestAs = (tagsByRoot.get(rootKey(entry)) ?? []).filter((other) => other !== tag).sort(byName);
    // Another tag (or an artifact tag) of this repository on the same digest keeps every blob alive.
    const pinned = sameDigestAs.length > 0 || artifactRoots.has(rootKey(entry));
    return {
      repository,
      tag,
      digest: graph.digest,
      mediaType: graph.mediaType,
      kind: graph.kind,
      platforms: graph.platforms,
      size,
      layers: graph.layers.size,
      sharedBytes: shared,
      uniqueBytes: pinned ? 0 : size - shared,
      sameDigestAs,
      attached: null,
    };
  });
  const artifactRows: RepoArtifact[] = artifacts.filter((entry) => entry.chosen !== false).map(({ repository, tag, graph }) => ({
    repository,
    tag,
    digest: graph.digest,
    mediaType: graph.mediaType,
    subject: tag.replace(/^(sha256|sha512)-([0-9a-f]+).*$/, '$1:$2'),
    size: [...graph.blobs.values()].reduce((sum, bytes) => sum + bytes, 0),
  }));
  let stored = 0;
  for (const bytes of sizes.values()) stored += bytes;
  return {
    tags,
    artifacts: artifactRows,
    totals: {
      tags: tags.length,
      digests: new Set(tags.map((tag) => `${tag.repository}@${tag.digest}`)).size,
      storedBytes: stored,
      sumOfTagSizes: tags.reduce((sum, tag) => sum + tag.size, 0),
      complete: options.complete,
      sameDigest: [...tagsByRoot.entries()].filter(([, group]) => group.length > 1).map(([key, group]) => ({ repository: key.slice(0, key.lastIndexOf('@')), tags: [...group].sort(byName) })),
    },
  };
}
