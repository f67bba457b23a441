/**
 * `layerlens repo`: list a repository's tags, resolve each to its manifest graph without downloading a layer, and
 * account for who stores what (analyze/repo-usage.ts). Manifests and configs are fetched once per digest however many
 * tags share them, with a bound on requests in flight; each is checked against its digest (the tag's against the
 * registry's Docker-Content-Digest). A tag deleted between the listing and its read is listed as gone, not an error.
 */
import picomatch from 'picomatch';
import { ImageReadError } from '../errors.js';
import { repoUsage, type TaggedGraph } from '../analyze/repo-usage.js';
import { RegistryAnswerError, RegistryClient, type RegistryClientOptions } from '../fetch/registry/client.js';
import { digestOf, isImageEntry } from '../fetch/resolve.js';
import { isIndexMediaType, isManifestMediaType } from '../image/mediatypes.js';
import { parseConfig, parseManifestOrIndex } from '../image/parse.js';
import { formatPlatform } from '../image/platform.js';
import type { ImageIndex, ImageManifest } from '../image/types.js';
import type { ProgressSink } from '../model/progress.js';
import type { ManifestGraph, RepoProblem, RepoReport, RepoRuleResult } from '../model/repo.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../model/source.js';
import type { RegistryReference } from '../reference.js';

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
  tags?: string;
  rules?: RepoRules;
  progress?: ProgressSink | null;
  note?: (line: string) => void;
}

/** A counting semaphore: every request of a run goes through one, however tags and indexes fan out. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Bytes that are not what their digest names: a damaged tag (exit 1), not an unreadable one. */
class DamagedError extends ImageReadError {}

