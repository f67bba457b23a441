/**
 * `layerlens check`: analyse the image, evaluate the gate rules (config file, then flags), print them for the
 * audience asked for, exit 0 when every rule passes (and every digest matches), 1 otherwise.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { evaluateGates, RULE_NAMES, RULES, type GateConfig, type GateFacts, type RuleResult } from '../analyze/gates.js';
import { listPlatforms } from '../pipeline/platforms.js';
import { DamagedImageError, EXIT_UNREADABLE, LayerlensError, UsageError, ImageReadError } from '../errors.js';
import { openHandle, resolveHandle } from '../fetch/open.js';
import { formatPlatform, parsePlatform } from '../image/platform.js';
import { escapeMarkdown } from '../report/escape.js';
import { jsonDocument } from '../report/json-stream.js';
import { jsonErrorReason, jsonTooDeep, MAX_JSON_DEPTH } from '../image/parse.js';
import { renderCheckJunit, renderCheckJunitError, renderCheckMarkdown, renderCheckTable, githubAnnotations, type CheckShown } from '../report/check-render.js';
import { buildReport, pullSize, type ImageReport, type SingleReport } from '../report/report.js';
import type { ScanMemo } from '../scan/image-scan.js';
import { analyzeForDiff, compareImages, sizedLayers, type LoadedImage } from '../pipeline/diff.js';
import { analyzeImage } from '../pipeline/analyze.js';
import { cachedAnalysis, reportStoreFor, type ReportStore } from '../pipeline/report-cache.js';
import { forEachImage, runExitCode, worstError } from '../pipeline/images.js';
import type { SizedLayer } from '../analyze/diff.js';
import { openImage } from '../fetch/open.js';
import type { LayerRef, OpenedSource, ResolvedImage } from '../model/source.js';
import { layerCompression } from '../image/mediatypes.js';
import { DIVE_DEFAULTS, flagName, loadGateConfig, parseRuleValue } from './check-config.js';
import { chooseFormat, COMMAND_FORMATS, commonOptions, imageErrorLines, readOptions, tableStyle, withExamples, type CommonOptions } from './commands.js';
import { findAttached } from '../pipeline/attach.js';
import { clientOptions, type ReadOptions } from '../pipeline/run.js';
import { parseImageArgument, parseRegistryReference } from '../reference.js';
import { planOutputs, writeOutputs, type Destination } from './outputs.js';
import { stderrLine } from './output.js';
import { STDIN_TOKEN } from './stdin.js';

export interface CheckOptions extends CommonOptions {
  config?: string;
  baseline?: string;
  [rule: string]: unknown;
}

interface BaselineTotals {
  compressedSize: number | null;
  uncompressedSize: number | null;
  input: string;
  /** Layer by layer (diffId and sizes), for growth like with like; null for a saved report that lists none. */
  layers: SizedLayer[] | null;
  /** When the baseline image was scanned: the image itself, for the diff engine. */
  loaded?: LoadedImage;
  /** When it was opened but not scanned: to close. */
  source?: OpenedSource;
  /** Why the baseline's figures are unknown (a damaged layer), if they are. */
  blockedBy?: string;
}

interface SavedLayer {
  diffId?: string | null;
  mediaType?: string;
  compressedSize?: number | null;
  estimatedCompressedSize?: number | null;
  uncompressedSize?: number | null;
}

/**
 * A saved report's layers. A layer stored uncompressed without an estimate (a schemaVersion 1 report) has no
 * pull cost to compare: its compressedSize is its tar's length.
 */
function savedLayers(layers: unknown): SizedLayer[] | null {
  if (!Array.isArray(layers)) return null;
  return (layers as SavedLayer[]).map((layer) => {
    const estimate = typeof layer.estimatedCompressedSize === 'number' ? layer.estimatedCompressedSize : null;
    const stored = typeof layer.compressedSize === 'number' ? layer.compressedSize : null;
    const uncompressedMedia = typeof layer.mediaType === 'string' && layerCompression(layer.mediaType) === 'none';
    return {
      diffId: typeof layer.diffId === 'string' ? layer.diffId : null,
      compressedSize: estimate ?? (uncompressedMedia ? null : stored),
      estimated: estimate !== null,
      uncompressedSize: typeof layer.uncompressedSize === 'number' ? layer.uncompressedSize : null,
    };
  });
}

