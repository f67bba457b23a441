/**
 * What the scanner makes of one layer blob (scan/scan.ts): its digests and sizes and one compact record per tar
 * entry. Sources cache these (the registry's blob cache) and one-pass sources hand them over already made (an
 * engine export), so they live on the ground floor with the other model types.
 */
import type { Compression } from '../image/mediatypes.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One tar entry of a layer, as recorded (paths normalised: no leading `/` or `./`, no trailing `/`). */
export interface LayerEntry {
  path: string;
  type: EntryType;
  /** Size in the tar header (0 for hardlinks, directories, links). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target, or the path a hardlink links to (normalised). */
  linkTarget: string | null;
  /** xxhash64 of a regular file's content, `xxh64:<16 hex>`; null for other types. */
  contentHash: string | null;
}

export interface LayerScan {
  /** sha256 of the bytes as stored. */
  digest: string;
  compressedSize: number;
  compression: Compression;
  /** sha256 of the uncompressed tar stream. */
  diffId: string;
  uncompressedSize: number;
  /** Σ of tar header sizes (a hardlink counts 0): dive's layer size. */
  contentSize: number;
  /** Estimated `gzip -6` size of the uncompressed stream (gzip-estimate.ts), for layers stored uncompressed; else null. */
  estimatedCompressedSize: number | null;
  /**
   * A short layer's gzip samples (scan/gzip-estimate.ts): its estimate is pooled with the image's other short
   * layers when the image is scanned, and `estimatedCompressedSize` is then that pooled figure.
   */
  gzipSamples?: GzipSampleStats;
  entries: LayerEntry[];
}

/** What the gzip estimate saw of one short layer: enough to weigh it with other layers' samples. */
export interface GzipSampleStats {
  /** Bytes of the uncompressed stream. */
  length: number;
  /** Bytes of the blocks whose entropy was measured, and their bytes per entropy class ([class, bytes]). */
  measuredBytes: number;
  classes: [number, number][];
  /** The compressed samples: [entropy class, bytes in, deflated bytes]. */
  samples: [number, number, number][];
}
