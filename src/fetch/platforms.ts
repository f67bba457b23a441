/**
 * The platforms an image argument names, from the manifests alone (no layer download): every platform an index
 * lists with its manifest digest and layers, the manifests the source does not hold, attestations and referrers
 * listed apart, each config checked against the platform the index claims. `pipeline/platforms.ts` adds sizes and
 * coverage.
 */
import { DamagedImageError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType } from '../image/mediatypes.js';
import type { Descriptor, Platform } from '../image/types.js';
import { isAttestation, platformIndex, resolveRoot, type ResolveContext, type ResolveOutcome } from './resolve.js';
import type { AttestationEntry, PlatformEntry } from '../model/platforms.js';
import type { ResolvedImage, SourceHandle, VerifyCheck } from '../model/source.js';

/** The walk's findings; `images[i]` is `platforms[i]`'s image, null where the source does not hold its manifest. */
export interface PlatformWalk {
  indexDigest: string | null;
  platforms: PlatformEntry[];
  images: (ResolvedImage | null)[];
  attestations: AttestationEntry[];
  checks: VerifyCheck[];
}

function entryFromImage(image: ResolvedImage, claimed: Platform | null): PlatformEntry {
  const config = image.config;
  return {
    os: claimed?.os ?? config.os,
    architecture: claimed?.architecture ?? config.architecture,
    variant: claimed?.variant ?? config.variant ?? null,
    osVersion: claimed?.['os.version'] ?? config['os.version'] ?? null,
    digest: image.manifestDigest,
    compressedSize: image.layers.every((layer) => (layer.size ?? layer.storedSize) !== null)
      ? image.layers.reduce((total, layer) => total + (layer.size ?? layer.storedSize ?? 0), 0)
      : null,
    uncompressedSize: null,
    sharedLayers: 0,
    layers: image.layers.length,
    available: true,
  };
}

function attestationOf(descriptor: Descriptor): AttestationEntry | null {
  if (isAttestation(descriptor)) {
    return { digest: descriptor.digest, refersTo: descriptor.annotations?.['vnd.docker.reference.digest'] ?? null, type: 'attestation-manifest', artifactType: descriptor.artifactType ?? null };
  }
  if (descriptor.artifactType || (!isIndexMediaType(descriptor.mediaType) && !isManifestMediaType(descriptor.mediaType))) {
    return { digest: descriptor.digest, refersTo: descriptor.annotations?.['org.opencontainers.image.subject'] ?? null, type: 'referrer', artifactType: descriptor.artifactType ?? descriptor.mediaType };
  }
  return null;
}

/** A platform as the index claims it, for a manifest the source does not hold or that is damaged (its checks say so). */
function entryFromClaim(descriptor: Descriptor, available: boolean): PlatformEntry {
  const claimed = descriptor.platform;
  return {
    os: claimed?.os ?? 'unknown',
    architecture: claimed?.architecture ?? 'unknown',
    variant: claimed?.variant ?? null,
    osVersion: claimed?.['os.version'] ?? null,
    digest: descriptor.digest,
    compressedSize: null,
    uncompressedSize: null,
    sharedLayers: 0,
    layers: null,
    available,
  };
}

/**
 * Every platform the source's root names, through the one resolver (resolve.ts, every platform selected, the walk
 * recorded). A damaged manifest or config is listed with its failed checks (CONTRACT.md: damage is a finding); a
 * platform that cannot be read for another reason ends the walk with its error, as any read does.
 */
export async function walkPlatforms(handle: SourceHandle): Promise<PlatformWalk> {
  const outcome: ResolveOutcome = { unresolved: [], absent: [], candidates: 0, walk: [] };
  const ctx: ResolveContext = { store: handle.store, selection: { ref: null, platform: null, allPlatforms: true }, label: handle.label, outcome };
  const root = platformIndex(handle.root);
  if (!root) {
    // One image (a manifest, or a docker save without an OCI index): itself, as the index would list it.
    const resolved = (await resolveRoot(handle.root, ctx)).map(handle.finish ?? ((image) => image));
    return { indexDigest: resolved[0]?.indexDigest ?? null, platforms: resolved.map((image) => entryFromImage(image, null)), images: resolved, attestations: [], checks: resolved[0]!.checks };
  }
  await resolveRoot(root, ctx);

  const unreadable = outcome.unresolved.find((image) => !(image.error instanceof DamagedImageError));
  if (unreadable) throw unreadable.error;
  const walk = outcome.walk!;
  const platforms: PlatformEntry[] = [];
  const images: (ResolvedImage | null)[] = [];
  const attestations: AttestationEntry[] = [];
  for (const { descriptor, kind, image } of walk) {
    if (kind === 'other') {
      const attestation = attestationOf(descriptor);
      if (attestation) attestations.push(attestation);
    } else if (isIndexMediaType(descriptor.mediaType)) {
      continue; // a nested index: its platforms are entries of their own (a damaged one's checks say so)
    } else {
      platforms.push(image ? entryFromImage(image, descriptor.platform ?? null) : entryFromClaim(descriptor, kind !== 'absent'));
      images.push(image);
    }
  }
  // The index the platforms hang from: down single-entry indexes (a layout's index.json naming one multi-arch index).
  let indexDigest = root.digest;
  let index = root.index;
  for (;;) {
    const only = index.manifests.length === 1 ? walk.find((entry) => entry.kind === 'index' && entry.descriptor === index.manifests[0]) : undefined;
    if (!only) break;
    index = only.index!;
    indexDigest = only.descriptor.digest;
  }
  // Each check once, in the order the walk made them (an image's list begins with its parents').
  const checks = [...new Set([...root.checks, ...walk.flatMap((entry) => entry.checks)])];
  return { indexDigest, platforms, images, attestations, checks };
}
