/**
 * `layerlens repo REGISTRY/REPOSITORY`: every tag of a repository, from manifests (and configs where a single
 * manifest's platform needs one) alone. What each tag costs, what it shares, and what deleting it would free.
 */

/** Everything a manifest digest references in the registry's storage: itself, child manifests, configs, layers. */
export interface ManifestGraph {
  digest: string;
  mediaType: string;
  kind: 'index' | 'manifest';
  /** Image platforms (`os/arch[/variant]`), attestations and artifacts aside. */
  platforms: string[];
  /** digest → bytes, each blob and manifest once (the root manifest itself included). */
  blobs: Map<string, number>;
  /** Layer blob digests (a subset of `blobs`). */
  layers: Set<string>;
  /** The image manifests (one, or an index's), with their platforms: what attached reports are looked up by. */
  images: { platform: string | null; digest: string }[];
}

/** `--use-attached`: what a report attached to one image manifest of the tag says (no layer was read). */
export interface RepoAttachedFigures {
  platform: string | null;
  manifestDigest: string;
  /** The artifact the figures come from. */
  attached: string;
  uncompressedSize: number | null;
  efficiency: number | null;
  wastedBytes: number | null;
  reclaimableBytes: number | null;
}

export interface RepoTag {
  /** The repository's name on its registry (`team/app`). */
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  kind: 'index' | 'manifest';
  platforms: string[];
  /** Bytes of every blob and manifest the tag references, each once: what a pull of every platform stores. */
  size: number;
  layers: number;
  /** Of `size`, the bytes that another digest (another tag's image, an artifact) references too. */
  sharedBytes: number;
  /**
   * What deleting this tag alone would free once the registry is garbage-collected: the bytes no other tag or
   * artifact references. 0 when another tag points at the same digest (`sameDigestAs`).
   */
  uniqueBytes: number;
  sameDigestAs: string[];
  /** `--use-attached`: per image manifest, the figures of its attached report (absent: none found); null without it. */
  attached: RepoAttachedFigures[] | null;
}

/** A tag in the referrers tag schema (`sha256-<hex>`, cosign's `.sig`/`.att`): an artifact, not an image tag. */
export interface RepoArtifact {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  /** The manifest digest its tag names (`sha256-<hex>` → `sha256:<hex>`). */
  subject: string;
  size: number;
}

/** A tag that could not be reported: deleted between the listing and its read, unreadable, damaged. */
export interface RepoProblem {
  repository: string;
  /** null: the repository's tag list itself could not be read (`--all`). */
  tag: string | null;
  /** 0: gone (deleted since the listing), 1: damaged (bytes that do not match their digest), 3: unreadable. */
  exitCode: 0 | 1 | 3;
  message: string;
}

export interface RepoRuleResult {
  rule: 'maxTags' | 'maxUniqueSize' | 'requirePlatforms';
  limit: number | string[];
  status: 'pass' | 'fail';
  /** The tags that broke it (maxTags: none; the count is `actual`). */
  failures: { repository: string; tag: string; actual: number | string[] }[];
  actual: number | null;
  message: string;
}

export interface RepoReport {
  schemaVersion: 2;
  /** `REGISTRY/REPOSITORY`; null for `--all`. */
  repository: string | null;
  registry: string;
  /** What shared and unique bytes are relative to: one repository, or the whole registry (`--all`). */
  scope: 'repository' | 'registry';
  /** The repositories read (one, or the catalog's). */
  repositories: string[];
  tags: RepoTag[];
  artifacts: RepoArtifact[];
  problems: RepoProblem[];
  totals: {
    tags: number;
    /** Distinct manifest digests the tags point at. */
    digests: number;
    /** Bytes the repository stores for its tags and artifacts, each blob once. */
    storedBytes: number;
    /** Σ of the tags' sizes: what the tags would cost if nothing were shared. */
    sumOfTagSizes: number;
    /**
     * Every listed tag was read, so unique bytes account for everything that shares them; false (a tag that could
     * not be read, a listing cut short): a tag's unique bytes may be overstated.
     */
    complete: boolean;
    /** Groups of tags of one repository that point at the same digest. */
    sameDigest: { repository: string; tags: string[] }[];
  };
  /** The tag lists as the registry gave them: pages, tags listed, names dropped as not valid, `--tags` filter. */
  listing: { pages: number; listed: number; dropped: number; filter: string | null; truncated: boolean };
  check: { passed: boolean; rules: RepoRuleResult[] } | null;
}
