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
  entries: LayerEntry[];
}
