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
import { configPlatform, formatPlatform } from '../image/platform.js';
import type { HistoryEntry, ImageConfig, RunConfig } from '../image/types.js';
import { cleanCreatedBy } from '../image/history.js';
import { requireSelectedPlatform } from './resolve.js';
import type { LayerRef, ResolvedImage, Selection } from '../model/source.js';

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
 * The ResolvedImage of an engine's image record: the config rebuilt from the record, its layers known by
 * diff_id only (stored uncompressed, as the export would store them), no stored sizes, no blob to open.
 */
export function imageFromRecord(record: EngineImageRecord, history: HistoryEntry[], selection: Selection, label: string, reference: string | null): ResolvedImage {
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
  requireSelectedPlatform(selection, configPlatform(config), `${label} is a ${formatPlatform(configPlatform(config))} image`);
  const mediaType = dockerLayerMediaType('none');
  const layers: LayerRef[] = diffIds.map((diffId, index) => ({
    index,
    digest: null,
    size: null,
    mediaType,
    storedSize: null,
    diffId,
    urls: [],
    foreign: false,
    available: false,
    location: `layer ${index} of ${label} (not exported: answered from the engine's image record)`,
    open: () => {
      throw new ImageReadError(`${label}: layer ${index} was not exported (the command asked only for the engine's image record)`);
    },
  }));
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
    layers,
    checks: [],
    reference,
  };
}
