/**
 * What a layer stored uncompressed (docker save, engines, `.tar` layers of a layout) would cost to pull once a
 * registry holds it gzipped: `gzip -6` (Docker's push level) of a spread-out sample of the tar stream.
 *
 * Why a sample predicts the whole: deflate only looks 32 KiB back, so the compressed size of a stretch of the
 * stream depends on that stretch and the 32 KiB before it, nothing else. The stream is cut into 16 KiB blocks;
 * sampled blocks (a regular grid: systematic sampling) are compressed at level 6 with the 32 KiB that precede
 * them as the preset dictionary, so each compresses as it would inside the whole stream. (A shorter history is
 * not a saving worth having: at 16 KiB, the copyright files of a Debian image, the same licence texts 20 KiB
 * apart, compress 6 % worse.)
 *
 * Compressibility changes file by file (ELF binaries, text, already-compressed .deb and .gz, zeros), so a few
 * hundred samples alone can miss by several percent. A cheap measure, the order-0 entropy of one byte in 64,
 * tracks deflate's ratio (R² 0.6–0.8 on the benchmark images); a line fitted through the samples (ratio against
 * entropy) predicts the stream, and the samples' own residuals correct the prediction (a regression estimator:
 * unbiased whatever the fit, and far tighter when the fit is good: on the benchmark images it halves the worst
 * error of the plain ratio at the same cost). The measure is taken on one block in four and on every sample
 * (double sampling): reading one byte per cache line of every block cost a tenth of a gigabyte layer's scan,
 * and a quarter of the blocks predict the stream's mix of entropies as well as all of them.
 *
 * A layer under a megabyte has too few blocks for a line of its own at a cost in proportion to its scan: one block
 * in eight is sampled, and the image's short layers are estimated together (pooledEstimates: one line through all
 * their samples, each layer's own residuals weighed by how many it has). An image of a hundred such layers then
 * costs a tenth of a gzip of each, and comes within 1 % of gzip (each layer within about 10 %).
 *
 * The grid is set from the expected length when it is known (every source knows an uncompressed blob's length);
 * otherwise it starts dense and doubles its stride whenever the samples kept pass the budget, dropping the
 * samples off the new grid. Samples are compressed on zlib's thread pool, beside the hashing and tar parsing
 * of the main thread, a few at a time; memory is a few samples and a histogram, whatever the layer's size.
 */
import { deflateRaw, type ZlibOptions } from 'node:zlib';
import type { GzipSampleStats } from '../model/layer.js';

/** zlib's output buffer for a sample: one that holds the whole output spares zlib regrowing it (a seventh of a sample's cost). */
const OUTPUT_CHUNK = 64 << 10;
/** Deflate's window: what a sample needs before it to compress as it would in the stream. */
const WINDOW = 32 << 10;
/** A block, the unit of sampling. */
export const BLOCK_BYTES = 16 << 10;
/** Bytes of a block that enter its entropy: one in STEP (256 of 16 KiB: enough to rank blocks, and cheap). */
const STEP = 64;
/** Gzip's header (10 bytes) and trailer (CRC-32 and length, 8 bytes). */
export const GZIP_FRAMING = 18;
/** Samples in flight at once (48 KiB each): enough that the pool never waits for the stream, or it for the pool. */
const MAX_PENDING = 8;
/** Entropy classes (bits per byte, 0…8): blocks are predicted by class, so memory does not grow with the layer. */
const CLASSES = 128;

export interface SampleBudget {
  /** The fraction of the stream sampled... */
  fraction: number;
  /** ...but never fewer samples than this... */
  minSamples: number;
  /** ...unless that is more than this fraction of the stream's blocks. */
  maxShortFraction: number;
  /**
   * A stream of fewer blocks is short: one block in `shortStride` is sampled, and its estimate is pooled with the
   * image's other short layers (pooledEstimates), since two or three samples cannot fit a line of their own.
   */
  shortBlocks: number;
  shortStride: number;
  /** A stream of at most this many blocks is compressed whole. */
  wholeBlocks: number;
}

/**
 * 1/256 of the stream, at least 40 samples, at most a third of the blocks; a layer under a megabyte one block in
 * eight, pooled; a layer of four blocks or fewer whole. Each sample costs deflate's work on 48 KiB (its 16 KiB and
 * the 32 KiB of history, about a millisecond of CPU) on zlib's thread pool beside the scan, and on two cores that
 * work is not free: the budget is set by it. The floor of 40 keeps a layer of a few megabytes within about 10 %
 * of gzip (64 cost the realistic image a third more and gained nothing measurable); the short-layer rule keeps an
 * image of a hundred small layers from costing a gzip of each.
 */
