/**
 * Download progress on stderr, only when stderr is a terminal (never in CI logs or pipes) and not --quiet or
 * --no-progress: one line, redrawn at most ten times a second, with bytes, blobs done and the rate.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { humanSize } from './format.js';

export class Progress {
  private bytes = 0;
  private started = 0;
  private active = 0;
  private finished = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  static create(enabled: boolean): Progress | null {
    return enabled && process.stderr.isTTY ? new Progress() : null;
  }

  track(_digest: string, source: Readable): Readable {
    if (this.started === 0) this.started = Date.now();
    this.active++;
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) => {
        this.bytes += chunk.length;
        this.draw(false);
        callback(null, chunk);
      },
      flush: (callback: TransformCallback) => {
        this.active--;
        this.finished++;
        this.draw(true);
        callback();
      },
    });
    source.on('error', (error) => counter.destroy(error));
    return source.pipe(counter);
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const line = `downloading: ${this.finished} blob(s) done, ${this.active} in progress, ${humanSize(this.bytes)} at ${humanSize(Math.round(this.bytes / seconds))}/s`;
    this.stream.write(`\r${line.slice(0, (this.stream.columns || 100) - 1)}\x1b[K`);
    this.drawn = true;
  }

  /**
   * An engine's export as it streams: bytes so far against the engine's own `Size` (an estimate: the export
   * adds tar headers, and Podman counts differently), so the percentage is capped below 100 until the end.
   */
  exporting(label: string, bytes: number, expected: number | null): void {
    const now = Date.now();
    if (this.started === 0) this.started = now;
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const share = expected && expected > 0 ? ` of ~${humanSize(expected)} (${Math.min(99, Math.floor((bytes / expected) * 100))} %)` : '';
    const line = `reading ${label}: ${humanSize(bytes)}${share} at ${humanSize(Math.round(bytes / seconds))}/s`;
    this.stream.write(`\r${line.slice(0, (this.stream.columns || 100) - 1)}\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
