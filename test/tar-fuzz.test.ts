/**
 * Part of `npm test` (150 cases of a fixed seed: a regression test of every class it has found); `npm run fuzz`
 * explores (1,000 cases of a new seed unless LAYERLENS_FUZZ_CASES / LAYERLENS_FUZZ_SEED say otherwise).
 * Differential fuzz test of the layer tar reader: seeded random and mutated layers (test/helpers/tar-fuzz.ts),
 * each read by `umoci unpack` (Go's archive/tar, as Docker, containerd and BuildKit read layers) and by
 * `layerlens files --json`. For every case, either both refuse the image (layerlens with exit 3 and one line),
 * or layerlens lists exactly what umoci extracted (path bytes, type, size, mode, owner, link target).
 *
 *   LAYERLENS_FUZZ_CASES=5000     how many cases (default 150)
 *   LAYERLENS_FUZZ_SEED=1234      the run's seed (default 20261201; 'random' for a new one, printed with every failure)
 *   LAYERLENS_FUZZ_CASE=17,42     only these case numbers of that seed (replay)
 *   LAYERLENS_FUZZ_SHRINK=N       shrink N cases of each kind of disagreement to minimal reproducers (fewest
 *                                 features first, one per feature set)
 *   LAYERLENS_FUZZ_REPORT=FILE    also write every disagreement as JSON to FILE
 *
 * Cost: umoci runs once per case (~50 ms); layerlens (~0.5 s a run) reads the cases umoci extracts in batches of
 * 12 cases to an image (each case its own layers, under its own c<id>/ directory), and is bisected down to single
 * cases only where a batch disagrees; the cases umoci refuses each need a run of their own (layerlens must refuse
 * that very layer). PAX global headers: umoci 0.4.7 refuses them, Docker and containerd skip them (Go returns them
 * as entries); the oracle is umoci on the stream without them (see hostile-tar.test.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeLayout, type LayerCompression } from './helpers/craft-tar.js';
import { compareListing, layerlensFiles, showKey, umociUnpackAsync, pathKey, type FileJson, type LayerlensResult, type Rootfs, type UmociResult } from './helpers/umoci-oracle.js';
import { describeCase, featureTags, generateCase, renderLayer, shrinkCandidates, type FuzzCase } from './helpers/tar-fuzz.js';

const CASES = Number(process.env.LAYERLENS_FUZZ_CASES ?? 150);
// A fixed default seed keeps CI reproducible; LAYERLENS_FUZZ_SEED=random explores new cases.
const SEED = process.env.LAYERLENS_FUZZ_SEED === 'random' ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(process.env.LAYERLENS_FUZZ_SEED ?? 20261201) >>> 0;
const ONLY = process.env.LAYERLENS_FUZZ_CASE?.split(',').map((n) => Number(n.trim()));
/** How many cases of each kind of disagreement to shrink (0: none), fewest features and distinct feature sets first. */
const SHRINK = Number(process.env.LAYERLENS_FUZZ_SHRINK ?? 0);
const REPORT = process.env.LAYERLENS_FUZZ_REPORT;
const BATCH = 12;
const PARALLEL = 2;

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-tar-fuzz-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs tasks `limit` at a time, results in order. */
async function pool<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i]!);
      }
    }),
  );
  return results;
}

let layouts = 0;
function layoutOf(layers: Buffer[], compression: LayerCompression[]): string {
  const dir = path.join(work, `layout-${layouts++}`);
  writeLayout(dir, layers, compression);
  return dir;
}

interface Rendered {
  fuzz: FuzzCase;
  layers: Buffer[];
  oracleLayers: Buffer[];
  compression: LayerCompression[];
}

function render(fuzz: FuzzCase): Rendered {
  return {
    fuzz,
    layers: fuzz.layers.map((layer) => renderLayer(layer)),
    oracleLayers: fuzz.layers.map((layer) => renderLayer(layer, true)),
    compression: fuzz.layers.map((layer) => layer.compression),
  };
}

