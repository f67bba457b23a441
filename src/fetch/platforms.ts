/**
 * The platforms an image argument names, from the manifests alone (no layer download): every platform an index
 * lists with its manifest digest and layers, the manifests the source does not hold, attestations and referrers
 * listed apart, each config checked against the platform the index claims. `pipeline/platforms.ts` adds sizes and
 * coverage.
 */
import { ImageReadError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType } from '../image/mediatypes.js';
import { parseManifestOrIndex } from '../image/parse.js';
import type { Descriptor, ImageIndex, Platform } from '../image/types.js';
import { MAX_DOCUMENTS, MAX_INDEX_DEPTH, isAttestation, readVerified, resolveImage, resolveManifestDescriptor, type ResolveContext } from './resolve.js';
import type { AttestationEntry, PlatformEntry } from '../model/platforms.js';
import { MAX_MANIFEST_BYTES, type ResolvedImage, type SourceHandle, type VerifyCheck } from '../model/source.js';

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

export async function walkPlatforms(handle: SourceHandle): Promise<PlatformWalk> {
  const checks: VerifyCheck[] = [];
  const platforms: PlatformEntry[] = [];
  const attestations: AttestationEntry[] = [];
  const images: (ResolvedImage | null)[] = [];
  let indexDigest: string | null = null;
  const root = handle.platformRoot?.root ?? handle.root;
  const store = handle.platformRoot?.store ?? handle.store;

  if (root.kind === 'images') {
    for (const image of root.images) {
      platforms.push(entryFromImage(image, null));
      images.push(image);
      checks.push(...image.checks);
      indexDigest ??= image.indexDigest;
    }
  } else {
    const ctx: ResolveContext = { store: store!, selection: { ref: null, platform: null, allPlatforms: true }, label: handle.label };
    checks.push(...root.checks);
    if (root.kind === 'manifest') {
      const image = await resolveImage(ctx, root.manifest, root.mediaType, root.digest, null, null, [], root.reference);
      checks.push(...image.checks);
      platforms.push(entryFromImage(image, null));
      images.push(image);
    } else {
      // Walk down single-entry indexes (a layout's index.json naming one multi-arch index) to the platform list.
      let index: ImageIndex = root.index;
      indexDigest = root.digest;
      // Each distinct document once (a loop or a fan-out of one index listed many times costs nothing more), and
      // a depth limit on every walk.
      const visited = new Set<string>(indexDigest ? [indexDigest] : []);
      const visit = async (current: ImageIndex, digest: string | null, depth: number): Promise<void> => {
        if (depth > MAX_INDEX_DEPTH) throw new ImageReadError(`${handle.label}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
        for (const descriptor of current.manifests) {
          if (visited.has(descriptor.digest)) continue;
          visited.add(descriptor.digest);
          if (visited.size > MAX_DOCUMENTS) throw new ImageReadError(`${handle.label}: indexes name more than ${MAX_DOCUMENTS} distinct manifests`);
          const attestation = attestationOf(descriptor);
          if (attestation) {
            attestations.push(attestation);
            continue;
          }
          const stat = await ctx.store.stat(descriptor.digest);
          if (isIndexMediaType(descriptor.mediaType)) {
            if (!stat.available) continue;
            const bytes = await readVerified(ctx.store, descriptor, 'index', null, checks, MAX_MANIFEST_BYTES);
            const parsed = parseManifestOrIndex(bytes, `index ${descriptor.digest} in ${handle.label}`, descriptor.mediaType);
            if (parsed.kind === 'index') await visit(parsed.index, descriptor.digest, depth + 1);
            continue;
          }
          if (!stat.available) {
            const claimed = descriptor.platform;
            platforms.push({
              os: claimed?.os ?? 'unknown',
              architecture: claimed?.architecture ?? 'unknown',
              variant: claimed?.variant ?? null,
              osVersion: claimed?.['os.version'] ?? null,
              digest: descriptor.digest,
              compressedSize: null,
              uncompressedSize: null,
              sharedLayers: 0,
              layers: null,
              available: false,
            });
            images.push(null);
            continue;
          }
          const image = await resolveManifestDescriptor(ctx, descriptor, digest, [], null);
          checks.push(...image.checks);
          platforms.push(entryFromImage(image, descriptor.platform ?? null));
          images.push(image);
        }
      };
      while (index.manifests.length === 1 && isIndexMediaType(index.manifests[0]!.mediaType) && (await ctx.store.stat(index.manifests[0]!.digest)).available) {
        const descriptor = index.manifests[0]!;
        if (visited.has(descriptor.digest)) throw new ImageReadError(`${handle.label}: index ${descriptor.digest} refers to itself (a loop)`);
        visited.add(descriptor.digest);
        if (visited.size > MAX_INDEX_DEPTH) throw new ImageReadError(`${handle.label}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
        const bytes = await readVerified(ctx.store, descriptor, 'index', null, checks, MAX_MANIFEST_BYTES);
        const parsed = parseManifestOrIndex(bytes, `index ${descriptor.digest} in ${handle.label}`, descriptor.mediaType);
        if (parsed.kind !== 'index') break;
        index = parsed.index;
        indexDigest = descriptor.digest;
      }
      await visit(index, indexDigest, 0);
    }
  }

  return { indexDigest, platforms, images, attestations, checks };
}
