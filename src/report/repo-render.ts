/** `layerlens repo` for people: a table (terminal) and markdown (a job summary). Renders; computes nothing. */
import type { RepoReport, RepoTag } from '../model/repo.js';
import { escapeMarkdown, markdownCode } from './escape.js';
import { humanSize, shorten, truncate, truncatePath, type Style } from './format.js';

export type RepoSort = 'tag' | 'size' | 'unique';

/** Rows in the order the user asked: by unique bytes (what a cleanup frees first), by size, or as listed. */
export function sortedTags(report: RepoReport, sort: RepoSort): RepoTag[] {
  const rows = [...report.tags];
  const byName = (a: RepoTag, b: RepoTag) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
  if (sort === 'unique') rows.sort((a, b) => b.uniqueBytes - a.uniqueBytes || b.size - a.size || byName(a, b));
  else if (sort === 'size') rows.sort((a, b) => b.size - a.size || b.uniqueBytes - a.uniqueBytes || byName(a, b));
  return rows;
}

/** A tag as the table names it: alone for one repository, `repository:tag` for a whole registry. */
function tagName(report: RepoReport, row: { repository: string; tag: string | null }): string {
  return report.scope === 'registry' ? `${row.repository}${row.tag === null ? '' : `:${row.tag}`}` : (row.tag ?? row.repository);
}

function heading(report: RepoReport): string {
  return report.repository ?? `${report.registry} (${report.repositories.length} repositories)`;
}

function platformsCell(platforms: string[]): string {
  return platforms.length ? platforms.join(', ') : '-';
}

function summaryLine(report: RepoReport): string {
  const { totals } = report;
  const saved = totals.sumOfTagSizes - totals.storedBytes;
  return `Stored: ${humanSize(totals.storedBytes)} (each blob once); the tags' sizes sum to ${humanSize(totals.sumOfTagSizes)}${saved > 0 ? `: sharing saves ${humanSize(saved)}` : ''}.`;
}

export function renderRepoTable(report: RepoReport, style: Style, sort: RepoSort): string {
  const { color } = style;
  const out: string[] = [];
  const { totals, listing } = report;
  out.push(
    color.bold(`${report.scope === 'registry' ? 'Registry' : 'Repository'} ${truncate(heading(report), Math.max(20, style.width - 40), true)}`) +
      `: ${totals.tags} tag(s), ${totals.digests} digest(s)${report.artifacts.length ? `, ${report.artifacts.length} artifact tag(s)` : ''}` +
      (listing.filter !== null ? ` matching ${truncate(listing.filter, 30, true)} of ${listing.listed} listed` : ''),
  );
  const rows = sortedTags(report, sort);
  if (rows.length) {
    const sizeWidth = 9;
    const fixed = 12 + 2 + (sizeWidth + 2) * 3;
    const room = Math.max(24, (Number.isFinite(style.width) ? style.width : 200) - fixed - 2);
    const names = rows.map((row) => tagName(report, row));
    const tagWidth = Number.isFinite(style.width) ? Math.min(Math.max(8, ...names.map((name) => name.length)), Math.max(12, Math.floor(room * 0.45))) : Math.max(...names.map((name) => name.length));
    const platformWidth = Number.isFinite(style.width) ? Math.max(10, room - tagWidth) : Math.max(9, ...rows.map((row) => platformsCell(row.platforms).length));
    const header = `${'TAG'.padEnd(tagWidth)}  ${'DIGEST'.padEnd(12)}  ${'PLATFORMS'.padEnd(platformWidth)}  ${'SIZE'.padStart(sizeWidth)}  ${'SHARED'.padStart(sizeWidth)}  ${'UNIQUE'.padStart(sizeWidth)}`;
    out.push('', color.dim(header.trimEnd()));
    for (const row of rows) {
      // Tags differ at the end as often as at the start (1.2.3-alpine, 1.2.4-alpine): cut in the middle.
      const tag = truncatePath(tagName(report, row), tagWidth).padEnd(tagWidth);
      const digest = row.digest.slice(row.digest.indexOf(':') + 1, row.digest.indexOf(':') + 13);
      const platforms = shorten(truncate(platformsCell(row.platforms), Number.POSITIVE_INFINITY), platformWidth).padEnd(platformWidth);
      const unique = row.sameDigestAs.length ? color.dim('0 B'.padStart(sizeWidth)) : humanSize(row.uniqueBytes).padStart(sizeWidth);
      out.push(`${tag}  ${digest}  ${platforms}  ${humanSize(row.size).padStart(sizeWidth)}  ${humanSize(row.sharedBytes).padStart(sizeWidth)}  ${unique}`.trimEnd());
    }
  }
  const withReports = rows.filter((row) => row.attached !== null);
  if (withReports.length) {
    out.push('', `Attached reports (--use-attached: figures their writers computed, not read here):`);
    out.push(color.dim(`  ${'TAG'.padEnd(24)}  ${'PLATFORM'.padEnd(16)}  ${'EFFICIENCY'.padStart(10)}  ${'WASTED'.padStart(9)}  ${'RECLAIMABLE'.padStart(11)}`));
    for (const row of withReports) {
      if (!row.attached!.length) out.push(`  ${truncatePath(tagName(report, row), 24).padEnd(24)}  ${color.dim('no report attached')}`);
      for (const figures of row.attached!) {
        const efficiency = figures.efficiency === null ? '-' : `${(figures.efficiency * 100).toFixed(2)} %`;
        out.push(`  ${truncatePath(tagName(report, row), 24).padEnd(24)}  ${shorten(truncate(figures.platform ?? '-', Number.POSITIVE_INFINITY), 16).padEnd(16)}  ${efficiency.padStart(10)}  ${humanSize(figures.wastedBytes).padStart(9)}  ${humanSize(figures.reclaimableBytes).padStart(11)}`);
      }
    }
  }
  out.push('', summaryLine(report));
  if (totals.sameDigest.length) {
    out.push('Tags on the same digest (deleting one of them frees nothing):');
    for (const group of totals.sameDigest) out.push(`  ${truncate(report.scope === 'registry' ? `${group.repository}: ${group.tags.join(', ')}` : group.tags.join(', '), style.width - 2, true)}`);
  }
  if (report.artifacts.length) {
    out.push('', 'Artifact tags (referrers tag schema: signatures, attestations, attached reports):');
    for (const artifact of report.artifacts) out.push(`  ${truncatePath(tagName(report, artifact), Math.min(70, style.width - 14))}  ${humanSize(artifact.size).padStart(9)}`);
  }
  if (report.problems.length) {
    out.push('', color.bold('Not reported:'));
    for (const problem of report.problems) out.push(`  ${truncatePath(tagName(report, problem), 30)}: ${truncate(problem.message, Math.max(20, style.width - 36))}`);
  }
  if (listing.dropped) out.push(`${listing.dropped} name(s) in the tag list are not valid tags and were left out.`);
  if (listing.truncated) out.push(color.bold(`The listing stopped at ${listing.listed} tags; the repository has more.`));
  if (report.check) {
    out.push('', color.bold(`Check: ${report.check.passed ? color.green('PASS') : color.red('FAIL')}`));
    for (const rule of report.check.rules) {
      const mark = rule.status === 'pass' ? color.green('PASS') : color.red('FAIL');
      out.push(`  ${mark}  ${rule.rule.padEnd(17)} ${truncate(rule.message, Math.max(20, style.width - 26))}`);
      for (const failure of rule.failures.slice(0, 20)) {
        const actual = Array.isArray(failure.actual) ? `lacks ${failure.actual.join(', ')}` : humanSize(failure.actual);
        out.push(`        ${truncatePath(tagName(report, failure), 40)}: ${actual}`);
      }
      if (rule.failures.length > 20) out.push(`        … and ${rule.failures.length - 20} more (--json lists them all)`);
    }
  }
  return `${out.join('\n')}\n`;
}

