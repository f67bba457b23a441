/**
 * `platforms`: the walk of the index (fetch/platforms.ts), each platform's uncompressed size when `--sizes` asks
 * (its layers scanned), and the coverage (analyze/platforms.ts).
 */
import { requiredPlatformChecks, sharedLayerTotal } from '../analyze/platforms.js';
import { walkPlatforms } from '../fetch/platforms.js';
import type { Platform } from '../image/types.js';
import type { PlatformsResult } from '../model/platforms.js';
import type { SourceHandle } from '../model/source.js';
import { scanImage } from '../scan/image-scan.js';

export async function listPlatforms(handle: SourceHandle, options: { sizes: boolean; require: Platform[] }): Promise<PlatformsResult> {
  const { indexDigest, platforms, images, attestations, checks } = await walkPlatforms(handle);
  const total = sharedLayerTotal(platforms, images);
  if (options.sizes) {
    for (const [i, image] of images.entries()) {
      if (!image) continue;
      const scan = await scanImage(image);
      checks.push(...scan.checks);
      // A layer that could not be read (its failed checks are above) leaves the platform's size unknown.
      platforms[i]!.uncompressedSize = scan.blocked.length ? null : scan.layers.reduce((sum, layer) => sum + (layer?.uncompressedSize ?? 0), 0);
    }
  }

  checks.push(...requiredPlatformChecks(platforms, options.require));
  return { indexDigest, platforms, platformsTotal: { compressedSize: total }, attestations, checks };
}
