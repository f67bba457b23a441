/**
 * From an image argument to resolved images: pick the transport, detect file formats from content (never from
 * names), unwrap compressed archives into a temporary tarball (random access needs a seekable file; the temp
 * file is always removed), read stdin in one pass (stream-archive.ts), and hand the FileTree to the right reader.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageReadError, errorMessage } from '../errors.js';
import { parseImageArgument } from '../reference.js';
import { createDecompressor, sniffOuterCompression, type OuterCompression } from '../scan/compression.js';
import { describeDockerArchive } from './docker-archive.js';
import { layoutRoot, LayoutBlobStore } from './oci-layout.js';
import { platformIndex, resolveRoot, type ResolveContext, type ResolveOutcome } from './resolve.js';
import type { RegistryOptions } from './registry/source.js';
import type { ImageIndex } from '../image/types.js';
import type { OpenedSource, Selection, SourceHandle, SourceInfo, SourceKind, VerifyCheck } from '../model/source.js';
import { checkSpaceFor, isDiskFull, makeTempDir, removeTempDir, spaceGuard, spaceIn, spillMargin } from './tempfiles.js';
import { readArchiveStream, SecondPassNeeded, type StreamedTree } from './stream-archive.js';
import { DirTree, TarTree } from './tree.js';

export interface OpenOptions {
  platform: Selection['platform'];
  allPlatforms: boolean;
  /** Where debug lines go (stderr with --debug). */
  debug?: (line: string) => void;
  /** Registry access (defaults: verified TLS, docker's credentials, no cache). */
  registry?: Partial<Omit<RegistryOptions, 'debug'>>;
  /** containerd's namespace for `containerd:NAME` (default `default`). */
  namespace?: string;
  /** For a bare NAME: force the registry or the local engine (default: the engine when it holds the name). */
  source?: 'registry' | 'daemon';
  /** The command reads no layer (inspect, platforms): a local engine answers from its image records, no export. */
  metadataOnly?: boolean;
  /** One-line notes on stderr (which source was used); silent with --quiet. */
  note?: (line: string) => void;
}

async function readHead(file: string, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Decompress (or copy) a stream into a temp file; return the file and a cleanup. The free space there is watched
 * as it fills (spaceGuard): an archive that inflates past it stops with exit 3 "disk full", naming the need.
 * `atLeast`: a lower bound of the unpacked size known in advance (gzip's ISIZE), checked before starting.
 */
async function spill(input: Readable, compression: OuterCompression, label: string, atLeast = 0): Promise<{ file: string; cleanup: () => void }> {
  const dir = makeTempDir('archive');
  const file = path.join(dir, 'archive.tar');
  try {
    if (atLeast > 0) await checkSpaceFor(dir, label, atLeast);
    await pipeline(input, createDecompressor(compression), spaceGuard(dir, label), createWriteStream(file));
  } catch (error) {
    removeTempDir(dir);
    input.destroy();
    if (error instanceof ImageReadError) throw error;
    if (isDiskFull(error)) {
      // Another process filled the disk between two checks: still "disk full", never "corrupt gzip data".
      const space = await spaceIn(path.dirname(dir));
      throw new ImageReadError(
        `${label}: disk full while unpacking it into ${path.dirname(dir)} (${(error as NodeJS.ErrnoException).code}${space ? `, ${space.free} bytes free, ${spillMargin(space.total)} kept` : ''}); free some space or set TMPDIR to a larger disk`,
        { cause: error },
      );
    }
    const what = compression === 'none' ? 'could not be read' : `is corrupt ${compression} data`;
    throw new ImageReadError(`${label} ${what} (${errorMessage(error)})`, { cause: error });
  }
  return { file, cleanup: () => removeTempDir(dir) };
}

/** gzip's ISIZE (the last member's size mod 2^32): never more than the whole unpacked size, so a lower bound. */
async function gzipSizeField(file: string, fileSize: number): Promise<number> {
  if (fileSize < 18) return 0;
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(4);
    await handle.read(buffer, 0, 4, fileSize - 4);
    return buffer.readUInt32LE(0);
  } finally {
    await handle.close();
  }
}

interface Archive {
  tree: TarTree | StreamedTree;
  cleanup: () => void;
}

/** Open a file as a tarball, unwrapping gzip/zstd/xz/bzip2 into a temp file first. */
async function openArchive(file: string, label: string, debug?: (line: string) => void): Promise<Archive> {
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new ImageReadError(`no such file: ${file}`);
  }
  if (info.isDirectory()) throw new ImageReadError(`${label} is a directory, not an archive (use oci:${file} for an OCI layout directory)`);
  const compression = sniffOuterCompression(await readHead(file, 8));
  if (compression === 'none') return { tree: await TarTree.open(file, label), cleanup: () => {} };
  debug?.(`${label} is ${compression}-compressed: unpacking it to a temporary file for random access`);
  const atLeast = compression === 'gzip' ? await gzipSizeField(file, info.size) : 0;
  const spilled = await spill(createReadStream(file, { highWaterMark: 1 << 20 }), compression, label, atLeast);
  try {
    return { tree: await TarTree.open(spilled.file, label), cleanup: spilled.cleanup };
  } catch (error) {
    spilled.cleanup();
    throw error;
  }
}

