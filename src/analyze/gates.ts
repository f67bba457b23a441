/**
 * CI gate rules: small objects with a name, a threshold and an evaluation (as dive's CI rules are), each
 * `pass`, `fail` or `skip`. Sizes and ratios are parsed as CONTRACT.md defines them; dive's three rules keep
 * dive's strict comparisons so a `.dive-ci` gives the same verdict here.
 */
import picomatch from 'picomatch';
import { UsageError } from '../errors.js';
import { parseSize } from '../model/units.js';
import { growthMeasure, sizeGrowth, type SizedLayer } from './diff.js';

/** Bytes, or a percentage of the baseline (`5%`). */
export function parseGrowth(value: unknown, name: string): { bytes: number } | { ratio: number } {
  const text = String(value ?? '').trim();
  if (text.endsWith('%')) {
    const ratio = Number(text.slice(0, -1)) / 100;
    if (!Number.isFinite(ratio) || ratio < 0) throw new UsageError(`${name}: "${text}" is not a percentage`);
    return { ratio };
  }
  return { bytes: parseSize(text, name) };
}

export interface RuleResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  threshold: number | string | string[] | null;
  actual: number | string | string[] | boolean | null;
  /** One sentence for people and CI annotations. */
  message: string;
  /** `actual` is (or includes) an estimate: the gzip -6 size of layers stored uncompressed. */
  estimated: boolean;
  /** Growth rules: which figure was compared (null elsewhere). */
  measure: string | null;
}

type Result = Omit<RuleResult, 'estimated' | 'measure'> & Partial<Pick<RuleResult, 'estimated' | 'measure'>>;

/** What the rules look at, gathered from the report (and the platform listing, the baseline). */
export interface GateFacts {
  /** The pull cost: real compressed sizes, with the estimate for layers stored uncompressed. */
  compressedSize: number | null;
  compressedSizeEstimated: boolean;
  uncompressedSize: number | null;
  contentSize: number | null;
  /** Each layer's pull cost, as `compressedSize`. */
  layerSizes: (number | null)[];
  layerSizesEstimated: boolean;
  /** The layers, for growth against the baseline. */
  layers: SizedLayer[];
  /** Null (with everything that needs every layer's content) when a layer could not be read: see `blockedBy`. */
  largestFile: { path: string; size: number } | null;
  files: number | null;
  paths: string[] | null;
  efficiency: number | null;
  wastedBytes: number | null;
  userWastedPercent: number | null;
  reclaimableBytes: number | null;
  /** Why content figures are unknown ("layer 1 is damaged"), or null when every layer was read. */
  blockedBy: string | null;
  verified: boolean;
  failedChecks: number;
  /** container:NAME: the bytes of the writable layer's files (null: blocked); undefined for an image. */
  writableSize?: number | null;
  /** container:NAME: the paths the container added or rewrote (null: blocked); undefined for an image. */
  writtenPaths?: string[] | null;
  platforms: string[] | null;
  missingPlatforms: string[] | null;
  /** The baseline's layers (null: a saved report without them, compared by its totals). */
  baseline: { compressedSize: number | null; uncompressedSize: number | null; input: string; layers: SizedLayer[] | null; blockedBy?: string | null } | null;
}

/** How a rule's value is written and read (cli/check-config.ts parses each kind). */
export type RuleKind = 'size' | 'count' | 'ratio' | 'boolean' | 'platforms' | 'globs' | 'growth';
type GrowthLimit = { bytes: number } | { ratio: number };
interface KindValue {
  size: number;
  count: number;
  ratio: number;
  boolean: boolean;
  platforms: string[];
  globs: string[];
  growth: GrowthLimit;
}

/**
 * Every rule `check` knows, once: the kind of its value, the line `check --help` shows for it, and whether it is
 * one of dive's three `.dive-ci` rules. The config keys, the flags (`--max-size` …), the help and GateConfig all
 * come from this table; `minSizeForRatio` is no rule of its own but a condition on the ratio rules.
 */
