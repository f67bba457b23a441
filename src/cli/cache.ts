/**
 * `layerlens cache info|prune`: what the blob and scan cache holds and what a prune frees. Every run that writes to
 * the cache keeps it under LAYERLENS_CACHE_MAX itself (least recently used first); prune does it on demand, to
 * another size with --max, or empties it with --all.
 */
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { CacheDirError, cacheLimit, defaultCacheDir, inventoryCache, pruneCache } from '../fetch/registry/cache.js';
import { parseSize } from '../model/units.js';
import { renderCacheInfo, renderPrune } from '../report/cache-render.js';
import { jsonDocument } from '../report/json-stream.js';
import { withExamples } from './commands.js';
import { planOutputs, writeOutputs } from './outputs.js';

interface CacheOptions {
  cacheDir?: string;
  json?: boolean;
  max?: string;
  all?: boolean;
  dryRun?: boolean;
}

async function cacheCommand<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CacheDirError) throw new UsageError(`${error.message}; name another with --cache-dir`);
    throw error;
  }
}

export async function runCacheInfo(options: CacheOptions): Promise<number> {
  const limit = cacheLimit();
  const info = await cacheCommand(() => inventoryCache(options.cacheDir ?? defaultCacheDir(), limit));
  await writeOutputs(planOutputs(undefined, options.json ? 'json' : 'table', ['table', 'json']), (format) => (format === 'json' ? jsonDocument(info) : renderCacheInfo(info)));
  return 0;
}

export async function runCachePrune(options: CacheOptions): Promise<number> {
  if (options.all && options.max !== undefined) throw new UsageError('--all empties the cache; give it or --max, not both');
  const max = options.all ? 0 : options.max !== undefined ? parseSize(options.max, '--max') : cacheLimit();
  const result = await cacheCommand(() => pruneCache(options.cacheDir ?? defaultCacheDir(), { max, dryRun: options.dryRun ?? false }));
  await writeOutputs(planOutputs(undefined, options.json ? 'json' : 'table', ['table', 'json']), (format) => (format === 'json' ? jsonDocument(result) : renderPrune(result)));
  return 0;
}

export function registerCacheCommand(parser: Argv, setExit: (code: number) => void): void {
  const shared = (command: Argv) =>
    command
      .option('cache-dir', { type: 'string', describe: 'the cache directory (default ~/.cache/layerlens)' })
      .option('json', { type: 'boolean', describe: 'print JSON' });
  parser.command('cache', 'what the blob and scan cache holds (info), and freeing it (prune)', (command) =>
    command
      .command(
        'info',
        'what the cache holds: blobs, layer scans, leftovers, sizes, and what a prune would free',
        (sub) => withExamples(shared(sub), [['$0 cache info', 'sizes by kind, and the limit (LAYERLENS_CACHE_MAX)'], ['$0 cache info --json | jq .total.bytes', 'the bytes it holds, for scripts']]),
        async (argv) => setExit(await runCacheInfo(argv as unknown as CacheOptions)),
      )
      .command(
        'prune',
        'remove outdated scans and leftovers, then the least recently used entries until the cache fits its limit',
        (sub) =>
          withExamples(
            shared(sub)
              .option('max', { type: 'string', describe: 'bring the cache under this size instead of LAYERLENS_CACHE_MAX (e.g. 1GB)' })
              .option('all', { type: 'boolean', describe: 'remove everything (blobs and scans; runs under way keep their temp files)' })
              .option('dry-run', { type: 'boolean', describe: 'say what would be removed, remove nothing' }),
            [
              ['$0 cache prune', 'down to LAYERLENS_CACHE_MAX (default 4 GiB)'],
              ['$0 cache prune --max 1GB --dry-run', 'what keeping 1 GB would remove'],
              ['$0 cache prune --all', 'empty the cache'],
            ],
          ),
        async (argv) => setExit(await runCachePrune(argv as unknown as CacheOptions)),
      )
      .demandCommand(1, 'name an action: layerlens cache info, or layerlens cache prune'),
  );
}
