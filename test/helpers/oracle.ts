/**
 * Independent oracles for the image fixtures. Nothing here imports src/: GNU tar, sha256sum, gzip/zstd/xz and skopeo
 * compute what layerlens should report, so a test compares the CLI with other tools, never with itself.
 *
 * Archives are extracted once into a temp dir with GNU tar (which also unwraps gzip/xz/zstd by content and resolves
 * layer.tar symlinks on disk); blobs are then hashed with `sha256sum`, decompressed with `gzip -dc`/`zstd -dc`/`xz -dc`
 * and listed with `tar -tf -`. Manifests and configs are taken from skopeo's raw bytes where skopeo can read the input.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MAX_BUFFER = 1 << 30;

/** Fails loudly (never skips) when a tool the oracles need is missing. */
export function requireTools(...names: string[]): void {
  const missing = names.filter((name) => {
    const probe = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', name]);
    return probe.status !== 0;
  });
  if (missing.length > 0) {
    throw new Error(`the fixture oracle tests need ${missing.join(', ')} on PATH (the CI installs them; on Debian/Ubuntu: apt-get install ${missing.join(' ')})`);
  }
}

/** Runs a tool and returns its stdout; any failure is an error naming the command and its stderr. */
export function run(command: string, args: string[], input?: Buffer): Buffer {
  const result = spawnSync(command, args, { input, maxBuffer: MAX_BUFFER });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr.toString().trim()}`);
  return result.stdout;
}

/** `sha256sum` of bytes, as `sha256:<hex>`. */
export function sha256sum(bytes: Buffer): string {
  return `sha256:${run('sha256sum', ['-'], bytes).toString().split(/\s/)[0]}`;
}

/** `sha256sum` of a file (symlinks followed), as `sha256:<hex>`. */
export function sha256sumFile(file: string): string {
  return `sha256:${run('sha256sum', ['--', file]).toString().split(/\s/)[0]}`;
}

export type Compression = 'gzip' | 'zstd' | 'xz' | 'none';

/** The compression of a file, from its magic bytes. */
export function sniffFile(file: string): Compression {
  const head = Buffer.alloc(6);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** The uncompressed stream of a blob, decompressed by the reference tools. */
export function decompressFile(file: string): Buffer {
  switch (sniffFile(file)) {
    case 'gzip':
      return run('gzip', ['-dc', '--', file]);
    case 'zstd':
      return run('zstd', ['-dcq', '--', file]);
    case 'xz':
      return run('xz', ['-dc', '--', file]);
    case 'none':
      return readFileSync(file);
  }
}

/**
 * Entry names as GNU tar lists them (`tar -tf -`), one line per entry. How GNU tar counts, which is what a container
 * runtime applies: a hardlink is an entry of its own; pax extended headers ('x'/'g') and GNU long-name/long-link
 * headers ('L'/'K') are folded into the entry they describe, not listed; a `./` root entry is listed; and listing stops
 * at the end-of-archive marker (two zero blocks), as Go's archive/tar (docker, containerd, dive) and Python's tarfile
 * do: bytes after it are no entries (`tar -i` would read on).
 */
export function tarList(tarStream: Buffer): string[] {
  return run('tar', ['-tf', '-'], tarStream)
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '');
}

/**
 * Σ of the entries' sizes as `tar --numeric-owner -tvf -` prints them (third column), a hardlink counting 0 (the
 * contract's contentSize) and a device (`major,minor` in that column) 0.
 */
export function tarContentSize(tarStream: Buffer): number {
  let total = 0;
  for (const line of run('tar', ['--numeric-owner', '-tvf', '-'], tarStream).toString('utf8').split('\n')) {
    if (line === '') continue;
    const [mode, , size] = line.split(/\s+/);
    if (mode!.startsWith('h') || size!.includes(',')) continue;
    if (!/^\d+$/.test(size!)) throw new Error(`oracle: cannot read a size in tar -tv line: ${line}`);
    total += Number(size);
  }
  return total;
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `layerlens-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Extracts an archive (plain or gzip/xz/zstd-wrapped: GNU tar detects it from the content) into a new temp dir. */
export function extractArchive(archive: string): string {
  const dir = makeTempDir('extract');
  run('tar', ['-xf', archive, '-C', dir]);
  return dir;
}

/** A plain tar of the archive (decompressed into `dir` when it is wrapped), for tools that only read plain tars. */
export function plainTar(archive: string, dir: string): string {
  if (sniffFile(archive) === 'none') return archive;
  const target = path.join(dir, `plain-${path.basename(archive)}.tar`);
  writeFileSync(target, decompressFile(archive));
  return target;
}

