/**
 * Where a report goes. One read, several outputs (CONTRACT.md): CI wants JUnit for its test tab, markdown for the
 * job summary and JSON for an artifact from one scan, so `--output FORMAT=FILE` is repeatable beside today's
 * `--format F` and `-o FILE`:
 *
 * - `--output junit=report.xml --output json=report.json`: each file gets its format; stdout still gets the
 *   `--format` report (the table by default), which is what the job log shows.
 * - `-o FILE` (no `FORMAT=`): the `--format` report goes to FILE instead of stdout, as before. At most one.
 * - `FORMAT=-` puts that format on stdout instead of the `--format` one.
 *
 * The plan is made before the image is read, so a bad `--output` is exit 2 at once, not after a long download.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { ChunkedText } from '../report/json-stream.js';
import { isStdoutClosed, writeStdout } from './output.js';
import { STDIN_TOKEN } from './stdin.js';

export type Format = 'table' | 'json' | 'markdown' | 'junit' | 'html';
export const FORMATS: readonly Format[] = ['table', 'json', 'markdown', 'junit', 'html'];

export interface Destination {
  format: Format;
  /** Null: stdout. */
  file: string | null;
}

/** The values of a repeatable string option: yargs gives a string for one, an array for several. */
function values(option: unknown): string[] {
  if (option === undefined || option === null) return [];
  return (Array.isArray(option) ? option : [option]).map((value) => (value === STDIN_TOKEN ? '-' : String(value)));
}

/**
 * The destinations for one run: `main` is the format `--format`/`--json` chose. Usage errors (exit 2): a format
 * this command does not write, two reports on stdout, two outputs to one file, more than one plain `-o FILE`.
 */
export function planOutputs(option: unknown, main: Format, allowed: readonly Format[]): Destination[] {
  const planned: Destination[] = [];
  const plain: string[] = [];
  for (const value of values(option)) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(value);
    if (!match) {
      plain.push(value);
      continue;
    }
    const format = match[1]!.toLowerCase() as Format;
    const file = match[2]!;
    if (!FORMATS.includes(format)) throw new UsageError(`--output ${value}: "${match[1]}" is not a format (use ${allowed.join(', ')}=FILE; write ./${value} for a file of that name)`);
    if (!allowed.includes(format)) throw new UsageError(`--output ${value}: this command writes ${allowed.join(', ')}, not ${format}`);
    if (file === '') throw new UsageError(`--output ${value}: name the file (${format}=FILE, or ${format}=- for stdout)`);
    planned.push({ format, file: file === '-' ? null : file });
  }
  if (plain.length > 1) throw new UsageError(`-o/--output FILE is given ${plain.length} times (${plain.join(', ')}); for several outputs write FORMAT=FILE, e.g. --output junit=report.xml --output json=report.json`);
  // The --format report goes to the plain -o FILE, else to stdout unless FORMAT=- took stdout.
  const mainFile = plain[0] === undefined || plain[0] === '-' ? null : plain[0];
  if (mainFile !== null || !planned.some((destination) => destination.file === null)) planned.unshift({ format: main, file: mainFile });
  if (planned.filter((destination) => destination.file === null).length > 1) throw new UsageError('--output: only one report can go to stdout');
  const seen = new Set<string>();
  for (const destination of planned) {
    if (destination.file === null) continue;
    const key = path.resolve(destination.file);
    if (seen.has(key)) throw new UsageError(`--output: ${destination.file} is named for two reports`);
    seen.add(key);
  }
  return planned;
}

/** True when some destination writes this format (e.g. check renders JUnit only when asked). */
export function wants(destinations: Destination[], format: Format): boolean {
  return destinations.some((destination) => destination.format === format);
}

/** What a renderer gives: the text, or (a large JSON document) its chunks. */
export type Rendered = string | ChunkedText;

function pieces(rendered: Rendered): Iterable<string> {
  return typeof rendered === 'string' ? [rendered] : rendered.chunks();
}

async function writeFileChunks(file: string, rendered: Rendered): Promise<void> {
  const handle = await open(file, 'w');
  try {
    for (const chunk of pieces(rendered)) await handle.write(chunk);
  } finally {
    await handle.close();
  }
}

/**
 * Render each destination's format (once per format and medium: a file gets no colour) and write it, a chunked
 * document chunk by chunk as each write completes. A closed stdout (| head) ends that output quietly; a file
 * that cannot be written is exit 2 naming it.
 */
export async function writeOutputs(destinations: Destination[], render: (format: Format, toFile: boolean) => Rendered | Promise<Rendered>): Promise<void> {
  const rendered = new Map<string, Promise<Rendered>>();
  const text = (format: Format, toFile: boolean) => {
    const key = `${format}|${toFile}`;
    let value = rendered.get(key);
    if (!value) {
      value = Promise.resolve(render(format, toFile));
      rendered.set(key, value);
    }
    return value;
  };
  for (const destination of destinations) {
    if (destination.file === null) {
      for (const chunk of pieces(await text(destination.format, false))) {
        await writeStdout(chunk);
        if (isStdoutClosed()) break;
      }
      continue;
    }
    const document = await text(destination.format, true);
    try {
      await writeFileChunks(destination.file, document);
    } catch (error) {
      throw new UsageError(`cannot write ${destination.file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
}
