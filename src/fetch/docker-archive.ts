/**
 * `docker save` archives: the legacy layout (manifest.json + `<id>/layer.tar`, skopeo's `<hex>.tar` with symlinks,
 * kaniko's `sha256:<hex>` config and `.tar.gz` layers) and Docker 25+ (manifest.json beside an OCI layout whose
 * blobs hold the same files). manifest.json picks the image (RepoTags, `@N`); when an OCI index is present, the
 * manifest whose config is this image's config supplies the manifest digest, media types and claimed digests.
 */
import { IO_CONCURRENCY, mapLimit } from '../concurrency.js';
import { ImageReadError } from '../errors.js';
import { isDigest, sha256Digest } from '../image/digest.js';
import { dockerLayerMediaType, isIndexMediaType, isManifestMediaType, sniffCompression } from '../image/mediatypes.js';
import { parseConfig, parseDockerArchiveManifest, parseManifestOrIndex } from '../image/parse.js';
import type { DockerArchiveEntry, ImageIndex, ImageManifest, Platform } from '../image/types.js';
import { blobPath, LayoutBlobStore, readLayoutIndex, TreeBlobStore } from './oci-layout.js';
import { readVerified } from './resolve.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, type ImageClaims, type LayerClaim, type VerifyCheck } from '../model/source.js';
import type { FileTree } from './tree.js';

/** `busybox` → `busybox:latest`; `docker.io/library/busybox:1` → `busybox:1`, so RepoTags compare as docker does. */
export function familiarTag(tag: string): string {
  let name = tag;
  for (const prefix of ['docker.io/library/', 'index.docker.io/library/', 'docker.io/', 'index.docker.io/']) {
    if (name.startsWith(prefix)) {
      name = name.slice(prefix.length);
      break;
    }
  }
  const lastSlash = name.lastIndexOf('/');
  if (!name.includes('@') && !name.slice(lastSlash + 1).includes(':')) name += ':latest';
  return name;
}

function chooseEntry(entries: DockerArchiveEntry[], ref: string | null, label: string): { entry: DockerArchiveEntry; reference: string | null } {
  const listing = () => entries.map((entry, i) => (entry.RepoTags.length ? `${entry.RepoTags.join(' ')} (@${i})` : `@${i}`)).join(', ');
  if (ref !== null) {
    const byIndex = /^@(\d+)$/.exec(ref);
    if (byIndex) {
      const entry = entries[Number(byIndex[1])];
      if (!entry) throw new ImageReadError(`${label} has ${entries.length} image(s); ${ref} is out of range (use @0…@${entries.length - 1})`);
      return { entry, reference: ref };
    }
    const wanted = familiarTag(ref);
    const entry = entries.find((candidate) => candidate.RepoTags.some((tag) => tag === ref || familiarTag(tag) === wanted));
    if (!entry) throw new ImageReadError(`${label} has no image tagged "${ref}"; it has: ${listing()}`);
    return { entry, reference: ref };
  }
  if (entries.length > 1) throw new ImageReadError(`${label} holds ${entries.length} images; add :REF to choose one of: ${listing()}`);
  const entry = entries[0]!;
  return { entry, reference: entry.RepoTags[0] ?? null };
}

/** The digest a content-addressed member name spells: `blobs/sha256/<hex>`, `<hex>.json`, `sha256:<hex>`. */
function digestFromName(name: string, kind: 'config' | 'layer'): string | null {
  const blob = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
  if (blob) return `sha256:${blob[1]}`;
  if (kind === 'config') {
    const match = /^(?:sha256:)?([a-f0-9]{64})(?:\.json)?$/.exec(name);
    if (match) return `sha256:${match[1]}`;
  }
  return null;
}

/**
 * A docker save archive's blobs, by the key manifest.json's members are known by: a layer named by its digest
 * (`blobs/sha256/<hex>`) under that digest, any other member (a legacy `<id>/layer.tar`, which no digest names)
 * under its own name. Not the diff_id, as go-containerregistry keys them: two members of a hostile archive may claim
 * one diff_id, and each layer must open its own member (the scan checks the diff_id of what it reads).
 */
export class DockerArchiveStore extends TreeBlobStore {
  private readonly members = new Map<string, string>();

  constructor(tree: FileTree) {
    // A key `add` did not map: a digest is a Docker 25+ archive's OCI blob (its index and manifests, which
    // `platforms` walks); anything else is a member name, which is what a member no digest names is keyed by.
    super(tree, (key) => this.members.get(key) ?? (isDigest(key) ? blobPath(key) : key));
  }

  /** Register a member manifest.json names; returns its key. */
  add(name: string): string {
    const key = digestFromName(name, 'layer') ?? name;
    this.members.set(key, name);
    return key;
  }
}

