/**
 * The Report: a plain, schema-versioned object (CONTRACT.md "JSON"), built from resolved images and scans.
 * Renderers only read it; analyses only write it.
 */
import { layerHistory } from '../image/history.js';
import { damageLine, type ImageScan } from '../scan/image-scan.js';
import { layerCompression } from '../image/mediatypes.js';
import type { EntryType } from '../model/layer.js';
import { nodePath, WHITEOUT_PREFIX, type FsNode, type UnionFs } from '../analyze/union.js';
import type { WasteReport } from '../analyze/waste.js';
import type { WritableSummary } from '../analyze/writable.js';
import type { AttestationEntry, PlatformEntry, PlatformsResult } from '../model/platforms.js';
import type { ResolvedImage, SkippedBlob, SourceInfo, UnresolvedImage, VerifyCheck, ContainerInfo } from '../model/source.js';
import { formatPlatform } from '../image/platform.js';

/** 2: totals.files, layers[].diffId and check with no rules changed meaning (docs/CHANGELOG.md). */
export const SCHEMA_VERSION = 2;

export interface PlatformReport {
  os: string;
  architecture: string;
  variant: string | null;
}

export interface LayerReport {
  index: number;
  digest: string | null;
  /** The sha256 of the uncompressed stream as measured where the layer was scanned, else the config's diff_id. */
  diffId: string | null;
  /** Which of the two `diffId` is. */
  diffIdSource: 'measured' | 'config';
  mediaType: string;
  compressedSize: number | null;
  /** Layers stored uncompressed: the estimated gzip -6 size (what a push would store); null otherwise. */
  estimatedCompressedSize: number | null;
  uncompressedSize: number | null;
  contentSize: number | null;
  /** Every tar header of the layer, whiteouts included. */
  entries: number | null;
  /** Entries that are not whiteouts: the paths this layer writes. */
  files: number | null;
  /** Paths this layer added, modified and removed in the union (null when the union was not built). */
  added: number | null;
  modified: number | null;
  removed: number | null;
  createdBy: string | null;
  /** The paths themselves (files and analyze). */
  changes?: { added: string[]; modified: string[]; removed: string[]; addedBytes: number; modifiedBytes: number; removedBytes: number };
}

export interface FileReport {
  path: string;
  type: EntryType;
  size: number;
  mode: string;
  uid: number;
  gid: number;
  linkTarget: string | null;
  layer: number;
}

export interface ConfigSummary {
  created: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  user: string | null;
  workingDir: string | null;
  exposedPorts: string[];
  labels: Record<string, string>;
  historyEntries: number;
}

export interface Totals {
  layers: number;
  compressedSize: number | null;
  /** When any layer is estimated: Σ of real compressed sizes and estimates (the pull cost once pushed); else null. */
  estimatedCompressedSize: number | null;
  uncompressedSize: number | null;
  contentSize: number | null;
  /** Paths in the final filesystem (what `files` lists, `/` excluded); null when the union was not built. */
  files: number | null;
}

/** What a layer costs to pull: its real compressed size, or the estimate for a layer stored uncompressed. */
export function pullSize(layer: Pick<LayerReport, 'compressedSize' | 'estimatedCompressedSize'>): number | null {
  return layer.estimatedCompressedSize ?? layer.compressedSize;
}

export interface VerifyReport {
  ok: boolean;
  checks: VerifyCheck[];
  skipped: SkippedBlob[];
}

/** A layer whose content could not be read, and the figures that are null because of it. */
export interface BlockedReport {
  layer: number;
  digest: string | null;
  /** Its bytes do not hash to its digest (a failed check); else they do but cannot be decompressed or parsed. */
  damaged: boolean;
  reason: string;
  /** What this layer's absence leaves unknown, for people: "layer 1's sizes and files", "the file list". */
  blocks: string[];
}

