/**
 * The whole-report cache: a registry image's ImageReport kept by what it is a report of, so a warm run of the same
 * image with the same options prints it without reading a layer or building a union (issue 17: warm ≥ 10× cold).
 *
 * What the key holds, and why that is all a report depends on:
 * - the manifest digest (and the index it was reached through, which the report names): blobs are content
 *   addressed, so the manifest fixes every byte the report was computed from;
 * - the analysis and the options that change the report (path, glob, layer, changed, requireAllBlobs);
 * - the build of layerlens (cache.ts: the reports directory is per build id), and a format number for the key.
 * Only a report that verified in full is kept: one with a failed check, a skipped blob or a blocked layer says
 * something about this fetch (a missing blob, a registry's damage) that the next run must find out for itself.
 * `verify` and `inspect` are never cached: verify's answer is that it read the bytes, and inspect reads none.
 */
import type { OpenedSource, ResolvedImage } from '../model/source.js';
import type { ImageReport } from '../report/report.js';
import type { Analysis, AnalysisOptions, AnalyzedImage } from './analyze.js';

/** Bumped when the key's meaning changes. */
const KEY_FORMAT = 1;

/** Where reports are kept: the registry's blob cache (fetch/registry/cache.ts). */
export interface ReportStore {
  /** `uses`: the blobs the report was made from, marked used with it (for least-recently-used eviction). */
  loadReport(key: string, uses: string[]): Promise<unknown>;
  saveReport(key: string, report: unknown): Promise<void>;
}

/**
 * The store a source's reports may be kept in: the registry's blob cache, for a registry image only (local archives
 * are read and verified again on every run, and an engine's image is not content addressed by the registry).
 */
export function reportStoreFor(source: OpenedSource, cache: ReportStore | null | undefined): ReportStore | null {
  return source.info.kind === 'registry' ? (cache ?? null) : null;
}

const CACHED_ANALYSES: ReadonlySet<Analysis> = new Set(['layers', 'files', 'waste', 'analyze']);

/** The key of `image`'s report for `analysis` with `options`, or null when such a report is not kept. */
export function reportKey(analysis: Analysis, image: ResolvedImage, options: AnalysisOptions): string | null {
  if (!CACHED_ANALYSES.has(analysis) || !image.manifestDigest || options.layerViews) return null;
  // This fetch's own checks (the manifest and config against their descriptors) must pass again before a report
  // that passed them is reused.
  if (!image.checks.every((check) => check.ok)) return null;
  if (image.layers.some((layer) => layer.writable)) return null; // a container's layer is not content addressed
  const files = analysis === 'files' ? { path: options.path ?? null, glob: options.glob ?? null, layer: options.layer ?? null, changed: options.changed ?? false } : null;
  return JSON.stringify({
    format: KEY_FORMAT,
    analysis,
    manifestDigest: image.manifestDigest,
    indexDigest: image.indexDigest ?? null,
    configDigest: image.configDigest,
    requireAllBlobs: options.requireAllBlobs ?? false,
    files,
  });
}

/** Whether a report says only what any later read of the same image would say again. */
function keepable(report: ImageReport): boolean {
  return report.verify.ok && report.verify.skipped.length === 0 && report.blocked.length === 0 && report.writable === undefined;
}

/** A cached report must at least be the report of this image: anything else is treated as absent. */
function matches(cached: unknown, image: ResolvedImage): cached is ImageReport {
  if (cached === null || typeof cached !== 'object') return false;
  const report = cached as Partial<ImageReport>;
  return report.manifestDigest === image.manifestDigest && report.configDigest === image.configDigest && Array.isArray(report.layers) && report.layers.length === image.layers.length && report.verify?.ok === true;
}

/**
 * `compute` the image's report, or take it from `store` when a run with the same key kept one; keep what was
 * computed when it may be kept. A report from the store comes with no union (its callers need only the report).
 */
export async function cachedAnalysis(store: ReportStore | null, analysis: Analysis, image: ResolvedImage, options: AnalysisOptions, compute: () => Promise<AnalyzedImage>, debug?: (line: string) => void): Promise<AnalyzedImage> {
  const key = store ? reportKey(analysis, image, options) : null;
  if (!store || key === null) return compute();
  const uses = [image.manifestDigest, image.configDigest, ...image.layers.map((layer) => layer.digest)].filter((digest): digest is string => typeof digest === 'string');
  const cached = await store.loadReport(key, uses);
  if (matches(cached, image)) {
    debug?.(`report of ${image.manifestDigest} (${analysis}) from the cache: no layer read`);
    return { report: cached, union: null };
  }
  const computed = await compute();
  if (keepable(computed.report)) await store.saveReport(key, computed.report);
  return computed;
}
