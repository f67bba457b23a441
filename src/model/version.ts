/** The installed package's version: package.json sits two levels above both src/model/ and dist/model/. */
import { readFileSync } from 'node:fs';

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let build: string | null | undefined;

/**
 * The digest of the compiled code (dist/build-id.json, written by `npm run build`), or null when there is none (a
 * build by hand). What a cache keeps as this code's output is keyed by it: the version number alone does not change
 * between development builds.
 */
export function buildId(): string | null {
  if (build !== undefined) return build;
  try {
    const { id } = JSON.parse(readFileSync(new URL('../build-id.json', import.meta.url), 'utf8')) as { id?: unknown };
    build = typeof id === 'string' && /^sha256:[0-9a-f]{64}$/.test(id) ? id : null;
  } catch {
    build = null;
  }
  return build;
}
