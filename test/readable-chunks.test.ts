/**
 * readableChunks (src/fetch/readable-chunks.ts) hands over a stream's chunks as they came, with backpressure, on
 * real streams: a TCP connection on loopback (what an engine's socket is) and a child's stdout pipe (ctr, stdin).
 * Node's own iterator would join buffered chunks into copies; this one must never join, never lose a byte, stop
 * the writer when the consumer is behind, and say when the stream was cut.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { PrematureCloseError, isReadable, readableChunks } from '../src/fetch/readable-chunks.js';

async function loopback(serve: (socket: net.Socket) => void): Promise<{ client: net.Socket; close: () => void }> {
  const server = net.createServer(serve);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  return { client, close: () => server.close() };
}

test('every byte of a 64 MiB socket stream arrives, in order, in the chunks the socket gave; a lagging consumer stops the writer', async () => {
  const total = 64 << 20;
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + (i >> 11)) & 0xff;
  const sent = createHash('sha256');
  let written = 0;
  const { client, close } = await loopback((socket) => {
    void (async () => {
      for (let at = 0; at < total; at += block.length) {
        block[0] = at >> 20; // each megabyte differs, so a reordering would change the hash
        sent.update(block);
        written += block.length;
        if (!socket.write(Buffer.from(block))) await once(socket, 'drain');
      }
      socket.end();
    })();
  });
  let paused = 0;
  client.on('pause', () => paused++);
  const received = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  let largest = 0;
  let aheadAfterNap = 0;
  for await (const chunk of readableChunks(client)) {
    received.update(chunk);
    bytes += chunk.length;
    chunks++;
    largest = Math.max(largest, chunk.length);
    if (chunks === 4) {
      // A consumer asleep for 300 ms: without backpressure loopback would deliver all 64 MiB meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 300));
      aheadAfterNap = written - bytes;
    }
  }
  close();
  expect(bytes).toBe(total);
  expect(received.digest('hex')).toBe(sent.digest('hex'));
  // Node's iterator would have joined the socket's reads into copies of up to everything buffered.
  expect(largest).toBeLessThanOrEqual(64 << 10); // one read of libuv's 64 KiB buffer
  expect(chunks).toBeGreaterThan(total / (64 << 10) / 2);
  expect(paused).toBeGreaterThan(0);
  // What the writer got ahead: the queue (1 MiB), the stream's buffer, the kernel's socket buffers, one write.
  expect(aheadAfterNap).toBeLessThan(24 << 20);
});

test('a stream that fails: the chunks that came are handed over, then its error', async () => {
  // (A real engine's body cut short goes through this on a socket: engine-api.test.ts, exit 3 with one line.)
  const stream = new PassThrough();
  const chunks = readableChunks(stream);
  stream.write(Buffer.from('one'));
  stream.write(Buffer.from('two'));
  await new Promise((resolve) => setImmediate(resolve));
  stream.destroy(Object.assign(new Error('the engine closed the connection before the response ended'), { code: 'ECONNRESET' }));
  const seen: string[] = [];
  let failure: unknown = null;
  try {
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      seen.push(next.value.toString());
    }
  } catch (error) {
    failure = error;
  }
  expect(seen).toEqual(['one', 'two']);
  expect((failure as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  // An error after the consumer is gone is not an uncaught exception.
  stream.emit('error', new Error('late'));
});

test('a stream destroyed without an error is a premature close, not an end', async () => {
  const stream = new PassThrough();
  const chunks = readableChunks(stream);
  stream.write(Buffer.from('partial'));
  const first = await chunks.next();
  expect(first.value?.toString()).toBe('partial');
  stream.destroy();
  await expect(chunks.next()).rejects.toBeInstanceOf(PrematureCloseError);
});

test('a child process pipe (as ctr and stdin are) is read whole; stopping early destroys the stream', async () => {
  const child = spawn('head', ['-c', String(5 << 20), '/dev/zero']);
  let bytes = 0;
  for await (const chunk of readableChunks(child.stdout)) bytes += chunk.length;
  expect(bytes).toBe(5 << 20);

  const endless = spawn('cat', ['/dev/zero']);
  let taken = 0;
  for await (const chunk of readableChunks(endless.stdout)) {
    taken += chunk.length;
    if (taken > 1 << 20) break;
  }
  expect(endless.stdout.destroyed).toBe(true);
  endless.kill();
  await once(endless, 'close');
});

test('only streams are taken for streams', () => {
  expect(isReadable(new PassThrough())).toBe(true);
  expect(isReadable((async function* () {})())).toBe(false);
  expect(isReadable(null)).toBe(false);
});
