/**
 * Reports stored in the registry beside the image they describe: `--attach` pushes the `analyze --json` document as
 * an OCI artifact whose `subject` is the image's manifest; `--use-attached` finds one and uses it instead of reading
 * the layers. The OCI 1.1 referrers API where the registry has it, else the referrers tag schema (a `sha256-<hex>`
 * tag holding an index of the referrers), as the distribution spec describes for registries without the API.
 *
 * An attached report was written by whoever could push to the repository: it is a cache shared through the
 * registry, not evidence. `verify` never reads one (it always hashes the blobs), and docs/SECURITY.md says so.
 */
import { ImageReadError } from '../errors.js';
import { RegistryAnswerError, RegistryClient, type RegistryClientOptions } from '../fetch/registry/client.js';
import { digestOf } from '../fetch/resolve.js';
import { MediaType } from '../image/mediatypes.js';
import { parseManifestOrIndex } from '../image/parse.js';
import type { Descriptor, ImageIndex } from '../image/types.js';
import type { RegistryReference } from '../reference.js';
import type { SingleReport } from '../report/report.js';
import { VERSION } from '../model/version.js';

export const REPORT_ARTIFACT_TYPE = 'application/vnd.layerlens.report.v1+json';
/** The annotation naming the layerlens version that wrote a report: only a report of this very version is used. */
export const REPORT_VERSION_ANNOTATION = 'dev.layerlens.version';
/** The OCI empty config (`{}`), as artifacts without a config of their own use it. */
const EMPTY_CONFIG = Buffer.from('{}');
/** An attached report is read to at most this (a 1M-file image's report is ~260 MB; this is a cache, not a bomb). */
const MAX_REPORT_BYTES = 512 * 1024 * 1024;
/** A referrers index lists at most this many manifests before we stop looking. */
const MAX_REFERRERS = 1000;

const sha256 = (bytes: Buffer) => digestOf(bytes, 'sha256')!;

/** The referrers tag schema's tag for a subject digest: `sha256:abc…` → `sha256-abc…`. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

function clientFor(reference: RegistryReference, options: RegistryClientOptions, push: boolean): RegistryClient {
  return new RegistryClient(reference, { ...options, push });
}

/** The descriptor of the image manifest a report is about: its media type and size, from the registry. */
async function subjectOf(client: RegistryClient, manifestDigest: string): Promise<Descriptor> {
  const { bytes, mediaType } = await client.manifest(manifestDigest, 4 << 20);
  if (sha256(bytes) !== manifestDigest) throw new ImageReadError(`${client.name}: manifest ${manifestDigest} is not what the registry served`);
  return { mediaType: mediaType ?? MediaType.ociManifest, digest: manifestDigest, size: bytes.length };
}

export interface Attached {
  /** The artifact manifest's digest. */
  digest: string;
  /** How the registry indexes it: its referrers API, or the referrers tag schema (`sha256-<hex>`). */
  via: 'referrers-api' | 'referrers-tag';
}

/**
 * Push `document` (the report's JSON text) as an artifact referring to `manifestDigest`. A read-only token gives a
 * clear error (exit 3) naming what was refused.
 */
export async function attachReport(reference: RegistryReference, manifestDigest: string, document: Buffer, options: RegistryClientOptions, created = new Date()): Promise<Attached> {
  const client = clientFor(reference, options, true);
  try {
    const subject = await subjectOf(client, manifestDigest);
    const layer: Descriptor = { mediaType: REPORT_ARTIFACT_TYPE, digest: sha256(document), size: document.length, annotations: { 'org.opencontainers.image.title': 'layerlens-report.json' } };
    const config: Descriptor = { mediaType: MediaType.ociEmpty, digest: sha256(EMPTY_CONFIG), size: EMPTY_CONFIG.length };
    const annotations = { 'org.opencontainers.image.created': created.toISOString().replace(/\.\d{3}Z$/, 'Z'), [REPORT_VERSION_ANNOTATION]: VERSION };
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: REPORT_ARTIFACT_TYPE, config, layers: [layer], subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size }, annotations }),
    );
    const digest = sha256(manifest);
    await refusedAsReadOnly(client, async () => {
      await client.pushBlob(config.digest, EMPTY_CONFIG);
      await client.pushBlob(layer.digest, document);
    });
    const { subject: indexed } = await refusedAsReadOnly(client, () => client.putManifest(digest, manifest, MediaType.ociManifest));
    if (indexed) return { digest, via: 'referrers-api' };
    // No referrers API: add the artifact to the index under the subject's referrers tag (made if it is not there).
    const tag = referrersTag(manifestDigest);
    let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    try {
      const current = await client.manifest(tag, 4 << 20);
      const parsed = parseManifestOrIndex(current.bytes, `the referrers tag ${tag}`, current.mediaType ?? undefined);
      if (parsed.kind === 'index') index = { ...parsed.index, mediaType: MediaType.ociIndex };
    } catch (error) {
      if (!(error instanceof RegistryAnswerError && error.status === 404)) throw error;
    }
    const entry: Descriptor = { mediaType: MediaType.ociManifest, digest, size: manifest.length, artifactType: REPORT_ARTIFACT_TYPE, annotations };
    index = { ...index, manifests: [...index.manifests.filter((existing) => existing.digest !== digest), entry] };
    await refusedAsReadOnly(client, () => client.putManifest(tag, Buffer.from(JSON.stringify(index)), MediaType.ociIndex));
    return { digest, via: 'referrers-tag' };
  } finally {
    await client.close();
  }
}

