/**
 * Scan every layer of a resolved image (in parallel, bounded) and compare what was read with what the manifest
 * and config claim: blob digest and size, diffId, media type against the sniffed compression.
 */
import os from 'node:os';
import { mapLimit } from '../concurrency.js';
import { ImageReadError, TransferError } from '../errors.js';
import { layerCompression } from '../image/mediatypes.js';
import type { LayerRef, ResolvedImage, VerifyCheck } from '../fetch/source.js';
import { hashBlob, PassScanError, scanLayer, type LayerScan } from './scan.js';

export interface SkippedBlob {
  subject: string;
  reason: string;
}

export interface ImageScan {
  /** One entry per layer; null where a non-distributable layer was not available. */
  layers: (LayerScan | null)[];
  checks: VerifyCheck[];
  skipped: SkippedBlob[];
}

export function layerLabel(layer: LayerRef): string {
  return `layer ${layer.index}${layer.digest ? ` (${layer.digest.slice(0, 19)}…)` : ''} at ${layer.location}`;
}


export function layerChecks(layer: LayerRef, scan: LayerScan, manifest: string | null): VerifyCheck[] {
  const checks: VerifyCheck[] = [];
  const subject = layer.digest ?? scan.digest;
  if (layer.digest) {
    checks.push({ kind: 'layer', subject, manifest, ok: scan.digest === layer.digest, expected: layer.digest, actual: scan.digest, what: `layer ${layer.index} blob digest` });
  }
  if (layer.size !== null) {
    checks.push({ kind: 'layer', subject, manifest, ok: scan.compressedSize === layer.size, expected: layer.size, actual: scan.compressedSize, what: `layer ${layer.index} blob size` });
  }
  checks.push({
    kind: 'diffId',
    subject,
    manifest,
    ok: layer.diffId !== null && scan.diffId === layer.diffId,
    expected: layer.diffId,
    actual: scan.diffId,
    what: layer.diffId ? `layer ${layer.index} uncompressed sha256 equals config diff_ids[${layer.index}]` : `config lists no diff_id for layer ${layer.index}`,
  });
  const declared = layerCompression(layer.mediaType);
  checks.push({
    kind: 'mediaType',
    subject,
    manifest,
    ok: declared === scan.compression,
    expected: declared === null ? `a layer media type (got ${layer.mediaType})` : declared,
    actual: scan.compression,
    what: `layer ${layer.index} compression matches its media type`,
  });
  return checks;
}

export interface ScanOptions {
  concurrency?: number;
  /** Non-distributable layers are normally skipped when absent; with this they are required like any other. */
  requireAllBlobs?: boolean;
  /** Scans by blob digest, shared between images (diff, all platforms): a layer two images share is read once. */
  memo?: Map<string, Promise<LayerScan>>;
}

export async function scanImage(image: ResolvedImage, options: ScanOptions = {}): Promise<ImageScan> {
  const concurrency = options.concurrency ?? Math.max(2, os.availableParallelism());
  const skipped: SkippedBlob[] = [];
  const checks: VerifyCheck[] = [];
  for (const layer of image.layers) {
    if (layer.available) continue;
    if (layer.foreign && !options.requireAllBlobs) {
      skipped.push({ subject: layer.digest ?? `layer ${layer.index}`, reason: 'non-distributable layer not fetched' });
      continue;
    }
    throw new ImageReadError(`${layerLabel(layer)}: the blob is missing`);
  }
  const scanOnce = async (layer: LayerRef): Promise<LayerScan> => {
    if (layer.scanned) {
      try {
        return await layer.scanned();
      } catch (error) {
        // As below: the pass read the blob to its end, so it can say whether the bytes are what the manifest names.
        if (error instanceof PassScanError && layer.digest && error.blobDigest !== layer.digest) {
          throw new ImageReadError(`${error.message}; the blob's sha256 is ${error.blobDigest}, not ${layer.digest} as its manifest says`, { cause: error });
        }
        throw error;
      }
    }
    const cached = layer.digest && layer.scans ? await layer.scans.load(layer.digest) : null;
    if (cached) return cached;
    let scan: LayerScan;
    try {
      scan = await scanLayer(layer.open(), { label: layerLabel(layer), estimateGzip: layerCompression(layer.mediaType) === 'none', expectedSize: layer.storedSize ?? layer.size });
    } catch (error) {
      // Unreadable content (exit 3) may also be a blob that is not what its manifest names: hash it once more so
      // the message says so, which tells a damaged download or registry from a bad image.
      if (!(error instanceof ImageReadError) || error instanceof TransferError || !layer.digest) throw error;
      const blob = await hashBlob(layer.open()).catch(() => null);
      if (!blob || blob.digest === layer.digest) throw error;
      throw new ImageReadError(`${error.message}; the blob's sha256 is ${blob.digest}, not ${layer.digest} as its manifest says`, { cause: error });
    }
    // Only a scan of bytes that matched their digest is worth keeping.
    if (layer.digest && layer.scans && scan.digest === layer.digest) await layer.scans.save(layer.digest, scan);
    return scan;
  };
  const layers = await mapLimit(image.layers, concurrency, async (layer) => {
    if (!layer.available) return null;
    if (!options.memo || !layer.digest) return scanOnce(layer);
    let scan = options.memo.get(layer.digest);
    if (!scan) {
      scan = scanOnce(layer);
      options.memo.set(layer.digest, scan);
    }
    return scan;
  });
  image.layers.forEach((layer, i) => {
    const scan = layers[i];
    if (scan) checks.push(...layerChecks(layer, scan, image.manifestDigest));
  });
  return { layers, checks, skipped };
}