export interface ImageReport {
  indexDigest: string | null;
  manifestDigest: string | null;
  manifestMediaType: string | null;
  configDigest: string;
  platform: PlatformReport;
  config: ConfigSummary;
  layers: LayerReport[];
  totals: Totals;
  verify: VerifyReport;
  /** Layers whose content could not be read (damage is a finding: the rest of the report still holds). */
  blocked: BlockedReport[];
  /** Null when a blocked layer leaves them unknown (analyze). */
  files?: FileReport[] | null;
  waste?: WasteReport | null;
  /** container:NAME: what the container wrote; buildReport moves it into `container.writable`. */
  writable?: WritableSummary;
}

/** What a command computed beyond the manifests, config and scan. */
export interface Extras {
  union?: UnionFs | null;
  /** Include each layer's change lists (files, analyze). */
  changeLists?: boolean;
  /** The paths to list (selected from the union: files, analyze). */
  files?: FsNode[];
  waste?: WasteReport;
  /** container:NAME: the writable layer's summary (analyze/writable.ts). */
  writable?: WritableSummary;
  /** Figures beyond the layer table that a blocked layer leaves unknown (analyze: the file list and waste). */
  contentFigures?: string[];
}

export interface SourceReport {
  input: string;
  kind: SourceInfo['kind'];
  reference: string | null;
  engine?: { name: string; version: string } | null;
  repoDigests?: string[];
  /** The mirror that served the bytes; null when the origin did and for every source that is not a registry. */
  mirror: string | null;
  /** `{ digest }` of an attached report (OCI referrer) used instead of reading the image; null when none was. */
  attached: { digest: string } | null;
}

/**
 * `source` as every document prints it: the contract's keys are present for every source kind, null where they
 * do not apply, so a pipeline can read `source.mirror` without first asking what kind of source it was. A built
 * report's `attached` is null; `analyze --use-attached` sets it on the attached report it prints (pipeline/run.ts).
 */
export function sourceReport(source: SourceInfo): SourceReport {
  const report: SourceReport = { input: source.input, kind: source.kind, reference: source.reference, mirror: source.mirror ?? null, attached: null };
  if (source.engine !== undefined) report.engine = source.engine;
  if (source.repoDigests !== undefined) report.repoDigests = source.repoDigests;
  return report;
}

/** One image: the image's keys at the top level. */
export type SingleReport = { schemaVersion: number; command: string; source: SourceReport; container?: ContainerReport } & ImageReport;
/** Several images (--all-platforms): one report per image under `images`. */
export interface MultiReport {
  schemaVersion: number;
  command: string;
  source: SourceReport;
  indexDigest: string | null;
  images: ImageReport[];
  /** Images the index names that could not be reported: damaged (exitCode 1) or unreadable (3). */
  errors: ImageError[];
  verify: VerifyReport;
}
export type Report = SingleReport | MultiReport;

export interface ImageError {
  manifestDigest: string | null;
  platform: string | null;
  exitCode: 1 | 2 | 3;
  message: string;
}

/** What a several-image run could not report, beside the images it did. */
export interface RunProblems {
  errors: ImageError[];
  /** Checks of images that failed to resolve (a damaged manifest's failed digest check). */
  checks: VerifyCheck[];
  /** Manifests the source does not hold. */
  absent: SkippedBlob[];
}

export function unresolvedError(image: UnresolvedImage): ImageError {
  return { manifestDigest: image.manifestDigest, platform: image.platform ? formatPlatform(image.platform) : null, exitCode: image.error.exitCode, message: image.error.message };
}

export function isMultiReport(report: Report): report is MultiReport {
  return 'images' in report;
}

function configSummary(image: ResolvedImage): ConfigSummary {
  const run = image.config.config ?? {};
  return {
    created: image.config.created ?? null,
    entrypoint: run.Entrypoint ?? null,
    cmd: run.Cmd ?? null,
    env: run.Env ?? [],
    user: run.User || null,
    workingDir: run.WorkingDir || null,
    exposedPorts: Object.keys(run.ExposedPorts ?? {}),
    labels: run.Labels ?? {},
    historyEntries: image.config.history?.length ?? 0,
  };
}

function isWhiteout(path: string): boolean {
  return path.slice(path.lastIndexOf('/') + 1).startsWith(WHITEOUT_PREFIX);
}

function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

