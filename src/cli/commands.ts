/**
 * The image commands. One run loop (open → resolve → scan → union → analyses → report → render) serves every
 * verb; a verb only says what it needs and how it renders. Exit codes: 1 when any check failed.
 */
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import type { Credentials } from '../fetch/registry/auth.js';
import { BlobCache, cacheLimit, defaultCacheDir } from '../fetch/registry/cache.js';
import { parseMirrorUrl } from '../fetch/registry/mirrors.js';
import type { OpenOptions } from '../fetch/open.js';
import { parsePlatform } from '../image/platform.js';
import type { AnalysisOptions } from '../pipeline/analyze.js';
import { clientOptions, credentialRegistry, runAnalysis, runPlatforms, type ReadOptions } from '../pipeline/run.js';
import { attachReport, referrersTag } from '../pipeline/attach.js';
import { parseImageArgument, parseRegistryReference } from '../reference.js';
import { renderFilesTable } from '../report/files-table.js';
import { makeStyle, type Style } from '../report/format.js';
import { jsonDocument } from '../report/json-stream.js';
import { Progress } from '../report/progress.js';
import type { ImageError, Report, SingleReport } from '../report/report.js';
import { renderImageTable } from '../report/table.js';
import { renderPlatformsTable, renderVerifyTable } from '../report/verify-table.js';
import { renderWasteTable } from '../report/waste-table.js';
import { renderContainerSection } from '../report/container-render.js';
import { setSlowDecoderNote } from '../scan/compression.js';
import type { FsNode, UnionFs } from '../analyze/union.js';
import { stderrLine } from './output.js';
import { planOutputs, writeOutputs } from './outputs.js';
import { STDIN_TOKEN } from './stdin.js';

/** yargs `coerce` for a whole-number option: `--top abc` or `--depth -1` is a usage error (exit 2), not NaN. */
export function wholeNumber(name: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const number = typeof value === 'number' ? value : Number(String(value).trim());
    if (!Number.isInteger(number) || number < 0 || String(value).trim() === '') throw new UsageError(`--${name} takes a whole number, not "${String(value)}"`);
    return number;
  };
}

export type CommandName = 'inspect' | 'layers' | 'files' | 'waste' | 'analyze' | 'verify';

export interface CommonOptions {
  image: string;
  registryMirror?: string[];
  json?: boolean;
  format?: string;
  /** `-o FILE` or `--output FORMAT=FILE`, repeatable (outputs.ts). */
  output?: string | string[];
  platform?: string;
  allPlatforms?: boolean;
  color?: boolean;
  quiet?: boolean;
  debug?: boolean;
  // files
  path?: string;
  depth?: number;
  layer?: number;
  changed?: boolean;
  glob?: string;
  // waste
  top?: number;
  // verify, platforms
  fast?: boolean;
  requireAllBlobs?: boolean;
  sizes?: boolean;
  require?: string;
  // registries
  plainHttp?: boolean;
  insecure?: boolean;
  caFile?: string;
  username?: string;
  passwordStdin?: boolean;
  cacheDir?: string;
  cache?: boolean;
  progress?: boolean;
  source?: 'registry' | 'daemon';
  namespace?: string;
  timeout?: number;
  /** --no-trunc: full paths and commands in tables. */
  trunc?: boolean;
  /** analyze: push the JSON report to the image's registry as an OCI artifact referring to it. */
  attach?: boolean;
  /** analyze: use a report attached to the image (this layerlens version) instead of reading its layers. */
  useAttached?: boolean;
  /**
   * The image arguments whose registry `--username` belongs to (default: `image`). `check` names its image for
   * the `--baseline` too, `diff` both sides: credentials never go to another registry.
   */
  credentialImages?: string[];
}

import type { Format } from './outputs.js';
export type { Format } from './outputs.js';

/** The formats each command renders: its --help lists these and no others, and chooseFormat refuses the rest. */
export const COMMAND_FORMATS = {
  inspect: ['table', 'json'],
  layers: ['table', 'json'],
  files: ['table', 'json'],
  waste: ['table', 'json'],
  analyze: ['table', 'json', 'html'],
  verify: ['table', 'json'],
  platforms: ['table', 'json'],
  diff: ['table', 'json', 'markdown'],
  check: ['table', 'json', 'markdown', 'junit'],
} as const satisfies Record<string, readonly Format[]>;

