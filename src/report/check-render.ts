/** Gate results for people (table), PR comments (markdown), CI test reports (JUnit XML) and GitHub annotations. */
import type { RuleResult } from '../analyze/gates.js';
import { escapeMarkdown, escapeTerminal as esc, escapeXml as xml, githubCommandData, githubCommandProperty, markdownCode } from './escape.js';
import { humanSize, percentText, truncate, type Style } from './format.js';
import { table } from './table.js';

const SIZE_RULES = new Set(['maxSize', 'maxUncompressedSize', 'maxLayerSize', 'maxFileSize', 'highestWastedBytes', 'maxReclaimableBytes']);

export function showValue(rule: RuleResult, value: RuleResult['threshold'] | RuleResult['actual']): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(', ') || '-';
  if (typeof value === 'number') {
    if (SIZE_RULES.has(rule.name)) return `${humanSize(value)} (${value})`;
    if (rule.name === 'lowestEfficiency' || rule.name === 'highestUserWastedPercent') return percentText(value);
    if ((rule.name === 'maxGrowth' || rule.name === 'maxUncompressedGrowth') && value >= 1000) return humanSize(value);
  }
  // Growth rules keep `5%` in the JSON (the contract's values); tables show every percent one way: `5 %`.
  if (typeof value === 'string') return value.replace(/^(-?\d+(?:\.\d+)?)%$/, '$1 %');
  return String(value);
}

/** The actual value, marked when it is an estimate (maxSize on layers stored uncompressed). */
function actualText(rule: RuleResult): string {
  return `${showValue(rule, rule.actual)}${rule.estimated ? ' estimated' : ''}`;
}

/** What a check shows: the configured rules, the integrity test every check has, and where the rules came from. */
export interface CheckShown {
  rules: RuleResult[];
  integrity: RuleResult;
  /** The config file used, or null. */
  config: string | null;
  /** No rule was configured: dive's CI defaults apply. */
  defaults: boolean;
}

/** Where the rules came from, in one line. */
export function rulesOrigin(shown: CheckShown): string {
  if (shown.defaults) return `no rules configured: dive's defaults${shown.config ? ` (${shown.config} sets none)` : ''}`;
  return shown.config ? `rules from ${shown.config}, then flags` : 'rules from flags';
}

export function renderCheckTable(image: string, shown: CheckShown, passed: boolean, style: Style): string {
  const t = table(['Rule', 'Status', 'Threshold', 'Actual'], style, ['left', 'left', 'left', 'left']);
  const colour = { pass: style.color.green, fail: style.color.red.bold, skip: style.color.dim };
  for (const rule of [shown.integrity, ...shown.rules]) {
    t.push([esc(rule.name), colour[rule.status](rule.status.toUpperCase()), truncate(showValue(rule, rule.threshold), 28), truncate(actualText(rule), Math.max(16, style.width - 66))]);
  }
  const failed = [shown.integrity, ...shown.rules].filter((rule) => rule.status === 'fail');
  const lines = [style.color.bold(`layerlens check ${esc(image)}`), style.color.dim(esc(rulesOrigin(shown))), '', t.toString(), ''];
  for (const rule of failed) lines.push(style.color.red(`✗ ${esc(rule.name)}: ${esc(rule.message)}`));
  lines.push(
    failed.length === 0 && passed
      ? style.color.green.bold(`PASS: every rule passed${shown.rules.length ? '' : ' (no rule to check)'}`)
      : style.color.red.bold(`FAIL: ${failed.length || 'a'} ${failed.length === 1 ? 'check' : 'checks'} failed`),
  );
  return lines.join('\n') + '\n';
}

/** A threshold or actual value in markdown: our own figures as they are, anything else (paths, platforms) escaped. */
function markdownValue(rule: RuleResult, value: RuleResult['threshold'] | RuleResult['actual']): string {
  const text = showValue(rule, value);
  return typeof value === 'number' || typeof value === 'boolean' || value === null ? text : escapeMarkdown(text);
}

