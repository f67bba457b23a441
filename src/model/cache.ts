/** What `layerlens cache info|prune` report about the blob and scan cache (fetch/registry/cache.ts fills them). */

/** What one kind of cache entry amounts to. */
export interface CacheTally {
  files: number;
  bytes: number;
}

/** What a cache directory holds, by kind, and its oldest and newest use. */
export interface CacheInventory {
  dir: string;
  exists: boolean;
  /** The size cap in bytes; null when unlimited. */
  limit: number | null;
  total: CacheTally;
  blobs: CacheTally;
  scans: CacheTally;
  /** Layer scans in a format this version no longer reads (an older layerlens wrote them). */
  outdatedScans: CacheTally;
  /** Whole image reports this build wrote (a warm registry run prints one without reading a layer). */
  reports: CacheTally;
  /** Reports another build of layerlens wrote: nothing reads them. */
  outdatedReports: CacheTally;
  /** Temp files a killed run left (no live process writes them). */
  leftovers: CacheTally;
  /** Temp files a live run is writing now: never removed. */
  inProgress: CacheTally;
  /** What `cache prune` would remove now (to the limit). */
  prunable: CacheTally;
  oldestUse: string | null;
  newestUse: string | null;
}

export interface PruneResult {
  dir: string;
  dryRun: boolean;
  /** The size the cache was brought under (null: no cap, only outdated scans and leftovers went). */
  max: number | null;
  removed: CacheTally & { blobs: CacheTally; scans: CacheTally; outdatedScans: CacheTally; reports: CacheTally; outdatedReports: CacheTally; leftovers: CacheTally };
  /** What the cache holds afterwards (what it would hold, with dryRun). */
  remaining: CacheTally;
}
