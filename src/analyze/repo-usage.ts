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
  tag: string;
  graph: ManifestGraph;
}

export function repoUsage(tagged: TaggedGraph[], artifacts: TaggedGraph[]): { tags: RepoTag[]; artifacts: RepoArtifact[]; totals: RepoReport['totals'] } {
  // Distinct roots (digests) and how many of them reference each blob.
  const roots = new Map<string, ManifestGraph>();
  for (const { graph } of [...tagged, ...artifacts]) roots.set(graph.digest, graph);
  const referencedBy = new Map<string, number>();
  const sizes = new Map<string, number>();
  for (const graph of roots.values()) {
    for (const [digest, bytes] of graph.blobs) {
      referencedBy.set(digest, (referencedBy.get(digest) ?? 0) + 1);
      sizes.set(digest, bytes);
    }
  }
  const tagsByDigest = new Map<string, string[]>();
  for (const { tag, graph } of tagged) tagsByDigest.set(graph.digest, [...(tagsByDigest.get(graph.digest) ?? []), tag]);
  const artifactDigests = new Set(artifacts.map(({ graph }) => graph.digest));

  const tags: RepoTag[] = tagged.map(({ tag, graph }) => {
    let size = 0;
    let shared = 0;
    for (const [digest, bytes] of graph.blobs) {
      size += bytes;
      if ((referencedBy.get(digest) ?? 0) > 1) shared += bytes;
    }
    const sameDigestAs = (tagsByDigest.get(graph.digest) ?? []).filter((other) => other !== tag).sort(byName);
    // Another tag (or an artifact tag) on the same digest keeps every blob alive.
    const pinned = sameDigestAs.length > 0 || artifactDigests.has(graph.digest);
    return {
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
    };
  });
  const artifactRows: RepoArtifact[] = artifacts.map(({ tag, graph }) => ({
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
      digests: tagsByDigest.size,
      storedBytes: stored,
      sumOfTagSizes: tags.reduce((sum, tag) => sum + tag.size, 0),
      sameDigest: [...tagsByDigest.values()].filter((group) => group.length > 1).map((group) => [...group].sort(byName)),
    },
  };
}
