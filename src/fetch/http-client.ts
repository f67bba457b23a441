/**
 * undici, loaded on first use. It is the largest module layerlens has (~130 ms of a 420 ms start-up here), and most
 * runs never open a connection: an archive, a layout, `--version`, `--help`, a usage error. undici is CommonJS, so a
 * synchronous require keeps the constructors that build agents synchronous; the types come from the static import.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let loaded: typeof Undici | null = null;

export function undici(): typeof Undici {
  loaded ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return loaded;
}
