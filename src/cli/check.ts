/**
 * `layerlens check`: analyse the image, evaluate the gate rules (config file, then flags), print them for the
 * audience asked for, exit 0 when every rule passes (and every digest matches), 1 otherwise.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { evaluateGates, type GateConfig, type GateFacts, type RuleResult } from '../analyze/gates.js';
import { listPlatforms } from '../analyze/platforms.js';
import { EXIT_UNREADABLE, LayerlensError, UsageError, ImageReadError } from '../errors.js';
import { openHandle, resolveHandle } from '../fetch/open.js';
import { parsePlatform } from '../image/platform.js';
import { jsonErrorReason, jsonTooDeep, MAX_JSON_DEPTH } from '../image/parse.js';
import { renderCheckJunit, renderCheckJunitError, renderCheckMarkdown, renderCheckTable, githubAnnotations, type CheckShown } from '../report/check-render.js';
import { makeStyle } from '../report/format.js';
import { buildReport, type ImageReport } from '../report/report.js';
import type { LayerScan } from '../analyze/scan.js';
import { compareImages, loadForDiff, type LoadedImage } from './diff.js';
import { CONFIG_KEYS, DIVE_DEFAULTS, flagName, loadGateConfig, parseRuleValue } from './check-config.js';
import { analyzeImage, chooseFormat, commonOptions, emit, openOptions, registryOptions, type CommonOptions } from './commands.js';
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
  /** When the baseline is an image (not a saved report): the image itself, for the diff engine. */
  loaded?: LoadedImage;
}

