/**
 * Gate configuration: `.layerlens.yml`/`.layerlens.yaml`/`.layerlens.json` (or `--config FILE`), else dive's
 * `.dive-ci`, then flags on top. Unknown keys in a `.layerlens.*` file are errors naming the file and key;
 * dive's file keeps dive's leniency (other keys such as `plugins` are ignored with a note).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { DIVE_RULES, parseGrowth, RULES, type GateConfig, type RuleName } from '../analyze/gates.js';
import { parseRatio, parseSize } from '../model/units.js';
import { UsageError } from '../errors.js';
import { formatPlatform, parsePlatform } from '../image/platform.js';
import { jsonErrorReason, jsonTooDeep, MAX_JSON_DEPTH } from '../image/parse.js';

/**
 * dive's CI defaults (its viper defaults: lowestEfficiency "0.9", highestWastedBytes "disabled",
 * highestUserWastedPercent "0.1"). dive sets them before it reads `.dive-ci`, so a file that names one rule keeps
 * the others; layerlens applies them the same way, and when no rule is configured anywhere.
 */
export const DIVE_DEFAULTS: Readonly<GateConfig> = { lowestEfficiency: 0.9, highestUserWastedPercent: 0.1 };
export const DIVE_DEFAULTS_NOTE = "no rules configured: dive's defaults (lowestEfficiency 0.9, highestUserWastedPercent 0.1)";

/** dive's way of turning a rule off. */
function isDisabled(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return true;
  return typeof value === 'string' && ['', 'disabled', 'off', 'false'].includes(value.trim().toLowerCase());
}

function list(value: unknown, name: string): string[] {
  if (Array.isArray(value)) return value.map((item) => String(item).trim()).filter(Boolean);
  if (typeof value === 'string') return value.split(',').map((item) => item.trim()).filter(Boolean);
  throw new UsageError(`${name}: expected a list or a comma-separated string`);
}

/** Parse one rule value; `name` says where it came from (file and key, or flag). */
export function parseRuleValue(key: RuleName, value: unknown, name: string): GateConfig[RuleName] {
  switch (RULES[key].kind) {
    case 'size':
      return parseSize(value, name);
    case 'count': {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 0) throw new UsageError(`${name}: "${String(value)}" is not a whole number`);
      return count;
    }
    case 'ratio':
      return parseRatio(value, name);
    case 'boolean':
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      throw new UsageError(`${name}: expected true or false`);
    case 'platforms':
      return list(value, name).map((text) => formatPlatform(parsePlatform(text)));
    case 'globs':
      return list(value, name);
    case 'growth':
      return parseGrowth(value, name);
  }
}

export interface LoadedConfig {
  config: GateConfig;
  /** The file read, or null. */
  file: string | null;
  /** Rules the file names, a disabled one included (a file that only turns rules off has configured them). */
  named: number;
  notes: string[];
}

function readStructured(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const json = file.endsWith('.json');
  let data: unknown;
  try {
    data = json ? JSON.parse(text) : (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
  } catch (error) {
    // The YAML parser recurses: a deeply nested flow sequence overflows its stack.
    if (error instanceof RangeError || /Maximum call stack/.test(String((error as Error).message))) throw tooDeep(file);
    throw new UsageError(`${file} is not valid ${json ? 'JSON' : 'YAML'}: ${(json ? jsonErrorReason(error) : (error as Error).message).split('\n')[0]}`);
  }
  // A rule config is two levels deep; refuse anything absurd before a value is turned into text.
  if (typeof data === 'object' && data !== null && jsonTooDeep(data)) throw tooDeep(file);
  return data;
}

function tooDeep(file: string): UsageError {
  return new UsageError(`${file} is nested more than ${MAX_JSON_DEPTH} levels deep: not a layerlens or dive configuration`);
}

function isDiveFile(file: string): boolean {
  return path.basename(file) === '.dive-ci' || path.basename(file).startsWith('.dive-ci.');
}

/** Find and read the config: --config, else .layerlens.{yml,yaml,json} in the working directory, else .dive-ci. */
export function loadGateConfig(explicit: string | undefined, cwd = process.cwd()): LoadedConfig {
  const candidates = ['.layerlens.yml', '.layerlens.yaml', '.layerlens.json', '.dive-ci'].map((name) => path.join(cwd, name));
  const file = explicit ?? candidates.find((candidate) => existsSync(candidate)) ?? null;
  if (!file) return { config: {}, file: null, named: 0, notes: [] };
  if (explicit && !existsSync(explicit)) throw new UsageError(`--config ${explicit}: no such file`);
  const data = readStructured(file);
  const notes: string[] = [];
  const dive = isDiveFile(file);
  const config: GateConfig = dive ? { ...DIVE_DEFAULTS } : {};
  let named = 0;
  if (data === null || data === undefined) return { config, file, named, notes };
  if (typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`${file}: expected a mapping of rules`);
  const entries = data as Record<string, unknown>;

  if (dive) {
    for (const key of Object.keys(entries)) if (key !== 'rules') notes.push(`${file}: dive's "${key}" is not used by layerlens; ignored`);
    const rules = entries.rules;
    if (rules !== undefined && rules !== null && (typeof rules !== 'object' || Array.isArray(rules))) throw new UsageError(`${file}: "rules" must be a mapping`);
    for (const [key, value] of Object.entries((rules as Record<string, unknown>) ?? {})) {
      if (!(DIVE_RULES as string[]).includes(key)) {
        notes.push(`${file}: rule "${key}" is not one of dive's (${DIVE_RULES.join(', ')}); ignored`);
        continue;
      }
      named++;
      if (isDisabled(value)) {
        delete config[key as keyof GateConfig];
        continue;
      }
      Object.assign(config, { [key]: parseRuleValue(key as keyof GateConfig, value, `${file}: rules.${key}`) });
    }
    // dive's defaults fill what the file leaves unset: they are configured by it, as in dive.
    return { config, file, named: named + DIVE_RULES.length, notes };
  }

  const body = 'rules' in entries && typeof entries.rules === 'object' && entries.rules !== null && Object.keys(entries).length === 1 ? (entries.rules as Record<string, unknown>) : entries;
  for (const [key, value] of Object.entries(body)) {
    if (!(key in RULES)) {
      throw new UsageError(`${file}: unknown key "${key}" (known: ${Object.keys(RULES).join(', ')})`);
    }
    named++;
    if (isDisabled(value) && RULES[key as RuleName].kind !== 'boolean') continue;
    Object.assign(config, { [key]: parseRuleValue(key as keyof GateConfig, value, `${file}: ${key}`) });
  }
  return { config, file, named, notes };
}

/** `maxSize` ↔ `--max-size`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