export function fileReport(node: FsNode): FileReport {
  return {
    path: nodePath(node),
    type: node.type,
    size: node.size,
    mode: formatMode(node.mode),
    uid: node.uid,
    gid: node.gid,
    linkTarget: node.linkTarget,
    layer: node.layer,
  };
}

/** Paths of the union filesystem, `/` excluded: the rows `files --json` lists without a filter. */
function countPaths(union: UnionFs): number {
  let count = 0;
  const stack = [union.root]; // iterative: a layer controls the depth; unsorted: only the number matters
  while (stack.length > 0) {
    for (const child of stack.pop()!.children?.values() ?? []) {
      count++;
      if (child.children) stack.push(child);
    }
  }
  return count;
}

/** Build one image's report. Without a scan (inspect), sizes that need the layer bytes are null. */
export function imageReport(image: ResolvedImage, scan: ImageScan | null, extras: Extras = {}): ImageReport {
  const createdBy = layerHistory(image.config, image.layers.length);
  const layers: LayerReport[] = image.layers.map((layer, i) => {
    const scanned = scan?.layers[i] ?? null;
    // Without reading it, an uncompressed layer's blob digest is by definition its diffId.
    const digest = scanned?.digest ?? layer.digest ?? (layerCompression(layer.mediaType) === 'none' ? layer.diffId : null);
    return {
      index: layer.index,
      digest,
      // What was measured, when it was: a config's claim that the bytes contradict is in the failed diffId check.
      diffId: scanned?.diffId ?? layer.diffId,
      diffIdSource: scanned ? 'measured' : 'config',
      mediaType: layer.mediaType,
      compressedSize: scanned?.compressedSize ?? layer.storedSize ?? layer.size,
      estimatedCompressedSize: scanned?.estimatedCompressedSize ?? null,
      uncompressedSize: scanned?.uncompressedSize ?? null,
      contentSize: scanned?.contentSize ?? null,
      entries: scanned ? scanned.entries.length : null,
      files: scanned ? scanned.entries.filter((entry) => !isWhiteout(entry.path)).length : null,
      added: null,
      modified: null,
      removed: null,
      createdBy: createdBy[i] ?? null,
    };
  });
  const blockedLayers = scan?.blocked ?? [];
  const firstBlocked = blockedLayers[0]?.index ?? null;
  // Below the first blocked layer the union (built from those layers only) is exact; from it up, unknown.
  const changes = (extras.union?.changes ?? []).slice(0, firstBlocked ?? undefined);
  layers.forEach((layer, i) => {
    const change = changes[i];
    if (!change) return;
    layer.added = change.added.length;
    layer.modified = change.modified.length;
    layer.removed = change.removed.length;
    if (extras.changeLists) layer.changes = change;
  });
  const sum = (pick: (layer: LayerReport) => number | null): number | null =>
    layers.every((layer) => pick(layer) !== null) ? layers.reduce((total, layer) => total + (pick(layer) ?? 0), 0) : null;
  const checks = [...image.checks, ...(scan?.checks ?? [])];
  const estimated = layers.some((layer) => layer.estimatedCompressedSize !== null);
  return {
    indexDigest: image.indexDigest,
    manifestDigest: image.manifestDigest,
    manifestMediaType: image.manifestMediaType,
    configDigest: image.configDigest,
    platform: { os: image.config.os, architecture: image.config.architecture, variant: image.config.variant ?? null },
    config: configSummary(image),
    layers,
    totals: {
      layers: layers.length,
      compressedSize: sum((layer) => layer.compressedSize),
      estimatedCompressedSize: estimated ? sum(pullSize) : null,
      uncompressedSize: sum((layer) => layer.uncompressedSize),
      contentSize: sum((layer) => layer.contentSize),
      files: extras.union && firstBlocked === null ? countPaths(extras.union) : null,
    },
    verify: { ok: checks.every((check) => check.ok), checks, skipped: scan?.skipped ?? [] },
    blocked: blockedLayers.map((blocked) => ({
      layer: blocked.index,
      digest: blocked.digest,
      damaged: blocked.damaged,
      reason: blocked.damaged ? damageLine(blocked) : blocked.error.message,
      blocks: blockedFigures(blocked.index, layers.length, blocked.index === firstBlocked, extras),
    })),
    ...(extras.files ? { files: extras.files.map(fileReport) } : {}),
    ...(extras.waste ? { waste: extras.waste } : {}),
    ...(extras.writable ? { writable: extras.writable } : {}),
    ...(firstBlocked !== null ? Object.fromEntries((extras.contentFigures ?? []).map((key) => [key, null])) : {}),
  };
}

