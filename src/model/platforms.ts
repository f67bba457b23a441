/** What `platforms` reports of an index (CONTRACT.md `platforms`): one entry per platform it names, and its attestations. */
import type { VerifyCheck } from './source.js';

export interface PlatformEntry {
  os: string;
  architecture: string;
  variant: string | null;
  osVersion: string | null;
  digest: string | null;
  compressedSize: number | null;
  uncompressedSize: number | null;
  /** Layers this platform shares with at least one other platform. */
  sharedLayers: number;
  layers: number | null;
  /** False when the source does not hold this platform's manifest (e.g. a single-platform export of an index). */
  available: boolean;
}

export interface AttestationEntry {
  digest: string;
  refersTo: string | null;
  type: 'attestation-manifest' | 'referrer';
  artifactType: string | null;
}

export interface PlatformsResult {
  indexDigest: string | null;
  platforms: PlatformEntry[];
  platformsTotal: { compressedSize: number | null };
  attestations: AttestationEntry[];
  checks: VerifyCheck[];
}
