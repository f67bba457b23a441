/**
 * Several images in one run (--all-platforms, verify of an index): each is worked on alone; one that cannot be
 * reported is recorded and the others go on (CONTRACT.md "Several images", "Precedence"). The CLI's image
 * commands and `check` share this loop, so they agree on what a run that lost an image says and exits with.
 */
import { DamagedImageError, ImageReadError, LayerlensError } from '../errors.js';
import { formatPlatform } from '../image/platform.js';
import type { OpenedSource, ResolvedImage } from '../model/source.js';
import { unresolvedError, type ImageError, type RunProblems } from '../report/report.js';

export interface ImagesDone<T> {
  results: T[];
  problems: RunProblems;
}

/**
 * `work` on every image the source resolved. With `several` false (one image asked for), any error ends the run
 * as it is; with it, an image whose error is a finding (1) or a read failure (3) becomes an entry of
 * `problems.errors`. Usage errors (2) always end the run: they would recur on every image.
 */
export async function forEachImage<T>(source: OpenedSource, several: boolean, work: (image: ResolvedImage) => Promise<T>): Promise<ImagesDone<T>> {
  if (source.images.length === 0 && source.unresolved.length === 0) {
    if (source.absent.length) throw new ImageReadError(`${source.info.input} holds none of the manifests its index names (${source.absent.length} not in this archive)`);
    throw new ImageReadError(`${source.info.input}: no image found`);
  }
  const problems: RunProblems = { errors: source.unresolved.map(unresolvedError), checks: source.unresolved.flatMap((image) => image.checks), absent: source.absent };
  const results: T[] = [];
  for (const image of source.images) {
    try {
      results.push(await work(image));
    } catch (error) {
      if (!several || !(error instanceof LayerlensError) || error.exitCode === 2) throw error;
      problems.errors.push({ manifestDigest: image.manifestDigest, platform: formatPlatform(image.config), exitCode: error.exitCode, message: error.message });
    }
  }
  return { results, problems };
}

/** A run with nothing to show but failures: the worst of them is its answer (3 outranks 1). */
export function worstError(source: OpenedSource, errors: ImageError[]): LayerlensError {
  const thrown = source.unresolved.map((image) => image.error);
  const unreadable = thrown.find((error) => error.exitCode === 3);
  if (unreadable) return unreadable;
  const first = errors.find((error) => error.exitCode === 3) ?? errors[0];
  if (!first) return thrown[0] ?? new ImageReadError(`${source.info.input}: no image found`);
  return first.exitCode === 3 ? new ImageReadError(first.message) : (thrown[0] ?? new DamagedImageError(first.message));
}

/** CONTRACT.md precedence: an image that could not be read (3) outranks a failed check (1). */
export function runExitCode(verified: boolean, errors: ImageError[]): number {
  if (errors.some((error) => error.exitCode === 3)) return 3;
  if (!verified || errors.some((error) => error.exitCode === 1)) return 1;
  return 0;
}
