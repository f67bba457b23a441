/**
 * A store whose small documents (indexes, manifests, configs) are read once per run, however many walks ask for
 * them: `analyze` of an index walks every platform for its coverage and then resolves the one it reports, and
 * without this the index, that platform's manifest and its config would be fetched twice (twice the requests to a
 * registry run with --no-cache). The bytes kept are bounded: past the budget a read goes to the store as before,
 * so an index naming a thousand 4 MB manifests cannot hold gigabytes here. A failed read is not kept.
 */
import type { Readable } from 'node:stream';
import type { BlobStore, ScanCache } from '../model/source.js';
import type { LayerScan } from '../model/layer.js';

/** Documents kept per run, in bytes: real indexes, manifests and configs are kilobytes each. */
const KEPT_BYTES = 16 * 1024 * 1024;

export class ReadOnceStore implements BlobStore {
  private readonly kept = new Map<string, Promise<Buffer>>();
  private keptBytes = 0;
  readonly scans: ScanCache | undefined;

  constructor(private readonly store: BlobStore) {
    this.scans = store.scans;
  }

  get label(): string {
    return this.store.label;
  }

  stat(digest: string, size?: number | null): Promise<{ available: boolean; size: number | null }> {
    return this.store.stat(digest, size);
  }

  read(digest: string, maxBytes: number, what: string): Promise<Buffer> {
    const key = `${digest} ${maxBytes}`;
    const kept = this.kept.get(key);
    if (kept) return kept;
    if (this.keptBytes >= KEPT_BYTES) return this.store.read(digest, maxBytes, what);
    const reading = this.store.read(digest, maxBytes, what).then(
      (bytes) => {
        this.keptBytes += bytes.length;
        return bytes;
      },
      (error: unknown) => {
        this.kept.delete(key);
        throw error;
      },
    );
    this.kept.set(key, reading);
    return reading;
  }

  open(digest: string, size?: number | null): Readable {
    return this.store.open(digest, size);
  }

  locate(digest: string): string {
    return this.store.locate(digest);
  }

  scanned(digest: string): (() => Promise<LayerScan>) | null {
    return this.store.scanned?.(digest) ?? null;
  }
}