export const RULES = {
  maxSize: { kind: 'size', help: 'largest compressed size (the pull cost), e.g. 150MB' },
  maxUncompressedSize: { kind: 'size', help: 'largest uncompressed size' },
  maxLayerSize: { kind: 'size', help: 'largest compressed layer' },
  maxLayers: { kind: 'count', help: 'most layers' },
  maxFileSize: { kind: 'size', help: 'largest single file' },
  maxFiles: { kind: 'count', help: 'most paths in the final filesystem (what `files` lists)' },
  lowestEfficiency: { kind: 'ratio', help: "dive's efficiency floor: 0.95 or 95%", dive: true },
  highestWastedBytes: { kind: 'size', help: "dive's wasted-bytes ceiling, e.g. 20MB", dive: true },
  highestUserWastedPercent: { kind: 'ratio', help: "dive's user-wasted ceiling: 0.1 or 10%", dive: true },
  maxReclaimableBytes: { kind: 'size', help: 'most bytes squashing would reclaim' },
  maxWritableSize: { kind: 'size', help: "container:NAME: most bytes the container's writable layer holds" },
  minSizeForRatio: { kind: 'size', help: 'apply ratio rules only to images at least this big' },
  requireVerified: { kind: 'boolean', help: 'true: every digest, size and diff_id must match' },
  requirePlatforms: { kind: 'platforms', help: 'platforms that must be present: linux/amd64,linux/arm64' },
  forbidPaths: { kind: 'globs', help: "globs that must not exist: '**/.env,**/id_rsa'" },
  forbidWritablePaths: { kind: 'globs', help: "container:NAME: globs the container must not have written: '/app/**'" },
  maxGrowth: { kind: 'growth', help: 'compressed growth over --baseline: bytes or 5%' },
  maxUncompressedGrowth: { kind: 'growth', help: 'uncompressed growth over --baseline' },
} as const satisfies Record<string, { kind: RuleKind; help: string; dive?: true }>;

export type RuleName = keyof typeof RULES;

/** The rules configured, each with the value its kind reads to. */
export type GateConfig = { [Name in RuleName]?: KindValue[(typeof RULES)[Name]['kind']] };

export const RULE_NAMES = Object.keys(RULES) as RuleName[];

/** dive's `.dive-ci` rules, in the table's order. */
export const DIVE_RULES = RULE_NAMES.filter((name) => 'dive' in RULES[name]);

function sizeRule(name: string, threshold: number | undefined, actual: number | null, what: string, estimated = false): Result {
  if (threshold === undefined) return { name, status: 'skip', threshold: null, actual, message: `${name} not set` };
  if (actual === null) return { name, status: 'skip', threshold, actual, message: `${what} is not known for this image` };
  const ok = actual <= threshold;
  const how = estimated ? ' (estimated: gzip -6 of the layers stored uncompressed, as a push would store them)' : '';
  return { name, status: ok ? 'pass' : 'fail', threshold, actual, estimated, message: `${what} is ${actual}${how}${ok ? ', within' : ', more than'} ${threshold}` };
}

function globRule(name: 'forbidPaths' | 'forbidWritablePaths', globs: string[] | undefined, paths: string[] | null, blockedBy: string | null, found: string, none: string): Result {
  if (!globs?.length) return { name, status: 'skip', threshold: null, actual: null, message: `${name} not set` };
  if (paths === null) return { name, status: 'skip', threshold: globs, actual: null, message: `not evaluated: ${blockedBy}` };
  // flags 's': picomatch's `**` is built on `.`, which without it lets `/a\nb/.env` pass `**/.env`.
  const matchers = globs.map((glob) => picomatch(glob.replace(/^\/+/, ''), { dot: true, flags: 's' }));
  const matched = paths.filter((path) => matchers.some((match) => match(path.replace(/^\/+/, ''))));
  return { name, status: matched.length ? 'fail' : 'pass', threshold: globs, actual: matched.slice(0, 50), message: matched.length ? `${found}: ${matched.slice(0, 5).join(', ')}${matched.length > 5 ? ` and ${matched.length - 5} more` : ''}` : none };
}