export async function runRepo(reference: RegistryReference, options: RepoOptions): Promise<RepoReport> {
  const client = new RegistryClient(reference, options.registry);
  const name = `${reference.registry}/${reference.repository}`;
  try {
    const limiter = new Limiter(IN_FLIGHT);
    // The listing.
    const listed: string[] = [];
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    let dropped = 0;
    let truncated = false;
    for (;;) {
      const page = await client.tagPage(cursor, PAGE);
      pages++;
      dropped += page.dropped;
      let fresh = 0;
      for (const tag of page.tags) {
        if (seen.has(tag)) continue;
        seen.add(tag);
        listed.push(tag);
        fresh++;
      }
      if (listed.length >= MAX_REPO_TAGS) {
        truncated = true;
        listed.length = MAX_REPO_TAGS;
        options.note?.(`${name} lists more than ${MAX_REPO_TAGS} tags; only the first ${MAX_REPO_TAGS} are reported`);
        break;
      }
      // A page that brings nothing new would repeat forever.
      if (!page.next || fresh === 0) break;
      cursor = page.next;
    }
    const match = options.tags ? picomatch(options.tags, { dot: true }) : null;
    const chosen = match ? listed.filter((tag) => match(tag)) : listed;

    // Documents by digest: one request each, whatever shares them.
    const documents = new Map<string, Promise<Buffer>>();
    const manifestByDigest = (digest: string, size: number | null): Promise<Buffer> => {
      let pending = documents.get(digest);
      if (!pending) {
        pending = limiter.run(async () => {
          const { bytes } = await client.manifest(digest, MAX_MANIFEST_BYTES);
          checkBytes(bytes, digest, size, `manifest ${digest}`);
          return bytes;
        });
        documents.set(digest, pending);
      }
      return pending;
    };
    const configByDigest = (digest: string, size: number): Promise<Buffer> => {
      let pending = documents.get(digest);
      if (!pending) {
        pending = limiter.run(async () => {
          if (size > MAX_CONFIG_BYTES) throw new ImageReadError(`${name}: config ${digest} is ${size} bytes, more than the ${MAX_CONFIG_BYTES} allowed`);
          const chunks: Buffer[] = [];
          for await (const chunk of client.blob(digest, { size, document: true })) chunks.push(chunk as Buffer);
          const bytes = Buffer.concat(chunks);
          checkBytes(bytes, digest, size, `config ${digest}`);
          return bytes;
        });
        documents.set(digest, pending);
      }
      return pending;
    };

    const addManifest = async (graph: ManifestGraph, manifest: ImageManifest, platform: string | null, where: string): Promise<void> => {
      graph.blobs.set(manifest.config.digest, manifest.config.size);
      for (const layer of manifest.layers) {
        graph.blobs.set(layer.digest, layer.size);
        graph.layers.add(layer.digest);
      }
      if (platform !== null) {
        graph.platforms.push(platform);
        return;
      }
      // A manifest on its own names no platform: its config does. Artifacts (an artifactType, or a config that is
      // not an image config) have none.
      if (manifest.artifactType) return;
      const config = parseConfig(await configByDigest(manifest.config.digest, manifest.config.size), `the config of ${where}`);
      graph.platforms.push(formatPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }));
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
          await addManifest(graph, parsed.manifest, entry.platform ? formatPlatform(entry.platform) : null, `manifest ${entry.digest}`);
        }),
      );
    };

    const graphOf = async (tag: string): Promise<ManifestGraph> => {
      const fetched = await limiter.run(() => client.manifest(tag, MAX_MANIFEST_BYTES));
      const digest = digestOf(fetched.bytes, 'sha256')!;
      if (fetched.digestHeader && fetched.digestHeader.startsWith('sha256:') && fetched.digestHeader !== digest) {
        throw new DamagedError(`tag "${tag}": the manifest's bytes are ${digest}, not the ${fetched.digestHeader} the registry's Docker-Content-Digest names`);
      }
      if (!documents.has(digest)) documents.set(digest, Promise.resolve(fetched.bytes));
      const parsed = parseManifestOrIndex(fetched.bytes, `tag "${tag}" of ${name}`, fetched.mediaType ?? undefined);
      const graph: ManifestGraph = { digest, mediaType: parsed.mediaType, kind: parsed.kind, platforms: [], blobs: new Map([[digest, fetched.bytes.length]]), layers: new Set() };
      if (parsed.kind === 'index') await addIndex(graph, parsed.index, 1, `tag "${tag}"`);
      else await addManifest(graph, parsed.manifest, null, `tag "${tag}"`);
      graph.platforms = [...new Set(graph.platforms)].sort();
      return graph;
    };

    // Every tag, at most IN_FLIGHT requests at once (the limiter); documents shared by tags are read once.
    const problems: RepoProblem[] = [];
    const tagged: TaggedGraph[] = [];
    const artifacts: TaggedGraph[] = [];
    let done = 0;
    const total = chosen.length;
    await Promise.all(
      chosen.map(async (tag) => {
        try {
          const graph = await graphOf(tag);
          (REFERRERS_TAG.test(tag) ? artifacts : tagged).push({ tag, graph });
        } catch (error) {
          if (error instanceof RegistryAnswerError && error.status === 404 && !error.codes.includes('NAME_UNKNOWN')) {
            problems.push({ tag, exitCode: 0, message: `not found: deleted since the tag list was read (${error.message})` });
          } else if (error instanceof DamagedError) {
            problems.push({ tag, exitCode: 1, message: error.message });
          } else if (error instanceof ImageReadError) {
            problems.push({ tag, exitCode: 3, message: error.message });
          } else {
            throw error;
          }
        } finally {
          options.progress?.counting(name, 'tags', ++done, total);
        }
      }),
    );
    // Tag-name order (code units): the same document whatever order the registry lists in or the reads finish in.
    const byListing = (a: { tag: string }, b: { tag: string }) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
    tagged.sort(byListing);
    artifacts.sort(byListing);
    problems.sort(byListing);
    const usage = repoUsage(tagged, artifacts);
    const report: RepoReport = {
      schemaVersion: 2,
      repository: name,
      registry: reference.registry,
      tags: usage.tags,
      artifacts: usage.artifacts,
      problems,
      totals: usage.totals,
      listing: { pages, listed: listed.length, dropped, filter: options.tags ?? null, truncated },
      check: null,
    };
    if (options.rules) report.check = evaluateRepoRules(report, options.rules);
    return report;
  } finally {
    options.progress?.done();
    await client.close();
  }
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
    const failures = report.tags.filter((tag) => tag.uniqueBytes > limit).map((tag) => ({ tag: tag.tag, actual: tag.uniqueBytes }));
    results.push({ rule: 'maxUniqueSize', limit, status: failures.length ? 'fail' : 'pass', failures, actual: Math.max(0, ...report.tags.map((tag) => tag.uniqueBytes)), message: failures.length ? `${failures.length} tag(s) hold more than ${limit} bytes of their own` : `every tag holds at most ${limit} bytes of its own` });
  }
  if (rules.requirePlatforms && rules.requirePlatforms.length) {
    const required = rules.requirePlatforms;
    const failures = report.tags
      .map((tag) => ({ tag: tag.tag, actual: required.filter((platform) => !tag.platforms.some((has) => platformMatches(has, platform))) }))
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
