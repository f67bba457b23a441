/**
 * A registry image as a BlobStore (manifests by digest from /manifests/, everything else from /blobs/, through the
 * blob cache) plus the root the reference names: the manifest or index behind a tag or digest. The digest of the
 * bytes received is checked against a digest in the reference and against Docker-Content-Digest.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageReadError } from '../../errors.js';
import { parseManifestOrIndex } from '../../image/parse.js';
import type { RegistryReference } from '../../reference.js';
import { digestOf } from '../resolve.js';
import { MAX_MANIFEST_BYTES, type BlobStore, type Root, type ScanCache, type SourceHandle, type VerifyCheck } from '../../model/source.js';
import type { BlobCache } from './cache.js';
import { RegistryAnswerError, RegistryClient, type RegistryClientOptions } from './client.js';
import { explainMissingManifest } from './explain.js';
import type { ProgressSink } from '../../model/progress.js';
import { loadRegistriesConf, mirrorsFor, type Mirror } from './mirrors.js';

export interface RegistryOptions extends RegistryClientOptions {
  cache: BlobCache | null;
  progress: ProgressSink | null;
  /** Mirrors to try before the origin, in order; unset: `dockerMirrors` and registries.conf's (mirrors.ts). */
  mirrors?: Mirror[];
  /** `--registry-mirror` URLs, for Docker Hub images. */
  dockerMirrors?: string[];
  note?: (line: string) => void;
}

class RegistryBlobStore implements BlobStore {
  readonly scans: ScanCache | undefined;

  constructor(
    private readonly client: RegistryClient,
    private readonly cache: BlobCache | null,
    private readonly progress: ProgressSink | null,
  ) {
    this.scans = cache?.scans;
  }

  get label(): string {
    return this.client.name;
  }

  async stat(digest: string, size?: number | null): Promise<{ available: boolean; size: number | null }> {
    const cached = (await this.cache?.size(digest)) ?? null;
    // A layer of a resolved image (stat is asked with its descriptor's size): what the progress line's total counts,
    // unless the cache holds the blob or its scan, which are not downloaded again.
    if (this.progress && typeof size === 'number' && cached === null && !(await this.cache?.hasScan(digest))) this.progress.expect(digest, size);
    return { available: true, size: cached };
  }

  async read(digest: string, maxBytes: number, what: string): Promise<Buffer> {
    const bytes = (await this.cache?.readWhole(digest, maxBytes)) ?? null;
    if (this.cache && bytes) {
      if (digestOf(bytes, digest.slice(0, digest.indexOf(':'))) === digest) return bytes;
      await this.cache.remove(digest); // a damaged entry: fetch it again
      this.cache.noteEvicted(digest);
    }
    const stop = this.progress?.waiting(this.client.name, `the ${what} ${digest.slice(0, 19)}…`);
    try {
      return await this.fetchSmall(digest, maxBytes, what);
    } finally {
      stop?.();
    }
  }