export function renderCheckMarkdown(image: string, shown: CheckShown, passed: boolean, extra: { compressedSize: number | null; uncompressedSize: number | null; efficiency: number | null }): string {
  const icon = { pass: '✅', fail: '❌', skip: '⏭️' };
  const rules = [shown.integrity, ...shown.rules];
  const ok = passed && shown.integrity.status !== 'fail';
  const lines = [
    `### ${ok ? '✅' : '❌'} layerlens check: ${markdownCode(image, false)}`,
    '',
    `Compressed **${humanSize(extra.compressedSize)}**, uncompressed **${humanSize(extra.uncompressedSize)}**, efficiency **${extra.efficiency === null ? 'unknown (a layer could not be read)' : percentText(extra.efficiency)}**. ${escapeMarkdown(rulesOrigin(shown))}.`,
    '',
    '| Rule | Status | Threshold | Actual |',
    '| --- | --- | --- | --- |',
  ];
  for (const rule of rules) {
    if (rule.status === 'skip' && rule.threshold === null) continue; // not configured: keep the comment short
    lines.push(`| ${escapeMarkdown(rule.name)} | ${icon[rule.status]} ${rule.status} | ${markdownValue(rule, rule.threshold)} | ${markdownValue(rule, rule.actual)}${rule.estimated ? ' (estimated)' : ''} |`);
  }
  const failed = rules.filter((rule) => rule.status === 'fail');
  if (failed.length) {
    lines.push('');
    for (const rule of failed) lines.push(`- **${escapeMarkdown(rule.name)}**: ${escapeMarkdown(rule.message)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The integrity test, then one testcase per configured rule; failures carry the message, skipped rules are marked
 * skipped. One testsuite per image checked (one, or each platform with --all-platforms); an image that could not
 * be checked is a testsuite with one test in error, so CI shows it failed rather than missing.
 */
export function renderCheckJunit(suites: { name: string; shown: CheckShown }[], seconds: number, unreadable: { name: string; message: string }[] = []): string {
  const body: string[] = [];
  let tests = 0;
  let failuresTotal = 0;
  let skippedTotal = 0;
  const time = seconds.toFixed(3);
  for (const { name, shown } of suites) {
    const rules = [shown.integrity, ...shown.rules];
    const failures = rules.filter((rule) => rule.status === 'fail').length;
    const skipped = rules.filter((rule) => rule.status === 'skip').length;
    tests += rules.length;
    failuresTotal += failures;
    skippedTotal += skipped;
    body.push(`  <testsuite name="${xml(`layerlens check ${name}`)}" tests="${rules.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time}">`);
    for (const rule of rules) {
      const open = `    <testcase classname="layerlens.check" name="${xml(rule.name)}" time="0">`;
      if (rule.status === 'fail') {
        body.push(open, `      <failure message="${xml(rule.message)}" type="${rule.name === 'integrity' ? 'integrity' : 'threshold'}">${xml(`threshold: ${showValue(rule, rule.threshold)}; actual: ${showValue(rule, rule.actual)}`)}</failure>`, '    </testcase>');
      } else if (rule.status === 'skip') {
        body.push(open, `      <skipped message="${xml(rule.message)}"/>`, '    </testcase>');
      } else {
        body.push(`    <testcase classname="layerlens.check" name="${xml(rule.name)}" time="0"/>`);
      }
    }
    body.push('  </testsuite>');
  }
  for (const { name, message } of unreadable) {
    tests++;
    body.push(...errorSuite(name, message, time));
  }
  return ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="layerlens" tests="${tests}" failures="${failuresTotal}" errors="${unreadable.length}" skipped="${skippedTotal}" time="${time}">`, ...body, '</testsuites>'].join('\n') + '\n';
}

function errorSuite(name: string, message: string, time: string): string[] {
  return [
    `  <testsuite name="${xml(`layerlens check ${name}`)}" tests="1" failures="0" errors="1" skipped="0" time="${time}">`,
    '    <testcase classname="layerlens.check" name="read the image" time="0">',
    `      <error message="${xml(message)}" type="unreadable">${xml(message)}</error>`,
    '    </testcase>',
    '  </testsuite>',
  ];
}

/**
 * When check cannot read the image (exit 3), the JUnit report still exists: one test, in error, saying why (the
 * message can quote a registry's error code or an archive's member name: escaped like every other text).
 */
export function renderCheckJunitError(image: string, message: string, seconds: number): string {
  const time = seconds.toFixed(3);
  return ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="layerlens" tests="1" failures="0" errors="1" skipped="0" time="${time}">`, ...errorSuite(image, message, time), '</testsuites>'].join('\n') + '\n';
}

/** GitHub Actions workflow commands: one ::error per failed rule, always one line whatever the message quotes. */
export function githubAnnotations(rules: RuleResult[]): string {
  return rules
    .filter((rule) => rule.status === 'fail')
    .map((rule) => `::error title=${githubCommandProperty(`layerlens ${rule.name}`)}::${githubCommandData(rule.message)}\n`)
    .join('');
}