export interface LayerOracle {
  /** Where the blob is, on disk after extraction. */
  blob: string;
  /** sha256sum of the blob as stored. */
  digest: string;
  /** Its byte length as stored. */
  size: number;
  compression: Compression;
  /** sha256sum of the decompressed stream (what a diff_id hashes). */
  uncompressedDigest: string;
  uncompressedSize: number;
  /** `tar -tf` of the decompressed stream. */
  entries: string[];
  /** Σ of the entry sizes `tar -tv` lists (hardlinks 0). */
  contentSize: number;
}

export function layerOracle(blob: string): LayerOracle {
  const stream = decompressFile(blob);
  return {
    blob,
    digest: sha256sumFile(blob),
    size: statSync(blob).size,
    compression: sniffFile(blob),
    uncompressedDigest: sha256sum(stream),
    uncompressedSize: stream.length,
    entries: tarList(stream),
    contentSize: tarContentSize(stream),
  };
}

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

export function blobPath(layout: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return path.join(layout, 'blobs', algorithm!, hex!);
}

/** skopeo's output for `skopeo [global…] inspect [args…] TARGET`, as raw bytes. */
export function skopeo(target: string, args: string[], global: string[] = []): Buffer {
  return run('skopeo', [...global, 'inspect', ...args, target]);
}

