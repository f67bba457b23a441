/** diff for people (table) and for pull requests (markdown). */
import type { DiffReport } from './diff-report.js';
import { displayJson, escapeTerminal as esc, markdownCode, markdownSafe } from './escape.js';
import { humanSize, MINUS, percentText, platformText as safePlatform, shorten, signedCount, signedPoints, signedSize, truncate, truncatePath, type Style } from './format.js';
import { table } from './table.js';

const signed = signedSize;

/** Terminal-safe (escaped); the markdown renderer escapes it further for markdown. */
function platformText(platform: DiffReport['a']['platform']): string {
  return safePlatform(platform);
}

function pullText(totals: DiffReport['a']['totals']): string {
  return totals.estimatedCompressedSize === null ? humanSize(totals.compressedSize) : `~${humanSize(totals.estimatedCompressedSize)}`;
}

function summaryRows(report: DiffReport): [string, string, string, string][] {
  const { a, b, diff } = report;
  return [
    // The pull cost of each side (`~`: estimated for layers stored uncompressed), and Δ like with like (diff.ts).
    ['Compressed', pullText(a.totals), pullText(b.totals), signed(diff.totals.compressedSizeDelta)],
    ['Uncompressed', humanSize(a.totals.uncompressedSize), humanSize(b.totals.uncompressedSize), signed(diff.totals.uncompressedSizeDelta)],
    ['Layers', String(a.totals.layers), String(b.totals.layers), signedCount(diff.totals.layersDelta)],
    ['Files', String(a.totals.files ?? '-'), String(b.totals.files ?? '-'), signedCount(diff.totals.filesDelta)],
    ['Efficiency', percentText(a.efficiency), percentText(b.efficiency), signedPoints(b.efficiency - a.efficiency)],
    ['Hidden bytes', humanSize(a.hiddenBytes), humanSize(b.hiddenBytes), signed(b.hiddenBytes - a.hiddenBytes)],
    ['Platform', platformText(a.platform), platformText(b.platform), a.platform.architecture === b.platform.architecture && a.platform.os === b.platform.os ? '' : 'changed'],
  ];
}

export function renderDiffTable(report: DiffReport, style: Style, top: number): string {
  const { color } = style;
  const { diff } = report;
  const out: string[] = [color.bold(`A: ${esc(report.a.source.input)}`), color.bold(`B: ${esc(report.b.source.input)}`), ''];
  const summary = table(['', 'A', 'B', 'Δ'], style, ['left', 'right', 'right', 'right']);
  for (const row of summaryRows(report)) summary.push(row);
  out.push(summary.toString());
  if (diff.totals.measure) out.push(color.dim(`Compressed Δ: ${diff.totals.measure}`));
  out.push('');
  const layers = diff.layers;
  const byDiffId = layers.shared.filter((layer) => layer.by === 'diffId').length;
  out.push(
    `${color.bold('Layers')}: ${layers.shared.length} shared${byDiffId ? ` (${byDiffId} by diffId only: same content, different compression)` : ''}, ${layers.onlyA.length} only in A, ${layers.onlyB.length} only in B; common base: the first ${layers.commonBase} layer(s)`,
  );
  if (diff.config.length) {
    out.push('', color.bold('Config changes'));
    for (const change of diff.config) {
      if (!change.entries) {
        out.push(`  ${esc(change.field)}: ${shorten(displayJson(change.a), 40)} → ${shorten(displayJson(change.b), 40)}`);
        continue;
      }
      // env and labels: one line per variable, as `+ FOO=bar`, `- FOO=old`, `~ PATH: old → new`.
      out.push(`  ${esc(change.field)}:`);
      const room = Math.max(20, style.width - 6);
      for (const entry of change.entries) {
        if (entry.a === null) out.push(`    ${color.green('+')} ${shorten(`${esc(entry.key)}=${esc(entry.b ?? '')}`, room)}`);
        else if (entry.b === null) out.push(`    ${color.red(MINUS)} ${shorten(`${esc(entry.key)}=${esc(entry.a)}`, room)}`);
        else {
          const half = Math.max(10, Math.floor((room - esc(entry.key).length - 5) / 2));
          out.push(`    ${color.yellow('~')} ${esc(entry.key)}: ${shorten(esc(entry.a), half)} → ${shorten(esc(entry.b), half)}`);
        }
      }
    }
  }
  const { added, removed, changed } = diff.files;
  out.push('', `${color.bold('Files')}: ${color.green(`+${added.length} added`)}, ${color.red(`${MINUS}${removed.length} removed`)}, ${color.yellow(`~${changed.length} changed`)}`);
  if (diff.directories.length) {
    const dirs = table(['Δ size', 'Added', 'Removed', 'Changed', 'Directory'], style, ['right', 'right', 'right', 'right', 'left']);
    for (const dir of diff.directories.slice(0, top)) dirs.push([signed(dir.sizeDelta), String(dir.added), String(dir.removed), String(dir.changed), truncatePath(dir.path, style.width - 45)]);
    out.push(dirs.toString());
  }
  const files = table(['', 'Δ size', 'Path', 'What'], style, ['left', 'right', 'left', 'left']);
  const rows: [string, number, string, string][] = [
    ...added.map((file): [string, number, string, string] => ['+', file.size, file.path, file.type]),
    ...removed.map((file): [string, number, string, string] => [MINUS, -file.size, file.path, file.type]),
    ...changed.map((file): [string, number, string, string] => ['~', file.sizeDelta, file.path, file.what.join(',')]),
  ].sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]) || (x[2] < y[2] ? -1 : 1));
  if (rows.length) {
    for (const [mark, size, path, what] of rows.slice(0, top)) {
      const paint = mark === '+' ? color.green : mark === MINUS ? color.red : color.yellow;
      files.push([paint(mark), signed(size), truncatePath(path, style.width - 40), truncate(what, 20)]);
    }
    out.push('', color.bold(`Largest file changes (top ${Math.min(top, rows.length)} of ${rows.length})`), files.toString());
  }
  return out.join('\n') + '\n';
}

