/**
 * One image, one trip down and one up: scan its layers (scan/image-scan.ts), build the union, run the analyses
 * the caller asked for, and build its ImageReport once. Every verb of the CLI and the library API come through
 * here; what differs between them is only which analyses they ask for.
 */
import { selectFiles } from '../analyze/files.js';
import { unionWithLayerTrees, type SizeTree } from '../analyze/size-tree.js';
import { buildUnion, type FsNode, type UnionFs } from '../analyze/union.js';
import { analyzeWaste } from '../analyze/waste.js';
import { summariseWritable } from '../analyze/writable.js';
import { UsageError } from '../errors.js';
import { layerHistory } from '../image/history.js';
import type { ResolvedImage } from '../model/source.js';
import { imageReport, type Extras, type ImageReport } from '../report/report.js';
import { requireContent, scanImage, type ImageScan, type ScanMemo } from '../scan/image-scan.js';

/**
 * What to compute, named after the commands that show it. `inspect`: manifests and config only (no layer is read);
 * `verify`: every digest (layers hashed, no union); `layers`: scans and per-layer changes; `files`: the union's
 * paths; `waste`: dive's figures and the duplicates; `analyze`: all of it.
 */
export type Analysis = 'inspect' | 'layers' | 'files' | 'waste' | 'analyze' | 'verify';

export interface AnalysisOptions {
  /** verify: manifests and configs only (no layer download). */
  fast?: boolean;
  /** Non-distributable layers are skipped when absent unless this is set. */
  requireAllBlobs?: boolean;
  /** files: only this directory, only paths matching this glob. */
  path?: string;
  glob?: string;
  /** files: the filesystem as of layer N (0 = the first). */
  layer?: number;
  /** files: only what layer N (default: the last) added, modified and removed. */
  changed?: boolean;
  /** analyze: the filesystem's size tree as of each layer and the sizes of every change list (the HTML report). */
  layerViews?: boolean;
}

export interface AnalyzedImage {
  report: ImageReport;
  /** The union filesystem, for renderers that draw it (files' tree, the HTML report); null when not built. */
  union: UnionFs | null;
  /** The paths `files` selected (path, glob, changed): the nodes its table draws, as its JSON lists them. */
  selection?: FsNode[];
  /** With `layerViews`: the size tree as of each layer (the union then holds its change lists' sizes too). */
  layerTrees?: SizeTree[];
}

function asOfLayer(options: AnalysisOptions, image: ResolvedImage): number | undefined {
  if (options.layer === undefined) return options.changed ? image.layers.length - 1 : undefined;
  if (!Number.isInteger(options.layer) || options.layer < 0 || options.layer >= image.layers.length) {
    throw new UsageError(`--layer ${options.layer}: the image has layers 0…${image.layers.length - 1}`);
  }
  return options.layer;
}

/**
 * A layer that could not be read (CONTRACT.md "Damage is a finding"): `verify` reports it as failed checks;
 * `layers` and `analyze` report the rest with that layer's figures null and say what it blocked; `files` and
 * `waste`, which are nothing without every layer, end with one line naming it (exit 1 when damaged). Intact bytes
 * that cannot be read are exit 3 everywhere but `verify`.
 */
export async function analyzeImage(analysis: Analysis, image: ResolvedImage, options: AnalysisOptions = {}, memo?: ScanMemo): Promise<AnalyzedImage> {
  if (analysis === 'inspect' || (analysis === 'verify' && options.fast)) return { report: imageReport(image, null), union: null };
  const scan: ImageScan = await scanImage(image, { requireAllBlobs: options.requireAllBlobs ?? false, memo });
  if (analysis === 'verify') return { report: imageReport(image, scan), union: null };
  const unreadable = scan.blocked.find((blocked) => !blocked.damaged);
  if (unreadable) throw unreadable.error;
  if (analysis === 'files' || analysis === 'waste') requireContent(scan);
  const entries = scan.layers.map((layer) => layer?.entries ?? []);
  const contentFigures = analysis === 'analyze' ? ['files', 'waste'] : [];
  const firstBlocked = scan.blocked[0]?.index;
  if (firstBlocked !== undefined) {
    // The layers below the damaged one still have exact changes; nothing built on the whole union can be given.
    const union = buildUnion(entries.slice(0, firstBlocked));
    return { report: imageReport(image, scan, { union, changeLists: analysis === 'analyze', contentFigures }), union: null };
  }
  const asOf = analysis === 'files' ? asOfLayer(options, image) : undefined;
  const views = analysis === 'analyze' && options.layerViews === true ? unionWithLayerTrees(entries) : null;
  const union = views?.union ?? buildUnion(entries, asOf);
  const extras: Extras = { union, changeLists: analysis === 'files' || analysis === 'analyze', contentFigures };
  if (analysis === 'files') {
    const changed = options.changed && asOf !== undefined ? union.changes[asOf] : undefined;
    extras.files = selectFiles(union, { path: options.path, glob: options.glob, changed });
  }
  if (analysis === 'analyze') extras.files = selectFiles(union, {});
  // container:NAME: what the container wrote, over the union of every layer (not a --layer view below it).
  if (image.layers.at(-1)?.writable && asOf === undefined) extras.writable = summariseWritable(union, image.layers.length - 1);
  if (analysis === 'waste' || analysis === 'analyze') extras.waste = analyzeWaste(entries, union, layerHistory(image.config, image.layers.length));
  return { report: imageReport(image, scan, extras), union, ...(analysis === 'files' && extras.files ? { selection: extras.files } : {}), ...(views ? { layerTrees: views.trees } : {}) };
}
