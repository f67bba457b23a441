/**
 * The command line (CONTRACT.md): yargs commands, one module per verb; errors become one line on stderr with
 * the contract's exit code (2 usage, 3 unreadable), a stack trace only with --debug.
 */
import yargs, { type Argv } from 'yargs';
import { EXIT_UNREADABLE, EXIT_USAGE, LayerlensError, UsageError, errorMessage } from '../errors.js';
import { registerCacheCommand } from './cache.js';
import { registerExploreCommand } from './explore.js';
import { registerRepoCommand } from './repo.js';
import { registerCheckCommand } from './check.js';
import { registerDiffCommand } from './diff.js';
import { registerImageCommands } from './commands.js';
import { guardStdio, stderrBlock, stderrLine } from './output.js';
import { STDIN_TOKEN } from './stdin.js';
import { VERSION } from '../model/version.js';

export { VERSION };

const COMPLETION_SHELLS = ['bash', 'zsh'];

export function buildParser(args: string[], setExit: (code: number) => void): Argv {
  const parser = yargs(args)
    .scriptName('layerlens')
    .usage('$0 <command> <image> [options]\n\nOpen a container image and see what is inside it and what it costs.')
    .strict()
    .recommendCommands()
    .demandCommand(1, 'name a command: inspect, layers, files, waste, analyze, verify, platforms, diff, check, explore, container, repo, cache or completion (see --help)')
    .version(VERSION)
    .alias('h', 'help')
    .wrap(Math.min(100, process.stdout.columns || Number(process.env.COLUMNS) || 100))
    // One transport a line, each under 80 columns: yargs would wrap a paragraph mid-name.
    .epilogue(
      [
        'Images:',
        '  NAME[:TAG][@DIGEST]        a registry image (docker.io, library/, latest by',
        '                             default); a local engine holding it is read instead',
        '                             (--source registry|daemon decides)',
        '  docker://NAME              a registry image, always',
        '  docker-daemon:NAME         an image of the local Docker engine',
        '  podman:NAME                an image of the local Podman engine',
        '  containerd:NAME            an image in containerd\'s store (--namespace)',
        '  docker-archive:FILE[:REF]  a docker save tarball (REF: a RepoTag or @N)',
        '  oci:DIR[:REF]              an OCI image layout (REF: a ref.name or a digest)',
        '  oci-archive:FILE[:REF]     a tarball of an OCI image layout',
        '  PATH                       a file or directory: the format is read from its',
        '                             content (gzip/xz/zstd-wrapped tarballs too)',
        '  -                          a tarball on standard input',
        '',
        'Exit codes: 0 ok, 1 a check failed, 2 usage error, 3 the image could not be read.',
      ].join('\n'),
    )
    .fail((message, error) => {
      // yargs wraps what an option's coerce throws (a bad --top) in its own YError: still a usage error.
      if (error && !(error instanceof LayerlensError) && error.name === 'YError') throw new UsageError(error.message);
      if (error) throw error;
      // yargs' suggestion alone ("Did you mean explore?") does not say what was wrong.
      const suggestion = /^Did you mean (.+)\?$/.exec(message ?? '');
      if (suggestion) throw new UsageError(`unknown command "${args[0]}"; did you mean ${suggestion[1]}?`);
      throw new UsageError(message ?? 'invalid command line');
    })
    .exitProcess(false);
  registerImageCommands(parser, setExit);
  registerDiffCommand(parser, setExit);
  registerCheckCommand(parser, setExit);
  registerRepoCommand(parser, setExit);
  registerCacheCommand(parser, setExit);
  registerExploreCommand(parser, setExit);
  // yargs writes the script and answers the shell's --get-yargs-completions calls, from these very commands.
  parser.completion('completion', 'print a shell completion script: completion bash >> ~/.bashrc, completion zsh >> ~/.zshrc (default: $SHELL)');
  // yargs lays out a command's whole help every time it runs one, to show it later from an async handler, which
  // layerlens never does (.fail above throws a one-line usage error): 50–75 ms of string widths and wrapping in
  // every run. Only --help prints help, and yargs answers it before any handler runs. (Angular's CLI does the same,
  // angular/angular-cli#34087; the method is yargs-internal, hence the guard.)
  if (!args.some((arg) => arg === '--help' || arg === '-h')) {
    const internal = parser as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } };
    const usage = internal.getInternalMethods?.().getUsageInstance?.();
    if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
  }
  return parser;
}


export async function main(rawArgs: string[]): Promise<number> {
  const args = rawArgs.map((arg) => (arg === '-' ? STDIN_TOKEN : arg));
  if (args[0] === 'completion' && args[1] !== undefined) {
    if (!COMPLETION_SHELLS.includes(args[1])) {
      stderrLine(`completion is for bash or zsh, not ${JSON.stringify(args[1])}`);
      return EXIT_USAGE;
    }
    // yargs picks the script's dialect from $SHELL; naming a shell overrides it (this process only prints it).
    process.env.SHELL = `/bin/${args[1]}`;
    args.splice(1, 1);
  }
  const debug = args.includes('--debug');
  guardStdio();
  try {
    let exitCode = 0;
    await buildParser(args, (code) => (exitCode = code)).parseAsync();
    return exitCode;
  } catch (error) {
    if (error instanceof LayerlensError) {
      // Messages quote names, tags and registry error codes: escaped, so they stay one line that cannot be forged.
      stderrLine(error.message);
      if (debug && error.cause instanceof Error && error.cause.stack) stderrBlock(error.cause.stack);
      if (debug && error.stack) stderrBlock(error.stack);
      if (error.exitCode === EXIT_USAGE) process.stderr.write("Run 'layerlens --help' for usage.\n");
      return error.exitCode;
    }
    stderrLine(`internal error: ${errorMessage(error)}`);
    if (debug && error instanceof Error && error.stack) stderrBlock(error.stack);
    else process.stderr.write('Run again with --debug for details, and please report it.\n');
    return EXIT_UNREADABLE;
  }
}
