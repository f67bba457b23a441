/**
 * Two images compared: each side opened, scanned and analysed (layers both hold are read once, through the
 * shared memo), then the diff engine (analyze/diff.ts) over their unions, layers, sizes and configs. `check
 * --baseline IMAGE` uses the same engine to say where growth is.
 */
import { diffConfig, diffFiles, diffLayers, growthMeasure, rollUp, sizeGrowth, type SizedLayer } from '../analyze/diff.js';
import { globMatcher } from '../analyze/files.js';
import type { UnionFs } from '../analyze/union.js';
import { ImageReadError } from '../errors.js';
import { openImage } from '../fetch/open.js';
import type { OpenedSource, ResolvedImage } from '../model/source.js';
import type { DiffReport, DiffSide } from '../report/diff-report.js';
import { pullSize, SCHEMA_VERSION, sourceReport, type ImageReport } from '../report/report.js';
import type { ScanMemo } from '../scan/image-scan.js';
import { analyzeImage } from './analyze.js';
import type { ReadOptions } from './run.js';

export interface LoadedImage {
  source: OpenedSource;
  image: ResolvedImage;
  union: UnionFs;
  report: ImageReport;
}

/** Open, scan and analyse one side of a comparison (layers already scanned for the other side are reused). */
export async function loadForDiff(argument: string, options: ReadOptions, memo: ScanMemo): Promise<LoadedImage> {
  const source = await openImage(argument, { ...options, platform: options.platform ?? null, allPlatforms: false });
  const image = source.images[0];
  if (!image) throw new ImageReadError(`${argument}: no image found`);
  return analyzeForDiff(source, image, memo);
}

/**
 * Scan and analyse an image already opened (check's baseline opens it first to see whether it needs a scan): the
 * one pipeline `waste` runs, since a diff is of contents too (a layer that could not be read leaves nothing to
 * compare: one line naming it).
 */
export async function analyzeForDiff(source: OpenedSource, image: ResolvedImage, memo: ScanMemo): Promise<LoadedImage> {
  const { report, union } = await analyzeImage('waste', image, {}, memo);
  return { source, image, union: union!, report };
}

/** A report's layers as size comparisons see them. */
export function sizedLayers(report: ImageReport): SizedLayer[] {
  return report.layers.map((layer) => ({ diffId: layer.diffId, compressedSize: pullSize(layer), estimated: layer.estimatedCompressedSize !== null, uncompressedSize: layer.uncompressedSize }));
}

function side(loaded: LoadedImage): DiffSide {
  const { report } = loaded;
  return {
    source: sourceReport(loaded.source.info),
    configDigest: report.configDigest,
    manifestDigest: report.manifestDigest,
    platform: report.platform,
    totals: report.totals,
    efficiency: report.waste!.efficiency,
    wastedBytes: report.waste!.wastedBytes,
    hiddenBytes: report.waste!.hiddenBytes,
  };
}

/** The diff engine: files, layers, totals and config of B against A. */
export function compareImages(a: Pick<LoadedImage, 'image' | 'union' | 'report'>, b: Pick<LoadedImage, 'image' | 'union' | 'report'>, filter: { path?: string; glob?: string; depth: number }): DiffReport['diff'] {
  let files = diffFiles(a.union, b.union);
  const match = globMatcher(filter.glob);
  const under = filter.path ? filter.path.replace(/\/+$/, '') : null;
  if (match || under) {
    const keep = (path: string) => (!under || path === under || path.startsWith(`${under}/`)) && (!match || match(path));
    files = { added: files.added.filter((f) => keep(f.path)), removed: files.removed.filter((f) => keep(f.path)), changed: files.changed.filter((f) => keep(f.path)) };
  }
  const delta = (pick: (report: ImageReport) => number | null) => {
    const x = pick(a.report);
    const y = pick(b.report);
    return x === null || y === null ? null : y - x;
  };
  // Like with like: layers both hold count 0, the others by their pull cost (estimated where stored uncompressed).
  const growth = sizeGrowth(sizedLayers(a.report), sizedLayers(b.report), 'compressedSize');
  return {
    files,
    layers: diffLayers(a.image, b.image),
    totals: {
      compressedSizeDelta: growth ? growth.now - growth.base : null,
      measure: growth ? growthMeasure('compressedSize', growth) : null,
      uncompressedSizeDelta: delta((report) => report.totals.uncompressedSize),
      filesDelta: (b.report.totals.files ?? 0) - (a.report.totals.files ?? 0),
      layersDelta: b.image.layers.length - a.image.layers.length,
    },
    config: diffConfig(a.image, b.image),
    directories: rollUp(files, filter.depth),
  };
}

export interface DiffFilter {
  /** Only paths under this directory, only paths matching this glob. */
  path?: string;
  glob?: string;
  /** Directory depth of the rolled-up changes (default 2). */
  depth?: number;
}

/** The whole `diff` document for two loaded images. */
export function diffReport(a: LoadedImage, b: LoadedImage, filter: DiffFilter = {}): DiffReport {
  const diff = compareImages(a, b, { path: filter.path, glob: filter.glob, depth: filter.depth ?? 2 });
  const checks = [...a.report.verify.checks, ...b.report.verify.checks];
  return {
    schemaVersion: SCHEMA_VERSION,
    command: 'diff',
    a: side(a),
    b: side(b),
    diff,
    verify: { ok: checks.every((check) => check.ok), checks, skipped: [...a.report.verify.skipped, ...b.report.verify.skipped] },
  };
}
