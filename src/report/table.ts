/** Tables for people: at most 100 columns, sizes in decimal units, digests shortened, colour optional. */
import Table from 'cli-table3';
import { shortDigest } from '../image/digest.js';
import { displayJson, escapeTerminal as esc } from './escape.js';
import { humanSize, platformText, shorten, truncate, type Style } from './format.js';
import { isMultiReport, type ImageReport, type Report } from './report.js';

export const PLAIN = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

export function table(head: string[], style: Style, colAligns: ('left' | 'right')[]): Table.Table {
  return new Table({
    head: head.map((title) => style.color.bold(title)),
    chars: PLAIN,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
    colAligns,
    wordWrap: false,
  });
}

export function sourceLine(report: Report): string {
  const ref = report.source.reference ? ` (${esc(report.source.reference)})` : '';
  return `${esc(report.source.input)}  [${report.source.kind}]${ref}`;
}

function summary(image: ImageReport, style: Style, showScan: boolean): string[] {
  const { color } = style;
  const lines: string[] = [];
  const label = (text: string) => color.dim(text.padEnd(17));
  lines.push(`${label('Platform')}${platformText(image.platform)}`);
  // A sha256 digest after the label is 88 columns: a note follows only in the shortest form that keeps the line
  // within 100 (a terminal's width or not), else none.
  const noted = (text: string, notes: string[]) => {
    const note = notes.find((candidate) => 17 + text.length + 2 + candidate.length <= Math.min(100, style.width));
    return note ? `${text}  ${color.dim(note)}` : text;
  };
  lines.push(`${label('Image ID')}${noted(image.configDigest, ['(config digest)', '(config)'])}`);
  lines.push(
    `${label('Manifest digest')}${image.manifestDigest ?? color.dim('none (a legacy docker save holds no manifest)')}`,
  );
  if (image.indexDigest) lines.push(`${label('Index digest')}${noted(image.indexDigest, ['(what a multi-arch tag points to)', '(multi-arch)'])}`);
  const config = image.config;
  if (config.created) lines.push(`${label('Created')}${esc(config.created)}`);
  const command = [...(config.entrypoint ?? []), ...(config.cmd ?? [])];
  if (config.entrypoint?.length) lines.push(`${label('Entrypoint')}${shorten(displayJson(config.entrypoint), style.width - 17)}`);
  if (config.cmd?.length) lines.push(`${label('Cmd')}${shorten(displayJson(config.cmd), style.width - 17)}`);
  if (command.length === 0) lines.push(`${label('Command')}${color.dim('none')}`);
  if (config.user) lines.push(`${label('User')}${esc(config.user)}`);
  if (config.workingDir) lines.push(`${label('WorkingDir')}${esc(config.workingDir)}`);
  if (config.exposedPorts.length) lines.push(`${label('Ports')}${esc(config.exposedPorts.join(', '))}`);
  const labels = Object.entries(config.labels).map(([key, value]) => `${key}=${value}`);
  if (showScan) {
    lines.push(`${label('Env')}${config.env.length} variable(s)`);
    if (labels.length) lines.push(`${label('Labels')}${truncate(labels.join(', '), style.width - 17)}`);
  } else {
    // inspect: every variable and label on its own line, as `docker inspect` and `skopeo inspect` show them.
    const listed = (title: string, values: string[]) =>
      values.forEach((value, index) => lines.push(`${index === 0 ? label(title) : ' '.repeat(17)}${truncate(value, style.width - 17, true)}`));
    if (config.env.length) listed('Env', config.env);
    else lines.push(`${label('Env')}${color.dim('none')}`);
    listed('Labels', labels);
  }
  const totals = image.totals;
  const sizes = [`${totals.layers} layer(s)`, `${humanSize(totals.compressedSize)} ${totals.estimatedCompressedSize === null ? 'compressed' : 'stored'}`];
  if (showScan) sizes.push(`${humanSize(totals.uncompressedSize)} uncompressed`, `${totals.files ?? '-'} files`);
  lines.push(`${label('Size')}${sizes.join(', ')}`);
  // Layers stored uncompressed (docker save, engines): what they hold is the tar; a pull would cost the estimate.
  if (totals.estimatedCompressedSize !== null) lines.push(`${label('Pull size')}~${humanSize(totals.estimatedCompressedSize)} ${color.dim('(gzip -6 estimate: layers stored uncompressed)')}`);
  return lines;
}

function changeCounts(layer: ImageReport['layers'][number]): string {
  if (layer.added === null) return '-';
  return `+${layer.added} ~${layer.modified} -${layer.removed}`;
}