export function renderDiffMarkdown(report: DiffReport, top: number): string {
  const { diff } = report;
  // summaryRows are terminal-safe already (markdownSafe, not escapeMarkdown); names and values are code spans.
  const lines = [
    `### Image diff: ${markdownCode(report.a.source.input, false)} → ${markdownCode(report.b.source.input, false)}`,
    '',
    '| | A | B | Δ |',
    '| --- | ---: | ---: | ---: |',
    ...summaryRows(report).map((row) => `| ${row.map(markdownSafe).join(' | ')} |`),
    '',
    `**Layers**: ${diff.layers.shared.length} shared, ${diff.layers.onlyA.length} only in A, ${diff.layers.onlyB.length} only in B (common base: ${diff.layers.commonBase}).`,
    `**Files**: +${diff.files.added.length} added, ${MINUS}${diff.files.removed.length} removed, ~${diff.files.changed.length} changed.`,
  ];
  if (diff.directories.length) {
    lines.push('', '| Δ size | + | - | ~ | Directory |', '| ---: | ---: | ---: | ---: | --- |');
    for (const dir of diff.directories.slice(0, top)) lines.push(`| ${signed(dir.sizeDelta)} | ${dir.added} | ${dir.removed} | ${dir.changed} | ${markdownCode(dir.path, true)} |`);
  }
  if (diff.config.length) {
    lines.push('', '<details><summary>Config changes</summary>', '');
    for (const change of diff.config) {
      if (!change.entries) {
        lines.push(`- ${markdownCode(change.field, false)}: ${markdownCode(displayJson(change.a), false, true)} → ${markdownCode(displayJson(change.b), false, true)}`);
        continue;
      }
      lines.push(`- ${markdownCode(change.field, false)}:`);
      for (const entry of change.entries) {
        if (entry.a === null) lines.push(`  - + ${markdownCode(`${entry.key}=${entry.b ?? ''}`, false)}`);
        else if (entry.b === null) lines.push(`  - ${MINUS} ${markdownCode(`${entry.key}=${entry.a}`, false)}`);
        else lines.push(`  - ~ ${markdownCode(entry.key, false)}: ${markdownCode(entry.a, false)} → ${markdownCode(entry.b, false)}`);
      }
    }
    lines.push('', '</details>');
  }
  return lines.join('\n') + '\n';
}
