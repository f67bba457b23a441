/** `layerlens cache info` and `cache prune` for people: what the cache holds, by kind, and what a prune frees. */
import type { CacheInventory, CacheTally, PruneResult } from '../model/cache.js';
import { escapeTerminal } from './escape.js';
import { humanSize } from './format.js';

function row(label: string, tally: CacheTally, note = ''): string {
  return `  ${label.padEnd(16)}${String(tally.files).padStart(8)}  ${humanSize(tally.bytes).padStart(9)}${note ? `  ${note}` : ''}`;
}

function limitText(limit: number | null): string {
  return limit === null ? 'no limit' : `limit ${humanSize(limit)}`;
}

export function renderCacheInfo(info: CacheInventory): string {
  const dir = escapeTerminal(info.dir);
  if (!info.exists) return `Cache ${dir} (${limitText(info.limit)}): empty, the directory does not exist yet\n`;
  const lines = [`Cache ${dir} (${limitText(info.limit)}, LAYERLENS_CACHE_MAX)`, `  ${'kind'.padEnd(16)}${'files'.padStart(8)}  ${'size'.padStart(9)}`];
  lines.push(row('blobs', info.blobs));
  lines.push(row('layer scans', info.scans));
  if (info.outdatedScans.files) lines.push(row('outdated scans', info.outdatedScans, 'an older layerlens wrote them; nothing reads them'));
  lines.push(row('reports', info.reports));
  if (info.outdatedReports.files) lines.push(row('outdated reports', info.outdatedReports, 'another build of layerlens wrote them; nothing reads them'));
  if (info.leftovers.files) lines.push(row('leftovers', info.leftovers, 'temp files of killed runs'));
  if (info.inProgress.files) lines.push(row('in progress', info.inProgress, 'being written by a run now'));
  lines.push(row('total', info.total));
  if (info.oldestUse && info.newestUse) lines.push(`Used from ${info.oldestUse.slice(0, 16).replace('T', ' ')} to ${info.newestUse.slice(0, 16).replace('T', ' ')} UTC.`);
  lines.push(
    info.prunable.files
      ? `layerlens cache prune would free ${humanSize(info.prunable.bytes)} (${info.prunable.files} file(s): outdated, leftover or least recently used beyond the limit).`
      : 'Nothing to prune: the cache is within its limit (layerlens cache prune --all empties it).',
  );
  return `${lines.join('\n')}\n`;
}

export function renderPrune(result: PruneResult): string {
  const verb = result.dryRun ? 'would remove' : 'removed';
  const { removed } = result;
  const parts = [
    removed.blobs.files ? `${removed.blobs.files} blob(s)` : '',
    removed.scans.files ? `${removed.scans.files} layer scan(s)` : '',
    removed.outdatedScans.files ? `${removed.outdatedScans.files} outdated scan(s)` : '',
    removed.reports.files ? `${removed.reports.files} report(s)` : '',
    removed.outdatedReports.files ? `${removed.outdatedReports.files} outdated report(s)` : '',
    removed.leftovers.files ? `${removed.leftovers.files} leftover(s)` : '',
  ].filter(Boolean);
  const what = removed.files ? `${verb} ${parts.join(', ')}: ${humanSize(removed.bytes)}` : `nothing to remove`;
  const after = `${result.dryRun ? 'it would hold' : 'it holds'} ${humanSize(result.remaining.bytes)} in ${result.remaining.files} file(s)${result.max === null ? '' : ` (${result.max === 0 ? 'emptied' : `kept under ${humanSize(result.max)}`})`}`;
  return `Cache ${escapeTerminal(result.dir)}: ${what}; ${after}.\n`;
}