/** A saved JSON report (from --json of any command) or an image to scan. */
async function loadBaseline(baseline: string, options: CheckOptions, memo: Map<string, Promise<LayerScan>>): Promise<BaselineTotals> {
  if (existsSync(baseline) && statSync(baseline).isFile()) {
    const head = readFileSync(baseline, { encoding: 'utf8', flag: 'r' }).slice(0, 1).trim();
    if (head === '{') {
      let report: { totals?: { compressedSize: number | null; uncompressedSize: number | null }; images?: { totals: { compressedSize: number | null; uncompressedSize: number | null } }[] };
      try {
        report = JSON.parse(readFileSync(baseline, 'utf8')) as typeof report;
      } catch (error) {
        throw new UsageError(`--baseline ${baseline} is not valid JSON (${jsonErrorReason(error)})`);
      }
      if (typeof report === 'object' && report !== null && jsonTooDeep(report)) throw new UsageError(`--baseline ${baseline} is JSON nested more than ${MAX_JSON_DEPTH} levels deep: not a layerlens report`);
      const totals = report.totals ?? report.images?.[0]?.totals;
      if (!totals) throw new UsageError(`--baseline ${baseline}: a JSON report with "totals" was expected (save one with layerlens analyze IMAGE --json -o FILE)`);
      return { compressedSize: totals.compressedSize, uncompressedSize: totals.uncompressedSize, input: baseline };
    }
  }
  // --username belongs to the checked image's registry: the baseline gets it only if it lives there too.
  const loaded = await loadForDiff(baseline, { ...options, credentialImages: [options.image] }, memo);
  return { compressedSize: loaded.report.totals.compressedSize, uncompressedSize: loaded.report.totals.uncompressedSize, input: baseline, loaded };
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
  for (const key of Object.keys(CONFIG_KEYS) as (keyof GateConfig)[]) {
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

function facts(report: ImageReport, platformList: { present: string[]; missing: string[] } | null, baseline: BaselineTotals | null): GateFacts {
  const files = report.files ?? [];
  const regular = files.filter((file) => file.type !== 'dir');
  const largest = regular.reduce<{ path: string; size: number } | null>((best, file) => (file.type === 'file' && (!best || file.size > best.size) ? { path: file.path, size: file.size } : best), null);
  const failed = report.verify.checks.filter((check) => !check.ok).length;
  const waste = report.waste!;
  return {
    compressedSize: report.totals.compressedSize,
    uncompressedSize: report.totals.uncompressedSize,
    contentSize: report.totals.contentSize,
    layerSizes: report.layers.map((layer) => layer.compressedSize),
    largestFile: largest,
    files: regular.length,
    paths: files.map((file) => file.path),
    efficiency: waste.efficiency,
    wastedBytes: waste.wastedBytes,
    userWastedPercent: waste.userWastedPercent,
    reclaimableBytes: waste.reclaimableBytes,
    verified: failed === 0,
    failedChecks: failed,
    platforms: platformList?.present ?? null,
    missingPlatforms: platformList?.missing ?? null,
    baseline,
  };
}

export async function runCheck(rawOptions: CheckOptions): Promise<number> {
  const started = Date.now();
  const options: CheckOptions = { ...rawOptions, image: rawOptions.image === STDIN_TOKEN ? '-' : rawOptions.image };
  if (options.output === STDIN_TOKEN) delete options.output;
  const format = chooseFormat(options, ['table', 'json', 'markdown', 'junit']);
  const gates = gateConfig(options);
  try {
    return await checkImage(options, format, gates, started);
  } catch (error) {
    // CONTRACT.md: when the image cannot be read, the JUnit report still holds one <error> test naming why.
    if (format === 'junit' && error instanceof LayerlensError && error.exitCode === EXIT_UNREADABLE) {
      await emit(renderCheckJunitError(options.image, error.message, (Date.now() - started) / 1000), options).catch(() => {});
    }
    throw error;
  }
}

async function checkImage(options: CheckOptions, format: string, { config, file, defaults }: Gates, started: number): Promise<number> {
  const platform = options.platform ? parsePlatform(options.platform) : null;
  const memo = new Map<string, Promise<LayerScan>>();
  const baseline = options.baseline ? await loadBaseline(options.baseline, options, memo) : null;
  const handle = await openHandle(options.image, { platform, allPlatforms: false, ...openOptions(options), registry: await registryOptions(options) });
  let platformList: { present: string[]; missing: string[] } | null = null;
  if (config.requirePlatforms?.length) {
    const listed = await listPlatforms(handle, { sizes: false, require: config.requirePlatforms.map(parsePlatform) });
    platformList = {
      present: listed.platforms.filter((entry) => entry.available).map((entry) => [entry.os, entry.architecture, entry.variant].filter(Boolean).join('/')),
      missing: listed.checks.filter((check) => check.kind === 'platform' && check.expected === 'present' && !check.ok).map((check) => check.subject),
    };
  }
  const source = await resolveHandle(handle, { platform, allPlatforms: false });
  try {
    const image = source.images[0];
    if (!image) throw new ImageReadError(`${options.image}: no image found`);
    const { report: imageReport, union } = await analyzeImage('analyze', image, options, memo);
    // Against a baseline image, the diff engine says where the growth is.
    const diff = baseline?.loaded && union ? compareImages(baseline.loaded, { image, union, report: imageReport }, { depth: 2 }) : null;
    // Only the rules configured are reported (a rule nothing set is no test); integrity always is (CONTRACT.md).
    const rules = evaluateGates(config, facts(imageReport, platformList, baseline)).filter((rule) => rule.status !== 'skip' || rule.threshold !== null);
    const integrity = integrityResult(imageReport);
    const passed = rules.every((rule) => rule.status !== 'fail') && integrity.status !== 'fail';
    const shown: CheckShown = { rules, integrity, config: file, defaults };
    const exitCode = passed ? 0 : 1;
    const markdown = () => renderCheckMarkdown(options.image, shown, passed, { compressedSize: imageReport.totals.compressedSize, uncompressedSize: imageReport.totals.uncompressedSize, efficiency: imageReport.waste!.efficiency });
    if (process.env.GITHUB_ACTIONS === 'true') {
      // In GitHub Actions: an annotation per failed rule, and the markdown table in the job summary.
      process.stderr.write(githubAnnotations(integrity.status === 'fail' ? [integrity, ...rules] : rules));
      if (process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, markdown()).catch(() => {});
    }
    const report = buildReport('check', source.info, [imageReport], false);
    const check = { passed, config: file, defaults, baseline: baseline?.input ?? null, rules: rules.map(({ name, status, threshold, actual, message }) => ({ name, status, threshold, actual, message })) };
    let text: string;
    switch (format) {
      case 'json':
        text = JSON.stringify({ ...report, check, ...(diff ? { diff } : {}) }, null, 2) + '\n';
        break;
      case 'junit':
        text = renderCheckJunit(options.image, shown, (Date.now() - started) / 1000);
        break;
      case 'markdown':
        text = markdown();
        break;
      default:
        text = renderCheckTable(options.image, shown, passed, makeStyle({ noColor: options.color === false || options.output !== undefined, noTrunc: options.trunc === false }));
    }
    await emit(text, options);
    return exitCode;
  } finally {
    await source.close();
    await baseline?.loaded?.source.close();
  }
}

/** Digests, sizes and diff_ids: a test of every check, whatever the rules (damage fails every gate). */
function integrityResult(report: ImageReport): RuleResult {
  const failed = report.verify.checks.filter((check) => !check.ok);
  const total = report.verify.checks.length;
  if (failed.length === 0) return { name: 'integrity', status: 'pass', threshold: null, actual: `${total} of ${total} checks passed`, message: `digests, sizes and diff_ids: ${total} checks passed` };
  const first = failed[0]!;
  return {
    name: 'integrity',
    status: 'fail',
    threshold: null,
    actual: `${failed.length} of ${total} checks failed`,
    message: `${failed.length} of ${total} integrity checks failed; first: ${first.kind} ${first.subject}: expected ${first.expected ?? '-'}, actual ${first.actual ?? '-'}`,
  };
}

export function registerCheckCommand(parser: Argv, setExit: (code: number) => void): void {
  parser.command(
    'check <image>',
    'CI gate: size, waste, integrity, platform and content rules; exit 0 pass, 1 fail',
    (command) => {
      let built = commonOptions(command)
        .option('config', { type: 'string', describe: 'a .layerlens.yml/.layerlens.json or a dive .dive-ci (default: found in the working directory)', group: 'Rules:' })
        .option('baseline', { type: 'string', describe: 'an image or a saved JSON report to measure growth against', group: 'Rules:' });
      for (const key of Object.keys(CONFIG_KEYS)) {
        built = built.option(flagName(key), { type: 'string', describe: RULE_HELP[key] ?? key, group: 'Rules:' });
      }
      return built
        .example('$0 check app.tar --max-size 150MB --lowest-efficiency 0.95', 'size and waste gates')
        .example('$0 check app.tar --config .dive-ci', "a dive user's existing gate")
        .example('$0 check ghcr.io/org/app:pr --baseline ghcr.io/org/app:main --max-growth 5%', 'no more than 5 % bigger')
        .example('$0 check app.tar --format junit -o layerlens.xml', 'a test report for GitLab/Jenkins');
    },
    async (argv) => setExit(await runCheck(argv as unknown as CheckOptions)),
  );
}

const RULE_HELP: Record<string, string> = {
  maxSize: 'largest compressed size (the pull cost), e.g. 150MB',
  maxUncompressedSize: 'largest uncompressed size',
  maxLayerSize: 'largest compressed layer',
  maxLayers: 'most layers',
  maxFileSize: 'largest single file',
  maxFiles: 'most files (non-directories)',
  lowestEfficiency: "dive's efficiency floor: 0.95 or 95%",
  highestWastedBytes: "dive's wasted-bytes ceiling, e.g. 20MB",
  highestUserWastedPercent: "dive's user-wasted ceiling: 0.1 or 10%",
  maxReclaimableBytes: 'most bytes squashing would reclaim',
  minSizeForRatio: 'apply ratio rules only to images at least this big',
  requireVerified: 'true: every digest, size and diff_id must match',
  requirePlatforms: 'platforms that must be present: linux/amd64,linux/arm64',
  forbidPaths: "globs that must not exist: '**/.env,**/id_rsa'",
  maxGrowth: 'compressed growth over --baseline: bytes or 5%',
  maxUncompressedGrowth: 'uncompressed growth over --baseline',
};