export function renderRepoMarkdown(report: RepoReport, sort: RepoSort): string {
  const out: string[] = [];
  const { totals } = report;
  out.push(`### ${report.scope === 'registry' ? 'Registry' : 'Repository'} ${markdownCode(heading(report), false)}`, '');
  out.push(`${totals.tags} tag(s), ${totals.digests} digest(s). ${summaryLine(report)}`, ''); // our words and numbers only
  if (report.tags.length) {
    out.push('| Tag | Digest | Platforms | Size | Shared | Unique |', '|---|---|---|--:|--:|--:|');
    for (const row of sortedTags(report, sort)) {
      const digest = row.digest.slice(row.digest.indexOf(':') + 1, row.digest.indexOf(':') + 13);
      out.push(`| ${markdownCode(tagName(report, row), true)} | \`${digest}\` | ${escapeMarkdown(platformsCell(row.platforms))} | ${humanSize(row.size)} | ${humanSize(row.sharedBytes)} | ${row.sameDigestAs.length ? `0 B (same as ${row.sameDigestAs.map((tag) => markdownCode(tag, true)).join(', ')})` : humanSize(row.uniqueBytes)} |`);
    }
    out.push('');
  }
  if (report.problems.length) {
    out.push('**Not reported:**', '');
    for (const problem of report.problems) out.push(`- ${markdownCode(tagName(report, problem), false)}: ${escapeMarkdown(problem.message)}`);
    out.push('');
  }
  if (report.check) {
    out.push(`**Check: ${report.check.passed ? 'PASS' : 'FAIL'}**`, '');
    for (const rule of report.check.rules) out.push(`- ${rule.status === 'pass' ? '✅' : '❌'} \`${rule.rule}\`: ${escapeMarkdown(rule.message)}${rule.failures.length ? ` (${rule.failures.slice(0, 20).map((failure) => markdownCode(tagName(report, failure), false)).join(', ')}${rule.failures.length > 20 ? ', …' : ''})` : ''}`);
    out.push('');
  }
  return `${out.join('\n')}`;
}
