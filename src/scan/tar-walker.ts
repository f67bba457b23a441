/**
 * A streaming tar walker: it is fed the uncompressed layer in whatever chunks arrive and walks the 512-byte
 * headers in place, with Go's archive/tar rules (src/image/tar.ts). No stream or buffer per entry: header-only
 * entries cost one header parse, and file data is handed to the visitor as sub-arrays of the chunk it came in.
 * It stops at the end-of-archive marker (two zero blocks) and ignores what follows, as Go does; eStargz layers keep
 * their table of contents there.
 */
import {
  BLOCK,
  TarFormatError,
  TarHeaderAssembler,
  blockPadding,
  isZeroBlock,
  sparseDataBytes,
  type TarEntryHeader,
} from '../image/tar.js';

export interface TarVisitor {
  /** An entry as Go's Reader.Next returns it; return true to be handed its data. */
  entry(header: TarEntryHeader): boolean;
  /** A piece of the wanted entry's data; `whole` when this one piece is all of it. */
  data(chunk: Uint8Array, whole: boolean): void;
  /** The wanted entry's data is complete. */
  entryEnd(): void;
}

type State = 'header' | 'zero' | 'meta' | 'sparseExtension' | 'sparseMap' | 'data' | 'padding' | 'end';

export class TarWalker {
  private state: State = 'header';
  private readonly block = Buffer.alloc(BLOCK);
  private blockFill = 0;
  /** Bytes of the current entry's (or meta header's) data still to come, and the padding after them. */
  private remaining = 0;
  private padding = 0;
  /** Offset in the stream of the next byte, and of the current header (for messages). */
  private position = 0;
  private headerAt = 0;
  private readonly assembler = new TarHeaderAssembler();
  private metaType = 0;
  private metaParts: Buffer[] = [];
  private current: TarEntryHeader | null = null;
  private wanted = false;
  private firstPiece = true;

  constructor(private readonly visitor: TarVisitor) {}

  /** True once the end-of-archive marker was read. */
  get ended(): boolean {
    return this.state === 'end';
  }

  feed(chunk: Uint8Array): void {
    let at = 0;
    const length = chunk.length;
    while (at < length) {
      switch (this.state) {
        case 'end':
          this.position += length - at;
          return;
        case 'data': {
          const step = Math.min(this.remaining, length - at);
          if (this.wanted) {
            const whole = this.firstPiece && step === this.remaining;
            this.firstPiece = false;
            this.visitor.data(chunk.subarray(at, at + step), whole);
          }
          this.remaining -= step;
          at += step;
          this.position += step;
          if (this.remaining === 0) this.finishEntry();
          break;
        }
        case 'meta': {
          const step = Math.min(this.remaining, length - at);
          this.metaParts.push(Buffer.from(chunk.subarray(at, at + step)));
          this.remaining -= step;
          at += step;
          this.position += step;
          if (this.remaining === 0) {
            this.assembler.meta(this.metaType, Buffer.concat(this.metaParts), this.where());
            this.metaParts = [];
            this.state = this.padding > 0 ? 'padding' : 'header';
          }
          break;
        }
        case 'padding': {
          const step = Math.min(this.padding, length - at);
          this.padding -= step;
          at += step;
          this.position += step;
          if (this.padding === 0) this.state = 'header';
          break;
        }
        default: {
          // header, zero, sparseExtension, sparseMap: each takes one whole block
          let block: Uint8Array;
          let blockAt: number;
          if (this.blockFill === 0 && length - at >= BLOCK) {
            block = chunk.subarray(at, at + BLOCK);
            blockAt = this.position;
            at += BLOCK;
            this.position += BLOCK;
          } else {
            const step = Math.min(BLOCK - this.blockFill, length - at);
            this.block.set(chunk.subarray(at, at + step), this.blockFill);
            this.blockFill += step;
            at += step;
            this.position += step;
            if (this.blockFill < BLOCK) break;
            block = this.block;
            blockAt = this.position - BLOCK;
            this.blockFill = 0;
          }
          this.onBlock(block, blockAt);
        }
      }
    }
  }

  /** The stream ended: throws when Go's reader would have failed (a header, data or sparse map cut short). */
  end(): void {
    switch (this.state) {
      case 'end':
      case 'padding': // Go reads a short padding as the end of the archive
        return;
      case 'header':
      case 'zero':
        if (this.blockFill === 0) return;
        throw new TarFormatError(`tar stream ends inside a header at byte ${this.position - this.blockFill}`, true);
      default:
        throw new TarFormatError(`tar stream ends inside the entry at byte ${this.headerAt} (${this.remaining} more bytes expected)`, true);
    }
  }

  private where(): string {
    return `at byte ${this.headerAt}`;
  }

  private onBlock(block: Uint8Array, blockAt: number): void {
    switch (this.state) {
      case 'zero':
        if (isZeroBlock(block)) {
          this.state = 'end';
          return;
        }
        throw new TarFormatError(`invalid tar stream: a zero block followed by data at byte ${blockAt}`);
      case 'sparseExtension': {
        if (this.assembler.sparseExtension(this.current!, block, this.where())) return;
        this.startData();
        return;
      }
      case 'sparseMap': {
        this.remaining -= BLOCK;
        if (this.assembler.sparseMapBlock(this.current!, block, this.where())) this.startData();
        else if (this.remaining < BLOCK) throw new TarFormatError(`sparse map of the entry at byte ${this.headerAt} runs past its data`);
        return;
      }
      default:
        break;
    }
    // A header block.
    if (isZeroBlock(block)) {
      this.state = 'zero';
      return;
    }
    this.headerAt = blockAt;
    const step = this.assembler.header(block, this.where());
    if (step.kind === 'meta') {
      this.metaType = step.typeflag;
      this.remaining = step.size;
      this.padding = blockPadding(step.size);
      if (step.size === 0) {
        this.assembler.meta(step.typeflag, Buffer.alloc(0), this.where());
        this.state = 'header';
      } else this.state = 'meta';
      return;
    }
    const entry = step.entry;
    this.current = entry;
    this.remaining = entry.dataSize;
    this.padding = blockPadding(entry.dataSize);
    if (entry.sparseExtended) this.state = 'sparseExtension';
    else if (entry.sparseMapInData) {
      if (this.remaining < BLOCK) throw new TarFormatError(`sparse map of the entry at byte ${this.headerAt} runs past its data`, true);
      this.state = 'sparseMap';
    } else this.startData();
  }

  private startData(): void {
    const entry = this.current!;
    if (entry.sparse && sparseDataBytes(entry.sparse) !== this.remaining) {
      // Go's sparse reader fails when the data holds fewer (errMissData) or more (errUnrefData) bytes than the map.
      throw new TarFormatError(`sparse file at byte ${this.headerAt} has ${this.remaining} bytes of data, its map names ${sparseDataBytes(entry.sparse)}`);
    }
    this.wanted = this.visitor.entry(entry);
    this.firstPiece = true;
    if (this.remaining > 0) this.state = 'data';
    else this.finishEntry();
  }

  private finishEntry(): void {
    if (this.wanted) this.visitor.entryEnd();
    this.wanted = false;
    this.current = null;
    this.state = this.padding > 0 ? 'padding' : 'header';
  }
}
