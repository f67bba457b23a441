/** `layerlens diff A B`: two images of any kind, compared by files, layers, sizes and config. */
import type { Argv } from 'yargs';
import { diffConfig, diffFiles, diffLayers, growthMeasure, rollUp, sizeGrowth, type ImageDiff, type SizedLayer } from '../analyze/diff.js';
import { globMatcher } from '../analyze/files.js';
import { layerHistory } from '../image/history.js';
import { requireContent, scanImage, type ImageScan, type ScanMemo } from '../scan/image-scan.js';
import { buildUnion, type UnionFs } from '../analyze/union.js';
import { analyzeWaste } from '../analyze/waste.js';
import { ImageReadError, UsageError } from '../errors.js';
import { openImage } from '../fetch/open.js';
import type { OpenedSource, ResolvedImage } from '../model/source.js';
import { parsePlatform } from '../image/platform.js';
import { renderDiffMarkdown, renderDiffTable } from '../report/diff-render.js';
import { imageReport, pullSize, SCHEMA_VERSION, sourceReport, type ImageReport, type SourceReport } from '../report/report.js';
import { chooseFormat, COMMAND_FORMATS, commonOptions, withExamples, openOptions, registryOptions, tableStyle, type CommonOptions } from './commands.js';
import { planOutputs, writeOutputs } from './outputs.js';
import { STDIN_TOKEN } from './stdin.js';
import { wholeNumber } from './commands.js';

interface DiffOptions extends CommonOptions {
  imageA: string;
  imageB: string;
}

export interface DiffSide {
  source: SourceReport;
  configDigest: string;
  manifestDigest: string | null;
  platform: ImageReport['platform'];
  totals: ImageReport['totals'];
  efficiency: number;
  wastedBytes: number;
  hiddenBytes: number;
}

export interface DiffReport {
  schemaVersion: number;
  command: 'diff';
  a: DiffSide;
  b: DiffSide;
  diff: ImageDiff & { directories: ReturnType<typeof rollUp> };
  verify: ImageReport['verify'];
}

export interface LoadedImage {
  source: OpenedSource;
  image: ResolvedImage;
  scan: ImageScan;
  union: UnionFs;
  report: ImageReport;
}

/** Open, scan and analyse one side of a comparison (layers already scanned for the other side are reused). */
export async function loadForDiff(argument: string, options: CommonOptions, memo: ScanMemo): Promise<LoadedImage> {
  const platform = options.platform ? parsePlatform(options.platform) : null;
  const source = await openImage(argument, { platform, allPlatforms: false, ...openOptions(options), registry: await registryOptions({ ...options, image: argument }) });
  const image = source.images[0];
  if (!image) throw new ImageReadError(`${argument}: no image found`);
  return analyzeForDiff(source, image, memo);
}

/** Scan and analyse an image already opened (check's baseline opens it first to see whether it needs a scan). */
export async function analyzeForDiff(source: OpenedSource, image: ResolvedImage, memo: ScanMemo): Promise<LoadedImage> {
  const scan = await scanImage(image, { memo });
  // A diff is of contents: a layer that could not be read leaves nothing to compare (one line naming it).
  requireContent(scan);
  const entries = scan.layers.map((layer) => layer?.entries ?? []);
  const union = buildUnion(entries);
  const waste = analyzeWaste(entries, union, layerHistory(image.config, image.layers.length));
  return { source, image, scan, union, report: imageReport(image, scan, { union, waste }) };
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

export async function runDiff(raw: DiffOptions): Promise<number> {
  const options: DiffOptions = { ...raw, imageA: raw.imageA === STDIN_TOKEN ? '-' : raw.imageA, imageB: raw.imageB === STDIN_TOKEN ? '-' : raw.imageB };
  if (options.imageA === '-' && options.imageB === '-') throw new UsageError('only one side of a diff can be read from stdin');
  // --username belongs to the one registry the sides share (exit 2 when they are on two).
  if (options.passwordStdin) options.credentialImages = [options.imageA, options.imageB];
  const format = chooseFormat(options, COMMAND_FORMATS.diff);
  const outputs = planOutputs(options.output, format, COMMAND_FORMATS.diff);
  const depth = options.depth ?? 2;
  if (!Number.isInteger(depth) || depth < 1) throw new UsageError(`--depth ${options.depth}: give a whole number ≥ 1`);
  const memo = new Map() as ScanMemo;
  const a = await loadForDiff(options.imageA, options, memo);
  try {
    const b = await loadForDiff(options.imageB, options, memo);
    try {
      const diff = compareImages(a, b, { path: options.path, glob: options.glob, depth });
      const checks = [...a.report.verify.checks, ...b.report.verify.checks];
      const report: DiffReport = {
        schemaVersion: SCHEMA_VERSION,
        command: 'diff',
        a: side(a),
        b: side(b),
        diff,
        verify: { ok: checks.every((check) => check.ok), checks, skipped: [...a.report.verify.skipped, ...b.report.verify.skipped] },
      };
      const top = options.top ?? 20;
      await writeOutputs(outputs, (chosen, toFile) =>
        chosen === 'json' ? JSON.stringify(report, null, 2) + '\n' : chosen === 'markdown' ? renderDiffMarkdown(report, top) : renderDiffTable(report, tableStyle(options, toFile), top),
      );
      return report.verify.ok ? 0 : 1;
    } finally {
      await b.source.close();
    }
  } finally {
    await a.source.close();
  }
}

export function registerDiffCommand(parser: Argv, setExit: (code: number) => void): void {
  parser.command(
    'diff <imageA> <imageB>',
    'what changed between two images: files, layers, sizes, config',
    (command) =>
      withExamples(
        (commonOptions(command.positional('imageA', { type: 'string', demandOption: true, describe: 'the old image' }), false, COMMAND_FORMATS.diff) as unknown as Argv)
          .positional('imageB', { type: 'string', demandOption: true, describe: 'the new image' })
          .option('depth', { type: 'string', coerce: wholeNumber('depth'), describe: 'directory depth for the rolled-up table (default 2)' })
          .option('path', { type: 'string', describe: 'only paths under this directory' })
          .option('glob', { type: 'string', describe: 'only paths matching a glob' })
          .option('top', { type: 'string', coerce: wholeNumber('top'), describe: 'rows per table (default 20)' }),
        [
          ['$0 diff app:1.0 app:1.1', 'two tags of one image'],
          ['$0 diff ghcr.io/org/app:main app.tar --format markdown', 'a registry tag against a fresh docker save, for a PR comment'],
        ],
      ),
    async (argv) => setExit(await runDiff(argv as unknown as DiffOptions)),
  );
}