/**
 * A saved JSON report (from --json of any command) or an image. An image is scanned only when a figure needs
 * its layers' bytes: an uncompressed growth rule, or a layer the checked image does not share (by diffId, from
 * the config) that is stored uncompressed and so has no compressed size to compare. A registry baseline of
 * gzip layers is compared from its manifest and config alone: no layer is downloaded.
 */
async function loadBaseline(baseline: string, options: CheckOptions, memo: ScanMemo, current: ImageReport, config: GateConfig): Promise<BaselineTotals> {
  if (existsSync(baseline) && statSync(baseline).isFile()) {
    const head = readFileSync(baseline, { encoding: 'utf8', flag: 'r' }).slice(0, 1).trim();
    if (head === '{') {
      type Saved = { totals?: { compressedSize: number | null; estimatedCompressedSize?: number | null; uncompressedSize: number | null }; layers?: unknown };
      let report: Saved & { images?: Saved[] };
      try {
        report = JSON.parse(readFileSync(baseline, 'utf8')) as typeof report;
      } catch (error) {
        throw new UsageError(`--baseline ${baseline} is not valid JSON (${jsonErrorReason(error)})`);
      }
      if (typeof report === 'object' && report !== null && jsonTooDeep(report)) throw new UsageError(`--baseline ${baseline} is JSON nested more than ${MAX_JSON_DEPTH} levels deep: not a layerlens report`);
      const image = report.totals ? report : report.images?.[0];
      const totals = image?.totals;
      if (!totals) throw new UsageError(`--baseline ${baseline}: a JSON report with "totals" was expected (save one with layerlens analyze IMAGE --json -o FILE)`);
      return { compressedSize: totals.estimatedCompressedSize ?? totals.compressedSize, uncompressedSize: totals.uncompressedSize, input: baseline, layers: savedLayers(image.layers) };
    }
  }
  // --username belongs to the checked image's registry: the baseline gets it only if it lives there too.
  const baseOptions = { ...options, credentialImages: [options.image] };
  const read = await readOptions({ ...baseOptions, image: baseline, allPlatforms: false });
  const source = await openImage(baseline, { ...read, platform: read.platform ?? null, allPlatforms: false });
  try {
    const image = source.images[0];
    if (!image) throw new ImageReadError(`${baseline}: no image found`);
    const held = new Set(current.layers.map((layer) => layer.diffId));
    // Stored uncompressed (or of an unknown media type) or of unknown size: only its bytes give a compressed size.
    const needsBytes = (layer: LayerRef) => !held.has(layer.diffId) && ([null, 'none'].includes(layerCompression(layer.mediaType)) || (layer.size ?? layer.storedSize) === null);
    if (config.maxUncompressedGrowth !== undefined || image.layers.some(needsBytes)) {
      let loaded: LoadedImage;
      try {
        loaded = await analyzeForDiff(source, image, memo);
      } catch (error) {
        // A damaged baseline leaves growth unknown: the growth rules say so; the checked image is still reported.
        if (!(error instanceof DamagedImageError)) throw error;
        return { compressedSize: null, uncompressedSize: null, input: baseline, layers: null, blockedBy: `the baseline ${baseline} is damaged (${error.message})`, source };
      }
      const totals = loaded.report.totals;
      return { compressedSize: totals.estimatedCompressedSize ?? totals.compressedSize, uncompressedSize: totals.uncompressedSize, input: baseline, layers: sizedLayers(loaded.report), loaded };
    }
    const layers: SizedLayer[] = image.layers.map((layer) => ({ diffId: layer.diffId, compressedSize: layer.size ?? layer.storedSize, estimated: false, uncompressedSize: null }));
    const total = layers.every((layer) => layer.compressedSize !== null) ? layers.reduce((sum, layer) => sum + layer.compressedSize!, 0) : null;
    return { compressedSize: total, uncompressedSize: null, input: baseline, layers, source };
  } catch (error) {
    await source.close();
    throw error;
  }
}

interface Gates {
  config: GateConfig;
  file: string | null;
  /** True when nothing configured a rule and dive's CI defaults apply. */
  defaults: boolean;
}

