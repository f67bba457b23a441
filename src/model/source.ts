/**
 * What every source produces. Sources differ only in how they get the bytes of a descriptor (BlobStore) and in
 * how they find the root the user named; everything after that (index navigation, platform choice, config and
 * layer scanning, checks) is shared.
 */
import type { Readable } from 'node:stream';
import type { ImageConfig, ImageIndex, ImageManifest, Platform } from '../image/types.js';
import type { LayerScan } from './layer.js';
import type { LayerlensError } from '../errors.js';

export type SourceKind = 'registry' | 'docker-archive' | 'oci-layout' | 'oci-archive' | 'daemon' | 'containerd' | 'container';

export interface SourceInfo {
  input: string;
  kind: SourceKind;
  /** The normalised reference (registry) or the REF used inside an archive/layout; null when none. */
  reference: string | null;
  engine?: { name: string; version: string } | null;
  /** For an engine's image: the registry digests it knows for it (to compare with the registry's copy). */
  repoDigests?: string[];
  /** For an engine's image: the engine's image ID. */
  imageId?: string;
  /** For a registry image: the mirror that served the bytes (as configured), or null for the origin. */
  mirror?: string | null;
  /** For `container:NAME`: the container whose writable layer is the image's top layer. */
  container?: ContainerInfo;
}

/** What the engine says of a container (`container` in the report). */
export interface ContainerInfo {
  id: string;
  name: string;
  /** The image name the container was created from, as the engine records it. */
  image: string | null;
  imageId: string;
  state: string | null;
  writable: {
    /** The engine's change list: paths added, modified, deleted. */
    changes: { added: number; modified: number; deleted: number };
    /** The engine's own size of the writable layer (`SizeRw`), beside the layer's measured figures. */
    sizeRw: number | null;
  };
}

export type CheckKind = 'index' | 'manifest' | 'config' | 'layer' | 'diffId' | 'mediaType' | 'platform' | 'layout' | 'reference';

/** One digest/size/consistency check (CONTRACT.md `verify.checks`). */
export interface VerifyCheck {
  kind: CheckKind;
  subject: string;
  manifest: string | null;
  ok: boolean;
  expected: string | number | null;
  actual: string | number | null;
  /** A short sentence saying what was compared, e.g. "layer 2 blob size". */
  what: string;
}

/** A blob a run did not read, and why (CONTRACT.md `verify.skipped`). */
export interface SkippedBlob {
  subject: string;
  reason: string;
  /** For a manifest an index names: the platform it claims (people tell eleven digests apart by it). */
  platform?: string;
}

/**
 * An image an index names that could not be resolved in a several-image run (a damaged or unreadable manifest or
 * config): the others go on, and the report lists this one with its checks.
 */
export interface UnresolvedImage {
  manifestDigest: string;
  platform: Platform | null;
  /** The checks made before it failed (a failed digest check when the blob is damaged). */
  checks: VerifyCheck[];
  error: LayerlensError;
}

export interface LayerRef {
  index: number;
  /** The digest the manifest claims for the blob; null for legacy docker archives, which claim none. */
  digest: string | null;
  /** The size the manifest claims; null when nothing claims one. */
  size: number | null;
  mediaType: string;
  /** Size of the blob as stored, when known without reading it. */
  storedSize: number | null;
  /** The config's diff_ids[i], or null when the config lists fewer. */
  diffId: string | null;
  urls: string[];
  /** Non-distributable (foreign) layers are not fetched unless they are present locally. */
  foreign: boolean;
  /** Whether the blob is available from this source. */
  available: boolean;
  /** Where a message should say the blob lives. */
  location: string;
  /** A container's writable layer: no manifest or config claims a digest or diff_id for it, so none is checked. */
  writable?: boolean;
  open(): Readable;
  scans?: ScanCache;
  /**
   * The scan a one-pass source made of this layer as its bytes streamed by (an engine export, stdin): the layer
   * is then never opened. Rejects with the scan's error (a PassScanError, which knows the stored bytes' digest).
   */
  scanned?: () => Promise<LayerScan>;
}

export interface ResolvedImage {
  indexDigest: string | null;
  manifestDigest: string | null;
  manifestMediaType: string | null;
  manifest: ImageManifest | null;
  /** The platform the index entry claimed, when the image was chosen from an index. */
  claimedPlatform: Platform | null;
  config: ImageConfig;
  configDigest: string;
  configSize: number;
  configMediaType: string;
  layers: LayerRef[];
  /** Checks made while resolving (index, manifest and config bytes against their descriptors, layout, platform). */
  checks: VerifyCheck[];
  /** What the REF or choice was, e.g. the RepoTag or ref.name, for source.reference. */
  reference: string | null;
}

