/** The image commands: shared options, the run loop (open → resolve → scan → report → render), exit codes. */
import { writeFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { scanImage } from '../analyze/image-scan.js';
import { ImageReadError, UsageError } from '../errors.js';
import { openImage } from '../fetch/open.js';
import { parsePlatform } from '../image/platform.js';
import { makeStyle } from '../report/format.js';
import { buildReport, imageReport, type Report } from '../report/report.js';
import { renderImageTable } from '../report/table.js';
import { STDIN_TOKEN } from './stdin.js';

export interface CommonOptions {
  image: string;
  json?: boolean;
  format?: string;
  output?: string;
  platform?: string;
  allPlatforms?: boolean;
  color?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

const FORMATS = ['table', 'json'] as const;
type Format = (typeof FORMATS)[number];

function commonOptions<T>(command: Argv<T>): Argv<T & CommonOptions> {
  return command
    .positional('image', { type: 'string', describe: 'the image to read (see "Images" below)', demandOption: true })
    .option('json', { type: 'boolean', describe: 'print the JSON report (same as --format json)' })
    .option('format', { type: 'string', choices: FORMATS as unknown as string[], describe: 'output format', default: undefined })
    .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of stdout' })
    .option('platform', { type: 'string', describe: 'platform to pick from a multi-arch image: os/arch[/variant]' })
    .option('all-platforms', { type: 'boolean', describe: 'report every platform of a multi-arch image' })
    .option('color', { type: 'boolean', default: true, describe: 'colour on a terminal (--no-color, or set NO_COLOR, to turn off)' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress or notes on stderr' })
    .option('debug', { type: 'boolean', describe: 'details (and stack traces) on stderr' }) as unknown as Argv<T & CommonOptions>;
}

function chooseFormat(options: CommonOptions): Format {
  if (options.json && options.format && options.format !== 'json') throw new UsageError(`--json and --format ${options.format} disagree; give one`);
  if (options.json) return 'json';
  return (options.format as Format | undefined) ?? 'table';
}

export function renderReport(report: Report, format: Format, options: CommonOptions, showScan: boolean): string {
  if (format === 'json') return JSON.stringify(report, null, 2) + '\n';
  const style = makeStyle({ noColor: options.color === false || options.output !== undefined });
  return renderImageTable(report, style, showScan);
}

async function emit(text: string, options: CommonOptions): Promise<void> {
  if (options.output) {
    try {
      await writeFile(options.output, text);
    } catch (error) {
      throw new UsageError(`cannot write ${options.output}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    return;
  }
  await new Promise<void>((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}

export async function runImageCommand(command: 'inspect' | 'layers', rawOptions: CommonOptions): Promise<number> {
  const options = { ...rawOptions, image: rawOptions.image === STDIN_TOKEN ? '-' : rawOptions.image };
  if (options.output === STDIN_TOKEN) delete options.output; // `-o -` means stdout
  const format = chooseFormat(options);
  const platform = options.platform ? parsePlatform(options.platform) : null;
  if (platform && options.allPlatforms) throw new UsageError('--platform and --all-platforms exclude each other');
  const debug = options.debug ? (line: string) => process.stderr.write(`layerlens: ${line}\n`) : undefined;
  const source = await openImage(options.image, { platform, allPlatforms: options.allPlatforms ?? false, debug });
  try {
    if (source.images.length === 0) throw new ImageReadError(`${options.image}: no image found`);
    const reports = [];
    for (const image of source.images) {
      const scan = command === 'layers' ? await scanImage(image) : null;
      reports.push(imageReport(image, scan));
    }
    const report = buildReport(command, source.info, reports, options.allPlatforms === true);
    await emit(renderReport(report, format, options, command === 'layers'), options);
    return report.verify.ok ? 0 : 1;
  } finally {
    await source.close();
  }
}

export function registerImageCommands(parser: Argv, setExit: (code: number) => void): void {
  parser
    .command(
      'inspect <image>',
      'summary from the manifests and config (never downloads layer blobs)',
      (command) =>
        commonOptions(command)
          .example('$0 inspect samples/busybox-amd64.tar', 'a docker save tarball')
          .example('$0 inspect oci:samples/busybox-oci --platform linux/arm64', 'one platform of an OCI layout')
          .example('$0 inspect image.tar --json | jq .configDigest', 'the Image ID, for scripts'),
      async (argv) => setExit(await runImageCommand('inspect', argv as unknown as CommonOptions)),
    )
    .command(
      'layers <image>',
      'scan every layer: digests, sizes compressed and uncompressed, files; checks every digest',
      (command) =>
        commonOptions(command)
          .example('$0 layers samples/busybox-amd64.tar', 'per-layer sizes of a docker save tarball')
          .example('docker save app | $0 layers -', 'read the tarball from stdin')
          .example('$0 layers oci:samples/busybox-oci --all-platforms --json', 'every platform, as JSON'),
      async (argv) => setExit(await runImageCommand('layers', argv as unknown as CommonOptions)),
    );
}