/** What one blocked layer leaves unknown; the first also blocks everything built on the union above it. */
function blockedFigures(index: number, count: number, first: boolean, extras: Extras): string[] {
  const figures = [`layer ${index}'s diffId, sizes and files`];
  if (!first) return figures;
  if (extras.union) figures.push(index === count - 1 ? `layer ${index}'s changes` : `the changes of layers ${index}–${count - 1}`);
  figures.push('the uncompressed and content totals', 'the number of files');
  for (const key of extras.contentFigures ?? []) figures.push(key === 'files' ? 'the file list' : key === 'waste' ? 'waste and efficiency' : key);
  return figures;
}

export type ContainerReport = ContainerInfo & { writable: ContainerInfo['writable'] & NullableSummary };
type NullableSummary = { [Key in keyof WritableSummary]: WritableSummary[Key] | null };

function containerReport(container: ContainerInfo, writable: WritableSummary | null): ContainerReport {
  const measured: NullableSummary = writable ?? { writtenBytes: null, writtenFiles: null, overwritten: null, deleted: null, largestFiles: null, byDirectory: null };
  return { ...container, writable: { ...container.writable, ...measured } };
}

export function buildReport(command: string, source: SourceInfo, images: ImageReport[], multi: boolean, problems: RunProblems = { errors: [], checks: [], absent: [] }): Report {
  const sourceDocument = sourceReport(source);
  if (!multi && images.length === 1) {
    const { writable, ...image } = images[0]!;
    // container:NAME: what the engine says of the container, and what the scan measured of what it wrote (null
    // where the command did not build the whole union: inspect, verify, a blocked layer), beside the image with its
    // writable layer on top.
    const container = source.container ? { container: containerReport(source.container, writable ?? null) } : {};
    if (problems.absent.length === 0) return { schemaVersion: SCHEMA_VERSION, command, source: sourceDocument, ...container, ...image };
    return { schemaVersion: SCHEMA_VERSION, command, source: sourceDocument, ...container, ...image, verify: { ...image.verify, skipped: [...image.verify.skipped, ...problems.absent] } };
  }
  // Checks of shared blobs (the index, the layout) appear in each image's list; the union names each once.
  const seen = new Set<string>();
  const checks = [...images.flatMap((image) => image.verify.checks), ...problems.checks]
    .filter((check) => {
      const key = `${check.kind}|${check.subject}|${check.manifest}|${check.what}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  return {
    schemaVersion: SCHEMA_VERSION,
    command,
    source: sourceDocument,
    indexDigest: images[0]?.indexDigest ?? null,
    images,
    errors: problems.errors,
    verify: { ok: checks.every((check) => check.ok), checks, skipped: [...images.flatMap((image) => image.verify.skipped), ...problems.absent] },
  };
}

export function reportPassed(report: Report): boolean {
  return report.verify.ok;
}

/** `layerlens platforms`: the coverage of an index (or the one platform of a single image). */
export interface PlatformsReport {
  schemaVersion: number;
  command: 'platforms';
  source: SourceReport;
  indexDigest: string | null;
  platforms: PlatformEntry[];
  platformsTotal: { compressedSize: number | null };
  attestations: AttestationEntry[];
  verify: VerifyReport;
}

export function platformsReport(source: SourceInfo, result: PlatformsResult): PlatformsReport {
  return {
    schemaVersion: SCHEMA_VERSION,
    command: 'platforms',
    source: sourceReport(source),
    indexDigest: result.indexDigest,
    platforms: result.platforms,
    platformsTotal: result.platformsTotal,
    attestations: result.attestations,
    verify: { ok: result.checks.every((check) => check.ok), checks: result.checks, skipped: [] },
  };
}
