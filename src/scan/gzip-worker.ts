/**
 * The deflate of gzip-estimate.ts's samples, off the main thread. zlib's asynchronous API still does part of
 * each call (stream set-up, the preset dictionary) on the main thread, where the scan's hashing and tar parsing
 * run; a worker takes all of it to another core.
 */
import { parentPort } from 'node:worker_threads';
import { deflateRawSync } from 'node:zlib';

export interface SampleJob {
  id: number;
  /** The dictionary followed by the sample. */
  bytes: Uint8Array;
  dictionaryLength: number;
}

parentPort?.on('message', ({ id, bytes, dictionaryLength }: SampleJob) => {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const input = buffer.subarray(dictionaryLength);
  try {
    const output = deflateRawSync(input, dictionaryLength > 0 ? { level: 6, dictionary: buffer.subarray(0, dictionaryLength) } : { level: 6 });
    parentPort!.postMessage({ id, size: output.length });
  } catch (error) {
    parentPort!.postMessage({ id, error: String(error) });
  }
});