export const DEFAULT_BUDGET: SampleBudget = { fraction: 1 / 256, minSamples: 40, maxShortFraction: 1 / 3, shortBlocks: 64, shortStride: 8, wholeBlocks: 4 };

/** The entropy measure is taken on one block in this many of a long stream (and on every sample). */
const MEASURE_EVERY = 4;

/** How many of a long stream's `blocks` the budget samples. */
function sampleCount(blocks: number, budget: SampleBudget = DEFAULT_BUDGET): number {
  const floor = Math.min(budget.minSamples, Math.max(1, Math.ceil(blocks * budget.maxShortFraction)));
  return Math.min(blocks, Math.max(floor, Math.ceil(blocks * budget.fraction)));
}

const LOG2 = (() => {
  const table = new Float64Array(BLOCK_BYTES / STEP + 1);
  for (let i = 1; i < table.length; i++) table[i] = Math.log2(i);
  return table;
})();

function entropyClass(counts: Uint16Array, seen: number): number {
  if (seen === 0) return 0;
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    const count = counts[i]!;
    if (count) bits -= count * (LOG2[count]! - LOG2[seen]!);
  }
  return Math.min(CLASSES - 1, Math.floor((bits / seen / 8) * CLASSES));
}

/**
 * Deflate of one sample on zlib's thread pool, beside the hashing and tar parsing of the main thread. (A worker
 * thread of our own, with zlib's synchronous call, was measured against it: its isolate added 40 MB of memory and
 * 50 ms of start-up, and on two cores the wall time and the CPU time came out the same.)
 */
function deflatedSize(bytes: Buffer, dictionaryLength: number): Promise<number> {
  const options: ZlibOptions = { level: 6, chunkSize: OUTPUT_CHUNK };
  if (dictionaryLength > 0) options.dictionary = bytes.subarray(0, dictionaryLength);
  return new Promise((resolve, reject) => {
    deflateRaw(bytes.subarray(dictionaryLength), options, (error, output) => (error ? reject(error) : resolve(output.length)));
  });
}

/** Blocks compressed as one deflate when every block is sampled. */
const RUN_BLOCKS = 64;

interface Collecting {
  parts: Buffer[];
  /** Blocks completed in this sample (more than one only when every block is sampled). */
  blocks: number;
  dictionary: Buffer;
}

interface Sample {
  block: number;
  entropy: number;
  input: number;
  output: number;
}

export class GzipEstimator {
  /** Every `stride`-th block (from `offset`) is a sample. */
  private stride: number;
  private readonly offset: number;
  /** The entropy measure is taken on one block in this many (and on every sample). */
  private readonly measureEvery: number;
  /** A short layer: its samples are pooled with the image's other short layers (pooledEstimates). */
  private readonly pooled: boolean;
  /** Cap on kept samples when the length is not known in advance: past it, the stride doubles. */
  private readonly maxSamples: number;
  private position = 0;
  private block = 0;
  private blockBytes = 0;
  private readonly counts = new Uint16Array(256);
  private seen = 0;
  /** Bytes of the measured blocks in each entropy class, and in all. */
  private readonly classBytes = new Float64Array(CLASSES);
  private measuredBytes = 0;
  /** The last WINDOW bytes seen before the current chunk, for the dictionary of a sample. */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** The sample being collected. */
  private collecting: Collecting | null = null;
  private readonly done: Sample[] = [];
  private readonly pending = new Set<Promise<void>>();
  private failure: Error | null = null;

  /**
   * `phase` (0 ≤ phase < 1) moves the grid within its stride: the benchmark's simulator (bench/estimate-sim.mjs)
   * replays a stream at many phases to see the spread of the estimate; null is the fixed grid every run uses.
   */
  constructor(expectedLength: number | null, budget: SampleBudget = DEFAULT_BUDGET, phase: number | null = null) {
    this.measureEvery = MEASURE_EVERY;
    this.pooled = false;
    if (expectedLength !== null && expectedLength >= 0) {
      const blocks = Math.ceil(expectedLength / BLOCK_BYTES);
      this.maxSamples = Number.POSITIVE_INFINITY;
      if (blocks <= budget.wholeBlocks) {
        this.stride = 1;
        this.offset = 0;
      } else if (blocks < budget.shortBlocks) {
        this.stride = budget.shortStride;
        // Where in its stride a short layer is sampled comes from its length: fixed for a blob (its estimate does
        // not change from run to run), different from layer to layer (the pool is not always the same position of
        // every layer), and within the layer, so that every short layer has a sample.
        const shift = phase === null ? 0 : Math.floor(phase * this.stride);
        this.offset = ((Math.imul(Math.floor(expectedLength / 512) + 1, 0x9e3779b1) >>> 0) + shift) % Math.min(this.stride, blocks);
        this.measureEvery = 1; // a few blocks: measure them all
        this.pooled = true;
      } else {
        const samples = sampleCount(blocks, budget);
        this.stride = Math.max(1, Math.floor(blocks / Math.max(1, samples)));
        // The middle of each stride, not its start: a stride-aligned file would otherwise always show its header.
        this.offset = phase === null ? Math.floor((this.stride - 1) / 2) : Math.floor(phase * this.stride);
      }
    } else {
      this.stride = 1;
      this.offset = 0; // on a grid from 0, doubling the stride keeps every other sample
      this.maxSamples = 2 * budget.minSamples;
    }
  }

