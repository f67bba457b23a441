/**
 * `layerlens repo`: list a repository's tags, resolve each to its manifest graph without downloading a layer, and
 * account for who stores what (analyze/repo-usage.ts). Manifests and configs are fetched once per digest however many
 * tags share them, with a bound on requests in flight; each is checked against its digest (the tag's against the
 * registry's Docker-Content-Digest). A tag deleted between the listing and its read is listed as gone, not an error.
 */
import picomatch from 'picomatch';
import { ImageReadError } from '../errors.js';
import { repoUsage, type TaggedGraph } from '../analyze/repo-usage.js';
import { apiHost, RegistryAnswerError, RegistryClient, type RegistryClientOptions } from '../fetch/registry/client.js';
import { RegistryTransport } from '../fetch/registry/transport.js';
import { digestOf, isImageEntry } from '../fetch/resolve.js';
import { isImageConfigMediaType, isIndexMediaType, isManifestMediaType } from '../image/mediatypes.js';
import { parseConfig, parseManifestOrIndex } from '../image/parse.js';
import { configPlatform, formatPlatform } from '../image/platform.js';
import type { ImageIndex, ImageManifest } from '../image/types.js';
import type { ProgressSink } from '../model/progress.js';
import type { ManifestGraph, RepoAttachedFigures, RepoProblem, RepoReport, RepoRuleResult } from '../model/repo.js';
import { findAttached } from './attach.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../model/source.js';

/** Tags asked for per page of the tag list. */
const PAGE = 1000;
/** The listing stops here: a repository with more is reported as truncated (and says so). */
export const MAX_REPO_TAGS = 100_000;
/** Manifests, configs and tag pages in flight at once: polite to the registry, enough to hide its latency. */
const IN_FLIGHT = 8;
/** An index inside an index is followed this deep, no deeper (a hostile registry could nest forever). */
const MAX_INDEX_DEPTH = 2;
/** Image entries of one index whose manifests are read (a real index has a few dozen at most). */
const MAX_INDEX_ENTRIES = 1000;
/** Referrers tags: `sha256-<hex>` as the OCI referrers tag schema writes it, cosign's `.sig`, `.att`, `.sbom` too. */
const REFERRERS_TAG = /^(sha256|sha512)-[0-9a-f]{64,128}(\.[\w.-]+)?$/;

export interface RepoRules {
  maxTags?: number;
  maxUniqueSize?: number;
  requirePlatforms?: string[];
}

export interface RepoOptions {
  registry: RegistryClientOptions;
  /** Per-tag waste and efficiency from reports attached to the images (`--use-attached`); no layer is read. */
  useAttached?: boolean;
  debug?: (line: string) => void;
  tags?: string;
  rules?: RepoRules;
  progress?: ProgressSink | null;
  note?: (line: string) => void;
}

/**
 * A counting semaphore: every request of a run goes through one, however tags and indexes fan out. A finished task
 * hands its slot to the next waiter directly, so no newcomer can slip into the gap between the two.
 */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** The tag's own manifest is gone (deleted since the listing): not an error of the run. */
class GoneError extends ImageReadError {}

/** Bytes that are not what their digest names: a damaged tag (exit 1), not an unreadable one. */
class DamagedError extends ImageReadError {}

/** What to read: one repository, or (`repository: null`, `--all`) every repository the registry's catalog lists. */
export interface RepoTarget {
  registry: string;
  repository: string | null;
}

/** A listing that had to stop: the caller says so in the document. */
interface Listing {
  pages: number;
  listed: number;
  dropped: number;
  truncated: boolean;
}

/**
 * Every page of a list (tags, or the catalog), names once each, stopping at `budget` names or at a page that
 * brings nothing new (a registry whose links loop).
 */