/** skopeo's --override-* flags for `os/arch[/variant]`. */
export function skopeoPlatform(platform: string | undefined): string[] {
  if (!platform) return [];
  const [os, arch, variant] = platform.split('/');
  return ['--override-os', os!, '--override-arch', arch!, ...(variant ? ['--override-variant', variant] : [])];
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

/** An index or a manifest, as JSON. */
export interface OciDocument {
  mediaType?: string;
  manifests?: Descriptor[] | null;
  config?: Descriptor;
  layers?: Descriptor[];
}

/** One entry of a docker save manifest.json. */
export interface DockerManifestEntry {
  Config: string;
  Layers: string[];
  RepoTags?: string[] | null;
}

export interface ImageConfig {
  os: string;
  architecture: string;
  variant?: string;
  rootfs: { diff_ids: string[] };
}

function isIndex(document: OciDocument, descriptor?: Descriptor): boolean {
  return INDEX_TYPES.has(descriptor?.mediaType ?? '') || INDEX_TYPES.has(document?.mediaType ?? '') || (Array.isArray(document?.manifests) && !document?.config);
}

function isAttestation(descriptor: Descriptor): boolean {
  return descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || descriptor.platform?.os === 'unknown';
}

/** The runtime's rule: same os and arch, a requested variant must match (arm64 without one is v8), a missing one matches any. */
function platformMatches(wanted: string, descriptor: Descriptor): boolean {
  const [os, arch, variant] = wanted.split('/');
  const p = descriptor.platform;
  if (!p || p.os !== os || p.architecture !== arch) return false;
  if (!variant) return true;
  const have = p.variant ?? (arch === 'arm64' ? 'v8' : undefined);
  return have === undefined || have === variant;
}

export interface ImageOracle {
  /** Digest of the index blob the manifest was picked from (null when listed straight in index.json or none). */
  indexDigest: string | null;
  manifestDigest: string | null;
  /** The manifest (OCI) or manifest.json entry (docker save), parsed by the oracle. */
  manifest: OciDocument | DockerManifestEntry;
  configDigest: string;
  config: ImageConfig;
  layers: LayerOracle[];
  /** What skopeo says, independently of the files above. */
  skopeo: {
    /** sha256 of `skopeo inspect --config --raw`. */
    configDigest: string;
    /**
     * `Layers` of `skopeo inspect` (platform resolved by skopeo's --override-* flags). For docker-archive inputs skopeo
     * serves layers uncompressed, so these are the uncompressed digests; for OCI they are the blob digests.
     */
    layerDigests: string[];
    /** sha256 of the top-level `skopeo inspect --raw` of the OCI view (index or manifest), when skopeo can read one. */
    topDigest: string | null;
  };
}

/**
 * The image a `docker save` archive (legacy, or Docker 25+ with an OCI layout inside) holds, as docker load reads it:
 * manifest.json picks config and layer files; a manifest blob is looked up in the OCI layout by its config digest.
 */
export function dockerArchiveOracle(archive: string, extracted: string, scratch: string, ref?: string): ImageOracle {
  const entries = readJson<DockerManifestEntry[]>(path.join(extracted, 'manifest.json'));
  let entry: DockerManifestEntry | undefined;
  if (ref === undefined) {
    if (entries.length !== 1) throw new Error(`oracle: ${archive} holds ${entries.length} images; give a REF`);
    entry = entries[0];
  } else if (ref.startsWith('@')) {
    entry = entries[Number(ref.slice(1))];
  } else {
    entry = entries.find((candidate) => (candidate.RepoTags ?? []).includes(ref));
  }
  if (!entry) throw new Error(`oracle: ${ref} not in ${archive}`);
  const configFile = path.join(extracted, entry.Config);
  const configDigest = sha256sumFile(configFile);
  const layers = (entry.Layers as string[]).map((name) => layerOracle(path.join(extracted, name)));

  let indexDigest: string | null = null;
  let manifestDigest: string | null = null;
  let topDigest: string | null = null;
  const indexFile = path.join(extracted, 'index.json');
  if (existsSync(indexFile)) {
    const top = readJson<OciDocument>(indexFile);
    const found = findManifestByConfig(extracted, top.manifests ?? [], configDigest, null);
    if (found) ({ indexDigest, manifestDigest } = found);
    if (Array.isArray(top.manifests) && top.manifests.length === 1) topDigest = sha256sum(skopeo(`oci:${extracted}`, ['--raw']));
  }

  // skopeo's docker-archive transport does not unwrap a gzip-compressed archive: give it the plain tar. It also
  // normalizes a RepoTag REF as a docker reference (test_image_1 → docker.io/library/test_image_1:latest), which
  // misses un-normalized tags: name the entry by its position, which skopeo takes as it is.
  const target = `docker-archive:${plainTar(archive, scratch)}${ref === undefined ? '' : `:@${entries.indexOf(entry)}`}`;
  return {
    indexDigest,
    manifestDigest,
    manifest: entry,
    configDigest,
    config: readJson(configFile),
    layers,
    skopeo: {
      configDigest: sha256sum(skopeo(target, ['--config', '--raw'])),
      layerDigests: JSON.parse(skopeo(target, []).toString('utf8')).Layers,
      topDigest,
    },
  };
}

/** Walks an OCI layout's descriptors (present blobs only) to the image manifest whose config is `configDigest`. */
function findManifestByConfig(layout: string, descriptors: Descriptor[], configDigest: string, parent: string | null): { indexDigest: string | null; manifestDigest: string } | null {
  for (const descriptor of descriptors) {
    const file = blobPath(layout, descriptor.digest);
    if (!existsSync(file)) continue;
    if (sha256sumFile(file) !== descriptor.digest) continue;
    const document = readJson<OciDocument>(file);
    if (isIndex(document, descriptor)) {
      const found = findManifestByConfig(layout, document.manifests ?? [], configDigest, descriptor.digest);
      if (found) return found;
    } else if (document.config?.digest === configDigest) {
      return { indexDigest: parent, manifestDigest: descriptor.digest };
    }
  }
  return null;
}

/**
 * The image an OCI layout (a directory, or an extracted oci-archive) holds. skopeo reads the top-level manifest or
 * index (`skopeo inspect --raw oci:DIR[:REF]`); from an index the oracle picks the platform itself and reads the child
 * blob from disk, checking its sha256sum against the descriptor.
 */
export function ociOracle(target: string, layout: string, platform?: string): ImageOracle {
  const top = skopeo(target, ['--raw']);
  const topDigest = sha256sum(top);
  let bytes = top;
  let digest = topDigest;
  let indexDigest: string | null = null;
  for (let depth = 0; isIndex(JSON.parse(bytes.toString('utf8'))); depth++) {
    if (depth > 4) throw new Error(`oracle: ${target} nests indexes too deep`);
    indexDigest = digest;
    const images = (JSON.parse(bytes.toString('utf8')).manifests as Descriptor[]).filter((descriptor) => !isAttestation(descriptor));
    const chosen = platform ? images.filter((descriptor) => platformMatches(platform, descriptor)) : images;
    if (chosen.length !== 1) throw new Error(`oracle: ${target} has ${chosen.length} images for ${platform ?? 'no --platform'}`);
    const file = blobPath(layout, chosen[0]!.digest);
    bytes = readFileSync(file);
    digest = sha256sum(bytes);
    if (digest !== chosen[0]!.digest) throw new Error(`oracle: blob ${file} does not hash to its name`);
  }
  const manifest = JSON.parse(bytes.toString('utf8'));
  const configFile = blobPath(layout, manifest.config.digest);
  return {
    indexDigest,
    manifestDigest: digest,
    manifest,
    configDigest: sha256sumFile(configFile),
    config: readJson(configFile),
    layers: (manifest.layers as Descriptor[]).map((descriptor) => layerOracle(blobPath(layout, descriptor.digest))),
    skopeo: {
      configDigest: sha256sum(skopeo(target, ['--config', '--raw'], skopeoPlatform(platform))),
      layerDigests: JSON.parse(skopeo(target, [], skopeoPlatform(platform)).toString('utf8')).Layers,
      topDigest,
    },
  };
}
