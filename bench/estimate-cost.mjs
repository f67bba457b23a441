#!/usr/bin/env node
// What the gzip estimate of stored-uncompressed layers costs, and how close it comes (issue 15): `layers --json`
// of each benchmark image's docker save, with the estimate and without it (LAYERLENS_GZIP_ESTIMATE=off), runs
// interleaved so that the machine's drift hits both alike; the estimate against real `gzip -6` of each layer.
//
//   node bench/estimate-cost.mjs [--images realistic,manylayers] [--runs 5] [--command layers|analyze] [--before DIR]
//
// --before DIR also times DIR/bin/layerlens.js (another build, with its estimate) in the same rounds.
// Real gzip sizes are cached in bench/images/NAME.gzip6.json (biglayer's gigabyte takes GNU gzip half a minute).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchDir as here, dockerSave, option, realGzip, repo } from './lib/estimate-images.mjs';

const images = option('--images', 'realistic,smallfiles,biglayer,manylayers').split(',');
const runs = Number(option('--runs', '5'));
const before = option('--before', null);
const command = option('--command', 'layers');

function timed(cli, archive, env) {
  const result = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, cli, command, archive, '--json'], { env: { ...process.env, ...env }, maxBuffer: 1 << 30, encoding: 'utf8' });
  if (result.status !== 0 && !(command === 'analyze' && result.status === 1)) throw new Error(`${cli} ${command} ${archive}: exit ${result.status}\n${result.stderr}`);
  const [wall, user, system, rss] = result.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: user + system, rssMiB: Math.round(rss / 1024), report: JSON.parse(result.stdout) };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const min = (values) => Math.min(...values);
const variants = { off: { cli: path.join(repo, 'bin', 'layerlens.js'), env: { LAYERLENS_GZIP_ESTIMATE: 'off' } }, on: { cli: path.join(repo, 'bin', 'layerlens.js'), env: {} } };
if (before) variants.before = { cli: path.join(path.resolve(before), 'bin', 'layerlens.js'), env: {} };

const results = {};
for (const name of images) {
  const { archive } = dockerSave(name);
  const gzip = realGzip(name);
  const samples = Object.fromEntries(Object.keys(variants).map((key) => [key, []]));
  let report = null;
  for (let run = 0; run < runs; run++) {
    for (const [key, { cli, env }] of Object.entries(variants)) {
      const { report: made, ...measure } = timed(cli, archive, env);
      samples[key].push(measure);
      if (key === 'on') report = made;
    }
  }
  const estimates = report.layers.map((layer) => layer.estimatedCompressedSize);
  const total = gzip.reduce((sum, size) => sum + size, 0);
  const layerErrors = estimates.map((estimate, i) => estimate / gzip[i] - 1);
  const summary = Object.fromEntries(Object.entries(samples).map(([key, list]) => [key, { wallMedian: median(list.map((s) => s.wall)), wallMin: min(list.map((s) => s.wall)), cpuMedian: +median(list.map((s) => s.cpu)).toFixed(2), rssMiB: median(list.map((s) => s.rssMiB)), runs: list }]));
  results[name] = {
    layers: gzip.length,
    gzip6: total,
    estimate: report.totals.estimatedCompressedSize,
    imageError: +((report.totals.estimatedCompressedSize / total - 1) * 100).toFixed(2),
    worstLayerError: +(Math.max(...layerErrors.map(Math.abs)) * 100).toFixed(1),
    costWallMedian: +((summary.on.wallMedian / summary.off.wallMedian - 1) * 100).toFixed(1),
    costWallMin: +((summary.on.wallMin / summary.off.wallMin - 1) * 100).toFixed(1),
    ...summary,
  };
  const r = results[name];
  console.log(
    `${name.padEnd(11)} wall off ${summary.off.wallMedian.toFixed(2)} s, on ${summary.on.wallMedian.toFixed(2)} s (${r.costWallMedian >= 0 ? '+' : ''}${r.costWallMedian} %, min-to-min ${r.costWallMin >= 0 ? '+' : ''}${r.costWallMin} %)` +
      `${before ? `, before ${summary.before.wallMedian.toFixed(2)} s` : ''}; cpu ${summary.off.cpuMedian}→${summary.on.cpuMedian} s; rss ${summary.off.rssMiB}→${summary.on.rssMiB} MiB` +
      `; estimate ${r.imageError >= 0 ? '+' : ''}${r.imageError} % of gzip -6 (worst layer ${r.worstLayerError} %)`,
  );
}
const out = path.join(here, 'results', `${new Date().toISOString().slice(0, 10)}-estimate-cost-${command}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ host: os.hostname(), cpus: os.availableParallelism(), node: process.version, command, runs, results }, null, 2)}\n`);
console.log(`written ${path.relative(process.cwd(), out)}`);