async function listAll(page: (cursor: string | null) => Promise<{ names: string[]; next: string | null; dropped: number }>, budget: number, listing: Listing): Promise<string[]> {
  const names: string[] = [];
  const seen = new Set<string>();
  let cursor: string | null = null;
  for (;;) {
    const answer = await page(cursor);
    listing.pages++;
    listing.dropped += answer.dropped;
    let fresh = 0;
    for (const name of answer.names) {
      if (seen.has(name)) continue;
      seen.add(name);
      names.push(name);
      fresh++;
    }
    if (names.length >= budget) {
      listing.truncated = names.length > budget || answer.next !== null;
      names.length = Math.min(names.length, budget);
      return names;
    }
    if (!answer.next || fresh === 0) return names;
    cursor = answer.next;
  }
}

export async function runRepo(target: RepoTarget, options: RepoOptions): Promise<RepoReport> {
  const { registry } = target;
  const transport = new RegistryTransport(apiHost(registry), options.registry);
  const clientFor = (repository: string) =>
    new RegistryClient({ registry, repository, tag: null, digest: null, canonical: `${registry}/${repository}` }, { ...options.registry, transport });
  const limiter = new Limiter(IN_FLIGHT);
  const listing: Listing = { pages: 0, listed: 0, dropped: 0, truncated: false };
  const problems: RepoProblem[] = [];
  try {
    let repositories: string[];
    if (target.repository !== null) {
      repositories = [target.repository];
    } else {
      const catalog = clientFor('_catalog');
      const catalogListing: Listing = { pages: 0, listed: 0, dropped: 0, truncated: false };
      try {
        repositories = await listAll((cursor) => catalog.catalogPage(cursor, PAGE), MAX_REPO_TAGS, catalogListing);
      } catch (error) {
        if (error instanceof RegistryAnswerError || /unauthorized|access denied/.test((error as Error).message)) {
          throw new ImageReadError(`${registry} does not list its repositories to this client (/v2/_catalog: ${(error as Error).message.replace(/^[^:]*: /, '')}); name one: layerlens repo ${registry}/REPOSITORY`);
        }
        throw error;
      }
      if (catalogListing.truncated) options.note?.(`${registry}'s catalog lists more than ${MAX_REPO_TAGS} repositories; only the first ${MAX_REPO_TAGS} are read`);
    }

    // Every repository's tags (one budget of MAX_REPO_TAGS for the run), then every tag read through the limiter.
    const match = options.tags ? picomatch(options.tags, { dot: true }) : null;
    const work: { repository: string; tag: string; client: RegistryClient; documents: Map<string, Promise<Buffer>>; chosen: boolean }[] = [];
    for (const repository of repositories) {
      const client = clientFor(repository);
      let tags: string[];
      try {
        tags = await listAll((cursor) => client.tagPage(cursor, PAGE), MAX_REPO_TAGS - listing.listed, listing);
      } catch (error) {
        // One repository of a catalog that cannot be listed is a problem of the document; the repository named alone
        // is the run's failure.
        if (target.repository !== null || !(error instanceof ImageReadError)) throw error;
        problems.push({ repository, tag: null, exitCode: 3, message: error.message });
        continue;
      }
      listing.listed += tags.length;
      const documents = new Map<string, Promise<Buffer>>();
      // Every listed tag is read, chosen or not: what deleting a chosen tag frees depends on what the others share.
      for (const tag of tags) work.push({ repository, tag, client, documents, chosen: !match || match(tag) });
      if (listing.truncated) {
        options.note?.(`more than ${MAX_REPO_TAGS} tags; only the first ${MAX_REPO_TAGS} are reported`);
        break;
      }
    }

    const tagged: TaggedGraph[] = [];
    const artifacts: TaggedGraph[] = [];
    let unaccounted = 0;
    let done = 0;
    const progressLabel = target.repository !== null ? `${registry}/${target.repository}` : registry;
    // allSettled: a bug's exception surfaces only once every read has ended (no request outlives the transport).
    const settled = await Promise.allSettled(
      work.map(async ({ repository, tag, client, documents, chosen }) => {
        try {
          const graph = await graphOf(client, tag, documents, limiter, !REFERRERS_TAG.test(tag));
          (REFERRERS_TAG.test(tag) ? artifacts : tagged).push({ repository, tag, graph, chosen });
        } catch (error) {
          if (!(error instanceof ImageReadError)) throw error;
          if (!(error instanceof GoneError)) unaccounted++;
          if (!chosen) return;
          const exitCode = error instanceof GoneError ? 0 : error instanceof DamagedError ? 1 : 3;
          problems.push({ repository, tag, exitCode, message: error instanceof GoneError ? `not found: deleted since the tag list was read (${error.message})` : error.message });
        } finally {
          options.progress?.counting(progressLabel, 'tags', ++done, work.length);
        }
      }),
    );
    const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
    // Repository, then tag name (code units): the same document whatever order the registry lists in or reads end.
    const order = (a: { repository: string; tag: string | null }, b: { repository: string; tag: string | null }) => {
      const left = `${a.repository}\u0000${a.tag ?? ''}`;
      const right = `${b.repository}\u0000${b.tag ?? ''}`;
      return left < right ? -1 : left > right ? 1 : 0;
    };
    tagged.sort(order);
    artifacts.sort(order);
    problems.sort(order);
    const usage = repoUsage(tagged, artifacts, { complete: unaccounted === 0 && !listing.truncated });
    if (options.useAttached) {
      const graphs = new Map(tagged.map((entry) => [`${entry.repository}\u0000${entry.tag}`, entry.graph]));
      // One lookup per image manifest, however many tags share it, through the same request limiter.
      const lookups = new Map<string, Promise<RepoAttachedFigures | null>>();
      await Promise.all(
        usage.tags.map(async (row) => {
          const graph = graphs.get(`${row.repository}\u0000${row.tag}`)!;
          const figures = await Promise.all(
            graph.images.map((image) => {
              const key = `${row.repository}@${image.digest}`;
              let pending = lookups.get(key);
              if (!pending) {
                pending = limiter.run(() => attachedFigures(registry, row.repository, image, options));
                lookups.set(key, pending);
              }
              return pending;
            }),
          );
          row.attached = figures.filter((entry): entry is RepoAttachedFigures => entry !== null);
        }),
      );
    }
    const report: RepoReport = {
      schemaVersion: 2,
      repository: target.repository !== null ? `${registry}/${target.repository}` : null,
      registry,
      scope: target.repository !== null ? 'repository' : 'registry',
      repositories,
      tags: usage.tags,
      artifacts: usage.artifacts,
      problems,
      totals: usage.totals,
      listing: { ...listing, filter: options.tags ?? null },
      check: null,
    };
    if (options.rules) report.check = evaluateRepoRules(report, options.rules);
    return report;
  } finally {
    options.progress?.done();
    await transport.close();
  }
}

