/** Small formatting helpers shared by the renderers. */
import { Chalk, type ChalkInstance } from 'chalk';
import { formatPlatform } from '../image/platform.js';
import { humanSize } from '../model/units.js';
import { escapeTerminal } from './escape.js';

/** Byte sizes are written one way everywhere, sources' errors included (model/units.ts). */
export { humanSize };

/**
 * Every renderer's percent: the number, a space, `%` (`12.34 %`, as SI and the tables have always written it); null
 * (no value, e.g. dive's user-wasted share of an image with nothing wasted) is `n/a`. `ratio` is a share (0.1234).
 */
export function percentText(ratio: number | null | undefined, digits = 2): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return 'n/a';
  return `${(ratio * 100).toFixed(digits)} %`;
}

/**
 * The one minus sign of every renderer: ASCII `-`, which a user can type, grep and paste into a shell or a
 * spreadsheet (U+2212 is none of these). Deltas always carry a sign: `+1.20 kB`, `-1.20 kB`, `0 B`.
 */
export const MINUS = '-';

function sign(value: number): string {
  return value > 0 ? '+' : value < 0 ? MINUS : '';
}

/** A count that changed: `+3`, `-3`, `0`. */
export function signedCount(value: number): string {
  return `${sign(value)}${Math.abs(value)}`;
}

/** A size that changed: `+1.20 kB`, `-1.20 kB`, `0 B`; null is `-` (no value), as humanSize has it. */
export function signedSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  return `${sign(bytes)}${humanSize(Math.abs(bytes))}`;
}

/** A share that changed, in percentage points: `+1.25 pt`, `-1.25 pt`, `0.00 pt`. */
export function signedPoints(delta: number, digits = 2): string {
  const rounded = Number((delta * 100).toFixed(digits));
  return `${sign(rounded)}${Math.abs(rounded).toFixed(digits)} pt`;
}

/**
 * A table cell or tree label: terminal-safe (escapeTerminal: control characters shown as `\n`, `\x1b`…), shortened
 * to `width` columns with an ellipsis. Unless `keepSpaces` (names, which are shown exactly), runs of spaces and
 * tabs become one space (created_by of a `RUN a \` continuation line). Never cuts an escape or a surrogate pair
 * in two. Text from an image must reach a table through this (or escapeTerminal), and only once.
 */
export function truncate(text: string, width: number, keepSpaces = false): string {
  return shorten(keepSpaces ? escapeTerminal(text) : escapeTerminal(text.replace(/[ \t]+/g, ' ').trim()), width);
}

/** Shorten text that is already terminal-safe (escapeTerminal or displayJson output), without escaping it again. */
export function shorten(safe: string, width: number): string {
  if (safe.length <= width) return safe;
  if (width <= 1) return cut(safe, Math.max(0, width));
  return `${cut(safe, width - 1)}…`;
}

function cut(text: string, length: number): string {
  let end = length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--; // the first half of a surrogate pair
  // A partial escape at the end (`\x1`, `\u{20`) would read as other text: drop it.
  return text.slice(0, end).replace(/\\(?:x[0-9a-f]?|u(?:\{[0-9a-f]*)?)?$/, '');
}

/** A platform from an image (os/architecture/variant are the image's own strings), terminal-safe. */
export function platformText(platform: { os: string; architecture: string; variant?: string | null }): string {
  return escapeTerminal(formatPlatform({ os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) }));
}

export interface Style {
  color: ChalkInstance;
  /** Columns available for tables: 100 unless the terminal is narrower. */
  width: number;
}

/**
 * A path cell: terminal-safe, and when too long cut in the middle, not the end, so that the last components, where
 * paths differ (`…/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages`), stay visible.
 */
export function truncatePath(path: string, width: number): string {
  return truncatePathSafe(escapeTerminal(path), width);
}

/**
 * Text wrapped at word boundaries to `width` columns, continuation lines indented by `indent`; terminal-safe. A word
 * longer than a line is cut in the middle (a path). With an unbounded width (--no-trunc) it stays one line.
 */
export function wrapText(text: string, width: number, indent: string): string[] {
  const words = escapeTerminal(text).split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = indent;
  for (const word of words) {
    const room = width - indent.length;
    const piece = word.length > room ? truncatePathSafe(word, room) : word;
    if (line.length > indent.length && line.length + 1 + piece.length > width) {
      lines.push(line);
      line = indent;
    }
    line += (line.length > indent.length ? ' ' : '') + piece;
  }
  if (line.length > indent.length || lines.length === 0) lines.push(line);
  return lines;
}

/** truncatePath for text that is terminal-safe already. */
function truncatePathSafe(safe: string, width: number): string {
  if (safe.length <= width || width < 8) return safe.length <= width ? safe : shorten(safe, width);
  const head = cut(safe, Math.floor((width - 1) / 3));
  let tail = safe.slice(safe.length - (width - 1 - head.length));
  const first = tail.charCodeAt(0);
  if (first >= 0xdc00 && first <= 0xdfff) tail = tail.slice(1); // the second half of a surrogate pair
  return `${head}…${tail}`;
}

/** Colour only on a TTY, never with NO_COLOR (any non-empty value) or --no-color; `noTrunc`: cells are never cut. */
export function makeStyle(options: { noColor?: boolean; noTrunc?: boolean; stream?: NodeJS.WriteStream }): Style {
  const stream = options.stream ?? process.stdout;
  const noColor = options.noColor || (process.env.NO_COLOR ?? '') !== '' || !stream.isTTY;
  const forced = (process.env.FORCE_COLOR ?? '') !== '' && process.env.FORCE_COLOR !== '0';
  const level = noColor && !(forced && !options.noColor && (process.env.NO_COLOR ?? '') === '') ? 0 : 1;
  const columns = stream.isTTY && stream.columns ? stream.columns : 100;
  return { color: new Chalk({ level }), width: options.noTrunc ? Number.POSITIVE_INFINITY : Math.min(100, columns) };
}
