/** Small formatting helpers shared by the renderers. */
import { Chalk, type ChalkInstance } from 'chalk';

/** Decimal units as docker and dive print them: 1 kB = 1000 B. */
export function humanSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit]}`;
}

/** Shorten to `width` columns with an ellipsis; whitespace runs become one space unless `keepSpaces`. */
export function truncate(text: string, width: number, keepSpaces = false): string {
  const oneLine = keepSpaces ? text.replace(/[\r\n\t]/g, ' ') : text.replace(/\s+/g, ' ').trim();
  if (width <= 1) return oneLine.slice(0, Math.max(0, width));
  return oneLine.length > width ? `${oneLine.slice(0, width - 1)}…` : oneLine;
}

export interface Style {
  color: ChalkInstance;
  /** Columns available for tables: 100 unless the terminal is narrower. */
  width: number;
}

/** Colour only on a TTY, never with NO_COLOR (any non-empty value) or --no-color. */
export function makeStyle(options: { noColor?: boolean; stream?: NodeJS.WriteStream }): Style {
  const stream = options.stream ?? process.stdout;
  const noColor = options.noColor || (process.env.NO_COLOR ?? '') !== '' || !stream.isTTY;
  const forced = (process.env.FORCE_COLOR ?? '') !== '' && process.env.FORCE_COLOR !== '0';
  const level = noColor && !(forced && !options.noColor && (process.env.NO_COLOR ?? '') === '') ? 0 : 1;
  const columns = stream.isTTY && stream.columns ? stream.columns : 100;
  return { color: new Chalk({ level }), width: Math.min(100, columns) };
}