function gateConfig(options: CheckOptions): Gates {
  const loaded = loadGateConfig(options.config);
  if (!options.quiet) for (const note of loaded.notes) stderrLine(note);
  const config: GateConfig = { ...loaded.config };
  let named = loaded.named;
  for (const key of RULE_NAMES) {
    const value = options[key];
    if (value === undefined) continue;
    named++;
    const flag = `--${flagName(key)}`;
    if (typeof value === 'string' && ['disabled', 'off'].includes(value.toLowerCase())) {
      delete config[key];
      continue;
    }
    Object.assign(config, { [key]: parseRuleValue(key, value, flag) });
  }
  // A gate with no rule would pass anything: like dive's CI mode, apply dive's defaults, and say so.
  if (named === 0) return { config: { ...DIVE_DEFAULTS }, file: loaded.file, defaults: true };
  return { config, file: loaded.file, defaults: false };
}

/**
 * container:NAME: every path the writable layer (the top one) holds: what the container wrote, even a file it
 * rewrote with the same bytes (the engine lists it as changed; the union sees no change); null when unknown.
 */
function writtenPaths(report: ImageReport): string[] | null {
  if (report.blocked.length || !report.files) return null;
  const top = report.layers.length - 1;
  return report.files.filter((file) => file.layer === top).map((file) => file.path);
}

function facts(report: ImageReport, platformList: { present: string[]; missing: string[] } | null, baseline: BaselineTotals | null, container: boolean): GateFacts {
  const files = report.files ?? [];
  const blocked = report.blocked[0];
  const largest = files.reduce<{ path: string; size: number } | null>((best, file) => (file.type === 'file' && (!best || file.size > best.size) ? { path: file.path, size: file.size } : best), null);
  const failed = report.verify.checks.filter((check) => !check.ok).length;
  const waste = report.waste ?? null;
  const estimated = report.totals.estimatedCompressedSize !== null;
  return {
    // maxSize gates on what a pull costs: real compressed sizes, the estimate where a layer is stored uncompressed.
    compressedSize: report.totals.estimatedCompressedSize ?? report.totals.compressedSize,
    compressedSizeEstimated: estimated,
    uncompressedSize: report.totals.uncompressedSize,
    contentSize: report.totals.contentSize,
    layerSizes: report.layers.map(pullSize),
    layerSizesEstimated: estimated,
    layers: sizedLayers(report),
    largestFile: largest,
    // One count of files (CONTRACT.md): the paths of the final filesystem, as `files` lists them.
    files: blocked ? null : (report.totals.files ?? files.length),
    paths: blocked ? null : files.map((file) => file.path),
    efficiency: waste?.efficiency ?? null,
    wastedBytes: waste?.wastedBytes ?? null,
    userWastedPercent: waste?.userWastedPercent ?? null,
    reclaimableBytes: waste?.reclaimableBytes ?? null,
    blockedBy: blocked ? `layer ${blocked.layer} (${blocked.digest ?? 'no digest'}) is ${blocked.damaged ? 'damaged' : 'unreadable'}` : null,
    verified: failed === 0,
    failedChecks: failed,
    // container:NAME: the writable layer is the top one (fetch/container.ts).
    ...(container ? { writableSize: report.layers.at(-1)?.contentSize ?? null, writtenPaths: writtenPaths(report) } : {}),
    platforms: platformList?.present ?? null,
    missingPlatforms: platformList?.missing ?? null,
    baseline: baseline ? { compressedSize: baseline.compressedSize, uncompressedSize: baseline.uncompressedSize, input: baseline.input, layers: baseline.layers, blockedBy: baseline.blockedBy ?? null } : null,
  };
}

export async function runCheck(rawOptions: CheckOptions): Promise<number> {
  const started = Date.now();
  const options: CheckOptions = { ...rawOptions, image: rawOptions.image === STDIN_TOKEN ? '-' : rawOptions.image };
  const format = chooseFormat(options, COMMAND_FORMATS.check);
  const outputs = planOutputs(options.output, format, COMMAND_FORMATS.check);
  const gates = gateConfig(options);
  if (options.useAttached && parseImageArgument(options.image).kind !== 'registry') {
    throw new UsageError(`--use-attached is for registry images (the report is stored in the image's registry); ${options.image} is not one`);
  }
  try {
    return await checkImage(options, outputs, gates, started);
  } catch (error) {
    // CONTRACT.md: when the image cannot be read, the JUnit report still holds one <error> test naming why (a
    // missing report reads as "no tests" in CI, which would hide the failure); every JUnit destination gets it.
    const junit = outputs.filter((destination) => destination.format === 'junit');
    const seconds = (Date.now() - started) / 1000;
    if (error instanceof LayerlensError && error.exitCode === EXIT_UNREADABLE) {
      await writeOutputs(junit, () => renderCheckJunitError(options.image, error.message, seconds)).catch(() => {});
    } else if (error instanceof DamagedImageError) {
      // A damaged manifest or config: no report can be built, but the gate's verdict is the integrity test's.
      const integrity: RuleResult = { name: 'integrity', status: 'fail', threshold: null, actual: null, estimated: false, measure: null, message: error.message };
      await writeOutputs(junit, () => renderCheckJunit([{ name: options.image, shown: { rules: [], integrity, config: gates.file, defaults: gates.defaults } }], seconds)).catch(() => {});
    }
    throw error;
  }
}

