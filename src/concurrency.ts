/**
 * Bounded parallelism. Everything that fans out over a list an image controls (layers, manifests) goes through
 * this, so a manifest with 2,000 layers opens a handful of files at a time, not 2,000 (EMFILE).
 */

/** At most this many blob reads, stats or sniffs at once: enough to overlap I/O, far below any fd limit. */
export const IO_CONCURRENCY = 16;

/** Run `task` over `items` with at most `limit` at a time, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  await Promise.all(workers);
  return results;
}
