/**
 * From an image argument to a Report: open the source, resolve the images asked for, analyse each (analyze.ts),
 * and build the Report once. The CLI renders what this returns; a program calls it (or api.ts) directly.
 */
import type { PlatformsResult } from '../model/platforms.js';
import { listPlatforms } from './platforms.js';
import type { SizeTree } from '../analyze/size-tree.js';
import type { FsNode, UnionFs } from '../analyze/union.js';
import { errorMessage, UsageError } from '../errors.js';
import { parseImageArgument, parseRegistryReference } from '../reference.js';
import type { RegistryClientOptions } from '../fetch/registry/client.js';
import { findAttached } from './attach.js';
import { openHandle, resolveHandle, type OpenOptions } from '../fetch/open.js';
import { platformIndex } from '../fetch/resolve.js';
import { ReadOnceStore } from '../fetch/read-once.js';
import type { Platform } from '../image/types.js';
import type { OpenedSource } from '../model/source.js';
import { buildReport, platformsReport, type ImageReport, type PlatformsReport, type Report, type RunProblems } from '../report/report.js';
import type { ScanMemo } from '../scan/image-scan.js';
import { analyzeImage, type Analysis, type AnalysisOptions } from './analyze.js';
import { cachedAnalysis, reportStoreFor } from './report-cache.js';
import { forEachImage, runExitCode, worstError } from './images.js';

export interface ReadOptions extends Omit<OpenOptions, 'platform' | 'allPlatforms' | 'metadataOnly'> {
  /** `--use-attached`: a report attached to the image in its registry (same layerlens version) instead of a scan. */
  useAttached?: boolean;
  /** One platform of a multi-platform image (default: the host's, as `docker pull` picks). */
  platform?: Platform | null;
  /** Every image platform. `verify` of an index checks every platform unless one is asked for. */
  allPlatforms?: boolean;
  /**
   * The caller uses only the Report (no union, selection or layer trees): a registry image's report may then come
   * from the cache a run with the same image and options kept (pipeline/report-cache.ts).
   */
  reuseReport?: boolean;
}

/**
 * The one registry explicit credentials are for: that of the image they were given with. Several registry images
 * (diff's sides) must share it; with none there is nowhere the credentials could go. `given` names what carried
 * them, for the message (`--username/--password-stdin`, `registry.credentials`).
 */
export function credentialRegistry(images: string[], given: string): string {
  const registries = new Map<string, string>();
  for (const image of images) {
    let transport;
    try {
      transport = parseImageArgument(image);
    } catch {
      continue; // the argument's own error comes when it is opened
    }
    if (transport.kind === 'registry' && !registries.has(transport.reference.registry)) registries.set(transport.reference.registry, image);
  }
  if (registries.size === 0) throw new UsageError(`${given} are for the registry of the image they are given with, and ${images.join(' and ')} ${images.length > 1 ? 'are not registry images' : 'is not a registry image'}`);
  if (registries.size > 1) {
    const [a, b] = [...registries.entries()];
    throw new UsageError(`${given} are for one registry, but ${a![1]} is on ${a![0]} and ${b![1]} on ${b![0]}; log in to the other with docker login (its config.json entry is used)`);
  }
  return [...registries.keys()][0]!;
}

export interface AnalysisRun {
  /** The document, as --json prints it. */
  report: Report;
  /** For an index, `analyze` also lists its platforms (from manifests only: no layer download). */
  coverage: PlatformsResult | null;
  /** One per image of `report`, in order: the union filesystems, for renderers that draw them. */
  unions: (UnionFs | null)[];
  /** One per image of `report`, for `files`: the nodes it selected (what `files --json` lists), for its table. */
  selections: (FsNode[] | null)[];
  /** One per image of `report`, with `layerViews`: the size tree as of each layer (null where not built). */
  layerTrees: (SizeTree[] | null)[];
  /** Images the run could not report, beside those it did. */
  problems: RunProblems;
  /** CONTRACT.md's exit code for this result: 0, 1 (a check failed) or 3 (an image could not be read). */
  exitCode: number;
}

/**
 * Open `argument`, run `analysis` on the image (or images) chosen, and close the source. Throws a LayerlensError
 * (with its exit code) when there is nothing to report; `onImageError` hears, first, about the images of a
 * several-image run that failed beside the one thrown.
 */
