/**
 * Streaming decompressors: gzip from Node's zlib, zstd from zstd-napi (native libzstd, ~4x the pure-JS fzstd),
 * xz through the system's `xz -dc` (Node has no xz decoder; xz only ever wraps a whole archive, never a layer).
 */
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createRequire } from 'node:module';
import { ImageReadError } from '../errors.js';

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
      return createGunzip({ chunkSize: CHUNK });
    case 'zstd':
      // The native zstd binding is loaded only for zstd data (dlopen costs start-up time every run otherwise).
      return new (createRequire(import.meta.url)('zstd-napi') as typeof import('zstd-napi')).DecompressStream();
    case 'xz':
      return externalDecompressor('xz', ['-dc']);
    case 'bzip2':
      return externalDecompressor('bzip2', ['-dc']);
    case 'none':
      return new PassThrough({ highWaterMark: CHUNK });
  }
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
