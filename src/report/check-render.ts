/** Gate results for people (table), PR comments (markdown), CI test reports (JUnit XML) and GitHub annotations. */
import type { RuleResult } from '../analyze/gates.js';
import { humanSize, truncate, type Style } from './format.js';
import { table } from './table.js';

const SIZE_RULES = new Set(['maxSize', 'maxUncompressedSize', 'maxLayerSize', 'maxFileSize', 'highestWastedBytes', 'maxReclaimableBytes']);

export function showValue(rule: RuleResult, value: RuleResult['threshold'] | RuleResult['actual']): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(', ') || '-';
  if (typeof value === 'number') {
    if (SIZE_RULES.has(rule.name)) return `${humanSize(value)} (${value})`;
    if (rule.name === 'lowestEfficiency' || rule.name === 'highestUserWastedPercent') return `${(value * 100).toFixed(2)} %`;
    if ((rule.name === 'maxGrowth' || rule.name === 'maxUncompressedGrowth') && value >= 1000) return humanSize(value);
  }
  return String(value);
}

export function renderCheckTable(image: string, rules: RuleResult[], passed: boolean, style: Style): string {
  const t = table(['Rule', 'Status', 'Threshold', 'Actual'], style, ['left', 'left', 'left', 'left']);
  const colour = { pass: style.color.green, fail: style.color.red.bold, skip: style.color.dim };
  for (const rule of rules) {
    t.push([rule.name, colour[rule.status](rule.status.toUpperCase()), truncate(showValue(rule, rule.threshold), 28), truncate(showValue(rule, rule.actual), Math.max(16, style.width - 66))]);
  }
  const failed = rules.filter((rule) => rule.status === 'fail');
  const lines = [style.color.bold(`layerlens check ${image}`), '', t.toString(), ''];
  for (const rule of failed) lines.push(style.color.red(`✗ ${rule.name}: ${rule.message}`));
  lines.push(passed ? style.color.green.bold('PASS: every rule passed') : style.color.red.bold(`FAIL: ${failed.length || 'a'} ${failed.length === 1 ? 'rule' : 'rules'} failed`));
  return lines.join('\n') + '\n';
}

function escapeMarkdown(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderCheckMarkdown(image: string, rules: RuleResult[], passed: boolean, extra: { compressedSize: number | null; uncompressedSize: number | null; efficiency: number }): string {
  const icon = { pass: '✅', fail: '❌', skip: '⏭️' };
  const lines = [
    `### ${passed ? '✅' : '❌'} layerlens check: \`${escapeMarkdown(image)}\``,
    '',
    `Compressed **${humanSize(extra.compressedSize)}**, uncompressed **${humanSize(extra.uncompressedSize)}**, efficiency **${(extra.efficiency * 100).toFixed(2)} %**.`,
    '',
    '| Rule | Status | Threshold | Actual |',
    '| --- | --- | --- | --- |',
  ];
  for (const rule of rules) {
    if (rule.status === 'skip' && rule.threshold === null) continue; // not configured: keep the comment short
    lines.push(`| ${rule.name} | ${icon[rule.status]} ${rule.status} | ${escapeMarkdown(showValue(rule, rule.threshold))} | ${escapeMarkdown(showValue(rule, rule.actual))} |`);
  }
  const failed = rules.filter((rule) => rule.status === 'fail');
  if (failed.length) {
    lines.push('');
    for (const rule of failed) lines.push(`- **${rule.name}**: ${escapeMarkdown(rule.message)}`);
  }
  return lines.join('\n') + '\n';
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** One testcase per rule; failures carry the message, skipped rules are marked skipped. */
export function renderCheckJunit(image: string, rules: RuleResult[], seconds: number): string {
  const failures = rules.filter((rule) => rule.status === 'fail').length;
  const skipped = rules.filter((rule) => rule.status === 'skip').length;
  const suite = `layerlens check ${image}`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="layerlens" tests="${rules.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds.toFixed(3)}">`,
    `  <testsuite name="${xml(suite)}" tests="${rules.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds.toFixed(3)}">`,
  ];
  for (const rule of rules) {
    const open = `    <testcase classname="layerlens.check" name="${xml(rule.name)}" time="0">`;
    if (rule.status === 'fail') {
      lines.push(open, `      <failure message="${xml(rule.message)}" type="threshold">${xml(`threshold: ${showValue(rule, rule.threshold)}; actual: ${showValue(rule, rule.actual)}`)}</failure>`, '    </testcase>');
    } else if (rule.status === 'skip') {
      lines.push(open, `      <skipped message="${xml(rule.message)}"/>`, '    </testcase>');
    } else {
      lines.push(`    <testcase classname="layerlens.check" name="${xml(rule.name)}" time="0"/>`);
    }
  }
  lines.push('  </testsuite>', '</testsuites>');
  return lines.join('\n') + '\n';
}

/** GitHub Actions workflow commands: one ::error per failed rule. */
export function githubAnnotations(rules: RuleResult[]): string {
  const escape = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return rules
    .filter((rule) => rule.status === 'fail')
    .map((rule) => `::error title=layerlens ${rule.name}::${escape(rule.message)}\n`)
    .join('');
}