/** One image's verdict: its report, the rules as evaluated on it, and (against a baseline image) the diff. */
interface ImageVerdict {
  /** `linux/arm64` with --all-platforms; null for the one image of an ordinary check. */
  platform: string | null;
  report: ImageReport;
  shown: CheckShown;
  passed: boolean;
  diff: ReturnType<typeof compareImages> | null;
  baseline: BaselineTotals | null;
  /** `--use-attached`: the artifact whose report stood in for a scan. */
  attached: string | null;
}

/**
 * `--use-attached`: the image's attached report (this layerlens version) as its ImageReport, or null. Never when
 * requireVerified is set: an attached report is its writer's claim, and that rule needs this run to read the blobs.
 */
async function attachedImageReport(image: ResolvedImage, source: OpenedSource, read: ReadOptions, config: GateConfig): Promise<{ report: ImageReport; digest: string } | null> {
  if (config.requireVerified || source.info.kind !== 'registry' || !source.info.reference || !image.manifestDigest) return null;
  const found = await findAttached(parseRegistryReference(source.info.reference), image.manifestDigest, clientOptions(read), read.debug);
  if (!found) return null;
  // The image's part of the document: what checkOne would have built (the envelope keys are this run's).
  const imageReport: Partial<SingleReport> = { ...found.report };
  delete imageReport.schemaVersion;
  delete imageReport.command;
  delete imageReport.source;
  read.note?.(`using the report attached to ${image.manifestDigest.slice(0, 19)}… (${found.digest.slice(0, 19)}…): layers not read, integrity not evaluated`);
  return { report: imageReport as ImageReport, digest: found.digest };
}

async function checkOne(image: ResolvedImage, options: CheckOptions, memo: ScanMemo, gates: Gates, platformList: { present: string[]; missing: string[] } | null, platformLabel: string | null, attachedFrom: { source: OpenedSource; read: ReadOptions } | null, containerSource = false, reports: { store: ReportStore; debug?: (line: string) => void } | null = null): Promise<ImageVerdict> {
  const { config, file, defaults } = gates;
  const attached = attachedFrom ? await attachedImageReport(image, attachedFrom.source, attachedFrom.read, config) : null;
  // A report this build computed from the same verified blobs (the registry's report cache) serves as well as a
  // new one, except against a baseline: the diff engine needs the union, which no kept report holds.
  const analyze = () => cachedAnalysis(options.baseline ? null : (reports?.store ?? null), 'analyze', image, {}, () => analyzeImage('analyze', image, {}, memo), reports?.debug);
  const { report, union } = attached ? { report: attached.report, union: null } : await analyze();
  // After the image: which of the baseline's layers it shares decides whether the baseline needs a scan. With
  // --all-platforms each platform is measured against the baseline's image of that platform.
  const baselineOptions = platformLabel ? { ...options, platform: platformLabel } : options;
  const baseline = options.baseline ? await loadBaseline(options.baseline, baselineOptions, memo, report, config) : null;
  // Against a baseline image, the diff engine says where the growth is.
  const diff = baseline?.loaded && union ? compareImages(baseline.loaded, { image, union, report }, { depth: 2 }) : null;
  // Only the rules configured are reported (a rule nothing set is no test); integrity always is (CONTRACT.md).
  const rules = evaluateGates(config, facts(report, platformList, baseline, containerSource)).filter((rule) => rule.status !== 'skip' || rule.threshold !== null);
  // An attached report's checks are its writer's: this run read no blob, so it neither passes nor fails integrity.
  const integrity: RuleResult = attached
    ? { name: 'integrity', status: 'skip', threshold: null, actual: null, estimated: false, measure: null, message: `not evaluated: the figures are those of the attached report ${attached.digest}, whose blobs this run did not read (verify, or check without --use-attached, reads them)` }
    : integrityResult(report);
  const passed = rules.every((rule) => rule.status !== 'fail') && integrity.status !== 'fail';
  return { platform: platformLabel, report, shown: { rules, integrity, config: file, defaults }, passed, diff, baseline, attached: attached?.digest ?? null };
}

