/**
 * `layerlens repo REGISTRY/REPOSITORY`: every tag, what it costs, what it shares, what deleting it would free;
 * from manifests (and configs) only. Rules make it a gate: exit 1 when one fails, 3 when a tag could not be read.
 */
import type { Argv } from 'yargs';
import { EXIT_UNREADABLE, UsageError } from '../errors.js';
import { parsePlatform, formatPlatform } from '../image/platform.js';
import { parseSize } from '../model/units.js';
import { runRepo, type RepoRules } from '../pipeline/repo.js';
import { clientOptions } from '../pipeline/run.js';
import { parseRegistryHost, parseRepository } from '../reference.js';
import { jsonDocument } from '../report/json-stream.js';
import { Progress } from '../report/progress.js';
import { renderRepoMarkdown, renderRepoTable, type RepoSort } from '../report/repo-render.js';
import { stderrLine } from './output.js';
import { chooseFormat, registryFlags, registryOptions, tableStyle, voiceFlags, wholeNumber, withExamples, type CommonOptions } from './commands.js';
import { planOutputs, writeOutputs } from './outputs.js';

const REPO_FORMATS = ['table', 'json', 'markdown'] as const;

interface RepoCommandOptions extends CommonOptions {
  repository: string;
  all?: boolean;
  useAttached?: boolean;
  tags?: string;
  sort?: RepoSort;
  maxTags?: number;
  maxUniqueSize?: string;
  requirePlatforms?: string;
}

export async function runRepoCommand(options: RepoCommandOptions): Promise<number> {
  const format = chooseFormat(options, REPO_FORMATS);
  const outputs = planOutputs(options.output, format, REPO_FORMATS);
  const target = options.all ? { registry: parseRegistryHost(options.repository), repository: null } : (({ registry, repository }) => ({ registry, repository }))(parseRepository(options.repository));
  // Credentials belong to the registry the argument names (a stand-in repository names it for --all).
  const credentialImage = `${target.registry}/${target.repository ?? 'catalog'}`;
  const rules: RepoRules = {};
  if (options.maxTags !== undefined) rules.maxTags = options.maxTags;
  if (options.maxUniqueSize !== undefined) rules.maxUniqueSize = parseSize(options.maxUniqueSize, '--max-unique-size');
  if (options.requirePlatforms !== undefined) {
    const platforms = options.requirePlatforms.split(',').map((text) => text.trim()).filter(Boolean);
    if (!platforms.length) throw new UsageError('--require-platforms: name at least one platform, e.g. linux/amd64,linux/arm64');
    rules.requirePlatforms = platforms.map((text) => formatPlatform(parsePlatform(text)));
  }
  const note = options.quiet ? undefined : (line: string) => stderrLine(line);
  const debug = options.debug ? (line: string) => stderrLine(line) : undefined;
  const registry = await registryOptions({ ...options, image: credentialImage, cache: false }, { note, debug });
  const report = await runRepo(target, {
    registry: clientOptions({ ...(registry ? { registry } : {}), ...(debug ? { debug } : {}) }),
    ...(options.tags !== undefined ? { tags: options.tags } : {}),
    ...(options.useAttached ? { useAttached: true } : {}),
    ...(debug ? { debug } : {}),
    ...(Object.keys(rules).length ? { rules } : {}),
    progress: Progress.create(options.progress !== false && !options.quiet, debug),
    ...(note ? { note } : {}),
  });
  const sort = options.sort ?? 'unique';
  await writeOutputs(outputs, (chosen, toFile) => (chosen === 'json' ? jsonDocument(report) : chosen === 'markdown' ? renderRepoMarkdown(report, sort) : renderRepoTable(report, tableStyle(options, toFile), sort)));
  if (report.problems.some((problem) => problem.exitCode === 3)) return EXIT_UNREADABLE;
  if (report.problems.some((problem) => problem.exitCode === 1)) return 1;
  return report.check && !report.check.passed ? 1 : 0;
}

export function registerRepoCommand(parser: Argv, setExit: (code: number) => void): void {
  parser.command(
    'repo <repository>',
    "every tag of a repository: size, platforms, shared and unique bytes (manifests only, no layer download)",
    (command) => {
      const own = command
        .positional('repository', { type: 'string', demandOption: true, describe: 'REGISTRY/REPOSITORY (Docker Hub rules: alpine is docker.io/library/alpine)' })
        .option('json', { type: 'boolean', describe: 'print the JSON document (same as --format json)' })
        .option('format', { type: 'string', choices: [...REPO_FORMATS], describe: 'output format' })
        .option('output', { alias: 'o', type: 'string', describe: 'write to FILE instead of stdout; FORMAT=FILE (repeatable: json=FILE, markdown=FILE) writes that format too' })
        .option('all', { type: 'boolean', describe: 'every repository the registry lists (/v2/_catalog): the argument is a registry; unique bytes are then registry-wide' })
        .option('tags', { type: 'string', describe: 'only tags matching a glob, e.g. "1.*" or "!(*-rc*)"' })
        .option('use-attached', { type: 'boolean', describe: 'per-tag efficiency and waste from reports attached with analyze --attach (no layer read)' })
        .option('sort', { type: 'string', choices: ['unique', 'size', 'tag'], describe: 'table order: unique bytes (default), size, or tag name' })
        .option('max-tags', { type: 'string', coerce: wholeNumber('max-tags'), describe: 'fail (exit 1) when the repository has more tags', group: 'Rules:' })
        .option('max-unique-size', { type: 'string', describe: 'fail when a tag holds more bytes of its own (e.g. 500MB)', group: 'Rules:' })
        .option('require-platforms', { type: 'string', describe: 'fail when a tag lacks one, e.g. linux/amd64,linux/arm64', group: 'Rules:' })
        .option('trunc', { type: 'boolean', default: true, describe: 'shorten long cells to fit 100 columns (--no-trunc: full tags)' });
      // The voices and the registry flags every command that talks to a registry shares, then repo's own.
      const built = registryFlags(voiceFlags(own))
        .option('progress', { type: 'boolean', default: true, describe: 'progress on a terminal (--no-progress: none)', group: 'Registry:' })
        .option('timeout', { type: 'number', describe: 'seconds each request may take (default 30)', group: 'Registry:' });
      return withExamples(
        built,
        [
          ['$0 repo ghcr.io/org/app', 'every tag, the costliest first'],
          ["$0 repo ghcr.io/org/app --tags '1.*' --sort size", 'one release line, by size'],
          ['$0 repo ghcr.io/org/app --require-platforms linux/amd64,linux/arm64', 'a gate: every tag multi-arch'],
          ['$0 repo localhost:5000/app --json | jq .totals.storedBytes', 'what the repository stores'],
          ['$0 repo localhost:5000 --all', 'every repository of a registry, shared bytes registry-wide'],
        ],
      );
    },
    async (argv) => setExit(await runRepoCommand(argv as unknown as RepoCommandOptions)),
  );
}