function growthRule(name: string, limit: GateConfig['maxGrowth'], facts: GateFacts, pick: 'compressedSize' | 'uncompressedSize', what: string): Result {
  if (!limit) return { name, status: 'skip', threshold: null, actual: null, message: `${name} not set` };
  const threshold = 'ratio' in limit ? `${(limit.ratio * 100).toFixed(2).replace(/\.?0+$/, '')}%` : limit.bytes;
  if (!facts.baseline) return { name, status: 'skip', threshold, actual: null, message: `${name} needs --baseline` };
  // Growth measured on a damaged side would credit the config's unverified claims (a diffId "shared" by a layer
  // that could not be read): not evaluated, the integrity test says why.
  const blockedBy = facts.blockedBy ?? facts.baseline.blockedBy ?? null;
  if (blockedBy) return { name, status: 'skip', threshold, actual: null, message: `not evaluated: ${blockedBy}` };
  // Layer by layer where the baseline names its layers; a saved report without them only has its totals.
  const growth = facts.baseline.layers ? sizeGrowth(facts.baseline.layers, facts.layers, pick) : null;
  const totals = pick === 'compressedSize' ? { base: facts.baseline.compressedSize, now: facts.compressedSize } : { base: facts.baseline.uncompressedSize, now: facts.uncompressedSize };
  const compared = growth ?? (!facts.baseline.layers && totals.base !== null && totals.now !== null ? { base: totals.base, now: totals.now, shared: 0, estimated: pick === 'compressedSize' && facts.compressedSizeEstimated } : null);
  if (!compared) return { name, status: 'skip', threshold, actual: null, message: `${what} is not known for every layer of the image or the baseline that they do not share` };
  const measure = growth ? growthMeasure(pick, growth) : `${pick === 'compressedSize' ? 'compressed' : 'uncompressed'} size, totals of the saved report (it lists no layers)`;
  const { base, now } = compared;
  const change = now - base;
  const allowed = 'ratio' in limit ? base * limit.ratio : limit.bytes;
  const ok = change <= allowed;
  const shown = 'ratio' in limit ? `${base === 0 ? 0 : ((change / base) * 100).toFixed(2)}%` : change;
  return { name, status: ok ? 'pass' : 'fail', threshold, actual: shown, estimated: compared.estimated, measure, message: `${what} grew by ${change} bytes (${base} → ${now}; ${measure})${ok ? '' : `, more than the ${threshold} allowed`}` };
}

