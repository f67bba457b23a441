/**
 * The realistic image (Debian bookworm minbase + python3 and friends, a build cache, a cleanup layer with
 * whiteouts, node_modules, an opaque /usr/share/doc: ~400 MB unpacked), built once per machine by
 * `bench/generate.sh` and shared by every suite and the benchmark. A test suite that only reads 3 MB images hides
 * what breaks at 300 MB; this is the image every source is tested on at real size.
 *
 * Built on first use, under an exclusive `flock` so parallel jest workers wait for one build instead of racing;
 * generate.sh skips an image whose info.json exists, so later calls return at once. Set LAYERLENS_TEST_IMAGES to
 * build elsewhere (default: bench/images, where `npm run bench` finds it too).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What bench/lib/describe.mjs measured with system tools (independent of layerlens). */
export interface RealisticInfo {
  name: string;
  layers: number;
  compressedSize: number;
  uncompressedSize: number;
  entries: number;
  filesInRootfs: number;
  how: string;
  [key: string]: unknown;
}

export interface RealisticImage {
  /** OCI image layout directory (ref name "latest"), gzip layers as umoci writes them. */
  ociDir: string;
  /** The same layout as a tar (oci-archive). */
  ociArchive: string;
  /** `docker save` format (skopeo), layers uncompressed; RepoTag bench/realistic:1. */
  dockerArchive: string;
  info: RealisticInfo;
}

/** Long enough for debootstrap + apt-get on a slow mirror; pass it to beforeAll. */
export const REALISTIC_BUILD_TIMEOUT_MS = 30 * 60_000;

let pending: Promise<RealisticImage> | null = null;

export function realisticImage(): Promise<RealisticImage> {
  pending ??= build();
  return pending;
}

async function build(): Promise<RealisticImage> {
  const dir = path.resolve(process.env.LAYERLENS_TEST_IMAGES ?? path.join(repo, 'bench', 'images'));
  const image: RealisticImage = {
    ociDir: path.join(dir, 'realistic.oci'),
    ociArchive: path.join(dir, 'realistic.oci.tar'),
    dockerArchive: path.join(dir, 'realistic.docker.tar'),
    info: undefined as unknown as RealisticInfo,
  };
  const infoFile = path.join(dir, 'realistic.info.json');
  if (!existsSync(infoFile)) {
    mkdirSync(dir, { recursive: true });
    await new Promise<void>((resolve, reject) => {
      execFile(
        'flock',
        [path.join(dir, '.realistic.lock'), 'bash', path.join(repo, 'bench', 'generate.sh'), dir],
        { env: { ...process.env, BENCH_IMAGES: 'realistic' }, maxBuffer: 64 * 1024 * 1024, timeout: REALISTIC_BUILD_TIMEOUT_MS },
        (error, _stdout, stderr) => (error ? reject(new Error(`bench/generate.sh realistic failed: ${error.message}\n${stderr.slice(-4000)}`)) : resolve()),
      );
    });
  }
  image.info = JSON.parse(readFileSync(infoFile, 'utf8')) as RealisticInfo;
  return image;
}
