/**
 * layerlens as a library: `import { analyze } from 'layerlens'`. Every function reads an image argument exactly
 * as the CLI does (CONTRACT.md "Invocation": registry names by Docker's rules, docker-daemon:, docker-archive:,
 * oci:, oci-archive:, paths, `-`) and returns the document `--json` prints, typed. Nothing is printed; errors are
 * LayerlensError subclasses whose `exitCode` is the CLI's (2 usage, 3 unreadable; a damaged image is a report
 * with failed checks, or a DamagedImageError where its content was needed).
 */
import type { Credentials } from './fetch/registry/auth.js';
import { BlobCache, cacheLimit, defaultCacheDir } from './fetch/registry/cache.js';
import { parsePlatform } from './image/platform.js';
import type { Platform } from './image/types.js';
import type { AnalysisOptions } from './pipeline/analyze.js';
import { diffReport, loadForDiff, type DiffFilter } from './pipeline/diff.js';
import { clientOptions, credentialRegistry, runAnalysis, runPlatforms, type ReadOptions } from './pipeline/run.js';
import type { DiffReport } from './report/diff-report.js';
import type { PlatformsReport, Report } from './report/report.js';
import type { ScanMemo } from './scan/image-scan.js';
import type { RepoReport } from './model/repo.js';
import { runRepo, type RepoRules } from './pipeline/repo.js';
import { parseRegistryHost, parseRepository } from './reference.js';

export type { Analysis, AnalysisOptions } from './pipeline/analyze.js';
export type { DiffFilter } from './pipeline/diff.js';
export type { DiffReport, DiffSide } from './report/diff-report.js';
export type { FileReport, ImageError, ImageReport, LayerReport, MultiReport, PlatformsReport, Report, SingleReport, Totals, VerifyReport } from './report/report.js';
export type { VerifyCheck, SkippedBlob, SourceKind } from './model/source.js';
export type { Platform } from './image/types.js';
export type { RepoReport, RepoTag, RepoArtifact, RepoProblem } from './model/repo.js';
export { isMultiReport } from './report/report.js';
export { DamagedImageError, ImageReadError, LayerlensError, UsageError } from './errors.js';

export interface ImageOptions {
  /** `os/arch[/variant]` or a Platform; a bare architecture means linux (`arm64` = `linux/arm64`). */
  platform?: string | Platform;
  /** Every image platform of an index: the result is a MultiReport (`images: [...]`). */
  allPlatforms?: boolean;
  /** For a bare NAME: the registry, or the local Docker/Podman engine (default: the engine when it holds it). */
  source?: 'registry' | 'daemon';
  /** containerd's namespace for `containerd:NAME`. */
  namespace?: string;
  registry?: {
    plainHttp?: boolean;
    insecure?: boolean;
    /** PEM file of a CA to trust. */
    caFile?: string;
    /** For the registry of the image argument only (CONTRACT.md "Credentials"); else the docker/containers auth files. */
    credentials?: { username: string; password: string };
    /** Seconds (default 30): headers and small documents within S, and at least 64 KiB of a blob in every S. */
    timeoutSeconds?: number;
    /** A blob cache directory (`true`: ~/.cache/layerlens); none by default. */
    cache?: string | boolean;
    /** Docker Hub mirrors (https://host[:port]), tried before docker.io. */
    mirrors?: string[];
  };
  /** One-line notes (which source was used, a slow decoder), as the CLI prints them on stderr. */
  onNote?: (line: string) => void;
  /** Detail lines, as --debug prints them. */
  onDebug?: (line: string) => void;
}

/** `images`: every image argument of the call; explicit credentials go to the one registry they share, no other. */
function readOptions(images: string[], options: ImageOptions): ReadOptions {
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : (options.platform ?? null);
  const registry = options.registry ?? {};
  const credentials: Credentials | null = registry.credentials ? { ...registry.credentials, registry: credentialRegistry(images, 'registry.credentials') } : null;
  const cache = registry.cache === true ? defaultCacheDir() : typeof registry.cache === 'string' ? registry.cache : null;
  return {
    platform,
    allPlatforms: options.allPlatforms ?? false,
    ...(options.source ? { source: options.source } : {}),
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(options.onNote ? { note: options.onNote } : {}),
    ...(options.onDebug ? { debug: options.onDebug } : {}),
    registry: {
      plainHttp: registry.plainHttp ?? false,
      insecure: registry.insecure ?? false,
      caFile: registry.caFile ?? null,
      credentials,
      ...(registry.timeoutSeconds !== undefined ? { timeoutSeconds: registry.timeoutSeconds } : {}),
      dockerMirrors: registry.mirrors ?? [],
      cache: cache ? new BlobCache(cache, { note: options.onNote, debug: options.onDebug, limit: cacheLimit() }) : null,
      progress: null,
    },
  };
}

