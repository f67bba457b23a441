/**
 * Memory is bounded by entry metadata, never by blob size: a generated image with a 1 GiB layer, streamed into
 * `layers -` (never stored by the test), must stay under 300 MB peak RSS. Memory, unlike time, is a fair
 * assertion. GNU time reports the peak.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/cli.js';
import { layerTarSize, streamBigDockerArchive } from './helpers/generate.js';

const GIB = 1024 * 1024 * 1024;

test('a 1 GiB layer streamed through `layers -` stays under 300 MB of memory', async () => {
  expect(existsSync('/usr/bin/time')).toBe(true);
  const options = { files: 4, fileSize: GIB / 4 };
  const child = spawn('/usr/bin/time', ['-f', 'maxrss_kb=%M', process.execPath, path.join(ROOT, 'bin', 'layerlens.js'), 'layers', '-', '--json'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  await streamBigDockerArchive(child.stdin, options);
  child.stdin.end();
  const code = await exited;
  expect(stderr).toMatch(/maxrss_kb=\d+/);
  expect(code).toBe(0);
  const report = JSON.parse(Buffer.concat(stdout).toString('utf8'));
  expect(report.layers[0].uncompressedSize).toBe(layerTarSize(options));
  expect(report.layers[0].files).toBe(4);
  expect(report.verify.ok).toBe(true);
  const peakMb = (Number(/maxrss_kb=(\d+)/.exec(stderr)![1]) * 1024) / 1e6;
  process.stderr.write(`peak RSS for a 1 GiB layer: ${peakMb.toFixed(1)} MB\n`);
  expect(peakMb).toBeLessThan(300);
}, 300_000);