async function checkImage(options: CheckOptions, outputs: Destination[], gates: Gates, started: number): Promise<number> {
  const { config, file, defaults } = gates;
  const read = await readOptions(options);
  const platform = read.platform ?? null;
  // CONTRACT.md: check covers the selected platform (the host's by default) unless --all-platforms.
  const allPlatforms = read.allPlatforms === true;
  const memo = new Map() as ScanMemo;
  const handle = await openHandle(options.image, { ...read, platform, allPlatforms: false });
  let platformList: { present: string[]; missing: string[] } | null = null;
  if (config.requirePlatforms?.length) {
    const listed = await listPlatforms(handle, { sizes: false, require: config.requirePlatforms.map(parsePlatform) });
    platformList = {
      present: listed.platforms.filter((entry) => entry.available).map((entry) => [entry.os, entry.architecture, entry.variant].filter(Boolean).join('/')),
      missing: listed.checks.filter((check) => check.kind === 'platform' && check.expected === 'present' && !check.ok).map((check) => check.subject),
    };
  }
  const source = await resolveHandle(handle, { platform, allPlatforms, ...(read.note ? { note: read.note } : {}) });
  const verdicts: ImageVerdict[] = [];
  const store = reportStoreFor(source, read.registry?.cache);
  const reportStore = store ? { store, ...(read.debug ? { debug: read.debug } : {}) } : null;
  try {
    const { results, problems } = await forEachImage(source, allPlatforms, async (image) => {
      const verdict = await checkOne(image, options, memo, gates, platformList, allPlatforms ? formatPlatform(image.config) : null, options.useAttached ? { source, read } : null, source.info.kind === 'container', reportStore);
      verdicts.push(verdict); // pushed as made, so the finally below closes each baseline
      return verdict;
    });
    if (results.length === 0) throw worstError(source, problems.errors);
    imageErrorLines(problems.errors);
    const passed = verdicts.every((verdict) => verdict.passed) && problems.errors.length === 0;
    const exitCode = runExitCode(verdicts.every((verdict) => verdict.passed), problems.errors);
    const named = (verdict: ImageVerdict) => (verdict.platform ? `${options.image} (${verdict.platform})` : options.image);
    const markdown = () =>
      verdicts
        .map((verdict) => renderCheckMarkdown(named(verdict), verdict.shown, verdict.passed, { compressedSize: verdict.report.totals.compressedSize, uncompressedSize: verdict.report.totals.uncompressedSize, efficiency: verdict.report.waste?.efficiency ?? null }))
        .join('\n') + problems.errors.map((error) => `\n- ❌ **${escapeMarkdown(error.platform ?? 'image')}**: ${escapeMarkdown(error.message)}\n`).join('');
    if (process.env.GITHUB_ACTIONS === 'true') {
      // In GitHub Actions: an annotation per failed rule, and the markdown table in the job summary.
      for (const verdict of verdicts) {
        const failedRules = verdict.shown.integrity.status === 'fail' ? [verdict.shown.integrity, ...verdict.shown.rules] : verdict.shown.rules;
        process.stderr.write(githubAnnotations(verdict.platform ? failedRules.map((rule) => ({ ...rule, name: `${rule.name} (${verdict.platform})` })) : failedRules));
      }
      if (process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, markdown()).catch(() => {});
    }
    const ruleJson = (verdict: ImageVerdict) =>
      verdict.shown.rules.map(({ name, status, threshold, actual, message, estimated, measure }) => ({ name, status, threshold, actual, estimated, measure, message, ...(verdict.platform ? { platform: verdict.platform } : {}) }));
    const baselineInput = verdicts[0]!.baseline?.input ?? null;
    const check = {
      passed,
      config: file,
      defaults,
      baseline: baselineInput,
      rules: verdicts.flatMap(ruleJson),
      ...(allPlatforms ? { platforms: verdicts.map((verdict) => ({ platform: verdict.platform, manifestDigest: verdict.report.manifestDigest, passed: verdict.passed })) } : {}),
    };
    const built = buildReport('check', source.info, verdicts.map((verdict) => verdict.report), allPlatforms, problems);
    const attachedDigest = !allPlatforms ? (verdicts[0]?.attached ?? null) : null;
    const report = attachedDigest ? { ...built, source: { ...built.source, attached: { digest: attachedDigest } } } : built;
    const diff = allPlatforms ? null : verdicts[0]!.diff;
    const seconds = (Date.now() - started) / 1000;
    await writeOutputs(outputs, (format, toFile) => {
      switch (format) {
        case 'json':
          return jsonDocument({ ...report, check, ...(diff ? { diff } : {}) });
        case 'junit':
          return renderCheckJunit(verdicts.map((verdict) => ({ name: named(verdict), shown: verdict.shown })), seconds, problems.errors.map((error) => ({ name: `${options.image} (${error.platform ?? 'image'})`, message: error.message })));
        case 'markdown':
          return markdown();
        default: {
          const style = tableStyle(options, toFile);
          const tables = verdicts.map((verdict) => renderCheckTable(named(verdict), verdict.shown, verdict.passed, style));
          if (!allPlatforms) return tables[0]!;
          const lines = problems.errors.map((error) => style.color.red(`✗ ${error.platform ?? 'image'}: ${error.message}`));
          const overall = passed ? style.color.green.bold(`PASS: all ${verdicts.length} platforms passed`) : style.color.red.bold(`FAIL: ${verdicts.filter((verdict) => !verdict.passed).length + problems.errors.length} of ${verdicts.length + problems.errors.length} platforms failed`);
          return [...tables, ...(lines.length ? [lines.join('\n') + '\n'] : []), overall + '\n'].join('\n');
        }
      }
    });
    return exitCode;
  } finally {
    await source.close();
    for (const verdict of verdicts) {
      await verdict.baseline?.loaded?.source.close();
      await verdict.baseline?.source?.close();
    }
  }
}