/**
 * Standard input is read in one pass (stream-archive.ts): layers are scanned as they arrive, nothing is written to
 * disk. A pipe cannot be read twice, so an archive the pass cannot serve (SecondPassNeeded) is refused with a hint.
 */
async function openStdin(debug?: (line: string) => void): Promise<Archive> {
  if (process.stdin.isTTY) throw new ImageReadError('"-" reads an image tarball from standard input, but stdin is a terminal; pipe one in (e.g. docker save app | layerlens layers -)');
  debug?.('reading standard input in one pass');
  const tree = await readArchiveStream(process.stdin, 'standard input', { ...(debug ? { debug } : {}) });
  return { tree, cleanup: () => {} };
}

async function archiveKind(tree: TarTree | StreamedTree): Promise<'docker-archive' | 'oci-archive'> {
  if ((await tree.size('manifest.json')) !== null) return 'docker-archive';
  if ((await tree.size('index.json')) !== null || (await tree.size('oci-layout')) !== null) return 'oci-archive';
  if (tree.truncated) {
    throw new ImageReadError(`${tree.label} is truncated: it ends without a tar end marker and before manifest.json or index.json`);
  }
  throw new ImageReadError(
    `${tree.label} is a tar archive but not an image: it has neither manifest.json (docker save) nor index.json (OCI layout); ` +
      'it looks like a root filesystem or a single layer',
  );
}

