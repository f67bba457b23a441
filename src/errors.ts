/**
 * Errors a user can cause. Each carries the exit code CONTRACT.md gives it and a one-line message that names
 * what failed and what to do; the CLI prints only the message (the stack only with --debug).
 */
export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREADABLE = 3;

export class LayerlensError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 | 3,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Exit 1: the image was read and a blob is not what its descriptor names (CONTRACT.md "Damage is a finding"), and
 * the command cannot give its answer without that blob's content (files, waste, diff). The message names the blob.
 */
export class DamagedImageError extends LayerlensError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}

/** Exit 2: a bad flag, threshold or configuration. */
export class UsageError extends LayerlensError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}

/** Exit 3: the image could not be read (missing, not an image, malformed, truncated, corrupt, absent blob). */
export class ImageReadError extends LayerlensError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 3, options);
  }
}

/**
 * Exit 3, and the bytes never arrived: a network failure, a stall, a deadline. Reading the blob again would only
 * repeat it, so a reader that re-reads damaged content to name its digest does not retry these.
 */
export class TransferError extends ImageReadError {}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