export async function runAnalysis(analysis: Analysis, argument: string, options: ReadOptions & AnalysisOptions & { onImageError?: (message: string) => void } = {}): Promise<AnalysisRun> {
  const platform = options.platform ?? null;
  if (platform && options.allPlatforms) throw new UsageError('--platform and --all-platforms exclude each other');
  const opened = await openHandle(argument, { ...options, platform, allPlatforms: false, metadataOnly: analysis === 'inspect' });
  const several = options.allPlatforms === true || (analysis === 'verify' && !platform && opened.root.kind === 'index');
  const withCoverage = analysis === 'analyze' && platformIndex(opened.root) !== null;
  // The coverage walk and the resolution below share the documents they both read (the index, the chosen
  // platform's manifest and config): each is read once.
  const handle = withCoverage ? { ...opened, store: new ReadOnceStore(opened.store) } : opened;
  const coverage = withCoverage
    ? await listPlatforms(handle, { sizes: false, require: [] }).catch((error: unknown) => {
        // Coverage is beside the report, not its subject: a platform that cannot be read leaves it out, and the
        // chosen image is still read (its own errors are the run's).
        options.debug?.(`platform coverage left out of the report: ${errorMessage(error)}`);
        return null;
      })
    : null;
  const source: OpenedSource = await resolveHandle(handle, { platform, allPlatforms: several, ...(options.note ? { note: options.note } : {}) });
  try {
    if (options.useAttached && analysis === 'analyze' && !several) {
      const attached = await attachedRun(source, options);
      if (attached) return attached;
    }
    const memo: ScanMemo = new Map();
    const store = options.reuseReport ? reportStoreFor(source, options.registry?.cache) : null;
    const { results, problems } = await forEachImage(source, several, (image) => cachedAnalysis(store, analysis, image, options, () => analyzeImage(analysis, image, options, memo), options.debug));
    // Nothing to show but failures: the worst is the answer. verify still shows a damaged manifest's failed
    // check, a finding of its own.
    const damageFound = problems.errors.some((error) => error.exitCode === 1) || problems.checks.some((check) => !check.ok);
    if (results.length === 0 && (analysis !== 'verify' || !damageFound)) {
      const worst = worstError(source, problems.errors);
      for (const error of problems.errors) if (error.message !== worst.message) options.onImageError?.(error.message);
      throw worst;
    }
    const reports: ImageReport[] = results.map((result) => result.report);
    const report = buildReport(analysis, source.info, reports, several, problems);
    const document = coverage ? { ...report, platforms: coverage.platforms, platformsTotal: coverage.platformsTotal, attestations: coverage.attestations } : report;
    return { report: document, coverage, unions: results.map((result) => result.union), selections: results.map((result) => result.selection ?? null), layerTrees: results.map((result) => result.layerTrees ?? null), problems, exitCode: runExitCode(report.verify.ok, problems.errors) };
  } finally {
    await source.close();
  }
}

/** `platforms`: which platforms an index covers and what each costs, from manifests (and layers with `sizes`). */
export async function runPlatforms(argument: string, options: Omit<ReadOptions, 'platform' | 'allPlatforms'> & { sizes?: boolean; require?: Platform[] } = {}): Promise<{ report: PlatformsReport; exitCode: number }> {
  const handle = await openHandle(argument, { ...options, platform: null, allPlatforms: true, metadataOnly: !options.sizes });
  try {
    const result = await listPlatforms(handle, { sizes: options.sizes ?? false, require: options.require ?? [] });
    const report = platformsReport(handle.info, result);
    return { report, exitCode: report.verify.ok ? 0 : 1 };
  } finally {
    await handle.close();
  }
}

/** The registry options a RegistryClient of its own needs (attachments are looked up at the origin, not a mirror). */
export function clientOptions(options: ReadOptions): RegistryClientOptions {
  const registry = options.registry ?? {};
  return {
    plainHttp: registry.plainHttp ?? false,
    insecure: registry.insecure ?? false,
    caFile: registry.caFile ?? null,
    credentials: registry.credentials ?? null,
    ...(registry.timeoutSeconds !== undefined ? { timeoutSeconds: registry.timeoutSeconds } : {}),
    ...(options.debug ? { debug: options.debug } : {}),
  };
}

/**
 * `--use-attached`: the report attached to this image's manifest, if one of this layerlens version is there and
 * verifies; its `source` is this run's, with `attached: { digest }`. Null: read the image as usual.
 */
async function attachedRun(source: OpenedSource, options: ReadOptions): Promise<AnalysisRun | null> {
  const image = source.images[0];
  if (source.info.kind !== 'registry' || source.images.length !== 1 || !image?.manifestDigest || !source.info.reference) return null;
  const reference = parseRegistryReference(source.info.reference);
  const found = await findAttached(reference, image.manifestDigest, clientOptions(options), options.debug);
  if (!found) return null;
  const single = found.report;
  options.note?.(`using the report attached to ${image.manifestDigest.slice(0, 19)}… (${found.digest.slice(0, 19)}…): layers not read; written by whoever can push to ${reference.registry}/${reference.repository}, not verified here (verify reads the blobs)`);
  const report = { ...single, source: { ...single.source, input: source.info.input, reference: source.info.reference, mirror: null, attached: { digest: found.digest } } } as Report;
  const problems: RunProblems = { errors: [], checks: [], absent: [] };
  return { report, coverage: null, unions: [null], selections: [null], layerTrees: [null], problems, exitCode: single.verify.ok ? 0 : 1 };
}
