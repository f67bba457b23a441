/** Waste for people: dive's score and wasted bytes, the reclaimable figure, each entry explained by build step. */
import { humanSize, percentText, platformText, truncate, truncatePath, wrapText, type Style } from './format.js';
import { isMultiReport, type ImageReport, type Report } from './report.js';
import { sourceLine, table } from './table.js';

export interface WasteTableOptions {
  top: number;
  /** Inside analyze: no source line (it was printed above). */
  brief?: boolean;
}

const percent = (value: number | null): string => percentText(value);

function renderWaste(image: ImageReport, style: Style, options: WasteTableOptions): string[] {
  const waste = image.waste;
  if (!waste) return [];
  const { color } = style;
  const label = (text: string) => color.dim(text.padEnd(24));
  const out: string[] = [
    color.bold('Waste'),
    `${label('Efficiency')}${percent(waste.efficiency)}  ${color.dim("(dive's score)")}`,
    `${label('Wasted bytes')}${humanSize(waste.wastedBytes)}  ${color.dim("(dive: every copy of a path seen in 2+ layers)")}`,
    `${label('User wasted')}${percent(waste.userWastedPercent)}  ${color.dim('(wasted / bytes above the base layer)')}`,
    `${label('Reclaimable')}${humanSize(waste.reclaimableBytes)}  ${color.dim("(dive's paths: every copy but the smallest)")}`,
    `${label('Hidden by later layers')}${color.bold(humanSize(waste.hiddenBytes))}  ${color.dim('(shipped but deleted or overwritten: what squashing saves)')}`,
    `${label('Duplicate content')}${humanSize(waste.duplicateBytes)}  ${color.dim(`(${waste.duplicates.length} group(s) of identical files)`)}`,
  ];
  if (waste.diveTruncatedLayers.length) {
    out.push(color.yellow(`note: dive stops reading layer(s) ${waste.diveTruncatedLayers.join(', ')} at a whiteout of a path absent below; its numbers (kept here) skip the rest`));
  }
  if (waste.entries.length) {
    out.push('', color.bold(`Paths in more than one layer (top ${Math.min(options.top, waste.entries.length)} of ${waste.entries.length})`));
    const t = table(['Reclaimable', 'Total', 'Count', 'Layers', 'Path'], style, ['right', 'right', 'right', 'left', 'left']);
    for (const entry of waste.entries.slice(0, options.top)) {
      t.push([humanSize(entry.reclaimableBytes), humanSize(entry.cumulativeSize), String(entry.count), truncate(entry.layers.join(','), 10), truncatePath(entry.path, style.width - 45)]);
    }
    out.push(t.toString());
    if (!options.brief) {
      out.push('', color.bold('Why'));
      for (const entry of waste.entries.slice(0, options.top)) {
        out.push(`${color.bold(truncatePath(entry.path, style.width))}`);
        for (const step of entry.explanation.writtenBy) out.push(`  written by layer ${step.layer}: ${truncate(step.createdBy ?? '(no history)', style.width - 22)}`);
        if (entry.explanation.removedBy) {
          out.push(`  removed by layer ${entry.explanation.removedBy.layer}: ${truncate(entry.explanation.removedBy.createdBy ?? '(no history)', style.width - 22)}`);
        }
        out.push(...wrapText(`→ ${entry.explanation.hint}`, style.width, '  ').map((line) => color.dim(line)));
      }
    }
  }
  const hidden = waste.hidden;
  if (hidden.length) {
    out.push('', color.bold(`Deleted or overwritten by a later layer (top ${Math.min(options.top, hidden.length)} of ${hidden.length})`));
    const t = table(['Bytes', 'Written', 'Hidden by', 'Path'], style, ['right', 'left', 'left', 'left']);
    for (const entry of hidden.slice(0, options.top)) {
      t.push([humanSize(entry.bytes), truncate(entry.writtenBy.map((ref) => ref.layer).join(','), 9), `${entry.how === 'deleted' ? 'rm' : 'write'} in ${entry.removedBy.layer}`, truncatePath(entry.path, style.width - 40)]);
    }
    out.push(t.toString());
    if (!options.brief) {
      for (const entry of hidden.slice(0, Math.min(options.top, 5))) {
        out.push(`${color.bold(truncatePath(entry.path, style.width))}`);
        for (const ref of entry.writtenBy) out.push(`  written by layer ${ref.layer}: ${truncate(ref.createdBy ?? '(no history)', style.width - 22)}`);
        out.push(`  ${entry.how} by layer ${entry.removedBy.layer}: ${truncate(entry.removedBy.createdBy ?? '(no history)', style.width - 26)}`);
        out.push(...wrapText(`→ ${entry.hint}`, style.width, '  ').map((line) => color.dim(line)));
      }
    }
  }
  if (waste.duplicates.length) {
    out.push('', color.bold(`Same content at several paths (top ${Math.min(options.top, waste.duplicates.length)} of ${waste.duplicates.length})`));
    const t = table(['Reclaimable', 'Size', 'Copies', 'Paths'], style, ['right', 'right', 'right', 'left']);
    for (const group of waste.duplicates.slice(0, options.top)) {
      t.push([humanSize(group.reclaimableBytes), humanSize(group.size), String(group.paths.length), truncate(group.paths.join(' '), style.width - 40)]);
    }
    out.push(t.toString());
  }
  if (!options.brief) {
    out.push('', color.bold('Largest files'));
    const files = table(['Size', 'Layer', 'Path'], style, ['right', 'right', 'left']);
    for (const file of waste.largestFiles.slice(0, options.top)) files.push([humanSize(file.size), String(file.layer), truncatePath(file.path, style.width - 20)]);
    out.push(files.toString(), '', color.bold('Largest directories'));
    const dirs = table(['Size', 'Path'], style, ['right', 'left']);
    for (const dir of waste.largestDirectories.slice(0, options.top)) dirs.push([humanSize(dir.size), truncatePath(dir.path, style.width - 12)]);
    out.push(dirs.toString());
  }
  return out;
}

export function renderWasteTable(report: Report, style: Style, options: WasteTableOptions): string {
  const out: string[] = options.brief ? [] : [style.color.bold(sourceLine(report))];
  const images = isMultiReport(report) ? report.images : [report];
  for (const image of images) {
    if (images.length > 1) out.push('', style.color.bold.underline(platformText(image.platform)));
    out.push(...renderWaste(image, style, options));
  }
  return out.join('\n') + '\n';
}