/** Open what an argument names, without choosing a platform yet. */
export async function openHandle(argument: string, options: OpenOptions): Promise<SourceHandle> {
  const transport = parseImageArgument(argument);
  const ref = 'ref' in transport ? transport.ref : null;
  const selection: Selection = { ref, platform: options.platform, allPlatforms: options.allPlatforms };
  switch (transport.kind) {
    case 'registry': {
      if (!transport.forced && options.source !== 'registry') {
        const fromEngine = await openBareNameFromEngine(argument, selection, options);
        if (fromEngine) return fromEngine;
      }
      // Loaded on demand: the HTTP stack (undici) costs ~75 ms of start-up that local files never need.
      const { openRegistry } = await import('./registry/source.js');
      return openRegistry(argument, transport.reference, {
        plainHttp: options.registry?.plainHttp ?? false,
        insecure: options.registry?.insecure ?? false,
        caFile: options.registry?.caFile ?? null,
        credentials: options.registry?.credentials ?? null,
        cache: options.registry?.cache ?? null,
        progress: options.registry?.progress ?? null,
        ...(options.registry?.timeoutSeconds !== undefined ? { timeoutSeconds: options.registry.timeoutSeconds } : {}),
        dockerMirrors: options.registry?.dockerMirrors ?? [],
        debug: options.debug,
        note: options.note,
      });
    }
    case 'daemon': {
      const { connectEngine, openFromEngine } = await import('./daemon.js');
      const tried: string[] = [];
      const client = await connectEngine(transport.engine, tried, { strict: true });
      if (!client) throw new ImageReadError(`no ${transport.engine} engine is reachable (tried ${tried.join('; ')}); start it or set ${transport.engine === 'docker' ? 'DOCKER_HOST' : 'CONTAINER_HOST'}`);
      return openFromEngine(argument, client, transport.name, selection, engineReadOptions(options));
    }
    case 'container': {
      const { openFromContainer } = await import('./container.js');
      return openFromContainer(argument, transport.name, selection, engineReadOptions(options));
    }
    case 'containerd': {
      const { openFromContainerd } = await import('./containerd.js');
      return openFromContainerd(argument, transport.name, options.namespace ?? 'default', selection, options.debug);
    }
    case 'oci-layout': {
      const info = await stat(transport.path).catch(() => null);
      if (!info) throw new ImageReadError(`no such directory: ${transport.path}`);
      if (!info.isDirectory()) return withArchive(argument, await openArchive(transport.path, transport.path, options.debug), selection, 'oci-archive');
      return fromLayoutDir(argument, transport.path, ref);
    }
    case 'oci-archive':
      return withArchive(argument, await openArchive(transport.path, transport.path, options.debug), selection, 'oci-archive');
    case 'docker-archive':
      return withArchive(argument, await openArchive(transport.path, transport.path, options.debug), selection, 'docker-archive');
    case 'stdin':
      return withArchive(argument, await openStdin(options.debug), selection, null).catch((error: unknown) => {
        if (error instanceof SecondPassNeeded) throw new ImageReadError(`${error.message}; a pipe cannot be read twice: save the archive to a file and read that`, { cause: error });
        throw error;
      });
    case 'path': {
      const info = await stat(transport.path).catch(() => null);
      if (!info) throw new ImageReadError(`no such file or directory: ${transport.path}`);
      if (info.isDirectory()) return fromLayoutDir(argument, transport.path, ref);
      return withArchive(argument, await openArchive(transport.path, transport.path, options.debug), selection, null);
    }
  }
}

/**
 * A bare NAME is read from a local engine when one is reachable and resolves that name itself (as docker and
 * dive users expect right after a build); otherwise null, and the registry is used.
 */
async function openBareNameFromEngine(argument: string, selection: Selection, options: OpenOptions): Promise<SourceHandle | null> {
  const { connectEngine, openFromEngine } = await import('./daemon.js');
  const tried: string[] = [];
  for (const engine of ['docker', 'podman'] as const) {
    const client = await connectEngine(engine, tried);
    if (!client) continue;
    try {
      if (await client.inspect(argument, options.registry?.timeoutSeconds)) {
        const handle = await openFromEngine(argument, client, argument, selection, engineReadOptions(options));
        options.note?.(`reading ${argument} from the local ${handle.info.engine?.name ?? engine} engine at ${client.endpoint.address} (docker://${argument} reads the registry)`);
        return handle;
      }
    } catch (error) {
      await client.close();
      throw error;
    }
    tried.push(`${client.endpoint.address}: answered, but holds no "${argument}"`);
    await client.close();
  }
  if (options.source === 'daemon') throw new ImageReadError(`no local engine holds "${argument}" (tried ${tried.join('; ') || 'docker and podman'})`);
  options.debug?.(`no local engine holds ${argument}${tried.length ? ` (${tried.join('; ')})` : ''}; using the registry`);
  return null;
}

function engineReadOptions(options: OpenOptions): import('./daemon.js').EngineReadOptions {
  return { debug: options.debug, timeoutSeconds: options.registry?.timeoutSeconds, progress: options.registry?.progress ?? null, metadataOnly: options.metadataOnly ?? false };
}

/** Open an argument and resolve the images the options select. */
export async function openImage(argument: string, options: OpenOptions): Promise<OpenedSource> {
  return resolveHandle(await openHandle(argument, options), options);
}

