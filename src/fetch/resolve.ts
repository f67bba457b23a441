/**
 * Shared by every source: from an index or manifest to the chosen images — nested indexes, platform choice
 * (CONTRACT.md: --platform, else the only image platform, else the host's), configs, layer references, and
 * the digest/size checks of every small blob read on the way.
 */
import { IO_CONCURRENCY, mapLimit } from '../concurrency.js';
import { createHash } from 'node:crypto';
import { DamagedImageError, ImageReadError, LayerlensError } from '../errors.js';
import { isImageConfigMediaType, isIndexMediaType, isManifestMediaType, isNonDistributable, MediaType } from '../image/mediatypes.js';
import { parseConfig, parseManifestOrIndex } from '../image/parse.js';
import { configPlatform, formatPlatform, hostPlatform, normalizePlatform, platformMatches } from '../image/platform.js';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../image/types.js';
import {
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  type BlobStore,
  type CheckKind,
  type ImageClaims,
  type LayerClaim,
  type LayerRef,
  type ResolvedImage,
  type Root,
  type Selection,
  type SkippedBlob,
  type UnresolvedImage,
  type VerifyCheck,
} from '../model/source.js';

export const MAX_INDEX_DEPTH = 8;
/** Distinct indexes and manifests one image argument may lead to (real multi-platform indexes list tens). */
export const MAX_DOCUMENTS = 1000;

