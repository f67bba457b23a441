/**
 * Architecture coverage over the platforms an index names (fetch/platforms.ts walks it): layers shared between
 * platforms counted once in the total, and required platforms checked with the runtime matcher (`arm64` ≡ `arm64/v8`).
 */
import { formatPlatform, platformMatches } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import type { PlatformEntry } from '../model/platforms.js';
import type { LayerRef, ResolvedImage, VerifyCheck } from '../model/source.js';

/** Each platform's layers shared with another (`sharedLayers`, in place) and the total with shared layers counted once. */
export function sharedLayerTotal(platforms: PlatformEntry[], images: (ResolvedImage | null)[]): number | null {
  // Layers shared between platforms: counted in each platform, once in the total.
  // A legacy docker save names no layer digests: its layers are told apart by diffId (an uncompressed layer's
  // blob digest is its diffId), else by position.
  const owners = new Map<string, { size: number; platforms: Set<number> }>();
  const ownerKey = (layer: LayerRef, image: number) => layer.digest ?? (layer.diffId ? `diffId:${layer.diffId}` : `layer:${image}:${layer.index}`);
  images.forEach((image, i) => {
    for (const layer of image?.layers ?? []) {
      const key = ownerKey(layer, i);
      const owner = owners.get(key) ?? { size: layer.size ?? layer.storedSize ?? 0, platforms: new Set<number>() };
      owner.platforms.add(i);
      owners.set(key, owner);
    }
  });
  images.forEach((image, i) => {
    if (!image) return;
    platforms[i]!.sharedLayers = image.layers.filter((layer) => owners.get(ownerKey(layer, i))!.platforms.size > 1).length;
  });
  return platforms.every((entry) => !entry.available || entry.compressedSize !== null)
    ? [...owners.values()].reduce((sum, owner) => sum + owner.size, 0)
    : null;
}

/** One check per required platform: does an available entry match it? */
export function requiredPlatformChecks(platforms: PlatformEntry[], required: Platform[]): VerifyCheck[] {
  const checks: VerifyCheck[] = [];
  for (const wanted of required) {
    const found = platforms.some((entry) => entry.available && platformMatches(wanted, { os: entry.os, architecture: entry.architecture, ...(entry.variant ? { variant: entry.variant } : {}) }));
    checks.push({ kind: 'platform', subject: formatPlatform(wanted), manifest: null, ok: found, expected: 'present', actual: found ? 'present' : 'missing', what: `required platform ${formatPlatform(wanted)}` });
  }
  return checks;
}
