/**
 * `explore`: one image read once, kept for walking layer by layer. The analyze report gives the layer table and
 * the waste figures; the layers' entries stay in memory so the tree as of any layer is rebuilt from them (the
 * union of layers 0…N) without reading a blob again. The source is closed before the explorer starts.
 */
import { buildUnion, type LayerChanges, type UnionFs } from '../analyze/union.js';
import type { LayerEntry } from '../model/layer.js';
import { openHandle, resolveHandle } from '../fetch/open.js';
import { buildReport, isMultiReport, type SingleReport } from '../report/report.js';
import { requireContent, scanImage, type ScanMemo } from '../scan/image-scan.js';
import { analyzeImage } from './analyze.js';
import { forEachImage, worstError } from './images.js';
import type { ReadOptions } from './run.js';

export interface ExploreData {
  /** The `waste` report: layers, totals, waste figures (no file list, no change lists: see `changes`). */
  report: SingleReport;
  /** What each layer added, modified and removed. */
  changes: LayerChanges[];
  /** Each layer's entries, as scanned. */
  entries: LayerEntry[][];
  /** The filesystem as of layer `layer` (layers 0…layer applied); the last few are kept. */
  unionAt(layer: number): UnionFs;
}

/** Unions kept: the one shown, the one before, and the whole image (the usual back-and-forth of stepping). */
const KEPT_UNIONS = 3;

export async function openExplore(argument: string, options: Omit<ReadOptions, 'allPlatforms' | 'useAttached'> = {}): Promise<ExploreData> {
  const platform = options.platform ?? null;
  const handle = await openHandle(argument, { ...options, platform, allPlatforms: false, metadataOnly: false });
  const source = await resolveHandle(handle, { platform, allPlatforms: false, ...(options.note ? { note: options.note } : {}) });
  try {
    const memo: ScanMemo = new Map();
    const { results, problems } = await forEachImage(source, false, async (image) => {
      // The tree needs every layer's content, as `files` does: a damaged layer ends the run, naming it.
      const scan = await scanImage(image, { requireAllBlobs: false, memo });
      requireContent(scan);
      // The layer table and the waste figures (from the same scans, in the memo); not the file list, which the
      // tree draws itself from the union (a report's list of 200k paths would double the explorer's memory).
      const analyzed = await analyzeImage('waste', image, {}, memo);
      return { analyzed, entries: scan.layers.map((layer) => layer?.entries ?? []) };
    });
    const result = results[0];
    if (!result) throw worstError(source, problems.errors);
    const whole = result.analyzed.union ?? buildUnion(result.entries);
    const report = buildReport('explore', source.info, [result.analyzed.report], false, problems);
    if (isMultiReport(report)) throw new Error('explore: one image expected');
    const unions = new Map<number, UnionFs>();
    unions.set(result.entries.length - 1, whole);
    return {
      report,
      changes: whole.changes,
      entries: result.entries,
      unionAt(layer: number): UnionFs {
        const known = unions.get(layer);
        if (known) {
          unions.delete(layer);
          unions.set(layer, known); // most recently used last
          return known;
        }
        const union = buildUnion(result.entries, layer);
        unions.set(layer, union);
        if (unions.size > KEPT_UNIONS) unions.delete(unions.keys().next().value!);
        return union;
      },
    };
  } finally {
    await source.close();
  }
}