  private isSample(block: number): boolean {
    return block % this.stride === this.offset;
  }

  /**
   * Feed the next bytes of the stream, in order. Returns a promise when several samples are still compressing:
   * the caller waits for it before the next chunk, which bounds the memory held.
   */
  update(chunk: Buffer): Promise<void> | null {
    let at = 0;
    while (at < chunk.length) {
      if (this.blockBytes === 0 && !this.collecting && this.isSample(this.block)) this.startSample(chunk.subarray(0, at));
      const take = Math.min(chunk.length - at, BLOCK_BYTES - this.blockBytes);
      const end = at + take;
      if (this.collecting || this.block % this.measureEvery === 0) {
        // One byte in STEP, counted from the block's start, so the measure does not depend on chunk boundaries.
        const counts = this.counts;
        let i = at + ((STEP - (this.blockBytes % STEP)) % STEP);
        for (; i < end; i += STEP) counts[chunk[i]!]!++;
        this.seen += Math.ceil((this.blockBytes + take) / STEP) - Math.ceil(this.blockBytes / STEP);
      }
      this.collecting?.parts.push(chunk.subarray(at, end));
      this.blockBytes += take;
      this.position += take;
      at = end;
      if (this.blockBytes === BLOCK_BYTES) this.endBlock();
    }
    this.remember(chunk);
    return this.pending.size >= MAX_PENDING ? Promise.race(this.pending) : null;
  }

  /** `before`: the part of the current chunk that precedes the sample (the rest of the window is in `tail`). */
  private startSample(before: Buffer): void {
    // Copy only the window itself: `before` can be most of a megabyte chunk.
    const parts = before.length >= WINDOW ? [before.subarray(before.length - WINDOW)] : [...this.tail, before];
    let bytes = parts.reduce((total, part) => total + part.length, 0);
    while (bytes - parts[0]!.length >= WINDOW) bytes -= parts.shift()!.length;
    const dictionary = Buffer.concat(parts);
    this.collecting = { parts: [], blocks: 0, dictionary: dictionary.length > WINDOW ? dictionary.subarray(dictionary.length - WINDOW) : dictionary };
  }

  private remember(chunk: Buffer): void {
    if (chunk.length >= WINDOW) {
      this.tail = [chunk.subarray(chunk.length - WINDOW)];
      this.tailBytes = WINDOW;
      return;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tailBytes - this.tail[0]!.length >= WINDOW) this.tailBytes -= this.tail.shift()!.length;
  }

  private endBlock(): void {
    const entropy = entropyClass(this.counts, this.seen);
    if (this.block % this.measureEvery === 0) {
      this.classBytes[entropy] += this.blockBytes;
      this.measuredBytes += this.blockBytes;
    }
    if (this.collecting) {
      // Every block sampled (a short stream of known length): consecutive blocks are one deflate, up to a
      // megabyte, which spares the dictionary each would otherwise load: a third of the work.
      const run = this.collecting.blocks + 1;
      if (this.stride === 1 && this.maxSamples === Number.POSITIVE_INFINITY && run < RUN_BLOCKS) this.collecting.blocks = run;
      else {
        this.compress(this.block - this.collecting.blocks, entropy, this.collecting);
        this.collecting = null;
      }
    }
    this.counts.fill(0);
    this.seen = 0;
    this.blockBytes = 0;
    this.block++;
  }

  private compress(block: number, entropy: number, { parts, dictionary }: Collecting): void {
    // One buffer, dictionary first: the stream's chunks are released as it moves on.
    const length = parts.reduce((total, part) => total + part.length, 0);
    const bytes = Buffer.allocUnsafe(dictionary.length + length);
    dictionary.copy(bytes, 0);
    let at = dictionary.length;
    for (const part of parts) at += part.copy(bytes, at);
    const job = deflatedSize(bytes, dictionary.length).then(
      (output) => this.record({ block, entropy, input: length, output }),
      (error: Error) => void (this.failure ??= error),
    );
    this.pending.add(job);
    void job.then(() => this.pending.delete(job));
  }

