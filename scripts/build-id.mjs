// dist/build-id.json: a digest of the compiled code and package.json. A cached report (fetch/registry/cache.ts) is
// keyed by it, so a report written by other code, even under the same version number (a development build), is
// never taken for this build's.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = path.join(root, 'dist');
const files = readdirSync(dist, { recursive: true })
  .filter((name) => name.endsWith('.js'))
  .sort();
const hash = createHash('sha256');
for (const name of ['../package.json', ...files]) {
  hash.update(`${name}\0`);
  hash.update(readFileSync(path.join(dist, name)));
  hash.update('\0');
}
writeFileSync(path.join(dist, 'build-id.json'), `${JSON.stringify({ id: `sha256:${hash.digest('hex')}` })}\n`);
