/**
 * Scan every layer of a resolved image (in parallel, bounded) and compare what was read with what the manifest
 * and config claim: blob digest and size, diffId, media type against the sniffed compression.
 */
import os from 'node:os';
import { mapLimit } from '../concurrency.js';
import { DamagedImageError, ImageReadError, TransferError } from '../errors.js';
import { layerCompression } from '../image/mediatypes.js';
import type { LayerRef, ResolvedImage, SkippedBlob, VerifyCheck } from '../model/source.js';
import { hashBlob, PassScanError, scanLayer } from './scan.js';
import type { LayerScan } from '../model/layer.js';
import { pooledEstimates } from './gzip-estimate.js';

export type { SkippedBlob } from '../model/source.js';

export interface ImageScan {
  /** One entry per layer; null where a non-distributable layer was not available. */
  layers: (LayerScan | null)[];
  checks: VerifyCheck[];
  skipped: SkippedBlob[];
  /** Layers whose content could not be scanned (their `layers` entry is null), in layer order. */
  blocked: BlockedLayer[];
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
  // A container's writable layer: no config claims a diff_id for it (it is measured, not checked).
  if (!layer.writable) checks.push({
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

/**
 * A layer whose content could not be scanned. `damaged`: its bytes do not hash to the digest its manifest names
 * (CONTRACT.md "Damage is a finding": a failed check, exit 1, whatever else the damage breaks). Otherwise the bytes
 * are what the manifest names but cannot be decompressed or parsed: a finding for `verify` (the image as
 * published is unusable), a read error (exit 3) for commands that need the content.
 */
export interface BlockedLayer {
  index: number;
  digest: string | null;
  /**
   * What the stored bytes should hash to: the manifest's digest, or (a legacy docker save names none) the config's
   * diff_id, which is the blob's own sha256 for a layer stored uncompressed.
   */
  expected: { digest: string; from: 'manifest' | 'config' } | null;
  damaged: boolean;
  /** The sha256 and length of the bytes as read, when they were read to the end. */
  actual: { digest: string; size: number | null } | null;
  /** What went wrong, as one line (the read error's message). */
  error: ImageReadError;
}

/** One layer's scan, or why there is none; memoised by blob digest so a layer two images share is read once. */
export type LayerOutcome = { scan: LayerScan; blocked?: undefined } | { scan?: undefined; blocked: Omit<BlockedLayer, 'index'> };
export type ScanMemo = Map<string, Promise<LayerOutcome>>;

export interface ScanOptions {
  concurrency?: number;
  /** Non-distributable layers are normally skipped when absent; with this they are required like any other. */
  requireAllBlobs?: boolean;
  /** Scans by blob (digest and location), shared between images of one run: a layer two images share is read once. */
  memo?: ScanMemo;
}

/** The checks a blocked layer fails: its digest and size where damaged, its readability where intact. */
function blockedChecks(layer: LayerRef, blocked: Omit<BlockedLayer, 'index'>, manifest: string | null): VerifyCheck[] {
  const subject = layer.digest ?? `layer ${layer.index}`;
  const checks: VerifyCheck[] = [];
  if (blocked.damaged && blocked.actual && blocked.expected?.from === 'config') {
    checks.push({ kind: 'diffId', subject: blocked.expected.digest, manifest, ok: false, expected: blocked.expected.digest, actual: blocked.actual.digest, what: `layer ${layer.index} uncompressed sha256 equals config diff_ids[${layer.index}]` });
    return checks;
  }
  if (blocked.damaged && blocked.actual) {
    checks.push({ kind: 'layer', subject, manifest, ok: false, expected: layer.digest, actual: blocked.actual.digest, what: `layer ${layer.index} blob digest` });
    if (layer.size !== null && blocked.actual.size !== null) {
      checks.push({ kind: 'layer', subject, manifest, ok: blocked.actual.size === layer.size, expected: layer.size, actual: blocked.actual.size, what: `layer ${layer.index} blob size` });
    }
    return checks;
  }
  if (layer.digest && blocked.actual) checks.push({ kind: 'layer', subject, manifest, ok: true, expected: layer.digest, actual: blocked.actual.digest, what: `layer ${layer.index} blob digest` });
  checks.push({ kind: 'layer', subject, manifest, ok: false, expected: 'a tar stream that can be decompressed and parsed', actual: blocked.error.message, what: `layer ${layer.index} content can be read` });
  return checks;
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
  // Unreadable content (exit 3) may also be a blob that is not what its manifest names: then it is damage.
  const classify = (layer: LayerRef, error: ImageReadError, actual: { digest: string; size: number | null } | null): LayerOutcome => {
    const expected = expectedBlobDigest(layer);
    return { blocked: { digest: layer.digest, expected, damaged: actual !== null && expected !== null && actual.digest !== expected.digest, actual, error } };
  };
  const scanOnce = async (layer: LayerRef, onRead: () => void): Promise<LayerOutcome> => {
    if (layer.scanned) {
      try {
        return { scan: await layer.scanned() };
      } catch (error) {
        // The pass read the blob to its end, so it can say whether the bytes are what the manifest names.
        if (error instanceof PassScanError) return classify(layer, error, { digest: error.blobDigest, size: error.blobSize });
        throw error;
      }
    }
    const cached = layer.digest && layer.scans ? await layer.scans.load(layer.digest) : null;
    if (cached) return { scan: cached };
    let scan: LayerScan;
    try {
      scan = await scanLayer(layer.open(), { label: layerLabel(layer), estimateGzip: layerCompression(layer.mediaType) === 'none', expectedSize: layer.storedSize ?? layer.size, onRead });
    } catch (error) {
      // Bytes that never arrived (network, stall) say nothing about the blob: reading again would only repeat it.
      if (!(error instanceof ImageReadError) || error instanceof TransferError || !expectedBlobDigest(layer)) throw error;
      // Hash it once more so the outcome says which: a damaged download or registry, or a bad image.
      const blob = await hashBlob(layer.open()).catch(() => null);
      return classify(layer, error, blob);
    }
    // Only a scan of bytes that matched their digest is worth keeping.
    if (layer.digest && layer.scans && scan.digest === layer.digest) await layer.scans.save(layer.digest, scan);
    return { scan };
  };
  // A slot of the limit is held while a layer is read and parsed, not while zlib finishes the gzip estimate's last
  // samples: an image of many small stored layers would otherwise wait on them once per layer.
  const started = await mapLimit(image.layers, concurrency, async (layer): Promise<{ outcome: Promise<LayerOutcome> } | null> => {
    if (!layer.available) return null;
    let onRead!: () => void;
    const read = new Promise<void>((resolve) => (onRead = resolve));
    // Keyed by where the blob is, not by the digest alone: two sources claiming one digest are two sets of bytes
    // (a damaged copy must not borrow the good one's scan); one source's blob is read once however many images
    // name it.
    const key = options.memo && layer.digest ? `${layer.digest}@${layer.location}` : null;
    let outcome = key ? options.memo!.get(key) : undefined;
    if (outcome) return { outcome };
    outcome = scanOnce(layer, onRead);
    if (key) options.memo!.set(key, outcome);
    // Marked handled: when another layer fails first, nobody awaits this one.
    outcome.catch(() => undefined);
    // A failure while reading ends the whole scan at once, as before: no further layer is started.
    await Promise.race([read, outcome]);
    return { outcome };
  });
  const outcomes = await Promise.all(started.map((entry) => entry?.outcome ?? null));
  const blocked: BlockedLayer[] = [];
  image.layers.forEach((layer, i) => {
    const outcome = outcomes[i];
    if (outcome?.scan) checks.push(...layerChecks(layer, outcome.scan, image.manifestDigest));
    if (outcome?.blocked) {
      checks.push(...blockedChecks(layer, outcome.blocked, image.manifestDigest));
      blocked.push({ index: layer.index, ...outcome.blocked });
    }
  });
  return { layers: withPooledEstimates(outcomes.map((outcome) => outcome?.scan ?? null)), checks, skipped, blocked };
}

/**
 * The image's short stored layers get their gzip estimate from their samples pooled (gzip-estimate.ts). Copies:
 * a scan is shared by every image of the run that has the layer, and each image pools its own.
 */
function withPooledEstimates(layers: (LayerScan | null)[]): (LayerScan | null)[] {
  const short = layers.filter((scan): scan is LayerScan => scan?.gzipSamples !== undefined);
  if (short.length === 0) return layers;
  const pooled = pooledEstimates(short.map((scan) => scan.gzipSamples!));
  let next = 0;
  return layers.map((scan) => (scan?.gzipSamples ? { ...scan, estimatedCompressedSize: pooled[next++]! } : scan));
}

/**
 * For a command that needs every layer's content: the first blocked layer ends it. Damage is a finding (exit 1,
 * one line naming the blob); intact bytes that cannot be read are the read error they were (exit 3).
 */
export function requireContent(scan: ImageScan): void {
  const first = scan.blocked[0];
  if (!first) return;
  if (!first.damaged) throw first.error;
  throw new DamagedImageError(damageLine(first));
}

/** One line for a damaged layer: what broke, and what its bytes hash to. */
export function damageLine(blocked: BlockedLayer): string {
  const size = blocked.actual?.size ?? null;
  const claim = blocked.expected?.from === 'config' ? `the config's diff_ids[${blocked.index}] says` : 'its manifest says';
  return `${blocked.error.message}; the blob's sha256 is ${blocked.actual?.digest ?? 'unknown'}${size !== null ? ` (${size} bytes)` : ''}, not ${blocked.expected?.digest ?? blocked.digest} as ${claim}`;
}

function expectedBlobDigest(layer: LayerRef): BlockedLayer['expected'] {
  if (layer.digest) return { digest: layer.digest, from: 'manifest' };
  if (layer.diffId && layerCompression(layer.mediaType) === 'none') return { digest: layer.diffId, from: 'config' };
  return null;
}