  private record(sample: Sample): void {
    // A sample compressed after the stride doubled may no longer be on the grid: dropped as the others were.
    if (!this.isSample(sample.block)) return;
    this.done.push(sample);
    if (this.done.length <= this.maxSamples) return;
    this.stride *= 2;
    const kept = this.done.filter((kept) => this.isSample(kept.block));
    this.done.length = 0;
    this.done.push(...kept);
  }

  /** The samples kept and the bytes they deflated (without their histories): what the budget cost. */
  get cost(): { samples: number; bytes: number } {
    return { samples: this.done.length, bytes: this.done.reduce((total, sample) => total + sample.input, 0) };
  }

  /**
   * The estimated size of `gzip -6` of everything fed, from this stream's samples alone; for a short layer also
   * its samples, which pooledEstimates() weighs with the image's other short layers.
   */
  async result(): Promise<{ size: number; pool: GzipSampleStats | null }> {
    if (this.blockBytes > 0) this.endBlock();
    if (this.collecting) this.compress(this.block - this.collecting.blocks, 0, this.collecting);
    this.collecting = null;
    while (this.pending.size > 0) await Promise.all(this.pending);
    if (this.failure) throw this.failure;
    const stats: GzipSampleStats = {
      length: this.position,
      measuredBytes: this.measuredBytes,
      classes: [...this.classBytes.entries()].filter(([, bytes]) => bytes > 0),
      samples: this.done.map(({ entropy, input, output }) => [entropy, input, output]),
    };
    return { size: finish(regressionEstimate(stats, fitLine(stats.samples), 1)), pool: this.pooled ? stats : null };
  }
}

/** Gzip's framing around a deflate stream's estimated size (at least an empty deflate stream, 2 bytes). */
function finish(deflated: number): number {
  return GZIP_FRAMING + Math.max(2, Math.round(deflated));
}

/**
 * Least squares of deflate's ratio on the entropy class, weighted by sample length (the last block may be short):
 * the predicted ratio of a block of each class. A ratio outside 0…1 (plus stored blocks' few bytes of framing) is
 * no prediction of deflate.
 */
function fitLine(samples: GzipSampleStats['samples']): (entropy: number) => number {
  let sw = 0, sx = 0, sy = 0;
  for (const [entropy, w, output] of samples) {
    sw += w;
    sx += w * entropy;
    sy += output;
  }
  if (sw === 0) return () => 1;
  const mx = sx / sw;
  const my = sy / sw;
  let sxy = 0, sxx = 0;
  for (const [entropy, w, output] of samples) {
    sxy += (entropy - mx) * (output - w * my);
    sxx += w * (entropy - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return (entropy) => Math.min(1.001, Math.max(0, my + slope * (entropy - mx)));
}

/**
 * Σ over the measured blocks of the predicted ratio × bytes, scaled to the whole length, plus the samples' mean
 * residual × the length (× `shrink`): the regression estimator of survey sampling, in its double-sampling form.
 * With its own line (shrink 1) it is unbiased whatever the fit; with every block sampled it is exactly Σ of the
 * samples' outputs.
 */
function regressionEstimate(stats: GzipSampleStats, predict: (entropy: number) => number, shrink: number): number {
  let input = 0;
  let output = 0;
  for (const [, w, out] of stats.samples) {
    input += w;
    output += out;
  }
  if (stats.length === 0) return 0;
  if (input === stats.length) return output; // every byte was compressed: nothing to estimate
  let predicted = 0;
  for (const [entropy, bytes] of stats.classes) predicted += predict(entropy) * bytes;
  if (stats.measuredBytes > 0) predicted *= stats.length / stats.measuredBytes;
  if (input === 0) return predicted;
  let residual = 0;
  for (const [entropy, w, out] of stats.samples) residual += out - predict(entropy) * w;
  return predicted + (shrink * residual * stats.length) / input;
}

/**
 * The estimates of an image's short layers, from their samples pooled: one line fitted through every short
 * layer's samples predicts each layer from its own mix of entropies, and each layer's own residuals correct that
 * in proportion to how many it has (n / (n + 2): a small-area estimator, between the pooled line and the layer's
 * own few samples). On the benchmark's hundred 150 KB layers this keeps the image within 3 % of gzip at one block
 * in eight, where each layer alone would need most of its blocks.
 */
export function pooledEstimates(layers: GzipSampleStats[]): number[] {
  const predict = fitLine(layers.flatMap((layer) => layer.samples));
  return layers.map((layer) => finish(regressionEstimate(layer, predict, layer.samples.length / (layer.samples.length + 2))));
}
