/**
 * OCI image layouts (`oci:DIR`, `oci-archive:FILE`): `oci-layout` + `index.json` + `blobs/<alg>/<hex>`, read
 * through a FileTree, so a directory and a tarball of one share this code. Docker 25+ `docker save` archives
 * contain such a layout too; docker-archive.ts uses the BlobStore and index walk from here.
 */
import { ImageReadError } from '../errors.js';
import { isDigest } from '../image/digest.js';
import { parseJson, parseManifestOrIndex } from '../image/parse.js';
import type { Descriptor, ImageIndex } from '../image/types.js';
import { isImageEntry } from './resolve.js';
import type { BlobStore, Root, VerifyCheck } from '../model/source.js';
import type { FileTree } from './tree.js';
import { MAX_MANIFEST_BYTES } from '../model/source.js';
import type { Readable } from 'node:stream';
import type { LayerScan } from '../model/layer.js';

export function blobPath(digest: string): string {
  if (!isDigest(digest)) throw new ImageReadError(`"${digest}" is not a digest`);
  const colon = digest.indexOf(':');
  return `blobs/${digest.slice(0, colon)}/${digest.slice(colon + 1)}`;
}

/**
 * Blobs kept as members of a FileTree, the member named by a function of the key: an OCI layout's `blobs/<alg>/<hex>`,
 * a docker save's manifest.json names (DockerArchiveStore).
 */
export class TreeBlobStore implements BlobStore {
  constructor(
    protected readonly tree: FileTree,
    private readonly memberOf: (key: string) => string,
  ) {}

  get label(): string {
    return this.tree.label;
  }

  async stat(key: string): Promise<{ available: boolean; size: number | null }> {
    const size = await this.tree.size(this.memberOf(key));
    return { available: size !== null, size };
  }

  async read(key: string, maxBytes: number, what: string): Promise<Buffer> {
    if ((await this.tree.size(this.memberOf(key))) === null) {
      throw new ImageReadError(`the ${what} blob ${key} is missing from ${this.tree.label}`);
    }
    return this.tree.readFile(this.memberOf(key), maxBytes);
  }

  open(key: string): Readable {
    return this.tree.open(this.memberOf(key));
  }

  locate(key: string): string {
    return `${this.memberOf(key)} in ${this.tree.label}`;
  }

  scanned(key: string): (() => Promise<LayerScan>) | null {
    return this.tree.scanned?.(this.memberOf(key)) ?? null;
  }
}

/** An OCI layout's blobs: `blobs/<alg>/<hex>`. */
export class LayoutBlobStore extends TreeBlobStore {
  constructor(tree: FileTree) {
    super(tree, blobPath);
  }
}

export const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

export async function readLayoutIndex(tree: FileTree, checks: VerifyCheck[]): Promise<ImageIndex> {
  const layoutSize = await tree.size('oci-layout');
  if (layoutSize === null) {
    checks.push({ kind: 'layout', subject: 'oci-layout', manifest: null, ok: false, expected: 'present', actual: 'missing', what: 'oci-layout file' });
  } else {
    const layout = parseJson(await tree.readFile('oci-layout', 4096), `oci-layout in ${tree.label}`);
    const version = typeof layout === 'object' && layout !== null && !Array.isArray(layout) ? layout.imageLayoutVersion : undefined;
    checks.push({
      kind: 'layout',
      subject: 'oci-layout',
      manifest: null,
      ok: version === '1.0.0',
      expected: '1.0.0',
      actual: typeof version === 'string' ? version : null,
      what: 'oci-layout imageLayoutVersion',
    });
  }
  if ((await tree.size('index.json')) === null) throw new ImageReadError(`${tree.label} has no index.json file: not an OCI image layout`);
  // index.json is an index by definition; whether OCI or a Docker manifest list, its own mediaType decides.
  const bytes = await tree.readFile('index.json', MAX_MANIFEST_BYTES);
  const parsed = parseManifestOrIndex(bytes, `index.json in ${tree.label}`);
  if (parsed.kind !== 'index') throw new ImageReadError(`index.json in ${tree.label} is an image manifest, not an index: not a valid OCI layout`);
  return parsed.index;
}

function refNames(descriptor: Descriptor): string[] {
  return [descriptor.annotations?.[REF_NAME], descriptor.annotations?.[CONTAINERD_NAME]].filter((name): name is string => !!name);
}

/**
 * The top level of a layout is a list of named images, not necessarily one image's platforms. With a REF, follow
 * the entries that carry that name or digest. Without one: several distinct names (or several unnamed entries
 * without platforms) mean several images, and the user must pick.
 */
export function selectLayoutEntries(index: ImageIndex, ref: string | null, label: string): ImageIndex {
  if (ref) {
    const matching = index.manifests.filter((entry) => entry.digest === ref || refNames(entry).includes(ref));
    if (matching.length === 0) {
      throw new ImageReadError(`${label} has no image named "${ref}"; it has: ${listRefs(index) || 'no named images'}`);
    }
    return { ...index, manifests: matching };
  }
  const images = index.manifests.filter(isImageEntry);
  const names = new Set(images.map((entry) => entry.annotations?.[REF_NAME] ?? null));
  const namedSeveral = [...names].filter((name) => name !== null).length > 1;
  if (namedSeveral) {
    throw new ImageReadError(`${label} holds several images; add :REF to choose one of: ${listRefs(index)}`);
  }
  return index;
}

function listRefs(index: ImageIndex): string {
  const names = index.manifests.filter(isImageEntry).map((entry) => entry.annotations?.[REF_NAME] ?? entry.digest);
  return [...new Set(names)].join(', ');
}

/** The root of a layout: its index.json, narrowed to the entries a REF names (index.json itself has no digest). */
export async function layoutRoot(tree: FileTree, ref: string | null): Promise<Root> {
  const checks: VerifyCheck[] = [];
  const top = selectLayoutEntries(await readLayoutIndex(tree, checks), ref, tree.label);
  return { kind: 'index', index: top, digest: null, checks, reference: ref ?? uniqueRefName(top) };
}

function uniqueRefName(index: ImageIndex): string | null {
  const names = new Set(index.manifests.filter(isImageEntry).map((entry) => entry.annotations?.[REF_NAME]).filter(Boolean));
  return names.size === 1 ? ([...names][0] as string) : null;
}
