/**
 * A Readable's chunks as they arrived, with backpressure. Node's own async iterator of a Readable calls `read()`,
 * which joins everything buffered into one new Buffer whenever the consumer is behind: a copy of every byte, and
 * garbage for the collector, on the streams that matter most (an engine's export arrives faster than it is scanned).
 * Measured on the realistic image's export (`analyze`): Podman's 7.2 → 6.0 s and 3.5 → 2.8 s of CPU, Docker's 4.9 → 4.8 s.
 *
 * The stream is paused once QUEUE_BYTES wait here (its own buffer then fills, and the socket or pipe behind it
 * stops), and resumed when the consumer has taken them. Chunks already received are handed over before an error;
 * a stream that closes without ending is an error, as it is to Node's iterator. Returning early (a consumer that
 * stops, or throws) destroys the stream, as Node's iterator does.
 */
import type { Readable } from 'node:stream';

/** What may wait here beyond the stream's own buffer. */
const QUEUE_BYTES = 1 << 20;

export class PrematureCloseError extends Error {
  readonly code = 'ERR_STREAM_PREMATURE_CLOSE';
  constructor() {
    super('Premature close');
  }
}

export function isReadable(value: unknown): value is Readable {
  const stream = value as Partial<Readable> | null;
  return typeof stream?.on === 'function' && typeof stream.pause === 'function' && typeof stream.resume === 'function' && typeof stream.read === 'function';
}

export function readableChunks(stream: Readable): AsyncIterableIterator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = stream.readableEnded;
  let failure: Error | null = stream.errored ?? (stream.destroyed && !ended ? new PrematureCloseError() : null);
  let wake: (() => void) | null = null;
  const notify = () => {
    const waiting = wake;
    wake = null;
    waiting?.();
  };
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    queue.push(bytes);
    queued += bytes.length;
    if (queued >= QUEUE_BYTES) stream.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (error: Error) => {
    failure ??= error;
    notify();
  };
  const onClose = () => {
    if (!ended) failure ??= stream.errored ?? new PrematureCloseError();
    notify();
  };
  const detach = () => {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onClose);
    // The error listener stays: an error after the consumer is gone must not become an uncaught exception.
  };
  if (!ended && !failure) {
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  }
  const finish = (): IteratorResult<Buffer> => {
    detach();
    return { done: true, value: undefined };
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<Buffer>> {
      for (;;) {
        const chunk = queue.shift();
        if (chunk) {
          queued -= chunk.length;
          if (queued < QUEUE_BYTES && stream.isPaused() && !ended) stream.resume();
          return { done: false, value: chunk };
        }
        if (failure) {
          detach();
          throw failure;
        }
        if (ended) return finish();
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    async return(): Promise<IteratorResult<Buffer>> {
      if (!ended && !stream.destroyed) stream.destroy();
      queue.length = 0;
      return finish();
    },
  };
}
