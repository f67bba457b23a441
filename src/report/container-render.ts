/** container:NAME for people: what the engine says of the container and what its writable layer holds. */
import { escapeTerminal as esc } from './escape.js';
import { humanSize, truncate, truncatePath, type Style } from './format.js';
import { isMultiReport, type Report } from './report.js';
import { table } from './table.js';

const plural = (count: number, one: string, many = `${one}s`) => `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`;

/** The lines after the image's layer table; none for an image that is not a container. */
export function renderContainerSection(report: Report, style: Style, options: { top: number }): string[] {
  if (isMultiReport(report) || !report.container) return [];
  const { container } = report;
  const { writable } = container;
  const { color } = style;
  const label = (text: string) => color.dim(text.padEnd(17));
  const state = container.state ? `  ${esc(container.state)}` : '';
  const out = [
    color.bold('Container'),
    `${label('Name')}${truncate(esc(container.name), 40)}  ${color.dim(container.id.slice(0, 12))}${state}`,
    `${label('Image')}${truncate(esc(container.image ?? container.imageId), style.width - 17)}`,
    `${label('Engine diff')}${writable.changes.added} added, ${writable.changes.modified} changed, ${writable.changes.deleted} deleted  ${color.dim('(docker diff)')}`,
  ];
  const engineSize = writable.sizeRw === null ? '' : `  ${color.dim(`(the engine's SizeRw: ${humanSize(writable.sizeRw)})`)}`;
  if (writable.writtenBytes === null) {
    out.push(`${label('Written')}${color.dim('not measured by this command')}${engineSize}`);
    return out;
  }
  out.push(`${label('Written')}${color.bold(humanSize(writable.writtenBytes))} in ${plural(writable.writtenFiles ?? 0, 'file')}${engineSize}`);
  // What the writes cost on top of the image: both copies of a rewritten file are on disk, deletions free nothing.
  if (writable.overwritten?.paths) out.push(`${label('Rewritten')}${humanSize(writable.overwritten.bytes)} of image files in ${plural(writable.overwritten.paths, 'path')}  ${color.dim('(the image keeps its copy: both are on disk)')}`);
  if (writable.deleted?.paths) out.push(`${label('Deleted')}${humanSize(writable.deleted.bytes)} of image files in ${plural(writable.deleted.paths, 'path')}  ${color.dim('(hidden, not freed: the image still ships them)')}`);
  if (writable.byDirectory?.length) {
    out.push('', color.bold('Where the container wrote'));
    const where = table(['Bytes', 'Directory'], style, ['right', 'left']);
    for (const entry of writable.byDirectory.slice(0, options.top)) where.push([humanSize(entry.size), truncatePath(entry.path, style.width - 14)]);
    out.push(where.toString());
  }
  if (writable.largestFiles?.length) {
    out.push('', color.bold('Largest files it wrote'));
    const largest = table(['Bytes', 'Path'], style, ['right', 'left']);
    for (const entry of writable.largestFiles.slice(0, options.top)) largest.push([humanSize(entry.size), truncatePath(entry.path, style.width - 14)]);
    out.push(largest.toString());
  }
  return out;
}