/**
 * Examples, each as a shell comment saying what it does and the command on a line of its own (both lines can be
 * pasted): yargs' two columns give a command at most half the width, so at 80 columns it would wrap mid-command.
 * Keep each command within 76 characters (80 minus yargs' indent); test/help.test.ts checks it.
 */
export function withExamples<T>(command: Argv<T>, examples: [string, string][]): Argv<T> {
  let built = command;
  for (const [line, description] of examples) built = built.example(`# ${description}`, '').example(line, '');
  return built;
}

/** Colour and the voices on stderr, as every command has them. */
export function voiceFlags<T>(command: Argv<T>): Argv<T> {
  return command
    .option('color', { type: 'boolean', default: true, describe: 'colour on a terminal (--no-color, or set NO_COLOR, to turn off)' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress or notes on stderr' })
    .option('debug', { type: 'boolean', describe: 'details (and stack traces) on stderr' }) as unknown as Argv<T>;
}

/** How to reach a registry and as whom: the commands that talk to one (images, repo). */
export function registryFlags<T>(command: Argv<T>): Argv<T> {
  return command
    .option('plain-http', { type: 'boolean', describe: 'talk HTTP, not HTTPS, to the registry', group: 'Registry:' })
    .option('insecure', { type: 'boolean', describe: 'do not verify the registry’s TLS certificate', group: 'Registry:' })
    .option('ca-file', { type: 'string', describe: 'trust this CA (PEM) for the registry’s certificate', group: 'Registry:' })
    .option('username', { type: 'string', describe: 'registry user name (with --password-stdin)', group: 'Registry:' })
    .option('password-stdin', { type: 'boolean', describe: 'read the registry password or token from stdin', group: 'Registry:' }) as unknown as Argv<T>;
}

export function commonOptions<T>(command: Argv<T>, withImage = true, formats: readonly Format[] = ['table', 'json']): Argv<T & CommonOptions> {
  const positional = withImage ? command.positional('image', { type: 'string', describe: 'the image to read (see "Images" below)', demandOption: true }) : command;
  const base = positional
    .option('json', { type: 'boolean', describe: 'print the JSON report (same as --format json)' })
    .option('format', { type: 'string', choices: [...formats], describe: 'output format' })
    .option('output', { alias: 'o', type: 'string', describe: `write the report to FILE instead of stdout; FORMAT=FILE (repeatable: ${formats.filter((format) => format !== 'table').map((format) => `${format}=FILE`).join(', ')}) writes that format too, from the same read` })
    .option('platform', { type: 'string', describe: 'platform to pick from a multi-arch image: os/arch[/variant]' })
    .option('all-platforms', { type: 'boolean', describe: 'report every platform of a multi-arch image' })
    .option('trunc', { type: 'boolean', default: true, describe: 'shorten long cells to fit 100 columns (--no-trunc: full paths and commands, as docker)' });
  return readFlags(registryFlags(voiceFlags(base))) as unknown as Argv<T & CommonOptions>;
}

/** Where and how an image is read, beyond the registry's address and credentials: every command that reads one. */
export function readFlags<T>(command: Argv<T>): Argv<T> {
  return command
    .option('cache-dir', { type: 'string', describe: 'blob cache directory (default ~/.cache/layerlens)', group: 'Registry:' })
    .option('cache', { type: 'boolean', default: true, describe: 'keep downloaded blobs in the cache (--no-cache: do not)', group: 'Registry:' })
    .option('progress', { type: 'boolean', default: true, describe: 'download progress on a terminal (--no-progress: none)', group: 'Registry:' })
    .option('namespace', { type: 'string', default: 'default', describe: 'containerd namespace for containerd:NAME (k8s.io on Kubernetes nodes)', group: 'Registry:' })
    .option('registry-mirror', { type: 'string', array: true, describe: 'a Docker Hub mirror (https://host[:port]), tried before docker.io; repeatable', group: 'Registry:' })
    .option('source', { type: 'string', choices: ['registry', 'daemon'], describe: 'for a bare NAME: read the registry, or the local Docker/Podman engine', group: 'Registry:' })
    .option('timeout', { type: 'number', describe: 'seconds: headers and small documents must arrive within S; a blob fails when < 64 KiB arrive in S (default 30)', group: 'Registry:' }) as unknown as Argv<T>;
}

/** Tables for a terminal get colour (unless --no-color or NO_COLOR); a table written to a file never does. */
export function tableStyle(options: CommonOptions, toFile: boolean): Style {
  return makeStyle({ noColor: options.color === false || toFile, noTrunc: options.trunc === false });
}

export function chooseFormat(options: CommonOptions, allowed: readonly Format[] = ['table', 'json']): Format {
  if (options.json && options.format && options.format !== 'json') throw new UsageError(`--json and --format ${options.format} disagree; give one`);
  const format = options.json ? 'json' : ((options.format as Format | undefined) ?? 'table');
  if (!allowed.includes(format)) throw new UsageError(`--format ${format} is not available for this command (use ${allowed.join(', ')})`);
  return format;
}


/** container:NAME: the container's own section after the layer table (nothing for an image). */
function containerSection(report: Report, style: Style, options: CommonOptions): string {
  const lines = renderContainerSection(report, style, { top: options.top ?? 10 });
  return lines.length ? `\n${lines.join('\n')}\n` : '';
}

function render(command: CommandName, report: Report, unions: (UnionFs | null)[], selections: (FsNode[] | null)[], style: Style, options: CommonOptions): string {
  switch (command) {
    case 'inspect':
      return renderImageTable(report, style, { scanned: false });
    case 'layers':
      return renderImageTable(report, style, { scanned: true }) + containerSection(report, style, options);
    case 'files':
      return renderFilesTable(report, unions, selections, style, { path: options.path, depth: options.depth, glob: options.glob, changed: options.changed ?? false, layer: options.layer });
    case 'waste':
      return renderWasteTable(report, style, { top: options.top ?? 10 });
    case 'analyze':
      return renderImageTable(report, style, { scanned: true }) + containerSection(report, style, options) + '\n' + renderWasteTable(report, style, { top: options.top ?? 10, brief: true });
    case 'verify':
      return renderVerifyTable(report, style);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Where a run's notes (unless --quiet) and --debug lines go. */
interface Voices {
  note: ((line: string) => void) | undefined;
  debug: ((line: string) => void) | undefined;
}

function voicesOf(options: CommonOptions): Voices {
  return { note: options.quiet ? undefined : (line) => stderrLine(line), debug: options.debug ? (line) => stderrLine(line) : undefined };
}

export function openOptions(options: CommonOptions, { note, debug }: Voices = voicesOf(options)): Pick<OpenOptions, 'debug' | 'note' | 'source' | 'namespace'> {
  // The zstd decoder is chosen deep in the layer scan, once per process; its note goes where every other note goes.
  setSlowDecoderNote(note);
  return {
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    debug,
    note,
    source: options.source,
  };
}

/** Standard input holds one password: read it once, however many images (check's baseline, diff's sides) ask. */
let stdinPassword: Promise<string> | null = null;

/** `--timeout S`: seconds, more than 0. */
export function timeoutSeconds(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 86_400) throw new UsageError(`--timeout ${value}: give the number of seconds (more than 0, e.g. --timeout 30)`);
  return value;
}

export async function registryOptions(options: CommonOptions, { note, debug }: Voices = voicesOf(options)): Promise<OpenOptions['registry']> {
  let credentials: Credentials | null = null;
  const timeout = timeoutSeconds(options.timeout);
  if (options.passwordStdin) {
    if (!options.username) throw new UsageError('--password-stdin needs --username');
    if (options.image === '-') throw new UsageError('--password-stdin and an image on stdin (-) cannot share standard input');
    const registry = credentialRegistry(options.credentialImages ?? [options.image], '--username/--password-stdin');
    stdinPassword ??= readStdin().then((text) => text.replace(/\r?\n$/, ''));
    const password = await stdinPassword;
    if (!password) throw new UsageError('--password-stdin: standard input was empty');
    credentials = { username: options.username, password, registry };
  } else if (options.username) {
    throw new UsageError('--username needs --password-stdin (passwords are never taken from the command line)');
  }
  return {
    plainHttp: options.plainHttp ?? false,
    insecure: options.insecure ?? false,
    caFile: options.caFile ?? null,
    credentials,
    ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
    dockerMirrors: (options.registryMirror ?? []).map((url) => {
      parseMirrorUrl(url); // a bad URL is a usage error before anything is read
      return url;
    }),
    cache: options.cache === false ? null : new BlobCache(options.cacheDir ?? defaultCacheDir(), { note, debug, limit: cacheLimit() }),
    // Off a terminal, progress only with --debug (one line per finished blob): CI logs stay clean.
    progress: Progress.create(options.progress !== false && !options.quiet, debug),
  };
}

/** The library's options from the command line's: where to read, and how to talk about it. */
export async function readOptions(options: CommonOptions): Promise<ReadOptions> {
  const platform = options.platform ? parsePlatform(options.platform) : null;
  if (platform && options.allPlatforms) throw new UsageError('--platform and --all-platforms exclude each other');
  const voices = voicesOf(options);
  return { platform, allPlatforms: options.allPlatforms === true, ...openOptions(options, voices), registry: await registryOptions(options, voices) };
}

/** Each image a several-image run could not report gets its one line on stderr, as a single-image run would print it. */
export function imageErrorLines(errors: ImageError[]): void {
  for (const error of errors) stderrLine(error.message);
}

export async function runImageCommand(command: CommandName, rawOptions: CommonOptions): Promise<number> {
  const options = { ...rawOptions, image: rawOptions.image === STDIN_TOKEN ? '-' : rawOptions.image };
  const format = chooseFormat(options, COMMAND_FORMATS[command]);
  const outputs = planOutputs(options.output, format, COMMAND_FORMATS[command]);
  if (options.depth !== undefined && (!Number.isInteger(options.depth) || options.depth < 1)) throw new UsageError(`--depth ${options.depth}: give a whole number ≥ 1`);
  // The HTML report's layer selector needs a size tree per layer; nothing else pays for them.
  const layerViews = outputs.some((destination) => destination.format === 'html');
  const analysis: AnalysisOptions = { fast: options.fast, requireAllBlobs: options.requireAllBlobs, path: options.path, glob: options.glob, layer: options.layer, changed: options.changed, layerViews };
  if ((options.attach || options.useAttached) && parseImageArgument(options.image).kind !== 'registry') {
    throw new UsageError(`--${options.attach ? 'attach' : 'use-attached'} is for registry images (the report is stored in the image's registry); ${options.image} is not one`);
  }
  if (options.attach && options.allPlatforms) throw new UsageError('--attach stores the report of one image: give --platform, not --all-platforms (run once per platform)');
  const read = await readOptions(options);
  // Only `files`' tree and the HTML report draw the union; every other output is the Report alone.
  const reuseReport = !layerViews && !(command === 'files' && outputs.some((destination) => destination.format === 'table'));
  const run = await runAnalysis(command, options.image, { ...read, ...analysis, reuseReport, ...(options.useAttached ? { useAttached: true } : {}), onImageError: stderrLine });
  imageErrorLines(run.problems.errors);
  const { report, unions, selections, layerTrees, coverage } = run;
  await writeOutputs(outputs, async (chosen, toFile) => {
    if (chosen === 'json') return jsonDocument(report);
    if (chosen === 'html') {
      const [{ platformsHtml, renderHtml }, { pageData }] = await Promise.all([import('../report/html.js'), import('../analyze/size-tree.js')]);
      return renderHtml(report, unions.map((union, i) => pageData(union, layerTrees[i] ?? null)), coverage ? platformsHtml(coverage.platforms) : null);
    }
    return render(command, report, unions, selections, tableStyle(options, toFile), options);
  });
  // After the outputs: a push that fails (a read-only token) still leaves the user the report, and exit 3.
  if (options.attach) await attachRun(report, read, voicesOf(options));
  return run.exitCode;
}

/** `--attach`: the report as `--json` prints it, pushed beside the image it describes; one line on stderr says where. */
async function attachRun(report: Report, read: ReadOptions, voices: Voices): Promise<void> {
  const single = report as Partial<SingleReport>;
  if (!single.manifestDigest || !report.source.reference || report.source.kind !== 'registry') throw new UsageError('--attach needs one registry image with a manifest');
  if (report.source.attached) {
    voices.note?.(`not attaching: this report came from the attached ${report.source.attached.digest}`);
    return;
  }
  const document = Buffer.from([...jsonDocument(report).chunks()].join(''));
  const reference = parseRegistryReference(report.source.reference);
  const attached = await attachReport(reference, single.manifestDigest, document, clientOptions(read));
  voices.note?.(`attached the report to ${reference.registry}/${reference.repository}@${single.manifestDigest} as ${attached.digest} (${attached.via === 'referrers-api' ? "the registry's referrers API" : `referrers tag ${referrersTag(single.manifestDigest)}`})`);
}

export async function runPlatformsCommand(rawOptions: CommonOptions): Promise<number> {
  const options = { ...rawOptions, image: rawOptions.image === STDIN_TOKEN ? '-' : rawOptions.image };
  const format = chooseFormat(options, COMMAND_FORMATS.platforms);
  const outputs = planOutputs(options.output, format, COMMAND_FORMATS.platforms);
  const required = (options.require ?? '')
    .split(',')
    .map((text) => text.trim())
    .filter(Boolean)
    .map(parsePlatform);
  const voices = voicesOf(options);
  const { report, exitCode } = await runPlatforms(options.image, { sizes: options.sizes ?? false, require: required, ...openOptions(options, voices), registry: await registryOptions(options, voices) });
  await writeOutputs(outputs, (chosen, toFile) => (chosen === 'json' ? jsonDocument(report) : renderPlatformsTable(report, tableStyle(options, toFile))));
  return exitCode;
}

export function registerImageCommands(parser: Argv, setExit: (code: number) => void): void {
  const run = (command: CommandName) => async (argv: unknown) => setExit(await runImageCommand(command, argv as CommonOptions));
  parser
    .command(
      'inspect <image>',
      'summary from the manifests and config (never reads layer blobs)',
      (command) =>
        withExamples(
          commonOptions(command, true, COMMAND_FORMATS.inspect),
          [
            ['$0 inspect samples/busybox-amd64.tar', 'a docker save tarball'],
            ['$0 inspect oci:samples/busybox-oci --platform linux/arm64', 'one platform of an OCI layout'],
            ['$0 inspect image.tar --json | jq .configDigest', 'the Image ID, for scripts'],
          ],
        ),
      run('inspect'),
    )
    .command(
      'layers <image>',
      'scan every layer: digests, sizes, files added/modified/removed; checks every digest',
      (command) =>
        withExamples(
          commonOptions(command, true, COMMAND_FORMATS.layers),
          [
            ['$0 layers samples/busybox-amd64.tar', 'per-layer sizes of a docker save tarball'],
            ['docker save app | $0 layers -', 'read the tarball from stdin'],
            ['$0 layers oci:samples/busybox-oci --all-platforms --json', 'every platform, as JSON'],
          ],
        ),
      run('layers'),
    )
    .command(
      'files <image>',
      'the filesystem the container sees (the union of the layers), as a tree',
      (command) =>
        withExamples(
          commonOptions(command, true, COMMAND_FORMATS.files)
            .option('path', { type: 'string', describe: 'show only this directory (e.g. /usr)' })
            .option('depth', { type: 'string', coerce: wholeNumber('depth'), describe: 'levels of the tree to show (table only; default 3, or all with --changed/--glob)' })
            .option('layer', { type: 'string', coerce: wholeNumber('layer'), describe: 'the filesystem as of layer N (0 = the first)' })
            .option('changed', { type: 'boolean', describe: 'only what layer N (default: the last) added or modified, and what it removed' })
            .option('glob', { type: 'string', describe: 'only paths matching a glob, e.g. "**/*.so" or "/etc/**"' }),
          [
            ['$0 files samples/busybox-amd64.tar --path /app --depth 2', 'one directory, two levels'],
            ['$0 files samples/busybox-amd64.tar --layer 2 --changed', 'what layer 2 changed'],
            ["$0 files image.tar --glob '**/*.pem' --json", 'find certificates and keys'],
          ],
        ),
      run('files'),
    )
    .command(
      'waste <image>',
      'wasted bytes: dive-compatible efficiency, reclaimable bytes, duplicates, largest paths',
      (command) =>
        withExamples(
          commonOptions(command, true, COMMAND_FORMATS.waste)
            .option('top', { type: 'string', coerce: wholeNumber('top'), describe: 'entries to show in each table (default 10)' }),
          [
            ['$0 waste samples/busybox-amd64.tar', 'what the layering wastes, step by step'],
            ['$0 waste image.tar --json | jq .waste.efficiency', "dive's efficiency score"],
          ],
        ),
      run('waste'),
    )
    .command(
      'analyze <image>',
      'everything in one report: layers, files, waste and digest checks',
      (command) =>
        withExamples(
          commonOptions(command, true, COMMAND_FORMATS.analyze)
            .option('top', { type: 'string', coerce: wholeNumber('top'), describe: 'entries to show in each table (default 10)' })
            .option('attach', { type: 'boolean', describe: "push the JSON report to the image's registry as an OCI artifact referring to it (needs push access)", group: 'Registry:' })
            .option('use-attached', { type: 'boolean', describe: 'use a report attached by this layerlens version instead of reading the layers (not a verification)', group: 'Registry:' }),
          [
            ['$0 analyze samples/busybox-amd64.tar', 'the full report'],
            ['$0 analyze image.tar --json -o report.json', 'save the JSON report'],
            ['$0 analyze image.tar --format html -o report.html', 'a report to open in a browser'],
            ['$0 analyze ghcr.io/org/app:1.2 --attach -o report.json', 'store the report in the registry too'],
          ],
        ),
      run('analyze'),
    )
    .command(
      'container <name>',
      "a container's writable layer on top of its image: what it wrote, by size, and the whole analysis",
      (command) =>
        withExamples(
          commonOptions(command.positional('name', { type: 'string', demandOption: true, describe: 'the container (name or ID, as docker ps -a lists it)' }), false, COMMAND_FORMATS.analyze)
            .option('top', { type: 'string', coerce: wholeNumber('top'), describe: 'entries to show in each table (default 10)' }),
          [
            ['$0 container web', 'what the container wrote, with the image below it'],
            ['$0 files container:web --changed', 'only the paths the container changed'],
            ['$0 container web --json | jq .container.writable', 'what it wrote, rewrote and deleted, by directory, beside the engine\'s SizeRw'],
            ["$0 check container:web --max-writable-size 1GB --forbid-writable-paths '/app/**'", 'a health job for a service'],
          ],
        ),
      async (argv) => {
        const options = argv as unknown as CommonOptions & { name: string };
        setExit(await runImageCommand('analyze', { ...options, image: `container:${options.name}` }));
      },
    )
    .command(
      'verify <image>',
      'check every digest and size: index, manifests, config, layers, diff_ids, media types',
      (command) =>
        withExamples(
          commonOptions(command, true, COMMAND_FORMATS.verify)
            .option('fast', { type: 'boolean', describe: 'check manifests and configs only (no layer download)' })
            .option('require-all-blobs', { type: 'boolean', describe: 'fail when a non-distributable layer cannot be read' }),
          [
            ['$0 verify image.tar', 'every blob of a docker save tarball'],
            ['$0 verify oci:samples/busybox-oci', 'every platform of a multi-arch image'],
            ['$0 verify ghcr.io/org/app:1.2 --fast', 'manifests and configs only'],
          ],
        ),
      run('verify'),
    )
    .command(
      'platforms <image>',
      'which platforms an image covers and what each costs (never downloads layers unless --sizes)',
      (command) =>
        withExamples(
          commonOptions(command, true, COMMAND_FORMATS.platforms)
            .option('sizes', { type: 'boolean', describe: 'also download and scan for uncompressed sizes' })
            .option('require', { type: 'string', describe: 'comma-separated platforms that must be present, e.g. linux/amd64,linux/arm64' }),
          [
            ['$0 platforms oci:samples/busybox-oci', 'the platforms of a multi-arch layout'],
            ['$0 platforms alpine --require linux/amd64,linux/arm64', 'a CI gate on coverage'],
          ],
        ),
      async (argv) => setExit(await runPlatformsCommand(argv as unknown as CommonOptions)),
    );
}