/** Find, in a Docker 25+ archive's OCI index, the manifest of the image whose config has this digest. */
async function findManifest(
  tree: FileTree,
  index: ImageIndex,
  configDigest: string,
): Promise<{ manifest: ImageManifest; mediaType: string; digest: string; indexDigest: string | null; descriptorPlatform: Platform | null; checks: VerifyCheck[] } | null> {
  const store = new LayoutBlobStore(tree);
  const queue: { index: ImageIndex; digest: string | null; checks: VerifyCheck[] }[] = [{ index, digest: null, checks: [] }];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const { index: current, digest: indexDigest, checks: parentChecks } = queue.shift()!;
    for (const descriptor of current.manifests) {
      if (seen.has(descriptor.digest) || !(await store.stat(descriptor.digest)).available) continue;
      seen.add(descriptor.digest);
      if (!isIndexMediaType(descriptor.mediaType) && !isManifestMediaType(descriptor.mediaType)) continue;
      const checks = [...parentChecks];
      const kind = isIndexMediaType(descriptor.mediaType) ? 'index' : 'manifest';
      const bytes = await readVerified(store, descriptor, kind, kind === 'manifest' ? descriptor.digest : null, checks, MAX_MANIFEST_BYTES);
      const parsed = parseManifestOrIndex(bytes, `${kind} ${descriptor.digest} in ${tree.label}`, descriptor.mediaType);
      if (parsed.kind === 'index') queue.push({ index: parsed.index, digest: descriptor.digest, checks });
      else if (parsed.manifest.config.digest === configDigest) {
        return { manifest: parsed.manifest, mediaType: parsed.mediaType, digest: descriptor.digest, indexDigest, descriptorPlatform: descriptor.platform ?? null, checks };
      }
    }
  }
  return null;
}

/** A docker save archive's image (the manifest.json entry `ref` names) as claims, and the store of its members. */
export interface DescribedArchive {
  claims: ImageClaims;
  store: DockerArchiveStore;
  reference: string | null;
}

/**
 * The manifest.json entry `ref` chooses, synthesised into the claims a manifest would make (go-containerregistry's
 * tarball package does the same); the resolver checks them as it checks any manifest's. manifest.json is the
 * authority on the layers, as it is for `docker load`: in a Docker 25+ archive the OCI manifest of the same config
 * supplies the manifest digest, the media types and the claimed digests, and a count that differs is a failed check.
 */
export async function describeDockerArchive(tree: FileTree, ref: string | null): Promise<DescribedArchive> {
  const entries = parseDockerArchiveManifest(await tree.readFile('manifest.json', MAX_MANIFEST_BYTES), `manifest.json in ${tree.label}`);
  const { entry, reference } = chooseEntry(entries, ref, tree.label);
  const checks: VerifyCheck[] = [];

  if ((await tree.size(entry.Config)) === null) throw new ImageReadError(`the config ${entry.Config} named by manifest.json is missing from ${tree.label}`);
  const configBytes = await tree.readFile(entry.Config, MAX_CONFIG_BYTES);
  const configDigest = sha256Digest(configBytes);
  const namedDigest = digestFromName(entry.Config, 'config');
  if (namedDigest) {
    checks.push({ kind: 'config', subject: namedDigest, manifest: null, ok: namedDigest === configDigest, expected: namedDigest, actual: configDigest, what: 'config digest (from its name in the archive)' });
  }
  const config = parseConfig(configBytes, `config ${entry.Config} in ${tree.label}`);

  let found: Awaited<ReturnType<typeof findManifest>> = null;
  if ((await tree.size('index.json')) !== null) {
    const index = await readLayoutIndex(tree, checks);
    found = await findManifest(tree, index, configDigest);
    if (found) checks.push(...found.checks);
  }
  const manifest = found?.manifest ?? null;
  const manifestDigest = found?.digest ?? null;
  if (manifest && manifest.layers.length !== entry.Layers.length) {
    checks.push({ kind: 'manifest', subject: manifestDigest!, manifest: manifestDigest, ok: false, expected: manifest.layers.length, actual: entry.Layers.length, what: "manifest.json's layer count equals the OCI manifest's" });
  }

  const store = new DockerArchiveStore(tree);
  const layers = await mapLimit(entry.Layers, IO_CONCURRENCY, async (name, index): Promise<{ key: string; claim: LayerClaim }> => {
    const key = store.add(name);
    const stored = await store.stat(key);
    const diffId = config.rootfs.diff_ids[index] ?? null;
    // LayerSources (legacy docker save) describes the registry blob of a foreign layer: its digest and size
    // are those of the compressed blob, not of the layer.tar stored here. Trust it only when the stored file
    // is that blob (named by its digest) or when nothing is stored (the layer was not saved).
    const source = diffId ? entry.LayerSources?.[diffId] : undefined;
    const sourceFits = source !== undefined && (stored.size === null || digestFromName(name, 'layer') === source.digest);
    const described = manifest?.layers[index] ?? (sourceFits ? source : undefined);
    const mediaType = described?.mediaType || dockerLayerMediaType(stored.size ? sniffCompression(await tree.head(name, 8)) : 'none');
    return { key, claim: { digest: described?.digest ?? digestFromName(name, 'layer'), size: described?.size ?? null, mediaType, urls: described?.urls ?? [] } };
  });

  const claims: ImageClaims = {
    indexDigest: found?.indexDigest ?? null,
    manifestDigest,
    manifestMediaType: found?.mediaType ?? null,
    manifest,
    claimedPlatform: found?.descriptorPlatform ?? null,
    config,
    configDigest,
    configSize: configBytes.length,
    configMediaType: manifest?.config.mediaType ?? 'application/vnd.docker.container.image.v1+json',
    layers,
    layersListedBy: "manifest.json's layer count",
    platformIs: (platform) => `${tree.label} holds a ${platform} image`,
    checks,
  };
  return { claims, store, reference };
}
