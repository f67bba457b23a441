/**
 * An engine's image as its API describes it (`GET /images/{name}/json` and `/history`), turned into the same
 * ResolvedImage a `docker save` export gives, without the export: for the commands that never read layers
 * (`inspect`, `platforms`), which would otherwise wait for the engine to write out the whole image.
 *
 * What the API cannot say is left unknown, never guessed as a number: the layers' stored sizes (the export's
 * layer.tar sizes) and the config's bytes (so no config digest check; the engine's image ID is the config digest).
 * One thing Docker's API leaves implicit: which history steps made no layer (`empty_layer`). Podman's libpod API
 * states it; for Docker it is inferred (inferEmptyLayers) and --debug says when the inference had to choose.
 */
import { ImageReadError } from '../errors.js';
import { dockerLayerMediaType } from '../image/mediatypes.js';
import type { HistoryEntry, ImageConfig, RunConfig } from '../image/types.js';
import { cleanCreatedBy } from '../image/history.js';
import type { Readable } from 'node:stream';
import type { BlobStore, ImageClaims } from '../model/source.js';

/** The fields of `GET /images/{name}/json` layerlens uses (Docker and Podman's compat API alike). */
export interface EngineImageRecord {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Size: number;
  Created?: string;
  Author?: string;
  Config?: RunConfig | null;
  Architecture?: string;
  Os?: string;
  Variant?: string;
  OsVersion?: string;
  RootFS?: { Type?: string; Layers?: string[] | null };
}

/** One entry of Docker's `GET /images/{name}/history`, newest first; `Size` is 0 for a step that made no layer. */
export interface EngineHistoryItem {
  Created: number;
  CreatedBy: string;
  Comment: string;
  Size: number;
}

/** Instructions that change only the config: never a layer in any builder. */
const METADATA_ONLY = /^(?:ENV|CMD|LABEL|USER|EXPOSE|ENTRYPOINT|VOLUME|ARG|STOPSIGNAL|HEALTHCHECK|SHELL|ONBUILD|MAINTAINER)\b/;

/**
 * Which of Docker's history steps made a layer. A step with a size made one; of the steps of size 0 (no step
 * says whether it made an empty-content layer, e.g. a RUN that only deletes, which is whiteouts), as many as
 * the layer count still needs are taken: those that write files (RUN, COPY, ADD, …) first, then WORKDIR (the
 * legacy builder commits the directory it creates), never a config-only instruction. `guessed` is true when
 * that left a choice among equally plausible steps (then the earliest are taken).
 */
export function inferEmptyLayers(items: { createdBy: string; size: number }[], layerCount: number): { empty: boolean[]; guessed: boolean } {
  const empty = items.map((item) => item.size <= 0);
  let needed = layerCount - empty.filter((isEmpty) => !isEmpty).length;
  let guessed = false;
  const tiers: ((text: string) => boolean)[] = [(text) => !METADATA_ONLY.test(text) && !/^WORKDIR\b/.test(text), (text) => /^WORKDIR\b/.test(text)];
  for (const inTier of tiers) {
    if (needed <= 0) break;
    const candidates = items.map((item, i) => ({ i, text: cleanCreatedBy(item.createdBy) ?? '' })).filter(({ i, text }) => empty[i] && inTier(text));
    if (candidates.length > needed) guessed = true;
    for (const { i } of candidates.slice(0, needed)) empty[i] = false;
    needed -= Math.min(needed, candidates.length);
  }
  if (needed > 0) guessed = true; // more layers than plausible steps: layerHistory gives the rest no step
  return { empty, guessed };
}

/** Docker's history (newest first, times in seconds) as config history entries, oldest first. */
export function historyFromDocker(items: EngineHistoryItem[], layerCount: number): { history: HistoryEntry[]; guessed: boolean } {
  const oldestFirst = [...items].reverse();
  const { empty, guessed } = inferEmptyLayers(oldestFirst.map((item) => ({ createdBy: item.CreatedBy, size: item.Size })), layerCount);
  const history = oldestFirst.map((item, i): HistoryEntry => ({
    ...(item.Created > 0 ? { created: new Date(item.Created * 1000).toISOString().replace('.000Z', 'Z') } : {}),
    created_by: item.CreatedBy,
    ...(item.Comment ? { comment: item.Comment } : {}),
    ...(empty[i] ? { empty_layer: true } : {}),
  }));
  return { history, guessed };
}

function normalizeId(id: string): string {
  return id.startsWith('sha256:') ? id : `sha256:${id}`;
}

/**
 * An engine's image record holds no layer bytes: a store whose layers are keyed by their index, none of them held,
 * each saying why when asked for.
 */
export class EngineRecordStore implements BlobStore {
  constructor(readonly label: string) {}

  stat(): Promise<{ available: boolean; size: number | null }> {
    return Promise.resolve({ available: false, size: null });
  }

  read(key: string): Promise<Buffer> {
    return Promise.reject(new ImageReadError(`${this.label}: ${key} was not exported (the command asked only for the engine's image record)`));
  }

  open(key: string): Readable {
    throw new ImageReadError(`${this.label}: layer ${key} was not exported (the command asked only for the engine's image record)`);
  }

  locate(key: string): string {
    return `layer ${key} of ${this.label} (not exported: answered from the engine's image record)`;
  }
}

/**
 * The claims of an engine's image record, as a manifest would make them: the config rebuilt from the record, its
 * layers known by diff_id only (stored uncompressed, as the export would store them), no stored sizes.
 */
export function claimsFromRecord(record: EngineImageRecord, history: HistoryEntry[], label: string): ImageClaims {
  const diffIds = record.RootFS?.Layers ?? [];
  const config: ImageConfig = {
    architecture: record.Architecture ?? '',
    os: record.Os ?? '',
    ...(record.Variant ? { variant: record.Variant } : {}),
    ...(record.OsVersion ? { 'os.version': record.OsVersion } : {}),
    ...(record.Created ? { created: record.Created } : {}),
    ...(record.Author ? { author: record.Author } : {}),
    config: record.Config ?? {},
    rootfs: { type: record.RootFS?.Type ?? 'layers', diff_ids: diffIds },
    history,
  };
  const mediaType = dockerLayerMediaType('none');
  return {
    indexDigest: null,
    manifestDigest: null,
    manifestMediaType: null,
    manifest: null,
    claimedPlatform: null,
    config,
    configDigest: normalizeId(record.Id),
    configSize: 0,
    configMediaType: 'application/vnd.docker.container.image.v1+json',
    layers: diffIds.map((_, index) => ({ key: String(index), claim: { digest: null, size: null, mediaType, urls: [] } })),
    layersListedBy: null,
    platformIs: (platform) => `${label} is a ${platform} image`,
    checks: [],
  };
}