export function digestOf(bytes: Uint8Array, algorithm: string): string | null {
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return null;
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Read a small blob and record whether its digest and size match the descriptor that named it. */
export async function readVerified(
  store: BlobStore,
  descriptor: Descriptor,
  kind: CheckKind,
  manifest: string | null,
  checks: VerifyCheck[],
  maxBytes: number,
): Promise<Buffer> {
  const bytes = await store.read(descriptor.digest, maxBytes, kind);
  const algorithm = descriptor.digest.slice(0, descriptor.digest.indexOf(':'));
  const actual = digestOf(bytes, algorithm);
  checks.push({
    kind,
    subject: descriptor.digest,
    manifest,
    ok: actual === descriptor.digest,
    expected: descriptor.digest,
    actual: actual ?? `unsupported digest algorithm ${algorithm}`,
    what: `${kind} digest`,
  });
  checks.push({ kind, subject: descriptor.digest, manifest, ok: bytes.length === descriptor.size, expected: descriptor.size, actual: bytes.length, what: `${kind} size` });
  return bytes;
}

export function isAttestation(descriptor: Descriptor): boolean {
  const type = descriptor.annotations?.['vnd.docker.reference.type'];
  if (type === 'attestation-manifest') return true;
  return descriptor.platform?.os === 'unknown' && descriptor.platform.architecture === 'unknown';
}

/** An index entry that names a container image (or an index of them), not an attestation or an artifact. */
export function isImageEntry(descriptor: Descriptor): boolean {
  if (!isIndexMediaType(descriptor.mediaType) && !isManifestMediaType(descriptor.mediaType)) return false;
  if (descriptor.artifactType) return false;
  return !isAttestation(descriptor);
}

function describeEntry(descriptor: Descriptor): string {
  const ref = descriptor.annotations?.['org.opencontainers.image.ref.name'];
  const platform = descriptor.platform ? formatPlatform(descriptor.platform) : null;
  return [ref, platform, descriptor.digest.slice(0, 19)].filter(Boolean).join(' ');
}

export interface ResolveContext {
  store: BlobStore;
  selection: Selection;
  /** Where messages should say this is, e.g. `oci:./dir`. */
  label: string;
  /**
   * Several-image runs: an image that fails to resolve is recorded here and the others go on (CONTRACT.md: verify
   * goes on with every other platform); manifests the source does not hold are listed, not read.
   */
  outcome?: ResolveOutcome;
  /** One-line notes (stderr unless --quiet): e.g. that the host's platform is not in the archive. */
  note?: (line: string) => void;
}

export interface ResolveOutcome {
  unresolved: UnresolvedImage[];
  absent: SkippedBlob[];
  /** Image manifests the indexes name (present or not). */
  candidates: number;
  /**
   * Given (with every platform selected), every entry of every index the walk met, each distinct digest once, in
   * document order: `platforms` lists them all, the ones the source does not hold and the attestations too.
   */
  walk?: WalkEntry[];
}

/** One entry of an index, as the walk met it. */
export interface WalkEntry {
  descriptor: Descriptor;
  /**
   * `image`: a manifest resolved; `absent`: one the source does not hold; `unresolved`: one that could not be
   * resolved (its error is in `unresolved`); `index`: a nested index read; `other`: an attestation or an artifact,
   * not read.
   */
  kind: 'image' | 'absent' | 'unresolved' | 'index' | 'other';
  image: ResolvedImage | null;
  /** For `index`: the index read. */
  index: ImageIndex | null;
  /** The checks on the road to it: its parents' and its own. */
  checks: VerifyCheck[];
}

/**
 * Resolve one image, saying "damaged" when it is: a manifest or config whose bytes do not hash to their digest
 * and then fail to parse is a finding (exit 1, CONTRACT.md "Damage is a finding"), not an unreadable image.
 */
async function resolveDamageAware<T>(checks: VerifyCheck[], resolve: () => Promise<T>): Promise<T> {
  // Only what this resolution read: a parent index's failed check says nothing about a config missing below it.
  const before = checks.length;
  try {
    return await resolve();
  } catch (error) {
    const damaged = checks.slice(before).find((check) => !check.ok && check.what.endsWith(' digest') && (check.kind === 'manifest' || check.kind === 'config' || check.kind === 'index'));
    if (!damaged || !(error instanceof ImageReadError)) throw error;
    throw new DamagedImageError(`${error.message}; the ${damaged.kind} blob is damaged: its sha256 is ${damaged.actual}, not ${damaged.expected} as its descriptor names`, { cause: error });
  }
}

/** Choose and load images from an index (the index's own digest is null for an OCI layout's index.json). */
export async function resolveIndex(
  ctx: ResolveContext,
  index: ImageIndex,
  indexDigest: string | null,
  checks: VerifyCheck[],
  reference: string | null,
  depth = 0,
  seen: Set<string> = new Set(),
  visited: Set<string> = new Set(),
): Promise<ResolvedImage[]> {
  if (depth > MAX_INDEX_DEPTH) throw new ImageReadError(`${ctx.label}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
  const walk = ctx.selection.allPlatforms ? ctx.outcome?.walk : undefined;
  const record = (descriptor: Descriptor, kind: WalkEntry['kind'], image: ResolvedImage | null, checks: VerifyCheck[], nested: ImageIndex | null = null) =>
    walk?.push({ descriptor, kind, image, index: nested, checks });
  // Each distinct document once, however many paths lead to it, and a limit on how many there are.
  const firstVisit = (descriptor: Descriptor): boolean => {
    if (visited.has(descriptor.digest)) return false;
    visited.add(descriptor.digest);
    if (visited.size > MAX_DOCUMENTS) throw new ImageReadError(`${ctx.label}: indexes name more than ${MAX_DOCUMENTS} distinct manifests`);
    return true;
  };
  const entries = index.manifests.filter(isImageEntry);
  // A walk lists an index of attestations or artifacts alone as such; a read of images has none to read.
  if (entries.length === 0 && !walk) {
    const found = [...new Set(index.manifests.map((entry) => entry.artifactType ?? entry.annotations?.['vnd.docker.reference.type'] ?? entry.mediaType))];
    const what = index.manifests.length === 0 ? 'lists no manifests' : `lists no container image (only ${found.join(', ')})`;
    throw new ImageReadError(`${indexDigest ? `index ${indexDigest} in ` : ''}${ctx.label} ${what}`);
  }
  // What the source holds: an archive or layout often keeps one platform of an index that names eleven.
  const held = await Promise.all(entries.map(async (entry) => (await ctx.store.stat(entry.digest)).available));
  const present = entries.filter((_, i) => held[i]);
  const chosen = choosePlatforms(ctx, entries, present, indexDigest);
  const images: ResolvedImage[] = [];
  // A walk goes through every entry in document order (`chosen` is then every image entry, in that order).
  for (const descriptor of walk ? index.manifests : chosen) {
    if (walk && !isImageEntry(descriptor)) {
      // Listed once, not read; counted with the documents, as a fan-out of attestations is work too.
      if (!firstVisit(descriptor)) continue;
      record(descriptor, 'other', null, checks);
      continue;
    }
    if (!isIndexMediaType(descriptor.mediaType) && ctx.outcome) ctx.outcome.candidates++;
    const nested = isIndexMediaType(descriptor.mediaType);
    if (!present.includes(descriptor)) {
      if (walk) {
        if (!firstVisit(descriptor)) continue;
        record(descriptor, 'absent', null, checks);
      }
      if (ctx.outcome) {
        ctx.outcome.absent.push({ subject: descriptor.digest, reason: nested ? 'not in this archive (an index: the platforms it names are unknown)' : 'not in this archive', ...(descriptor.platform ? { platform: formatPlatform(descriptor.platform) } : {}) });
        continue;
      }
      throw new ImageReadError(`the ${describeEntry(descriptor)} manifest that ${indexDigest ? `index ${indexDigest.slice(0, 19)}` : ctx.label} names is not in ${ctx.label}${present.length ? ` (it holds ${present.map(describeEntry).join(', ')})` : ''}`);
    }
    if (seen.has(descriptor.digest)) throw new ImageReadError(`${ctx.label}: index ${descriptor.digest} refers to itself (a loop)`);
    // Each distinct index or manifest is read once, however many paths lead to it: an index listing the next one
    // four times, eight levels deep, is 8 documents, not 4^8.
    if (!firstVisit(descriptor)) continue;
    if (isIndexMediaType(descriptor.mediaType)) {
      const nestedChecks: VerifyCheck[] = [...checks];
      let parsed;
      try {
        parsed = await resolveDamageAware(nestedChecks, async () => {
          const bytes = await readVerified(ctx.store, descriptor, 'index', null, nestedChecks, MAX_MANIFEST_BYTES);
          return parseManifestOrIndex(bytes, `index ${descriptor.digest} in ${ctx.label}`, descriptor.mediaType);
        });
      } catch (error) {
        // As for a manifest below: a damaged nested index is recorded, and the rest of the outer index goes on.
        if (!ctx.outcome || !(error instanceof LayerlensError) || error.exitCode === 2) throw error;
        ctx.outcome.unresolved.push({ manifestDigest: descriptor.digest, platform: descriptor.platform ?? null, checks: nestedChecks, error });
        record(descriptor, 'unresolved', null, nestedChecks);
        continue;
      }
      if (parsed.kind !== 'index') throw new ImageReadError(`${descriptor.digest} in ${ctx.label} is referenced as an index but is a manifest`);
      record(descriptor, 'index', null, nestedChecks, parsed.index);
      const nextSeen = new Set(seen).add(descriptor.digest);
      images.push(...(await resolveIndex(ctx, parsed.index, descriptor.digest, nestedChecks, reference, depth + 1, nextSeen, visited)));
    } else {
      const own = [...checks];
      try {
        const image = await resolveDamageAware(own, () => resolveManifestDescriptor(ctx, descriptor, indexDigest, own, reference));
        images.push(image);
        record(descriptor, 'image', image, own);
      } catch (error) {
        // A usage error is the run's; a damaged or unreadable image is this image's, and the others go on.
        if (!ctx.outcome || !(error instanceof LayerlensError) || error.exitCode === 2) throw error;
        ctx.outcome.unresolved.push({ manifestDigest: descriptor.digest, platform: descriptor.platform ?? null, checks: own, error });
        record(descriptor, 'unresolved', null, own);
      }
    }
  }
  return images;
}

/**
 * `--platform` picks among every entry (one the source does not hold is then a clear error); the default choice
 * (the only image, else the host's) is made among the entries the source holds, as a runtime would pull.
 */
function choosePlatforms(ctx: ResolveContext, all: Descriptor[], present: Descriptor[], indexDigest: string | null): Descriptor[] {
  const { selection } = ctx;
  const where = indexDigest ? `index ${indexDigest.slice(0, 19)}` : ctx.label;
  if (selection.allPlatforms) return all;
  const entries = selection.platform ? all : present;
  const available = () => entries.map(describeEntry).join(', ');
  if (entries.length === 0) throw new ImageReadError(`${ctx.label} holds none of the ${all.length} manifests ${where} names`);
  if (!selection.platform && present.length < all.length) {
    // The platform a pull here would pick is not in the archive: say which one is read instead.
    const host = hostPlatform();
    const wanted = all.find((entry) => !present.includes(entry) && entry.platform && platformMatches(host, entry.platform));
    const hostHeld = present.some((entry) => entry.platform && platformMatches(host, entry.platform));
    if (wanted && !hostHeld && present.length === 1) ctx.note?.(`${ctx.label} does not hold the ${formatPlatform(host)} manifest ${where} names; reading ${describeEntry(present[0]!)}`);
  }
  if (selection.platform) {
    const wanted = selection.platform;
    const matching = entries.filter((entry) => !entry.platform || platformMatches(wanted, entry.platform));
    // Prefer an exact (normalised) variant match over a variant-less one.
    const exact = matching.find((entry) => entry.platform && normalizePlatform(entry.platform).variant === normalizePlatform(wanted).variant);
    const best = exact ?? matching.find((entry) => entry.platform) ?? matching[0];
    if (!best) throw new ImageReadError(`${where} has no image for platform ${formatPlatform(wanted)}; available: ${available()}`);
    return [best];
  }
  if (entries.length === 1) return entries;
  const withPlatform = entries.filter((entry) => entry.platform);
  if (withPlatform.length < entries.length) {
    throw new ImageReadError(`${where} holds ${entries.length} images; name one: ${available()}`);
  }
  const host = hostPlatform();
  const match = withPlatform.find((entry) => platformMatches(host, entry.platform!));
  if (match) return [match];
  throw new ImageReadError(
    `${where} has no image for this machine's platform ${formatPlatform(host)}; choose one with --platform (available: ${available()}) or use --all-platforms`,
  );
}

/** Fetch a manifest named by a descriptor, then its config; `descriptor.platform` is what the index claimed. */
export async function resolveManifestDescriptor(
  ctx: ResolveContext,
  descriptor: Descriptor,
  indexDigest: string | null,
  checks: VerifyCheck[],
  reference: string | null,
): Promise<ResolvedImage> {
  const bytes = await readVerified(ctx.store, descriptor, 'manifest', descriptor.digest, checks, MAX_MANIFEST_BYTES);
  const parsed = parseManifestOrIndex(bytes, `manifest ${descriptor.digest} in ${ctx.label}`, descriptor.mediaType);
  if (parsed.kind !== 'manifest') throw new ImageReadError(`${descriptor.digest} in ${ctx.label} is referenced as a manifest but is an index`);
  return resolveImage(ctx, parsed.manifest, parsed.mediaType, descriptor.digest, indexDigest, descriptor.platform ?? null, checks, reference);
}

/** Load the config of a parsed manifest and describe its layers. */
export async function resolveImage(
  ctx: ResolveContext,
  manifest: ImageManifest,
  manifestMediaType: string,
  manifestDigest: string | null,
  indexDigest: string | null,
  claimedPlatform: Platform | null,
  checks: VerifyCheck[],
  reference: string | null,
): Promise<ResolvedImage> {
  const configMediaType = manifest.config.mediaType;
  if (!isImageConfigMediaType(configMediaType)) {
    const what = manifest.artifactType ?? configMediaType;
    throw new ImageReadError(`manifest ${manifestDigest ?? ''} in ${ctx.label} is an artifact (${what}), not a container image`.replace('  ', ' '));
  }
  const configBytes = await readVerified(ctx.store, manifest.config, 'config', manifestDigest, checks, MAX_CONFIG_BYTES);
  const config = parseConfig(configBytes, `config ${manifest.config.digest} in ${ctx.label}`);
  const claims: ImageClaims = {
    indexDigest,
    manifestDigest,
    manifestMediaType,
    manifest,
    claimedPlatform,
    config,
    configDigest: manifest.config.digest,
    configSize: configBytes.length,
    configMediaType: configMediaType ?? MediaType.ociConfig,
    layers: manifest.layers.map((layer) => ({ key: layer.digest, claim: { digest: layer.digest, size: layer.size, mediaType: layer.mediaType, urls: layer.urls ?? [] } })),
    layersListedBy: "the manifest's layer count",
    platformIs: (platform) => `${ctx.label} is ${platform}`,
    checks,
  };
  return resolveClaims(ctx, claims, reference);
}

/**
 * What every source's image goes through, whether a manifest blob or the source itself described it: the platform
 * the index claimed against the config, `--platform`, one diff_id per layer, and the layer references.
 */
export async function resolveClaims(ctx: ResolveContext, claims: ImageClaims, reference: string | null): Promise<ResolvedImage> {
  const { config, checks, claimedPlatform, manifestDigest } = claims;
  const platform = configPlatform(config);
  if (claimedPlatform) {
    checks.push({
      kind: 'platform',
      subject: manifestDigest ?? claims.configDigest,
      manifest: manifestDigest,
      ok: platformMatches(claimedPlatform, platform) && platformMatches(platform, claimedPlatform),
      expected: formatPlatform(claimedPlatform),
      actual: formatPlatform(platform),
      what: 'platform in the index matches the config',
    });
  }
  requireSelectedPlatform(ctx.selection, platform, claims.platformIs(formatPlatform(platform)));
  const diffIds = config.rootfs.diff_ids;
  if (claims.layersListedBy) checks.push(diffIdsCountCheck(claims.configDigest, manifestDigest, diffIds.length, claims.layers.length, claims.layersListedBy));
  const layers: LayerRef[] = await mapLimit(claims.layers, IO_CONCURRENCY, async ({ key, claim }, index) =>
    layerRef(ctx.store, key, claim, index, diffIds[index] ?? null, await ctx.store.stat(key, claim.size)),
  );
  return {
    indexDigest: claims.indexDigest,
    manifestDigest,
    manifestMediaType: claims.manifestMediaType,
    manifest: claims.manifest,
    claimedPlatform,
    config,
    configDigest: claims.configDigest,
    configSize: claims.configSize,
    configMediaType: claims.configMediaType,
    layers,
    checks,
    reference,
  };
}

/**
 * `--platform` against the platform the config says it is; `found` opens the message in the source's own words
 * (`docker:busybox holds a linux/amd64 image`).
 */
export function requireSelectedPlatform(selection: Pick<Selection, 'platform'>, platform: Platform, found: string): void {
  if (selection.platform && !platformMatches(selection.platform, platform)) throw new ImageReadError(`${found}, not ${formatPlatform(selection.platform)} as --platform asks`);
}

/** The config lists one diff_id per layer of whatever lists the layers (`counted`: "the manifest's layer count"). */
export function diffIdsCountCheck(configDigest: string, manifestDigest: string | null, diffIds: number, layers: number, counted: string): VerifyCheck {
  return { kind: 'config', subject: configDigest, manifest: manifestDigest, ok: diffIds === layers, expected: layers, actual: diffIds, what: `rootfs.diff_ids count equals ${counted}` };
}

/**
 * The reference to layer `index`, whose bytes the store holds under `key` (its digest, or for a legacy docker save's
 * `layer.tar`, which no digest names, its member name) and `stored` says whether and how large.
 */
export function layerRef(store: BlobStore, key: string, claim: LayerClaim, index: number, diffId: string | null, stored: { available: boolean; size: number | null }): LayerRef {
  return {
    index,
    digest: claim.digest,
    size: claim.size,
    mediaType: claim.mediaType,
    storedSize: stored.size,
    diffId,
    urls: claim.urls,
    foreign: isNonDistributable(claim.mediaType),
    // A non-distributable layer lives outside the registry (its `urls`); it counts only if held locally.
    available: stored.available && !(isNonDistributable(claim.mediaType) && stored.size === null),
    location: store.locate(key),
    open: () => store.open(key, claim.size),
    ...(store.scans ? { scans: store.scans } : {}),
    ...optional('scanned', store.scanned?.(key)),
  };
}

/** From a source's root to the images the selection asks for. */
export async function resolveRoot(root: Root, ctx: ResolveContext): Promise<ResolvedImage[]> {
  if (root.kind === 'index') return resolveIndex(ctx, root.index, root.digest, [...root.checks], root.reference);
  if (ctx.outcome) ctx.outcome.candidates++;
  if (root.kind === 'claims') return [await resolveClaims(ctx, { ...root.claims, checks: [...root.claims.checks] }, root.reference)];
  const checks = [...root.checks];
  return [await resolveDamageAware(checks, () => resolveImage(ctx, root.manifest, root.mediaType, root.digest, null, null, checks, root.reference))];
}

/**
 * The index a root names its platforms by: its own, or the OCI index a Docker 25+ docker save holds beside the
 * image manifest.json describes; null for a root of one image.
 */
export function platformIndex(root: Root): Extract<Root, { kind: 'index' }> | null {
  if (root.kind === 'index') return root;
  if (root.kind === 'claims' && root.index) return { kind: 'index', index: root.index.index, digest: null, checks: root.index.checks, reference: null };
  return null;
}

/** `{ [key]: value }` when there is a value, else nothing (exactOptionalPropertyTypes keeps absent and undefined apart). */
export function optional<K extends string, V>(key: K, value: V | null | undefined): { [P in K]?: V } {
  return (value === null || value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
