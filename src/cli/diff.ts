/** `layerlens diff A B`: two images of any kind, compared by files, layers, sizes and config. */
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { diffReport, loadForDiff } from '../pipeline/diff.js';
import { renderDiffMarkdown, renderDiffTable } from '../report/diff-render.js';
import { jsonDocument } from '../report/json-stream.js';
import type { ScanMemo } from '../scan/image-scan.js';
import { chooseFormat, COMMAND_FORMATS, commonOptions, readOptions, tableStyle, wholeNumber, withExamples, type CommonOptions } from './commands.js';
import { planOutputs, writeOutputs } from './outputs.js';
import { STDIN_TOKEN } from './stdin.js';

interface DiffOptions extends CommonOptions {
  imageA: string;
  imageB: string;
}

export async function runDiff(raw: DiffOptions): Promise<number> {
  const options: DiffOptions = { ...raw, imageA: raw.imageA === STDIN_TOKEN ? '-' : raw.imageA, imageB: raw.imageB === STDIN_TOKEN ? '-' : raw.imageB };
  if (options.imageA === '-' && options.imageB === '-') throw new UsageError('only one side of a diff can be read from stdin');
  // --username belongs to the one registry the sides share (exit 2 when they are on two).
  if (options.passwordStdin) options.credentialImages = [options.imageA, options.imageB];
  const format = chooseFormat(options, COMMAND_FORMATS.diff);
  const outputs = planOutputs(options.output, format, COMMAND_FORMATS.diff);
  const depth = options.depth ?? 2;
  if (!Number.isInteger(depth) || depth < 1) throw new UsageError(`--depth ${options.depth}: give a whole number ≥ 1`);
  const memo = new Map() as ScanMemo;
  // Each side gets the registry options for its own argument: credentials go only to the registry they are for.
  const sideOptions = async (argument: string) => ({ ...(await readOptions({ ...options, image: argument })), allPlatforms: false });
  const a = await loadForDiff(options.imageA, await sideOptions(options.imageA), memo);
  try {
    const b = await loadForDiff(options.imageB, await sideOptions(options.imageB), memo);
    try {
      const report = diffReport(a, b, { path: options.path, glob: options.glob, depth });
      const top = options.top ?? 20;
      await writeOutputs(outputs, (chosen, toFile) =>
        chosen === 'json' ? jsonDocument(report) : chosen === 'markdown' ? renderDiffMarkdown(report, top) : renderDiffTable(report, tableStyle(options, toFile), top),
      );
      return report.verify.ok ? 0 : 1;
    } finally {
      await b.source.close();
    }
  } finally {
    await a.source.close();
  }
}

export function registerDiffCommand(parser: Argv, setExit: (code: number) => void): void {
  parser.command(
    'diff <imageA> <imageB>',
    'what changed between two images: files, layers, sizes, config',
    (command) =>
      withExamples(
        (commonOptions(command.positional('imageA', { type: 'string', demandOption: true, describe: 'the old image' }), false, COMMAND_FORMATS.diff) as unknown as Argv)
          .positional('imageB', { type: 'string', demandOption: true, describe: 'the new image' })
          .option('depth', { type: 'string', coerce: wholeNumber('depth'), describe: 'directory depth for the rolled-up table (default 2)' })
          .option('path', { type: 'string', describe: 'only paths under this directory' })
          .option('glob', { type: 'string', describe: 'only paths matching a glob' })
          .option('top', { type: 'string', coerce: wholeNumber('top'), describe: 'rows per table (default 20)' }),
        [
          ['$0 diff app:1.0 app:1.1', 'two tags of one image'],
          ['$0 diff ghcr.io/org/app:main app.tar --format markdown', 'a registry tag against a fresh docker save, for a PR comment'],
        ],
      ),
    async (argv) => setExit(await runDiff(argv as unknown as DiffOptions)),
  );
}