export function evaluateGates(config: GateConfig, facts: GateFacts): RuleResult[] {
  const results: Result[] = [];
  // A rule whose figure a damaged layer leaves unknown is not evaluated (the integrity test fails instead).
  const blocked = (name: string, threshold: Result['threshold']): Result => ({ name, status: 'skip', threshold, actual: null, message: `not evaluated: ${facts.blockedBy}` });
  results.push(sizeRule('maxSize', config.maxSize, facts.compressedSize, 'the compressed size (pull cost)', facts.compressedSizeEstimated));
  results.push(sizeRule('maxUncompressedSize', config.maxUncompressedSize, facts.uncompressedSize, 'the uncompressed size'));
  const largestLayer = facts.layerSizes.every((size) => size !== null) ? Math.max(0, ...(facts.layerSizes as number[])) : null;
  results.push(sizeRule('maxLayerSize', config.maxLayerSize, largestLayer, 'the largest layer (compressed)', facts.layerSizesEstimated));
  results.push(sizeRule('maxLayers', config.maxLayers, facts.layerSizes.length, 'the layer count'));
  const content = facts.blockedBy === null;
  const fileRule = sizeRule('maxFileSize', config.maxFileSize, content ? (facts.largestFile?.size ?? 0) : null, `the largest file${facts.largestFile ? ` (${facts.largestFile.path})` : ''}`);
  results.push(fileRule.status === 'skip' && fileRule.threshold !== null && !content ? blocked('maxFileSize', fileRule.threshold) : fileRule);
  const filesRule = sizeRule('maxFiles', config.maxFiles, facts.files, 'the number of paths in the final filesystem');
  results.push(filesRule.status === 'skip' && filesRule.threshold !== null && !content ? blocked('maxFiles', filesRule.threshold) : filesRule);

  // Ratio rules (dive's) can be limited to images above a size, so tiny images don't fail on a few bytes.
  const small = config.minSizeForRatio !== undefined && (facts.contentSize ?? 0) < config.minSizeForRatio;
  const ratioSkip = (name: string, threshold: number) => ({ name, status: 'skip' as const, threshold, actual: null, message: `the image is smaller than minSizeForRatio (${config.minSizeForRatio} bytes)` });
  if (config.lowestEfficiency === undefined) results.push({ name: 'lowestEfficiency', status: 'skip', threshold: null, actual: facts.efficiency, message: 'lowestEfficiency not set' });
  else if (facts.efficiency === null) results.push(blocked('lowestEfficiency', config.lowestEfficiency));
  else if (small) results.push(ratioSkip('lowestEfficiency', config.lowestEfficiency));
  else {
    const ok = !(facts.efficiency < config.lowestEfficiency); // dive: fail when efficiency < threshold
    results.push({ name: 'lowestEfficiency', status: ok ? 'pass' : 'fail', threshold: config.lowestEfficiency, actual: facts.efficiency, message: `efficiency is ${facts.efficiency}${ok ? '' : `, below ${config.lowestEfficiency}`}` });
  }
  if (config.highestWastedBytes === undefined) results.push({ name: 'highestWastedBytes', status: 'skip', threshold: null, actual: facts.wastedBytes, message: 'highestWastedBytes not set' });
  else if (facts.wastedBytes === null) results.push(blocked('highestWastedBytes', config.highestWastedBytes));
  else {
    const ok = !(facts.wastedBytes > config.highestWastedBytes); // dive: fail when wasted > threshold
    results.push({ name: 'highestWastedBytes', status: ok ? 'pass' : 'fail', threshold: config.highestWastedBytes, actual: facts.wastedBytes, message: `wasted bytes are ${facts.wastedBytes}${ok ? '' : `, more than ${config.highestWastedBytes}`}` });
  }
  if (config.highestUserWastedPercent === undefined) {
    results.push({ name: 'highestUserWastedPercent', status: 'skip', threshold: null, actual: facts.userWastedPercent, message: 'highestUserWastedPercent not set' });
  } else if (!content) results.push(blocked('highestUserWastedPercent', config.highestUserWastedPercent));
  else if (small) results.push(ratioSkip('highestUserWastedPercent', config.highestUserWastedPercent));
  else if (facts.userWastedPercent === null) {
    results.push({ name: 'highestUserWastedPercent', status: 'skip', threshold: config.highestUserWastedPercent, actual: null, message: 'the image has no bytes above its base layer' });
  } else {
    const ok = !(facts.userWastedPercent > config.highestUserWastedPercent);
    results.push({ name: 'highestUserWastedPercent', status: ok ? 'pass' : 'fail', threshold: config.highestUserWastedPercent, actual: facts.userWastedPercent, message: `user wasted percent is ${facts.userWastedPercent}${ok ? '' : `, more than ${config.highestUserWastedPercent}`}` });
  }
  if (config.maxReclaimableBytes !== undefined && facts.reclaimableBytes === null) results.push(blocked('maxReclaimableBytes', config.maxReclaimableBytes));
  else results.push(sizeRule('maxReclaimableBytes', config.maxReclaimableBytes, facts.reclaimableBytes, 'reclaimable bytes'));
  // A container's writable layer alone (the rest of the rules see the whole union, image and writable layer).
  if (config.maxWritableSize !== undefined && facts.writableSize === undefined) {
    results.push({ name: 'maxWritableSize', status: 'skip', threshold: config.maxWritableSize, actual: null, message: 'not evaluated: the image is not a container (maxWritableSize is for container:NAME)' });
  } else results.push(sizeRule('maxWritableSize', config.maxWritableSize, facts.writableSize ?? null, "the container's writable layer"));

  if (!config.requireVerified) results.push({ name: 'requireVerified', status: 'skip', threshold: null, actual: facts.verified, message: 'requireVerified not set' });
  else results.push({ name: 'requireVerified', status: facts.verified ? 'pass' : 'fail', threshold: 'all checks pass', actual: facts.verified ? 'all checks pass' : `${facts.failedChecks} failed`, message: facts.verified ? 'every digest, size and diff_id matches' : `${facts.failedChecks} digest/size/diff_id check(s) failed` });

  if (!config.requirePlatforms?.length) results.push({ name: 'requirePlatforms', status: 'skip', threshold: null, actual: facts.platforms, message: 'requirePlatforms not set' });
  else {
    const missing = facts.missingPlatforms ?? [];
    results.push({ name: 'requirePlatforms', status: missing.length ? 'fail' : 'pass', threshold: config.requirePlatforms, actual: facts.platforms, message: missing.length ? `missing platform(s): ${missing.join(', ')}` : 'every required platform is present' });
  }

  results.push(globRule('forbidPaths', config.forbidPaths, facts.paths, facts.blockedBy, 'forbidden path(s)', 'no forbidden path'));
  // What a container wrote (a service writing into /app is a smell); its image's own paths are forbidPaths' business.
  if (config.forbidWritablePaths?.length && facts.writtenPaths === undefined) {
    results.push({ name: 'forbidWritablePaths', status: 'skip', threshold: config.forbidWritablePaths, actual: null, message: 'not evaluated: the image is not a container (forbidWritablePaths is for container:NAME)' });
  } else results.push(globRule('forbidWritablePaths', config.forbidWritablePaths, facts.writtenPaths ?? null, facts.blockedBy, 'the container wrote forbidden path(s)', 'the container wrote no forbidden path'));

  results.push(growthRule('maxGrowth', config.maxGrowth, facts, 'compressedSize', 'the compressed size'));
  results.push(growthRule('maxUncompressedGrowth', config.maxUncompressedGrowth, facts, 'uncompressedSize', 'the uncompressed size'));
  return results.map((result) => ({ ...result, estimated: result.estimated ?? false, measure: result.measure ?? null }));
}