  private async fetchSmall(digest: string, maxBytes: number, what: string): Promise<Buffer> {
    let bytes: Buffer;
    if (what === 'index' || what === 'manifest') {
      bytes = (await this.client.manifest(digest, maxBytes)).bytes;
    } else {
      const chunks: Buffer[] = [];
      let total = 0;
      const stream = this.client.blob(digest, { document: true });
      for await (const chunk of stream) {
        total += (chunk as Buffer).length;
        if (total > maxBytes) {
          stream.destroy();
          throw new ImageReadError(`${this.client.name}: the ${what} blob ${digest} is more than ${maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      bytes = Buffer.concat(chunks);
    }
    await this.cache?.put(digest, bytes);
    return bytes;
  }

  open(digest: string, size?: number | null): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const start = async () => {
      // A cached copy is used only if it still hashes to its digest; a damaged one is evicted and fetched again.
      const cached = this.cache ? await this.cache.openVerified(digest, size) : null;
      if (cached) {
        this.progress?.skip(digest);
        await pipeline(cached, out);
        return;
      }
      const download = this.client.blob(digest, { size });
      const counted = this.progress ? this.progress.track(digest, download, { label: this.client.name, size: size ?? null }) : download;
      if (this.cache) await pipeline(counted, await this.cache.tee(digest), out);
      else await pipeline(counted, out);
    };
    start().catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
    return out;
  }

  locate(digest: string): string {
    return `${this.client.name}@${digest}`;
  }
}

/**
 * A tag's manifest from the cache: a HEAD asks the registry which digest the tag points to now (tags move), and
 * a cached blob of that digest (verified) saves the download. A registry that gives no digest gets a GET.
 */
async function cachedManifest(client: RegistryClient, cache: BlobCache | null, reference: RegistryReference): Promise<{ bytes: Buffer; mediaType: string | null; digestHeader: string | null } | null> {
  if (!cache) return null;
  const digest = reference.digest ?? (reference.tag ? await client.manifestDigest(reference.tag).catch(() => null) : null);
  if (!digest) return null;
  const bytes = await cache.readWhole(digest, MAX_MANIFEST_BYTES);
  if (!bytes) return null;
  if (digestOf(bytes, digest.slice(0, digest.indexOf(':'))) !== digest) {
    await cache.remove(digest);
    cache.noteEvicted(digest);
    return null;
  }
  return { bytes, mediaType: null, digestHeader: digest };
}

/**
 * Open a registry reference: fetch the manifest or index behind the tag or digest and check its digest. Mirrors
 * are tried first, in order; one that cannot serve the manifest (down, 404, refused) passes to the next and at last
 * to the origin, as podman does. The digest checks are the same whoever serves the bytes. A mirror is another
 * registry to the client: credentials given for the origin (`--username`) never go to it, only its own auth-file
 * entry does.
 */
export async function openRegistry(input: string, reference: RegistryReference, options: RegistryOptions): Promise<SourceHandle> {
  const mirrors = options.mirrors ?? mirrorsFor(reference, options.dockerMirrors ?? [], await loadRegistriesConf());
  for (const mirror of mirrors) {
    const mirrored: RegistryReference = { ...reference, registry: mirror.registry, repository: mirror.repository, canonical: reference.canonical };
    const mirrorOptions = { ...options, plainHttp: options.plainHttp || mirror.plainHttp, insecure: options.insecure || mirror.insecure };
    try {
      const handle = await openEndpoint(input, mirrored, reference, mirrorOptions);
      handle.info.mirror = mirror.label;
      options.debug?.(`${reference.canonical}: served by the mirror ${mirror.label}`);
      return handle;
    } catch (error) {
      if (!(error instanceof ImageReadError)) throw error;
      options.note?.(`mirror ${mirror.label} could not serve ${reference.canonical} (${error.message}); trying the next source`);
    }
  }
  const handle = await openEndpoint(input, reference, reference, options);
  handle.info.mirror = null;
  return handle;
}

async function openEndpoint(input: string, reference: RegistryReference, origin: RegistryReference, options: RegistryOptions): Promise<SourceHandle> {
  const client = new RegistryClient(reference, options);
  try {
    // A cache directory that cannot be used (a file, read-only) means no cache, with one note — never a failure.
    const cache = options.cache && (await options.cache.usable()) ? options.cache : null;
    const checks: VerifyCheck[] = [];
    const target = reference.digest ?? reference.tag ?? 'latest';
    const stop = options.progress?.waiting(origin.canonical, reference.digest ? `the manifest ${reference.digest.slice(0, 19)}…` : `the manifest of tag "${target}"`);
    let fetched = await cachedManifest(client, cache, reference).finally(() => stop?.());
    if (!fetched) {
      const stopped = options.progress?.waiting(origin.canonical, reference.digest ? `the manifest ${reference.digest.slice(0, 19)}…` : `the manifest of tag "${target}"`);
      try {
        fetched = await client.manifest(target, MAX_MANIFEST_BYTES).finally(() => stopped?.());
      } catch (error) {
        // A missing tag or an Image ID given as a digest: the origin (not a mirror, which falls through to it) says more.
        if (error instanceof RegistryAnswerError && reference === origin) throw await explainMissingManifest(client, reference, error, options.debug);
        throw error;
      }
      const fetchedDigest = digestOf(fetched.bytes, 'sha256');
      if (fetchedDigest) await cache?.put(fetchedDigest, fetched.bytes);
    }
    const algorithm = reference.digest ? reference.digest.slice(0, reference.digest.indexOf(':')) : 'sha256';
    const digest = digestOf(fetched.bytes, algorithm) ?? digestOf(fetched.bytes, 'sha256')!;
    if (reference.digest) {
      checks.push({ kind: 'reference', subject: reference.digest, manifest: reference.digest, ok: digest === reference.digest, expected: reference.digest, actual: digest, what: 'manifest digest equals the digest in the reference' });
    }
    if (fetched.digestHeader && fetched.digestHeader.startsWith(`${algorithm}:`)) {
      checks.push({ kind: 'manifest', subject: fetched.digestHeader, manifest: digest, ok: fetched.digestHeader === digest, expected: fetched.digestHeader, actual: digest, what: 'manifest bytes match the Docker-Content-Digest header' });
    }
    const parsed = parseManifestOrIndex(fetched.bytes, `${origin.canonical}`, fetched.mediaType ?? undefined);
    const root: Root =
      parsed.kind === 'index'
        ? { kind: 'index', index: parsed.index, digest, checks, reference: origin.canonical }
        : { kind: 'manifest', manifest: parsed.manifest, mediaType: parsed.mediaType, digest, checks, reference: origin.canonical };
    return {
      info: { input, kind: 'registry', reference: origin.canonical },
      store: new RegistryBlobStore(client, cache, options.progress),
      label: origin.canonical,
      root,
      close: async () => {
        options.progress?.done();
        await client.close();
        await cache?.settle();
      },
    };
  } catch (error) {
    options.progress?.done(); // the error's line must not share the terminal row with a progress line
    await client.close();
    throw error;
  }
}