/** Digests, sizes and diff_ids: a test of every check, whatever the rules (damage fails every gate). */
function integrityResult(report: ImageReport): RuleResult {
  const failed = report.verify.checks.filter((check) => !check.ok);
  const total = report.verify.checks.length;
  if (failed.length === 0) return { name: 'integrity', status: 'pass', threshold: null, actual: `${total} of ${total} checks passed`, estimated: false, measure: null, message: `digests, sizes and diff_ids: ${total} checks passed` };
  const first = failed[0]!;
  return {
    name: 'integrity',
    status: 'fail',
    threshold: null,
    actual: `${failed.length} of ${total} checks failed`,
    estimated: false,
    measure: null,
    message: `${failed.length} of ${total} integrity checks failed; first: ${first.what} (${first.subject}): expected ${first.expected ?? '-'}, actual ${first.actual ?? '-'}`,
  };
}

export function registerCheckCommand(parser: Argv, setExit: (code: number) => void): void {
  parser.command(
    'check <image>',
    'CI gate: size, waste, integrity, platform and content rules; exit 0 pass, 1 fail',
    (command) => {
      let built = commonOptions(command, true, COMMAND_FORMATS.check)
        .option('config', { type: 'string', describe: 'a .layerlens.yml/.layerlens.json or a dive .dive-ci (default: found in the working directory)', group: 'Rules:' })
        .option('baseline', { type: 'string', describe: 'an image or a saved JSON report to measure growth against', group: 'Rules:' })
        .option('use-attached', { type: 'boolean', describe: 'gate on a report attached with analyze --attach instead of reading the layers (integrity not evaluated; never with requireVerified)', group: 'Registry:' });
      for (const key of RULE_NAMES) {
        built = built.option(flagName(key), { type: 'string', describe: RULES[key].help, group: 'Rules:' });
      }
      return withExamples(built, [
        ['$0 check app.tar --max-size 150MB --lowest-efficiency 0.95', 'size and waste gates'],
        ['$0 check app.tar --config .dive-ci', "a dive user's existing gate"],
        ['$0 check ghcr.io/org/app:pr --baseline app.json --max-growth 5%', 'no more than 5 % bigger than a saved report (or any image)'],
        ['$0 check app.tar --format junit -o layerlens.xml', 'a test report for GitLab/Jenkins'],
      ]);
    },
    async (argv) => setExit(await runCheck(argv as unknown as CheckOptions)),
  );
}


