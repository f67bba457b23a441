/**
 * What a source tells about a long read while it is under way. Sources only report; how it is drawn (a redrawn
 * line on a terminal, one log line per blob with --debug, nothing in CI) is the caller's: report/progress.ts
 * draws it for the CLI, and a program using the library may pass its own or none.
 */
import type { Readable } from 'node:stream';

export interface ProgressSink {
  /** A blob the resolved images will download, with its descriptor's size: the line's total counts it. */
  expect(digest: string, size: number): void;
  /** An expected blob that will not be downloaded after all (a cached scan). */
  skip(digest: string): void;
  /** Count the bytes of a download as they pass; returns the stream to read instead of `source`. */
  track(digest: string, source: Readable, options?: { label?: string; size?: number | null }): Readable;
  /** A request that has not answered yet (`label` is the server, `what` the document); call the result when it has. */
  waiting(label: string, what: string): () => void;
  /** An engine export: bytes so far of `expected` (the engine's image size, when it says). */
  exporting(label: string, bytes: number, expected: number | null): void;
  /** Work counted in items (`repo`: tags read of tags listed). */
  counting(label: string, what: string, done: number, total: number): void;
  /** The read is over: clear the line. */
  done(): void;
}
