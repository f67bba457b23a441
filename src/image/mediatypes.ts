/** Media types from the OCI image spec and Docker's image manifest v2 (schema 1 only to refuse it). */
export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type Compression = 'gzip' | 'zstd' | 'none';

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

export function isSchema1MediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.dockerManifestV1 || mediaType === MediaType.dockerManifestV1Signed;
}

export function isImageConfigMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig;
}

const LAYER_TYPES: Record<string, Compression> = {
  [MediaType.ociLayer]: 'none',
  [MediaType.ociLayerGzip]: 'gzip',
  [MediaType.ociLayerZstd]: 'zstd',
  [MediaType.ociLayerNondistributable]: 'none',
  [MediaType.ociLayerNondistributableGzip]: 'gzip',
  [MediaType.ociLayerNondistributableZstd]: 'zstd',
  [MediaType.dockerLayer]: 'none',
  [MediaType.dockerLayerGzip]: 'gzip',
  [MediaType.dockerLayerZstd]: 'zstd',
  [MediaType.dockerLayerForeign]: 'gzip',
};

/** The compression a layer media type declares, or null when the media type is not a known layer type. */
export function layerCompression(mediaType: string): Compression | null {
  return LAYER_TYPES[mediaType] ?? null;
}

export function isNonDistributable(mediaType: string): boolean {
  return mediaType.includes('nondistributable') || mediaType === MediaType.dockerLayerForeign;
}

/** The media type a docker archive's layer would carry for a given compression (used when none is recorded). */
export function dockerLayerMediaType(compression: Compression): string {
  if (compression === 'gzip') return MediaType.dockerLayerGzip;
  if (compression === 'zstd') return MediaType.dockerLayerZstd;
  return MediaType.dockerLayer;
}

/** Sniff a compression from a blob's first bytes: gzip 1f 8b, zstd frame 28 b5 2f fd. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}