function layerTable(image: ImageReport, style: Style, showScan: boolean): string {
  const head = showScan ? ['#', 'Digest', 'Compressed', 'Uncompressed', 'Files', 'Changes', 'Created by'] : ['#', 'Digest', 'Media type', 'Size', 'Created by'];
  const aligns: ('left' | 'right')[] = showScan ? ['right', 'left', 'right', 'right', 'right', 'left', 'left'] : ['right', 'left', 'left', 'right', 'left'];
  const t = table(head, style, aligns);
  const changes = image.layers.map(changeCounts);
  const changesWidth = Math.max(7, ...changes.map((text) => text.length));
  const fixed = showScan ? 2 + 12 + 10 + 12 + 6 + changesWidth + 2 * 6 : 2 + 12 + 14 + 9 + 2 * 4;
  const createdWidth = Math.max(16, style.width - fixed);
  for (const layer of image.layers) {
    const created = truncate(layer.createdBy ?? '', createdWidth);
    if (showScan) {
      const failed = image.verify.checks.some((check) => !check.ok && check.subject === layer.digest);
      const digest = failed ? style.color.red(`${shortDigest(layer.digest)}✗`) : shortDigest(layer.digest);
      t.push([String(layer.index), digest, humanSize(layer.compressedSize), humanSize(layer.uncompressedSize), String(layer.files ?? '-'), changes[layer.index] ?? '-', created]);
    } else {
      t.push([String(layer.index), shortDigest(layer.digest), mediaTypeCell(layer.mediaType), humanSize(layer.compressedSize), created]);
    }
  }
  return t.toString();
}

function shortMediaType(mediaType: string): string {
  if (mediaType.startsWith('application/vnd.oci.image.layer.')) return `oci ${mediaType.includes('+') ? mediaType.slice(mediaType.indexOf('+') + 1) : 'tar'}`;
  if (mediaType.startsWith('application/vnd.docker.image.rootfs.')) {
    const suffix = mediaType.slice('application/vnd.docker.image.rootfs.'.length);
    return `docker ${suffix.replace('diff.tar', 'tar').replace('tar.', '')}`;
  }
  return mediaType;
}

/** The media type column: the image's own string, shortened for known types, terminal-safe. */
function mediaTypeCell(mediaType: string): string {
  const short = shortMediaType(mediaType);
  return short === mediaType ? truncate(mediaType, 14) : esc(short);
}

function failures(image: ImageReport, style: Style): string[] {
  const failed = image.verify.checks.filter((check) => !check.ok);
  const lines = failed.map(
    (check) => style.color.red(`✗ ${esc(check.what)}: expected ${esc(String(check.expected ?? 'none'))}, got ${esc(String(check.actual ?? 'none'))}`) + style.color.dim(` (${esc(check.subject)})`),
  );
  for (const skipped of image.verify.skipped) lines.push(style.color.yellow(`- ${skipped.platform ? `${esc(skipped.platform)} ` : ''}${esc(skipped.subject)}: ${esc(skipped.reason)}`));
  lines.push(...blockedLines(image, style));
  return lines;
}

/** A layer that could not be read, and what its absence leaves unknown (shown as "-" above). */
export function blockedLines(image: ImageReport, style: Style): string[] {
  return image.blocked.map((blocked) =>
    style.color.red(`✗ ${esc(blocked.reason)}`) + style.color.dim(`\n  unknown because of it: ${blocked.blocks.join(', ')}`),
  );
}

/** Several images: those the document could not hold, with why; and how many platforms the source holds. */
export function runProblemLines(report: Report, style: Style): string[] {
  const errors = isMultiReport(report) ? report.errors : [];
  const images = isMultiReport(report) ? report.images.length : 1;
  const lines = errors.map((error) => style.color.red(`✗ ${error.platform ?? 'image'} ${shortDigest(error.manifestDigest)}: ${esc(error.message)}`));
  const absent = report.verify.skipped.filter((skipped) => skipped.reason === 'not in this archive').length;
  if (absent > 0) {
    const named = images + errors.length + absent;
    lines.push(style.color.yellow(`${named - absent} of ${named} platforms present (${absent} not in this archive)`));
  }
  return lines;
}

export function renderImageTable(report: Report, style: Style, options: { scanned: boolean }): string {
  const showScan = options.scanned;
  const out: string[] = [style.color.bold(sourceLine(report))];
  const images = isMultiReport(report) ? report.images : [report];
  for (const image of images) {
    if (images.length > 1) out.push('', style.color.bold.underline(platformText(image.platform)));
    out.push(...summary(image, style, showScan), '', layerTable(image, style, showScan));
    const failed = failures(image, style);
    if (failed.length) out.push('', ...failed);
  }
  const problems = runProblemLines(report, style);
  if (problems.length) out.push('', ...problems);
  const verify = report.verify;
  if (showScan && verify.ok && (!isMultiReport(report) || report.errors.length === 0)) out.push('', style.color.green(`✓ ${verify.checks.length} digest, size and diff_id checks passed`));
  return out.join('\n') + '\n';
}
