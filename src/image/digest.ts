import { createHash } from 'node:crypto';

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function isSha256Digest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

/** A digest as the OCI spec's grammar allows (algorithm:encoded). */
export function isDigest(value: string): boolean {
  return ANY_DIGEST.test(value);
}

export function shortDigest(digest: string | null, length = 12): string {
  if (!digest) return '-';
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, length);
}