/** The figures of the report attached to one image manifest, or null when there is none (or it is unusable). */
async function attachedFigures(registry: string, repository: string, image: { platform: string | null; digest: string }, options: RepoOptions): Promise<RepoAttachedFigures | null> {
  const reference = { registry, repository, tag: null, digest: image.digest, canonical: `${registry}/${repository}@${image.digest}` };
  const found = await findAttached(reference, image.digest, options.registry, options.debug).catch((error: unknown) => {
    options.debug?.(`no attached report for ${repository}@${image.digest}: ${(error as Error).message}`);
    return null;
  });
  if (!found) return null;
  const { report } = found;
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
  return {
    platform: image.platform,
    manifestDigest: image.digest,
    attached: found.digest,
    uncompressedSize: number(report.totals.uncompressedSize),
    efficiency: number(report.waste?.efficiency),
    wastedBytes: number(report.waste?.wastedBytes),
    reclaimableBytes: number(report.waste?.reclaimableBytes),
  };
}

/** A tag's manifest graph: its manifest or index, child manifests, and the configs that name a platform. */
async function graphOf(client: RegistryClient, tag: string, documents: Map<string, Promise<Buffer>>, limiter: Limiter, wantPlatforms: boolean): Promise<ManifestGraph> {
  const name = client.name;
  /**
   * One read per digest for the tags that share it. A failed read is forgotten (the next tag that needs the document
   * tries again: a timeout must not fail every tag on a shared base). The digest is checked once, when the bytes
   * arrive; the size against each descriptor that names it, since two descriptors may disagree.
   */
  const memo = async (digest: string, size: number | null, what: string, read: () => Promise<Buffer>): Promise<Buffer> => {
    let pending = documents.get(digest);
    if (!pending) {
      pending = limiter.run(async () => {
        const bytes = await read();
        checkBytes(bytes, digest, null, what);
        return bytes;
      });
      documents.set(digest, pending);
      pending.catch(() => documents.delete(digest));
    }
    const bytes = await pending;
    if (size !== null && bytes.length !== size) throw new DamagedError(`${what}: ${bytes.length} bytes, not the ${size} its descriptor names`);
    return bytes;
  };
  const manifestByDigest = (digest: string, size: number | null) => memo(digest, size, `manifest ${digest}`, async () => (await client.manifest(digest, MAX_MANIFEST_BYTES)).bytes);
  const configByDigest = (digest: string, size: number) =>
    memo(digest, size, `config ${digest}`, async () => {
      if (size > MAX_CONFIG_BYTES) throw new ImageReadError(`${name}: config ${digest} is ${size} bytes, more than the ${MAX_CONFIG_BYTES} allowed`);
      const chunks: Buffer[] = [];
      for await (const chunk of client.blob(digest, { size, document: true })) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });

  const addManifest = async (graph: ManifestGraph, manifest: ImageManifest, manifestDigest: string, platform: string | null, where: string): Promise<void> => {
    graph.blobs.set(manifest.config.digest, manifest.config.size);
    for (const layer of manifest.layers) {
      graph.blobs.set(layer.digest, layer.size);
      graph.layers.add(layer.digest);
    }
    if (platform !== null) {
      graph.platforms.push(platform);
      graph.images.push({ platform, digest: manifestDigest });
      return;
    }
    // A manifest on its own names no platform: its config does. Artifacts (an artifactType, or a config that is not
    // an image config) have none.
    if (!wantPlatforms || manifest.artifactType || !isImageConfigMediaType(manifest.config.mediaType)) return;
    const config = parseConfig(await configByDigest(manifest.config.digest, manifest.config.size), `the config of ${where}`);
    const found = formatPlatform(configPlatform(config));
    graph.platforms.push(found);
    graph.images.push({ platform: found, digest: manifestDigest });
  };

  const addIndex = async (graph: ManifestGraph, index: ImageIndex, depth: number, where: string): Promise<void> => {
    const entries = index.manifests.filter((entry) => isIndexMediaType(entry.mediaType) || isManifestMediaType(entry.mediaType));
    if (entries.length > MAX_INDEX_ENTRIES) throw new ImageReadError(`${where} names ${entries.length} manifests, more than the ${MAX_INDEX_ENTRIES} read`);
    await Promise.all(
      entries.map(async (entry) => {
        const bytes = await manifestByDigest(entry.digest, entry.size);
        graph.blobs.set(entry.digest, bytes.length);
        const parsed = parseManifestOrIndex(bytes, `manifest ${entry.digest} of ${where}`, entry.mediaType);
        if (parsed.kind === 'index') {
          if (depth >= MAX_INDEX_DEPTH) throw new ImageReadError(`${where}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
          await addIndex(graph, parsed.index, depth + 1, `index ${entry.digest}`);
          return;
        }
        // Attestations and artifacts are stored with the tag (their blobs count) but are not platforms.
        if (!isImageEntry(entry)) {
          for (const descriptor of [parsed.manifest.config, ...parsed.manifest.layers]) graph.blobs.set(descriptor.digest, descriptor.size);
          return;
        }
        await addManifest(graph, parsed.manifest, entry.digest, entry.platform ? formatPlatform(entry.platform) : null, `manifest ${entry.digest}`);
      }),
    );
  };

  let fetched;
  try {
    fetched = await limiter.run(() => client.manifest(tag, MAX_MANIFEST_BYTES));
  } catch (error) {
    // Only the tag's own manifest missing means the tag went away; a missing child or config is a broken tag.
    if (error instanceof RegistryAnswerError && error.status === 404 && error.codes.includes('MANIFEST_UNKNOWN')) throw new GoneError(error.message);
    throw error;
  }
  const digest = digestOf(fetched.bytes, 'sha256')!;
  if (fetched.digestHeader && fetched.digestHeader.startsWith('sha256:') && fetched.digestHeader !== digest) {
    throw new DamagedError(`tag "${tag}": the manifest's bytes are ${digest}, not the ${fetched.digestHeader} the registry's Docker-Content-Digest names`);
  }
  if (!documents.has(digest)) documents.set(digest, Promise.resolve(fetched.bytes));
  const parsed = parseManifestOrIndex(fetched.bytes, `tag "${tag}" of ${name}`, fetched.mediaType ?? undefined);
  const graph: ManifestGraph = { digest, mediaType: parsed.mediaType, kind: parsed.kind, platforms: [], blobs: new Map([[digest, fetched.bytes.length]]), layers: new Set(), images: [] };
  if (parsed.kind === 'index') await addIndex(graph, parsed.index, 1, `tag "${tag}"`);
  else await addManifest(graph, parsed.manifest, digest, null, `tag "${tag}"`);
  graph.platforms = [...new Set(graph.platforms)].sort();
  return graph;
}

function checkBytes(bytes: Buffer, digest: string, size: number | null, what: string): void {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  const actual = digestOf(bytes, algorithm);
  if (actual === null) throw new ImageReadError(`${what}: unsupported digest algorithm ${algorithm}`);
  if (actual !== digest) throw new DamagedError(`${what}: the registry served bytes that are ${actual}`);
  if (size !== null && bytes.length !== size) throw new DamagedError(`${what}: ${bytes.length} bytes, not the ${size} its descriptor names`);
}

/** The repository's gate: `--max-tags`, `--max-unique-size` per tag, platforms every tag must have. */
export function evaluateRepoRules(report: RepoReport, rules: RepoRules): { passed: boolean; rules: RepoRuleResult[] } {
  const results: RepoRuleResult[] = [];
  if (rules.maxTags !== undefined) {
    const actual = report.totals.tags;
    const ok = actual <= rules.maxTags;
    results.push({ rule: 'maxTags', limit: rules.maxTags, status: ok ? 'pass' : 'fail', failures: [], actual, message: `${actual} tag(s)${ok ? ', within' : ', more than'} the ${rules.maxTags} allowed` });
  }
  if (rules.maxUniqueSize !== undefined) {
    const limit = rules.maxUniqueSize;
    const failures = report.tags.filter((tag) => tag.uniqueBytes > limit).map((tag) => ({ repository: tag.repository, tag: tag.tag, actual: tag.uniqueBytes }));
    results.push({ rule: 'maxUniqueSize', limit, status: failures.length ? 'fail' : 'pass', failures, actual: Math.max(0, ...report.tags.map((tag) => tag.uniqueBytes)), message: failures.length ? `${failures.length} tag(s) hold more than ${limit} bytes of their own` : `every tag holds at most ${limit} bytes of its own` });
  }
  if (rules.requirePlatforms && rules.requirePlatforms.length) {
    const required = rules.requirePlatforms;
    const failures = report.tags
      .map((tag) => ({ repository: tag.repository, tag: tag.tag, actual: required.filter((platform) => !tag.platforms.some((has) => platformMatches(has, platform))) }))
      .filter((row) => row.actual.length > 0);
    results.push({ rule: 'requirePlatforms', limit: required, status: failures.length ? 'fail' : 'pass', failures, actual: null, message: failures.length ? `${failures.length} tag(s) lack a required platform` : `every tag has ${required.join(', ')}` });
  }
  return { passed: results.every((rule) => rule.status === 'pass'), rules: results };
}

/** Container runtimes' matching: `linux/arm64` ≡ `linux/arm64/v8`; a required platform without a variant matches any. */
function platformMatches(has: string, required: string): boolean {
  const normal = (text: string) => (text === 'linux/arm64' ? 'linux/arm64/v8' : text);
  if (normal(has) === normal(required)) return true;
  return required.split('/').length === 2 && has.startsWith(`${required}/`);
}