async function report(analysis: 'inspect' | 'layers' | 'files' | 'waste' | 'analyze' | 'verify', image: string, options: ImageOptions & AnalysisOptions): Promise<Report> {
  const { fast, requireAllBlobs, path, glob, layer, changed } = options;
  const run = await runAnalysis(analysis, image, { ...readOptions([image], options), fast, requireAllBlobs, path, glob, layer, changed, reuseReport: true });
  return run.report;
}

/** Manifests and config only: never downloads a layer. */
export const inspect = (image: string, options: ImageOptions = {}): Promise<Report> => report('inspect', image, options);
/** Every layer scanned: digests, sizes, changes; every digest checked. */
export const layers = (image: string, options: ImageOptions = {}): Promise<Report> => report('layers', image, options);
/** The union filesystem (`files[]`), filtered by path, glob, layer or changes. */
export const files = (image: string, options: ImageOptions & Pick<AnalysisOptions, 'path' | 'glob' | 'layer' | 'changed'> = {}): Promise<Report> => report('files', image, options);
/** dive's efficiency and wasted bytes, reclaimable bytes, duplicates. */
export const waste = (image: string, options: ImageOptions = {}): Promise<Report> => report('waste', image, options);
/** Everything in one document: layers, files, waste, checks (and platforms for an index). */
export const analyze = (image: string, options: ImageOptions = {}): Promise<Report> => report('analyze', image, options);
/** Every digest and size; every platform of an index unless one is given. `verify.ok` is the verdict. */
export const verify = (image: string, options: ImageOptions & Pick<AnalysisOptions, 'fast' | 'requireAllBlobs'> = {}): Promise<Report> => report('verify', image, options);

/** The platforms an image covers and what each costs (layers read only with `sizes`). */
export async function platforms(image: string, options: Omit<ImageOptions, 'platform' | 'allPlatforms'> & { sizes?: boolean; require?: string[] } = {}): Promise<PlatformsReport> {
  const { report } = await runPlatforms(image, { ...readOptions([image], options), sizes: options.sizes ?? false, require: (options.require ?? []).map(parsePlatform) });
  return report;
}

/** What changed from image `a` to image `b`: files, layers, sizes, config. */
export async function diff(a: string, b: string, options: Omit<ImageOptions, 'allPlatforms'> & DiffFilter = {}): Promise<DiffReport> {
  const memo: ScanMemo = new Map();
  const read = readOptions([a, b], options);
  const left = await loadForDiff(a, read, memo);
  try {
    const right = await loadForDiff(b, read, memo);
    try {
      return diffReport(left, right, options);
    } finally {
      await right.source.close();
    }
  } finally {
    await left.source.close();
  }
}

/**
 * Every tag of a repository (`registry/repository`), or with `all` every repository of a registry (`registry`):
 * sizes, shared and unique bytes, from manifests only. `rules` fill `check` (`passed` is the verdict).
 */
export async function repo(
  target: string,
  options: Pick<ImageOptions, 'registry' | 'onNote' | 'onDebug'> & { all?: boolean; tags?: string; rules?: RepoRules; useAttached?: boolean } = {},
): Promise<RepoReport> {
  const reference = options.all ? null : parseRepository(target);
  const registryName = reference ? reference.registry : parseRegistryHost(target);
  const read = readOptions([`${registryName}/${reference?.repository ?? 'catalog'}`], options);
  return runRepo(
    { registry: registryName, repository: reference ? reference.repository : null },
    {
      registry: clientOptions(read),
      ...(options.tags !== undefined ? { tags: options.tags } : {}),
      ...(options.rules ? { rules: options.rules } : {}),
      ...(options.useAttached ? { useAttached: true } : {}),
      ...(options.onNote ? { note: options.onNote } : {}),
      ...(options.onDebug ? { debug: options.onDebug } : {}),
    },
  );
}