async function umociOf(r: Rendered): Promise<UmociResult> {
  stats.umociRuns++;
  const layout = layoutOf(r.oracleLayers, r.compression);
  try {
    return await umociUnpackAsync(layout, `${layout}-bundle`);
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}

const stats = { layerlensRuns: 0, umociRuns: 0, started: Date.now(), phases: [] as string[] };
const phase = (name: string) => stats.phases.push(`${name} ${((Date.now() - stats.started) / 1000).toFixed(1)}s`);

async function layerlensOf(parts: Rendered[]): Promise<LayerlensResult> {
  stats.layerlensRuns++;
  const layout = layoutOf(
    parts.flatMap((r) => r.layers),
    parts.flatMap((r) => r.compression),
  );
  try {
    return await layerlensFiles(layout);
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}

interface Disagreement {
  id: number;
  kind: string;
  detail: string[];
}

const problemKind = (problem: string): string =>
  /missing from files/.test(problem)
    ? 'path missing from files'
    : /not in umoci's rootfs/.test(problem)
      ? 'extra path in files'
      : /: type /.test(problem)
        ? 'type'
        : /: size /.test(problem)
          ? 'size'
          : /: mode /.test(problem)
            ? 'mode'
            : /: owner /.test(problem)
              ? 'owner'
              : /: link /.test(problem)
                ? 'link target'
                : /listed twice/.test(problem)
                  ? 'listed twice'
                  : 'hardlink';

const oneLine = (stderr: string) => stderr.trim() !== '' && stderr.trim().split('\n').length === 1;

/** The case's part of a listing: its c<id> directory and what is under it. */
function ownPart(files: FileJson[], id: number): FileJson[] {
  const root = `/c${id}`;
  return files.filter((file) => {
    const key = pathKey(file.path);
    return key === root || key.startsWith(`${root}/`);
  });
}

/** One case's verdict from umoci's result and layerlens's listing of it (alone or as part of a batch). */
function judge(id: number, umoci: UmociResult, layerlens: LayerlensResult, files: FileJson[] | null): Disagreement | null {
  const refusal = `exit ${layerlens.code}: ${layerlens.stderr.trim().split('\n').slice(0, 3).join(' / ') || '(no message)'}`;
  if (!umoci.ok) {
    if (layerlens.code === 3 && oneLine(layerlens.stderr)) return null;
    if (layerlens.code === 0) return { id, kind: 'umoci refuses, layerlens lists', detail: [`umoci: ${umoci.error}`, `layerlens: exit 0, ${files!.length} paths: ${files!.map((f) => showKey(pathKey(f.path))).join(' ')}`] };
    return { id, kind: `umoci refuses, layerlens exit ${layerlens.code}${layerlens.code === 3 ? ' (not one line)' : ''}`, detail: [`umoci: ${umoci.error}`, `layerlens: ${refusal}`] };
  }
  if (layerlens.code !== 0) {
    return { id, kind: layerlens.code === 3 ? 'umoci extracts, layerlens refuses' : `umoci extracts, layerlens exit ${layerlens.code}`, detail: [`umoci extracted: ${[...umoci.rootfs.keys()].map(showKey).join(' ')}`, `layerlens: ${refusal}`] };
  }
  const problems = compareListing(files!, umoci.rootfs);
  if (problems.length === 0) return null;
  return { id, kind: [...new Set(problems.map(problemKind))].sort().join(' + '), detail: problems };
}

/** Runs the cases umoci extracted, in one layerlens run, bisecting where they disagree. */
async function batchVerdicts(parts: { r: Rendered; umoci: UmociResult }[]): Promise<Disagreement[]> {
  const result = await layerlensOf(parts.map((p) => p.r));
  if (parts.length === 1) {
    const { r, umoci } = parts[0]!;
    const verdict = judge(r.fuzz.id, umoci, result, result.files);
    return verdict ? [verdict] : [];
  }
  if (result.code === 0) {
    const files = result.files!;
    const claimed = new Set<FileJson>();
    const verdicts: Disagreement[] = [];
    for (const { r, umoci } of parts) {
      const own = ownPart(files, r.fuzz.id);
      own.forEach((file) => claimed.add(file));
      const mine: Rootfs = new Map([...umoci.rootfs].filter(([key]) => key === `/c${r.fuzz.id}` || key.startsWith(`/c${r.fuzz.id}/`)));
      const verdict = judge(r.fuzz.id, { ...umoci, rootfs: mine }, result, own);
      if (verdict) verdicts.push(verdict);
    }
    // Paths outside every case's directory: found by running the cases apart.
    if (files.every((file) => claimed.has(file))) return verdicts;
  }
  const half = Math.ceil(parts.length / 2);
  return [...(await batchVerdicts(parts.slice(0, half))), ...(await batchVerdicts(parts.slice(half)))];
}

/** umoci and layerlens on one case alone (replay, shrinking). */
async function singleVerdict(fuzz: FuzzCase): Promise<Disagreement | null> {
  const r = render(fuzz);
  const [umoci, layerlens] = await Promise.all([umociOf(r), layerlensOf([r])]);
  return judge(fuzz.id, umoci, layerlens, layerlens.files);
}

/** Greedy shrink: keep the first one-step simplification that still disagrees the same way (tried two at a time). */
async function shrink(fuzz: FuzzCase, kind: string): Promise<FuzzCase> {
  let current = fuzz;
  for (let rounds = 0; rounds < 60; rounds++) {
    const candidates = [...shrinkCandidates(current)];
    let improved = false;
    for (let i = 0; i < candidates.length && !improved; i += PARALLEL) {
      const chunk = candidates.slice(i, i + PARALLEL);
      const verdicts = await Promise.all(chunk.map(singleVerdict));
      const hit = verdicts.findIndex((verdict) => verdict?.kind === kind);
      if (hit >= 0) {
        current = chunk[hit]!;
        improved = true;
      }
    }
    if (!improved) break;
  }
  return current;
}

// Generous: the deadline only catches a hang, and CI machines run other suites beside this one.
const timeout = 120_000 + (ONLY ? ONLY.length : CASES) * 2_000 + SHRINK * 30 * 120_000;

test(`layerlens lists what umoci extracts, or both refuse: ${ONLY ? `cases ${ONLY.join(',')}` : `${CASES} cases`} of seed ${SEED}`, async () => {
  const ids = ONLY ?? Array.from({ length: CASES }, (_, i) => i);
  const rendered = ids.map((id) => render(generateCase(SEED, id)));
  stats.started = Date.now();
  const umoci = await pool(rendered, PARALLEL, umociOf);
  phase('umoci');
  const extracted = rendered.map((r, i) => ({ r, umoci: umoci[i]! })).filter((p) => p.umoci.ok);
  const refused = rendered.map((r, i) => ({ r, umoci: umoci[i]! })).filter((p) => !p.umoci.ok);

  const batches: { r: Rendered; umoci: UmociResult }[][] = [];
  for (let i = 0; i < extracted.length; i += BATCH) batches.push(extracted.slice(i, i + BATCH));
  const fromBatches = (await pool(batches, PARALLEL, batchVerdicts)).flat();
  phase('batches');
  const fromRefused = (
    await pool(refused, PARALLEL, async (p) => {
      const result = await layerlensOf([p.r]);
      return judge(p.r.fuzz.id, p.umoci, result, result.files);
    })
  ).filter((d): d is Disagreement => d !== null);
  const disagreements = [...fromBatches, ...fromRefused].sort((a, b) => a.id - b.id);
  phase('refused');
  if (process.env.LAYERLENS_FUZZ_STATS === '1') process.stderr.write(`tar fuzz: ${stats.umociRuns} umoci runs, ${stats.layerlensRuns} layerlens runs; ${stats.phases.join(', ')}\n`);

  if (disagreements.length === 0) return;
  const byKind = new Map<string, Disagreement[]>();
  for (const d of disagreements) byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), d]);
  const lines = [
    `${disagreements.length} of ${ids.length} cases disagree with umoci (seed ${SEED}: ${refused.length} refused by umoci, ${extracted.length} extracted).`,
    `(${stats.umociRuns} umoci runs, ${stats.layerlensRuns} layerlens runs; ${stats.phases.join(', ')})`,
    `Replay one: LAYERLENS_FUZZ_SEED=${SEED} LAYERLENS_FUZZ_CASE=<n> node --experimental-vm-modules node_modules/jest/bin/jest.js test/tar-fuzz.test.ts`,
  ];
  const report: unknown[] = [];
  const writeReport = () => {
    if (!REPORT) return;
    mkdirSync(path.dirname(path.resolve(REPORT)), { recursive: true });
    writeFileSync(REPORT, JSON.stringify({ seed: SEED, cases: ids.length, disagreements: disagreements.length, kinds: report }, null, 2));
  };
  for (const [kind, list] of [...byKind].sort((a, b) => b[1].length - a[1].length)) {
    lines.push('', `── ${kind}: ${list.length} case(s): ${list.map((d) => d.id).join(', ')}`);
    const tagCounts = new Map<string, number>();
    for (const d of list) for (const tag of featureTags(generateCase(SEED, d.id))) tagCounts.set(tag, (tagCounts.get(tag) ?? 0) + 1);
    lines.push(`   features present in them: ${[...tagCounts].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t}×${n}`).join(' ') || '(none)'}`);
    for (const d of list.slice(0, 3)) {
      lines.push(`   case ${d.id}:`, ...describeCase(generateCase(SEED, d.id)).map((l) => `     ${l}`), ...d.detail.slice(0, 8).map((l) => `     ! ${l}`));
    }
    const entry: Record<string, unknown> = { kind, cases: list.map((d) => d.id), first: describeCase(generateCase(SEED, list[0]!.id)), detail: list[0]!.detail };
    report.push(entry);
    writeReport();
    if (SHRINK > 0) {
      const seen = new Set<string>();
      const picked = list
        .map((d) => generateCase(SEED, d.id))
        .sort((a, b) => a.features.length - b.features.length)
        .filter((c) => !seen.has(c.features.join()) && seen.add(c.features.join()))
        .slice(0, SHRINK);
      entry.shrunk = [];
      for (const original of picked) {
        const small = await shrink(original, kind);
        const verdict = await singleVerdict(small);
        lines.push(`   case ${original.id} shrunk:`, ...describeCase(small).map((l) => `     ${l}`), ...(verdict?.detail ?? []).slice(0, 8).map((l) => `     ! ${l}`));
        (entry.shrunk as unknown[]).push({ id: original.id, features: original.features, tags: featureTags(small), entries: describeCase(small), detail: verdict?.detail });
        writeReport();
      }
    }
  }
  throw new Error(lines.join('\n'));
}, timeout);
