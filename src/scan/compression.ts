/**
 * Streaming decompressors: gzip from Node's zlib; zstd from the first decoder this install has (see zstdDecoder);
 * xz through the system's `xz -dc` (Node has no xz decoder; xz only ever wraps a whole archive, never a layer).
 */
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { ImageReadError, UsageError, errorMessage } from '../errors.js';

export type OuterCompression = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none';

export function sniffOuterCompression(head: Uint8Array): OuterCompression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  return 'none';
}

const CHUNK = 1 << 20;

export function createDecompressor(compression: OuterCompression): Transform | Duplex {
  switch (compression) {
    case 'gzip':
      // Large output chunks keep per-chunk overhead (hashing, tar parsing) low.
      return zlib.createGunzip({ chunkSize: CHUNK });
    case 'zstd':
      return zstdDecoder().create();
    case 'xz':
      return externalDecompressor('xz', ['-dc']);
    case 'bzip2':
      return externalDecompressor('bzip2', ['-dc']);
    case 'none':
      return new PassThrough({ highWaterMark: CHUNK });
  }
}

export type ZstdDecoderName = 'node:zlib' | 'zstd-napi' | 'fzstd';

interface ZstdDecoder {
  name: ZstdDecoderName;
  create(): Transform | Duplex;
}

/** Where the one-time note about the slow decoder goes (the CLI sets it; `--quiet` leaves it unset). */
let slowDecoderNote: ((line: string) => void) | undefined;
export function setSlowDecoderNote(note: ((line: string) => void) | undefined): void {
  slowDecoderNote = note;
}

let chosen: ZstdDecoder | null = null;
let noted = false;

/**
 * The zstd decoder of this install, chosen once, on the first zstd data (loading a native binding costs start-up
 * time every run otherwise): Node's own (≥ 22.15, nothing to install), else zstd-napi (native libzstd, an optional
 * dependency: it is absent where its build failed or install scripts did not run), else fzstd (pure JS, always
 * there, a few times slower). LAYERLENS_ZSTD forces one (tests measure and compare them).
 */
export function zstdDecoder(): ZstdDecoder {
  chosen ??= chooseZstdDecoder(process.env.LAYERLENS_ZSTD);
  if (chosen.name === 'fzstd' && !noted) {
    noted = true;
    slowDecoderNote?.(
      "zstd layers are decoded by fzstd, the pure-JavaScript fallback (2-3x slower): zstd-napi's native binding is not installed (its build failed, or install scripts were skipped). " +
        'Reinstall with its install script allowed (npm install -g layerlens --allow-scripts=zstd-napi) or use Node >= 22.15',
    );
  }
  return chosen;
}

function chooseZstdDecoder(forced: string | undefined): ZstdDecoder {
  if (forced !== undefined && forced !== '' && !['node:zlib', 'zstd-napi', 'fzstd'].includes(forced)) {
    throw new UsageError(`LAYERLENS_ZSTD must be node:zlib, zstd-napi or fzstd, not ${JSON.stringify(forced)}`);
  }
  // Node 22.15+ and 23.8+; the Node 20 types do not know it.
  const nodeZstd = (zlib as { createZstdDecompress?: (options?: { chunkSize?: number }) => Transform }).createZstdDecompress;
  if (nodeZstd && (!forced || forced === 'node:zlib')) return { name: 'node:zlib', create: () => nodeZstd({ chunkSize: CHUNK }) };
  if (forced === 'node:zlib') throw new ImageReadError(`LAYERLENS_ZSTD=node:zlib needs Node >= 22.15 (this is ${process.version})`);
  if (!forced || forced === 'zstd-napi') {
    const require = createRequire(import.meta.url);
    try {
      const napi = require('zstd-napi') as typeof import('zstd-napi');
      return { name: 'zstd-napi', create: () => new napi.DecompressStream() };
    } catch (error) {
      // Absent (an optional dependency that failed to build) or present without its binding (--ignore-scripts).
      if (forced) throw new ImageReadError(`LAYERLENS_ZSTD=zstd-napi, but zstd-napi cannot be loaded (${errorMessage(error)})`, { cause: error });
    }
  }
  return { name: 'fzstd', create: fzstdStream };
}

/** zstd's largest expansion per input byte is about 2^15 (a 4-byte RLE block of 128 KiB). */
const FZSTD_SLICE = 1024;

/**
 * fzstd decodes synchronously, handing out one block (≤ 128 KiB) at a time. Input is fed in 1 KiB slices and each
 * block is yielded, so a hostile stream of RLE blocks holds at most ~32 MiB between two reads of the consumer,
 * never an unbounded burst; the async generator waits for the consumer (back-pressure).
 */
function fzstdStream(): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const { Decompress } = await import('fzstd');
    let blocks: Uint8Array[] = [];
    const decoder = new Decompress((block) => {
      if (block.length > 0) blocks.push(block);
    });
    for await (const chunk of source) {
      for (let offset = 0; offset < chunk.length; offset += FZSTD_SLICE) {
        decoder.push(chunk.subarray(offset, offset + FZSTD_SLICE));
        if (blocks.length === 0) continue;
        const ready = blocks;
        blocks = [];
        for (const block of ready) yield Buffer.from(block.buffer, block.byteOffset, block.length);
      }
    }
    decoder.push(new Uint8Array(0), true);
    for (const block of blocks) yield Buffer.from(block.buffer, block.byteOffset, block.length);
  });
}

function externalDecompressor(command: string, args: string[]): Duplex {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (error: NodeJS.ErrnoException) => {
    const message = error.code === 'ENOENT' ? `${command} is needed to read ${command}-compressed archives; install it (apt-get install ${command === 'xz' ? 'xz-utils' : command})` : `${command} failed: ${error.message}`;
    duplex.destroy(new ImageReadError(message));
  });
  child.on('close', (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new ImageReadError(`corrupt ${command} data (${stderr.trim().split('\n')[0] || `${command} exited with ${code}`})`));
  });
  return duplex;
}
