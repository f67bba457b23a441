// What bench/estimate-cost.mjs and bench/estimate-sim.mjs share: their command line, where the benchmark images
// are, and real `gzip -6` of each layer of an image's docker save (cached in bench/images/NAME.gzip6.json: the
// biglayer gigabyte takes GNU gzip half a minute).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const repo = path.dirname(benchDir);
export const imagesDir = path.resolve(process.env.LAYERLENS_TEST_IMAGES ?? path.join(benchDir, 'images'));

/** `--name value` from the command line, or the fallback. */
export function option(name, fallback) {
  const args = process.argv.slice(2);
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
}

/** The docker save of a benchmark image, and the member names of its layers in order. */
export function dockerSave(name) {
  const archive = path.join(imagesDir, `${name}.docker.tar`);
  if (!existsSync(archive)) throw new Error(`${archive} is missing: run bench/generate.sh`);
  const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' }));
  return { archive, layers: manifest[0].Layers };
}

/** Bytes of `gzip -6` of each layer of the image's docker save. */
export function realGzip(name) {
  const cache = path.join(imagesDir, `${name}.gzip6.json`);
  if (existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8'));
  const { archive, layers } = dockerSave(name);
  const sizes = layers.map((member) => Number(execFileSync('bash', ['-c', 'tar -xOf "$0" "$1" | gzip -6 | wc -c', archive, member], { encoding: 'utf8' }).trim()));
  writeFileSync(cache, JSON.stringify(sizes));
  return sizes;
}
