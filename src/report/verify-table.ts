/** verify and platforms for people: checks with ✓/✗, and a platform table with sizes and sharing. */
import { shortDigest } from '../image/digest.js';
import type { VerifyCheck } from '../model/source.js';
import { escapeTerminal as esc } from './escape.js';
import { humanSize, platformText, truncate, type Style } from './format.js';
import { isMultiReport, type PlatformsReport, type Report } from './report.js';
import { blockedLines, runProblemLines, sourceLine, table } from './table.js';

function value(text: string | number | null): string {
  if (text === null) return 'none';
  return typeof text === 'number' ? String(text) : esc(text);
}

function checkLine(check: VerifyCheck, style: Style): string {
  const subject = esc(check.subject.includes(':') && check.subject.length > 30 ? shortDigest(check.subject) : check.subject);
  if (check.ok) return `${style.color.green('✓')} ${esc(check.what)} ${style.color.dim(subject)}`;
  return style.color.red(`✗ ${esc(check.what)}: expected ${value(check.expected)}, got ${value(check.actual)}`) + style.color.dim(` (${esc(check.subject)})`);
}

export function renderVerifyTable(report: Report, style: Style): string {
  const out: string[] = [style.color.bold(sourceLine(report))];
  const images = isMultiReport(report) ? report.images : [report];
  for (const image of images) {
    out.push('', style.color.bold(`${platformText(image.platform)}  ${esc(image.manifestDigest ?? image.configDigest)}`));
    for (const check of image.verify.checks) out.push(checkLine(check, style));
    for (const skipped of image.verify.skipped) out.push(style.color.yellow(`- ${skipped.platform ? `${esc(skipped.platform)} ` : ''}${esc(skipped.subject)}: ${esc(skipped.reason)}`));
    out.push(...blockedLines(image, style));
  }
  if (isMultiReport(report)) {
    // Images that did not resolve: their checks (a damaged manifest's digest) and why they stopped.
    const key = (check: VerifyCheck) => `${check.kind}|${check.subject}|${check.manifest}|${check.what}`;
    const listed = new Set(report.images.flatMap((image) => image.verify.checks.map(key)));
    const orphan = report.verify.checks.filter((check) => !listed.has(key(check)));
    if (orphan.length) out.push('', ...orphan.map((check) => checkLine(check, style)));
    for (const skipped of report.verify.skipped.filter((entry) => entry.reason === 'not in this archive')) out.push(style.color.yellow(`- ${skipped.platform ? `${esc(skipped.platform)} ` : ''}${esc(skipped.subject)}: ${esc(skipped.reason)}`));
  }
  const problems = runProblemLines(report, style);
  if (problems.length) out.push('', ...problems);
  const { checks, skipped } = report.verify;
  const failed = checks.filter((check) => !check.ok).length;
  const unreported = isMultiReport(report) ? report.errors.length : 0;
  const notRead = unreported ? style.color.red.bold(`; ${unreported} image(s) could not be checked to the end (above)`) : '';
  out.push(
    '',
    failed
      ? style.color.red.bold(`${failed} of ${checks.length} checks failed`) + notRead
      : unreported
        ? style.color.red.bold(`${checks.length} checks passed`) + notRead
        : style.color.green.bold(`all ${checks.length} checks passed`) + (skipped.length ? style.color.yellow(` (${skipped.length} blob(s) skipped)`) : ''),
  );
  return out.join('\n') + '\n';
}

export function renderPlatformsTable(report: PlatformsReport, style: Style): string {
  const out: string[] = [style.color.bold(`${esc(report.source.input)}  [${report.source.kind}]${report.source.reference ? ` (${esc(report.source.reference)})` : ''}`)];
  if (report.indexDigest) out.push(`${style.color.dim('Index digest'.padEnd(17))}${esc(report.indexDigest)}`);
  // Sharing means something only between two or more platforms: one platform gets no Shared column and no note.
  const several = report.platforms.filter((entry) => entry.available).length > 1;
  const head = ['Platform', 'OS version', 'Manifest', 'Compressed', 'Uncompressed', ...(several ? ['Shared'] : [])];
  const t = table(head, style, ['left', 'left', 'left', 'right', 'right', 'right']);
  // A platform whose manifest or config does not hash to its digest: listed, its figures unknown (checks below).
  const damaged = new Set(report.verify.checks.filter((check) => !check.ok && (check.what === 'manifest digest' || check.what === 'config digest')).map((check) => check.manifest));
  for (const entry of report.platforms) {
    const name = platformText(entry);
    const manifest = !entry.available
      ? style.color.yellow(`${shortDigest(entry.digest)} (not here)`)
      : damaged.has(entry.digest)
        ? style.color.red(`${shortDigest(entry.digest)} (damaged)`)
        : shortDigest(entry.digest);
    const row = [name, truncate(entry.osVersion ?? '', 16), manifest, humanSize(entry.compressedSize), humanSize(entry.uncompressedSize)];
    if (several) row.push(entry.layers === null ? '-' : `${entry.sharedLayers}/${entry.layers}`);
    t.push(row);
  }
  out.push('', t.toString());
  out.push('', `${style.color.dim('Total compressed')} ${humanSize(report.platformsTotal.compressedSize)}${several ? ` ${style.color.dim('(layers shared between platforms counted once)')}` : ''}`);
  if (report.attestations.length) {
    out.push('', style.color.bold('Attestations and referrers (not platforms)'));
    for (const attestation of report.attestations) {
      out.push(`  ${attestation.type.padEnd(21)} ${shortDigest(attestation.digest)}${attestation.refersTo ? ` → ${shortDigest(attestation.refersTo)}` : ''}${attestation.artifactType ? style.color.dim(` ${esc(attestation.artifactType)}`) : ''}`);
    }
  }
  const failed = report.verify.checks.filter((check) => !check.ok);
  if (failed.length) out.push('', ...failed.map((check) => checkLine(check, style)));
  return out.join('\n') + '\n';
}