/** A push refused for lack of rights says so: the message names the repository and the access it needed. */
async function refusedAsReadOnly<T>(client: RegistryClient, push: () => Promise<T>): Promise<T> {
  try {
    return await push();
  } catch (error) {
    if (error instanceof ImageReadError && /unauthorized|access denied|DENIED|\b40[13]\b/.test(error.message)) {
      throw new ImageReadError(`${client.name}: --attach needs push access to the repository, and the registry refused it (${error.message.replace(/^[^:]*: /, '')})`);
    }
    throw error;
  }
}

/** The attached bytes as the `analyze --json` document of this manifest, or an ImageReadError saying why not. */
function analyzeReportOf(document: Buffer, manifestDigest: string, artifact: string): SingleReport {
  let parsed: Partial<SingleReport>;
  try {
    parsed = JSON.parse(document.toString('utf8')) as Partial<SingleReport>;
  } catch {
    throw new ImageReadError(`the report of ${artifact} is not JSON`);
  }
  if (parsed?.schemaVersion !== 2 || parsed.manifestDigest !== manifestDigest || !parsed.verify || !parsed.totals || !Array.isArray(parsed.layers) || !('files' in parsed)) {
    throw new ImageReadError(`the report of ${artifact} is not an analyze report of ${manifestDigest}`);
  }
  return parsed as SingleReport;
}

/**
 * The newest report this layerlens version attached to `manifestDigest`, verified (artifact manifest and report blob
 * against their digests and sizes, subject equal to the manifest, an analyze document of that manifest), or null
 * when there is none. Never throws for a
 * missing or unusable attachment: the caller then reads the image.
 */
export async function findAttached(reference: RegistryReference, manifestDigest: string, options: RegistryClientOptions, debug?: (line: string) => void): Promise<{ digest: string; report: SingleReport } | null> {
  const client = clientFor(reference, options, false);
  try {
    let listing = await client.referrers(manifestDigest, REPORT_ARTIFACT_TYPE);
    if (listing === null) {
      try {
        listing = (await client.manifest(referrersTag(manifestDigest), 4 << 20)).bytes;
      } catch (error) {
        if (error instanceof RegistryAnswerError && error.status === 404) {
          debug?.(`no report attached to ${manifestDigest} (no referrers API, no ${referrersTag(manifestDigest)} tag)`);
          return null;
        }
        throw error;
      }
    }
    const parsed = parseManifestOrIndex(listing, `the referrers of ${manifestDigest}`, MediaType.ociIndex);
    if (parsed.kind !== 'index') return null;
    const candidates = parsed.index.manifests
      .slice(0, MAX_REFERRERS)
      .filter((entry) => entry.artifactType === REPORT_ARTIFACT_TYPE && entry.annotations?.[REPORT_VERSION_ANNOTATION] === VERSION)
      .sort((a, b) => (b.annotations?.['org.opencontainers.image.created'] ?? '').localeCompare(a.annotations?.['org.opencontainers.image.created'] ?? ''));
    for (const entry of candidates) {
      try {
        const { bytes } = await client.manifest(entry.digest, 4 << 20);
        if (sha256(bytes) !== entry.digest || bytes.length !== entry.size) throw new ImageReadError(`artifact ${entry.digest} is not what its descriptor names`);
        const artifact = parseManifestOrIndex(bytes, `artifact ${entry.digest}`, MediaType.ociManifest);
        if (artifact.kind !== 'manifest' || artifact.manifest.subject?.digest !== manifestDigest) throw new ImageReadError(`artifact ${entry.digest} does not refer to ${manifestDigest}`);
        const layer = artifact.manifest.layers.find((descriptor) => descriptor.mediaType === REPORT_ARTIFACT_TYPE);
        if (!layer || layer.size > MAX_REPORT_BYTES) throw new ImageReadError(`artifact ${entry.digest} holds no report of at most ${MAX_REPORT_BYTES} bytes`);
        const chunks: Buffer[] = [];
        for await (const chunk of client.blob(layer.digest, { size: layer.size })) chunks.push(chunk as Buffer);
        const document = Buffer.concat(chunks);
        if (document.length !== layer.size || sha256(document) !== layer.digest) throw new ImageReadError(`the report blob of ${entry.digest} is not what its descriptor names`);
        return { digest: entry.digest, report: analyzeReportOf(document, manifestDigest, entry.digest) };
      } catch (error) {
        if (!(error instanceof ImageReadError)) throw error;
        debug?.(`attached report ${entry.digest} not used: ${error.message}`);
      }
    }
    debug?.(`no report of layerlens ${VERSION} attached to ${manifestDigest}`);
    return null;
  } finally {
    await client.close();
  }
}
