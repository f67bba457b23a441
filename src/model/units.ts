/**
 * Sizes and ratios as CONTRACT.md defines them, read from flags and configs and written for people. On the ground
 * floor because sources need them too (the temporary-file budget takes a size and names one in its errors).
 */
import { UsageError } from '../errors.js';

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

/** `kB`, `MB`, `GB`, `TB` decimal; `KiB`, `MiB`, `GiB`, `TiB` binary; case-insensitive (`20Mb` = 20,000,000); bare = bytes. */
export function parseSize(value: unknown, name: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value);
  const text = String(value ?? '').trim();
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
  const units: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
  const factor = match ? units[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) throw new UsageError(`${name}: "${text}" is not a size (e.g. 150MB, 1.5GiB, 20000000)`);
  return Math.round(Number(match[1]) * factor);
}

/** `0.9` or `90%`, within [0, 1]. */
export function parseRatio(value: unknown, name: string): number {
  const text = String(value ?? '').trim();
  const percent = /^(-?\d+(?:\.\d+)?)\s*%$/.exec(text);
  const ratio = percent ? Number(percent[1]) / 100 : /^-?\d+(?:\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(ratio)) throw new UsageError(`${name}: "${text}" is not a ratio (e.g. 0.9 or 90%)`);
  if (ratio < 0 || ratio > 1) throw new UsageError(`${name}: ${text} is outside 0…1 (0 %…100 %)`);
  return ratio;
}
