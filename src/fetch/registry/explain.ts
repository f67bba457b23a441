/**
 * Better answers to two ordinary mistakes with a registry reference, asked only after the manifest lookup failed
 * with 404 (CONTRACT.md: one line naming what failed and what to do):
 *
 * - a tag that does not exist: the message lists up to 10 tags the repository has, closest names first;
 * - an Image ID (the config digest `docker images` shows) given as `@sha256:…`: when the tag's manifest (or
 *   `latest`'s, or one of a few of the repository's tags') has that config, the message names the manifest digest.
 *
 * Both are bounded (one page of the tag list, at most MAX_LOOKUPS manifests, each under the request deadline, and
 * no new request once the run's --timeout has passed) and best effort: any failure here leaves the original
 * error exactly as it was.
 */
import { ImageReadError } from '../../errors.js';
import { parseManifestOrIndex } from '../../image/parse.js';
import { formatPlatform } from '../../image/platform.js';
import type { RegistryReference } from '../../reference.js';
import { digestOf } from '../resolve.js';
import { MAX_MANIFEST_BYTES } from '../../model/source.js';
import { RegistryAnswerError, type RegistryClient } from './client.js';

/** Tags shown after "the repository has". */
export const MAX_TAGS_SHOWN = 10;
/** Manifests (and indexes) fetched while looking for the manifest that holds an Image ID. */
const MAX_LOOKUPS = 12;
/** Tags from the tag list tried for an Image ID, after the reference's own tag and `latest`. */
const MAX_TAGS_TRIED = 4;

/** The error to throw instead of `error`, or `error` itself when nothing better can be said. */
export async function explainMissingManifest(client: RegistryClient, reference: RegistryReference, error: RegistryAnswerError, debug?: (line: string) => void): Promise<ImageReadError> {
  if (error.codes.includes('NAME_UNKNOWN')) return error;
  try {
    // CNCF distribution answers 500 UNKNOWN, not 404, for a config digest asked for as a manifest: it finds the
    // blob, then cannot read it as one. Any answer but auth and rate limiting is worth the look.
    if (reference.digest) return (error.status >= 400 && ![401, 403, 429].includes(error.status) ? await imageIdAnswer(client, reference, reference.digest) : null) ?? error;
    if (error.status !== 404) return error;
    return (await missingTagAnswer(client, reference.tag ?? 'latest', error)) ?? error;
  } catch (failure) {
    debug?.(`could not say more about the missing manifest: ${failure instanceof Error ? failure.message : String(failure)}`);
    return error;
  }
}

/** Tags ordered by how much of their start they share with the asked one (1.2.4 → 1.2.3 first), then as listed. */
export function closestTags(asked: string, tags: string[], count = MAX_TAGS_SHOWN): string[] {
  const shared = (tag: string) => {
    let n = 0;
    while (n < tag.length && n < asked.length && tag[n] === asked[n]) n++;
    return n;
  };
  // Registries list tags in no promised order: ties go by name, numbers compared as numbers (1.9 before 1.10).
  return tags
    .map((tag) => ({ tag, score: shared(tag) }))
    .sort((x, y) => y.score - x.score || x.tag.localeCompare(y.tag, 'en', { numeric: true }))
    .slice(0, count)
    .map((entry) => entry.tag);
}

async function missingTagAnswer(client: RegistryClient, tag: string, error: ImageReadError): Promise<ImageReadError | null> {
  let listed: { tags: string[]; more: boolean };
  try {
    listed = await client.tags();
  } catch (failure) {
    // Distribution says MANIFEST_UNKNOWN for a tag of a repository that does not exist; its tag list says which.
    if (failure instanceof RegistryAnswerError && failure.codes.includes('NAME_UNKNOWN')) return new ImageReadError(`${client.name}: repository not found`);
    throw failure;
  }
  const { tags, more } = listed;
  const others = tags.filter((name) => name !== tag);
  if (others.length === 0) return more ? null : new ImageReadError(`${error.message}; the repository has no tags`);
  const shown = closestTags(tag, others);
  const rest = others.length - shown.length;
  const tail = rest > 0 || more ? ` (and ${rest > 0 ? `${rest}${more ? '+' : ''} more` : 'more'})` : '';
  return new ImageReadError(`${error.message}; the repository has ${shown.join(', ')}${tail}`);
}

async function imageIdAnswer(client: RegistryClient, reference: RegistryReference, configDigest: string): Promise<ImageReadError | null> {
  // No new request once the run's deadline has passed: the answer is a courtesy, not worth a second wait.
  const until = Date.now() + client.transport.timeoutSeconds * 1000;
  let lookups = 0;
  const fetch = async (target: string) => {
    if (lookups >= MAX_LOOKUPS || Date.now() > until) return null;
    lookups++;
    const { bytes, mediaType } = await client.manifest(target, MAX_MANIFEST_BYTES);
    return { bytes, parsed: parseManifestOrIndex(bytes, `${client.name}:${target}`, mediaType ?? undefined) };
  };
  const candidates = [...new Set([reference.tag ?? 'latest', 'latest'])];
  let listed: string[] | null = null;
  for (let i = 0; i < candidates.length; i++) {
    const tag = candidates[i]!;
    const found = await fetch(tag).catch(() => null);
    if (found) {
      const { parsed, bytes } = found;
      if (parsed.kind === 'manifest' && parsed.manifest.config.digest === configDigest) {
        return answer(client, reference, configDigest, tag, digestOf(bytes, 'sha256')!, null);
      }
      if (parsed.kind === 'index') {
        for (const child of parsed.index.manifests) {
          const manifest = await fetch(child.digest).catch(() => null);
          if (manifest?.parsed.kind === 'manifest' && manifest.parsed.manifest.config.digest === configDigest) {
            return answer(client, reference, configDigest, tag, child.digest, child.platform ? formatPlatform(child.platform) : null);
          }
        }
      }
    }
    if (i === candidates.length - 1 && listed === null) {
      // Neither the tag nor latest: a few of the repository's own tags, closest to the asked one first.
      listed = await client
        .tags()
        .then((result) => closestTags(reference.tag ?? 'latest', result.tags, MAX_TAGS_TRIED))
        .catch(() => []);
      for (const name of listed) if (!candidates.includes(name)) candidates.push(name);
    }
  }
  return null;
}

function answer(client: RegistryClient, reference: RegistryReference, configDigest: string, tag: string, manifestDigest: string, platform: string | null): ImageReadError {
  const of = `tag "${tag}"${platform ? ` (${platform})` : ''}`;
  return new ImageReadError(
    `${client.name}@${configDigest}: that is the Image ID (config digest) of ${of}; the manifest digest is ${manifestDigest}: use ${reference.registry}/${reference.repository}@${manifestDigest}`,
  );
}
