/**
 * Progress of long reads on stderr. On a terminal (and not --quiet or --no-progress): one line, redrawn at most ten
 * times a second and at least every quarter second while anything is under way, so a slow registry shows within a
 * second what it is doing — with a total and a percentage where the sizes are known (a registry's layers: their
 * descriptors' sizes, registered when the image is resolved). Off a terminal (CI logs, pipes): nothing, unless
 * --debug, which logs one line per finished blob. The line is cleared as soon as nothing is under way, so it
 * never sits in front of the report.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { ProgressSink } from '../model/progress.js';
import { humanSize, percentText } from './format.js';

/** A read that is still waiting for its first answer draws only after this long. */
const WAIT_BEFORE_DRAW_MS = 500;
const TICK_MS = 250;

export class Progress implements ProgressSink {
  private bytes = 0;
  private started = 0;
  private active = 0;
  private finished = 0;
  private lastDraw = 0;
  private drawn = false;
  private label = '';
  /** Blobs the resolved images will download (digest → descriptor size), and sizes of blobs opened unannounced. */
  private readonly expected = new Map<string, number>();
  private ticker: NodeJS.Timeout | null = null;
  private waits = new Map<number, { label: string; what: string; since: number }>();
  private nextWait = 0;

  /** `log`: off a terminal (--debug): one line per finished blob instead of a redrawn line. */
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly log: ((line: string) => void) | null = null,
  ) {}

  static create(enabled: boolean, debug?: (line: string) => void): Progress | null {
    if (!enabled) return null;
    if (process.stderr.isTTY) return new Progress();
    return debug ? new Progress(process.stderr, debug) : null;
  }

  /** A blob the run will download, of this size (a layer of a resolved image that no cache holds). */
  expect(digest: string, size: number): void {
    if (Number.isSafeInteger(size) && size >= 0) this.expected.set(digest, size);
  }

  /** An expected blob that will not be downloaded after all (served from the cache). */
  skip(digest: string): void {
    this.expected.delete(digest);
  }

  track(digest: string, source: Readable, options: { label?: string; size?: number | null } = {}): Readable {
    if (this.started === 0) this.started = Date.now();
    if (options.label) this.label = options.label;
    if (!this.expected.has(digest) && typeof options.size === 'number') this.expect(digest, options.size);
    this.active++;
    this.startTicker();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.active--;
      this.finished++;
      this.log?.(this.line('downloaded'));
      if (this.active === 0 && this.waits.size === 0) this.idle();
      else this.draw(true);
    };
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) => {
        this.bytes += chunk.length;
        this.draw(false);
        callback(null, chunk);
      },
      flush: (callback: TransformCallback) => {
        finish();
        callback();
      },
    });
    source.on('error', (error) => {
      counter.destroy(error);
    });
    counter.on('close', () => {
      if (done) return;
      // A download that failed or was abandoned is not done, but no longer under way either.
      done = true;
      this.active--;
      if (this.active === 0 && this.waits.size === 0) this.idle();
    });
    return source.pipe(counter);
  }

  /**
   * A small read (a manifest, a config) begins: if it is still waiting after half a second, the line says what for.
   * Returns the function that ends it.
   */
  waiting(label: string, what: string): () => void {
    const id = this.nextWait++;
    this.waits.set(id, { label, what, since: Date.now() });
    this.startTicker();
    return () => {
      this.waits.delete(id);
      if (this.active === 0 && this.waits.size === 0) this.idle();
    };
  }

  private startTicker(): void {
    if (this.ticker || this.log) return;
    this.ticker = setInterval(() => this.draw(true), TICK_MS);
    this.ticker.unref();
  }

  /** The line for the current state; `verb`: what the downloads are doing. */
  private line(verb: string): string {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - (this.started || now)) / 1000);
    const total = [...this.expected.values()].reduce((sum, size) => sum + size, 0);
    const count = this.expected.size;
    const label = this.label ? ` ${this.label}` : '';
    const rate = this.started ? `, ${humanSize(Math.round(this.bytes / seconds))}/s` : '';
    if (count > 0 && total > 0) {
      const share = Math.min(this.bytes, total) / total;
      // A whole percent, never 100 before every blob is in.
      const percent = this.finished >= count ? 1 : Math.min(0.99, Math.floor(share * 100) / 100);
      return `${verb}${label}: ${Math.min(this.finished, count)} of ${count} layer(s), ${humanSize(this.bytes)} of ${humanSize(total)} (${percentText(percent, 0)})${verb === 'downloaded' ? '' : rate}`;
    }
    return `${verb}${label}: ${this.finished} blob(s) done, ${this.active} in progress, ${humanSize(this.bytes)}${rate}`;
  }

  private draw(force: boolean): void {
    if (this.log) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    let line: string;
    if (this.active > 0) line = this.line('downloading');
    else {
      // Only waiting: say for what, once the wait is long enough to notice.
      const oldest = [...this.waits.values()].sort((x, y) => x.since - y.since)[0];
      if (!oldest || now - oldest.since < WAIT_BEFORE_DRAW_MS) return;
      line = `reading ${oldest.label}: ${oldest.what}, waiting for the registry (${Math.floor((now - oldest.since) / 1000)} s)`;
    }
    this.lastDraw = now;
    this.stream.write(`\r${line.slice(0, (this.stream.columns || 100) - 1)}\x1b[K`);
    this.drawn = true;
  }

  /**
   * An engine's export as it streams: bytes so far against the engine's own `Size` (an estimate: the export
   * adds tar headers, and Podman counts differently), so the percentage is capped below 100 until the end.
   */
  exporting(label: string, bytes: number, expected: number | null): void {
    if (this.log) return;
    const now = Date.now();
    if (this.started === 0) this.started = now;
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const share = expected && expected > 0 ? ` of ~${humanSize(expected)} (${percentText(Math.min(99, Math.floor((bytes / expected) * 100)) / 100, 0)})` : '';
    const line = `reading ${label}: ${humanSize(bytes)}${share} at ${humanSize(Math.round(bytes / seconds))}/s`;
    this.stream.write(`\r${line.slice(0, (this.stream.columns || 100) - 1)}\x1b[K`);
    this.drawn = true;
  }

  /** Items done of a total (`repo`: tags read of tags listed); redrawn at most every 100 ms, and at the end. */
  counting(label: string, what: string, done: number, total: number): void {
    const now = Date.now();
    if (this.log) {
      if (done === total) this.log(`read ${label}: ${done} of ${total} ${what}`);
      return;
    }
    if (now - this.lastDraw < 100 && done !== total) return;
    this.lastDraw = now;
    const line = `reading ${label}: ${done} of ${total} ${what} (${percentText(total ? done / total : 1, 0)})`;
    this.stream.write(`\r${line.slice(0, (this.stream.columns || 100) - 1)}\x1b[K`);
    this.drawn = true;
  }

  /** Nothing under way: stop redrawing and clear the line. */
  private idle(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  done(): void {
    this.waits.clear();
    this.idle();
  }
}