/** Resolve the images an opened source's root holds for these options (closing the handle on failure). */
export async function resolveHandle(handle: SourceHandle, options: Pick<OpenOptions, 'platform' | 'allPlatforms' | 'note'>): Promise<OpenedSource> {
  try {
    const selection: Selection = { ref: handle.root.reference, platform: options.platform, allPlatforms: options.allPlatforms };
    // Several images: one that fails is recorded and the others go on; absent manifests are listed, not read.
    const outcome: ResolveOutcome = { unresolved: [], absent: [], candidates: 0 };
    const ctx: ResolveContext = { store: handle.store, selection, label: handle.label, ...(options.allPlatforms ? { outcome } : {}), ...(options.note ? { note: options.note } : {}) };
    const resolved = await resolveRoot(handle.root, ctx);
    const images = handle.finish ? resolved.map(handle.finish) : resolved;
    if (!options.allPlatforms) outcome.candidates = images.length;
    if (handle.root.kind === 'claims' && handle.root.index) {
      // A Docker 25+ docker save: its OCI index names every platform of the tag, with blobs for some.
      const named: ResolveOutcome = { unresolved: [], absent: [], candidates: 0 };
      const platformCtx: ResolveContext = { store: handle.store, selection: { ...selection, allPlatforms: true }, label: handle.label, outcome: named };
      await resolveRoot(platformIndex(handle.root)!, platformCtx).catch(() => []);
      if (named.candidates > images.length) Object.assign(outcome, { absent: named.absent, candidates: named.candidates });
    }
    const reference = handle.info.reference ?? images[0]?.reference ?? null;
    return { info: { ...handle.info, reference }, images, unresolved: outcome.unresolved, absent: outcome.absent, candidates: outcome.candidates, close: handle.close };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function fromLayoutDir(argument: string, dir: string, ref: string | null): Promise<SourceHandle> {
  const tree = new DirTree(dir, `oci:${dir}`);
  if ((await tree.size('index.json')) === null) {
    if ((await stat(path.join(dir, 'index.json')).catch(() => null))?.isDirectory()) {
      throw new ImageReadError(`index.json in oci:${dir} is a directory, not a file: not a valid OCI image layout`);
    }
    const names: string[] = await tree.names().catch(() => []);
    if (names.includes('manifest.json')) throw new ImageReadError(`${dir} looks like an unpacked docker save; tar it up or use docker save -o image.tar`);
    throw new ImageReadError(`${dir} is a directory but not an OCI image layout: it has no index.json`);
  }
  const root = await layoutRoot(tree, ref);
  return { info: sourceInfo(argument, 'oci-layout', null), store: new LayoutBlobStore(tree), label: tree.label, root, close: async () => {} };
}

async function withArchive(argument: string, archive: Archive, selection: Selection, expected: SourceKind | null): Promise<SourceHandle> {
  try {
    const kind = await archiveKind(archive.tree);
    if (expected === 'oci-archive' && kind === 'docker-archive' && (await archive.tree.size('index.json')) === null) {
      throw new ImageReadError(`${archive.tree.label} is a docker save archive, not an OCI archive; use docker-archive:${archive.tree.label}`);
    }
    const readAs = expected ?? kind;
    if (readAs === 'docker-archive' && kind !== 'docker-archive') {
      throw new ImageReadError(`${archive.tree.label} is an OCI archive, not a docker save archive; use oci-archive:${archive.tree.label}`);
    }
    const close = async () => archive.cleanup();
    if (readAs === 'docker-archive') {
      const { claims, store, reference } = await describeDockerArchive(archive.tree, selection.ref);
      let index: { index: ImageIndex; checks: VerifyCheck[] } | null = null;
      if ((await archive.tree.size('index.json')) !== null) {
        const platforms = await layoutRoot(archive.tree, null).catch(() => null);
        if (platforms?.kind === 'index' && platforms.index.manifests.length > 0) index = { index: platforms.index, checks: platforms.checks };
      }
      return { info: sourceInfo(argument, readAs, reference), store, label: archive.tree.label, root: { kind: 'claims', claims, reference, index }, close };
    }
    const root = await layoutRoot(archive.tree, selection.ref);
    return { info: sourceInfo(argument, readAs, null), store: new LayoutBlobStore(archive.tree), label: archive.tree.label, root, close };
  } catch (error) {
    archive.cleanup();
    throw error;
  }
}

function sourceInfo(input: string, kind: SourceKind, reference: string | null): SourceInfo {
  return { input, kind, reference };
}