/** What a manifest (or a docker save's manifest.json) claims of a layer blob; null where it claims nothing. */
export interface LayerClaim {
  digest: string | null;
  size: number | null;
  mediaType: string;
  urls: string[];
}

/**
 * One image as its source describes it, before the resolver checks it: a manifest's claims with its config read.
 * A registry or an OCI layout gets this from a manifest blob; a docker save (its manifest.json entry) and an
 * engine's image record, which have no manifest blob to start from, synthesise it, as go-containerregistry's
 * tarball package synthesises a manifest. From here on every source is the same: the resolver (resolve.ts
 * `resolveClaims`) makes the platform and diff_ids checks and the layer references.
 */
export interface ImageClaims {
  indexDigest: string | null;
  manifestDigest: string | null;
  manifestMediaType: string | null;
  manifest: ImageManifest | null;
  /** The platform an index entry claimed for it, checked against the config. */
  claimedPlatform: Platform | null;
  config: ImageConfig;
  configDigest: string;
  configSize: number;
  configMediaType: string;
  /** Each layer: the key the store holds its bytes under, and what is claimed of it. */
  layers: { key: string; claim: LayerClaim }[];
  /**
   * What lists the layers, in the diff_ids count check: "the manifest's layer count"; null where the layers are the
   * diff_ids themselves (an engine's record), which a count could only compare with itself.
   */
  layersListedBy: string | null;
  /** The sentence a --platform mismatch opens with, in the source's words: `docker:busybox holds a linux/amd64 image`. */
  platformIs: (platform: string) => string;
  /** Checks made while describing it (the index, manifest and config bytes against their descriptors). */
  checks: VerifyCheck[];
}

export interface Selection {
  /** REF inside an archive or layout (a RepoTag, `@N`, a ref.name or a digest). */
  ref: string | null;
  platform: Platform | null;
  allPlatforms: boolean;
}

/** Bytes for a descriptor; each source implements only this. */
export interface BlobStore {
  readonly label: string;
  /**
   * Whether the source holds the blob, and its stored size when known without fetching it (a local file's
   * size; null for a remote blob not yet downloaded). `size` is the descriptor's, given for the layers of an
   * image being resolved: a remote source counts them for its progress line.
   */
  stat(digest: string, size?: number | null): Promise<{ available: boolean; size: number | null }>;
  /** A small blob (index, manifest, config), whole; throws ImageReadError when absent or larger than maxBytes. */
  read(digest: string, maxBytes: number, what: string): Promise<Buffer>;
  /**
   * A large blob as a stream. `size` is the descriptor's: a remote source stops one byte past it, so an endless
   * body cannot fill the disk and the reader sees the size mismatch.
   */
  open(digest: string, size?: number | null): Readable;
  /** Where a message should say this blob lives. */
  locate(digest: string): string;
  /** The scan a one-pass source already made of this blob (see LayerRef.scanned), or null. */
  scanned?(digest: string): (() => Promise<LayerScan>) | null;
  /**
   * Scan results kept by blob digest (the registry's cache): a layer whose verified scan is cached is not read
   * again. Local archives have none: they are re-read and re-verified on every run.
   */
  scans?: ScanCache;
}

export interface ScanCache {
  load(digest: string): Promise<LayerScan | null>;
  save(digest: string, scan: LayerScan): Promise<void>;
}

/** What an image argument names, before any platform is chosen. */
export type Root =
  | { kind: 'index'; index: ImageIndex; digest: string | null; checks: VerifyCheck[]; reference: string | null }
  | { kind: 'manifest'; manifest: ImageManifest; mediaType: string; digest: string | null; checks: VerifyCheck[]; reference: string | null }
  /**
   * An image described without a manifest blob: a docker save's manifest.json entry or an engine's image record.
   * `index` is the OCI index a Docker 25+ docker save holds beside it, which names every platform of the saved tag
   * (often with blobs for one only): `platforms` walks it, and a several-image run lists what it names as absent.
   */
  | { kind: 'claims'; claims: ImageClaims; reference: string | null; index: { index: ImageIndex; checks: VerifyCheck[] } | null };

/** An opened source: where it is, how to get its blobs, and its root. */
export interface SourceHandle {
  info: SourceInfo;
  store: BlobStore;
  label: string;
  root: Root;
  /** What the source adds to an image once it is resolved: a container's writable layer on top of its image. */
  finish?: (image: ResolvedImage) => ResolvedImage;
  close(): Promise<void>;
}

export interface OpenedSource {
  info: SourceInfo;
  images: ResolvedImage[];
  /** Several-image runs: images the index names that could not be resolved (the rest were). */
  unresolved: UnresolvedImage[];
  /** Manifests an index names that the archive or layout does not hold ("not in this archive"). */
  absent: SkippedBlob[];
  /** How many image manifests the index names (1 without an index): "1 of 11 platforms present". */
  candidates: number;
  close(): Promise<void>;
}

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
