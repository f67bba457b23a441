#!/usr/bin/env node
// How far the gzip estimate of stored-uncompressed layers can stray, and what a sampling budget costs (issue 15):
// the real estimator (dist/scan/gzip-estimate.js, so run `npm run build` first) replays each layer of each
// benchmark image's docker save at many grid phases, for one or more budgets, against real `gzip -6` of each layer.
// One build's fixed grid is one draw of this spread; a budget is safe when its worst phase is.
//
//   node bench/estimate-sim.mjs [--images realistic,manylayers] [--phases 24] [--budgets '{"now":{},"floor28":{"minSamples":28}}']
//
// Budget keys are SampleBudget's (src/scan/gzip-estimate.ts): fraction, minSamples, maxShortFraction, shortBlocks,
// shortStride, wholeBlocks. Cost is shown as samples and the bytes deflated (each sample also loads a 32 KiB history).
// Real gzip sizes come from bench/lib/estimate-images.mjs (cached beside the images).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { dockerSave, option, realGzip, repo } from './lib/estimate-images.mjs';

const images = option('--images', 'realistic,manylayers,smallfiles').split(',');
const phases = Number(option('--phases', '24'));
const budgets = JSON.parse(option('--budgets', '{"now":{}}'));
const estimator = path.join(repo, 'dist', 'scan', 'gzip-estimate.js');
if (!existsSync(estimator)) throw new Error(`${estimator} is missing: run npm run build`);
const { DEFAULT_BUDGET, GzipEstimator, pooledEstimates } = await import(estimator);

/** The image's layers estimated as a scan would: each stream alone, then the short ones pooled. */
async function estimateImage(layers, budget, phase) {
  let samples = 0;
  let deflated = 0;
  const results = [];
  for (const bytes of layers) {
    const estimate = new GzipEstimator(bytes.length, budget, phase);
    for (let at = 0; at < bytes.length; at += 1 << 20) {
      const busy = estimate.update(bytes.subarray(at, at + (1 << 20)));
      if (busy) await busy;
    }
    results.push(await estimate.result());
    samples += estimate.cost.samples;
    deflated += estimate.cost.bytes;
  }
  const pooled = pooledEstimates(results.filter((result) => result.pool).map((result) => result.pool));
  let next = 0;
  return { sizes: results.map((result) => (result.pool ? pooled[next++] : result.size)), samples, deflated };
}

const percent = (value) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)} %`;
for (const name of images) {
  const { archive, layers: members } = dockerSave(name);
  const gzip = realGzip(name);
  const layers = members.map((member) => execFileSync('tar', ['-xOf', archive, member], { maxBuffer: 2 ** 31 }));
  const total = gzip.reduce((sum, size) => sum + size, 0);
  for (const [label, overrides] of Object.entries(budgets)) {
    const budget = { ...DEFAULT_BUDGET, ...overrides };
    const imageErrors = [];
    let worstLayer = 0;
    let cost = null;
    for (let k = 0; k < phases; k++) {
      const { sizes, samples, deflated } = await estimateImage(layers, budget, k / phases);
      cost ??= { samples, deflated };
      imageErrors.push(sizes.reduce((sum, size) => sum + size, 0) / total - 1);
      // Layers of a few hundred bytes (an empty layer, a whiteout) are compressed whole; their error means nothing.
      for (const [i, size] of sizes.entries()) if (gzip[i] > 4096) worstLayer = Math.max(worstLayer, Math.abs(size / gzip[i] - 1));
    }
    const sorted = [...imageErrors].sort((a, b) => a - b);
    const mean = imageErrors.reduce((sum, error) => sum + error, 0) / imageErrors.length;
    console.log(
      `${name.padEnd(11)} ${label.padEnd(12)} ${String(cost.samples).padStart(5)} samples, ${(cost.deflated / 2 ** 20).toFixed(1).padStart(5)} MiB deflated · ` +
        `image error over ${phases} phases: mean ${percent(mean)}, ${percent(sorted[0])} … ${percent(sorted.at(-1))} · worst layer ${(worstLayer * 100).toFixed(1)} %`,
    );
  }
}
