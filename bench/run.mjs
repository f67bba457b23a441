#!/usr/bin/env node
// layerlens benchmark: wall time, CPU time and peak memory of `layerlens analyze --json` on the images that
// bench/generate.sh builds, read from every kind of source, against a floor (the digest work alone, done by the
// standard tools: sha256 of each blob and sha256 of its decompressed stream) and against peer tools on the same
// bytes (umoci unpack, skopeo copy, tar). Runs alternate between the measures (run 1 of every measure, then run 2, …)
// so that a slow minute of the machine hits all of them alike; each figure is the median of the runs.
//
//   node bench/run.mjs [--images realistic,smallfiles,biglayer,manylayers,millionfiles] [--runs 5] [--jobs N] [--quick]
//                      [--images-dir bench/images] [--out bench/results/DATE-HOST.json] [--only m1,m2]
//                      [--noise 0.25] [--retries 2] [--docker-socket PATH] [--podman-socket PATH]
//
// --quick: images manylayers,realistic, 1 run: a smoke test of the harness in about a minute.
// Every image also gets the other verbs on its OCI layout (layerlens:cmd-layers, -files, -waste, -check, and
// -analyze-file: analyze --json written to a file with -o), `diff` against NAME-changed.oci where generate.sh
// built one (millionfiles), and peer:tar-tvzf-serial (GNU tar -tvzf of each layer blob, one after another).
// --only: measure ids to run (e.g. floor:oci,layerlens:oci-layout); default all.
// --noise/--retries: a sample during which other processes kept more than NOISE cores busy on average (from
//   /proc/stat, minus the CPU of the measured command and of our registry) is discarded and taken again, at most
//   RETRIES times; every sample records that foreign CPU, and discarded ones are kept in the JSON.
// --docker-socket/--podman-socket: a running dockerd / `podman system service` on that unix socket: the image is
//   loaded into it (POST /images/load, untimed) and layerlens:daemon-docker / layerlens:daemon-podman read it as
//   docker-daemon:bench/NAME:1 / podman:bench/NAME:1, beside peer:engine-export-docker / -podman (the engine's own
//   export, curl --unix-socket …/images/bench/NAME:1/get to /dev/null). Without them these rows are not measured.
// Needs: node, the built CLI (npm run build), openssl, pigz, zstd, skopeo, umoci, docker-registry, GNU time, dd, tar.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, symlinkSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(BENCH);
const ALL_IMAGES = ['realistic', 'smallfiles', 'biglayer', 'manylayers', 'millionfiles'];

// ---------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const value = argv[i + 1];
  if (value === undefined || value.startsWith('--')) die(`--${name} needs a value`);
  return value;
};
function die(message) {
  process.stderr.write(`run.mjs: ${message}\n`);
  process.exit(2);
}
const known = new Set(['--images', '--runs', '--jobs', '--quick', '--images-dir', '--out', '--only', '--noise', '--retries', '--docker-socket', '--podman-socket', '--help', '-h']);
for (const a of argv) if (a.startsWith('-') && !known.has(a)) die(`unknown option ${a}`);
if (argv.includes('--help') || argv.includes('-h')) {
  const head = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  process.stdout.write(head.slice(0, head.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const QUICK = argv.includes('--quick');
const IMAGES = opt('images', QUICK ? 'manylayers,realistic' : ALL_IMAGES.join(',')).split(',').filter(Boolean);
const RUNS = Number(opt('runs', QUICK ? 1 : 5));
const JOBS = Number(opt('jobs', os.availableParallelism()));
const IMAGES_DIR = path.resolve(opt('images-dir', path.join(BENCH, 'images')));
const ONLY = opt('only', null)?.split(',');
const NOISE = Number(opt('noise', 0.25));
const RETRIES = Number(opt('retries', 2));
const ENGINES = [
  ['docker', opt('docker-socket', null), 'docker-daemon', 'DOCKER_HOST'],
  ['podman', opt('podman-socket', null), 'podman', 'CONTAINER_HOST'],
].filter(([, socket]) => socket).map(([name, socket, transport, variable]) => ({ name, socket: path.resolve(socket), transport, variable }));
if (!Number.isInteger(RUNS) || RUNS < 1) die('--runs must be a positive integer');
if (!Number.isInteger(JOBS) || JOBS < 1) die('--jobs must be a positive integer');
for (const name of IMAGES) {
  if (!ALL_IMAGES.includes(name)) die(`unknown image ${name} (${ALL_IMAGES.join(', ')})`);
  if (!existsSync(path.join(IMAGES_DIR, `${name}.info.json`))) {
    die(`${name} is not built in ${IMAGES_DIR}; run: BENCH_IMAGES="${IMAGES.join(' ')}" bash bench/generate.sh${IMAGES_DIR === path.join(BENCH, 'images') ? '' : ` ${IMAGES_DIR}`}`);
  }
}
if (!existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) die('layerlens is not built; run npm run build');
for (const tool of ['openssl', 'pigz', 'zstd', 'skopeo', 'umoci', 'docker-registry', 'dd', 'tar', 'curl']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) die(`${tool} not found (see bench/README.md)`);
}
if (!existsSync('/usr/bin/time')) die('/usr/bin/time (GNU time) not found: apt-get install time');

const STARTED = Date.now();
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
/** CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq) since boot. */
function machineBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / HZ;
}
/** CPU seconds (user + system) a process of ours has used, e.g. the registry. */
function processCpu(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / HZ;
  } catch {
    return 0;
  }
}
const WORK = path.join(BENCH, 'work');
mkdirSync(WORK, { recursive: true });
const SCRATCH = mkdtempSync(path.join(WORK, 'run-'));

// The CLI measured is a snapshot of bin/ and dist/ taken now: a rebuild while the benchmark runs (npm run build in
// another terminal) cannot mix two versions into one result. Its digest goes into the results.
const SNAPSHOT = path.join(SCRATCH, 'layerlens');
mkdirSync(SNAPSHOT);
for (const part of ['bin', 'dist', 'package.json']) cpSync(path.join(REPO, part), path.join(SNAPSHOT, part), { recursive: true });
symlinkSync(path.join(REPO, 'node_modules'), path.join(SNAPSHOT, 'node_modules'));
const CLI = path.join(SNAPSHOT, 'bin', 'layerlens.js');
function treeDigest(dir) {
  const hash = createHash('sha256');
  const visit = (d) => {
    for (const name of readdirSync(d).sort()) {
      const file = path.join(d, name);
      if (statSync(file).isDirectory()) visit(file);
      else if (!name.endsWith('.map')) hash.update(`${path.relative(dir, file)}\0`).update(readFileSync(file));
    }
  };
  visit(dir);
  return `sha256:${hash.digest('hex')}`;
}
const DIST_DIGEST = treeDigest(path.join(SNAPSHOT, 'dist'));
const log = (message) => process.stderr.write(`==> [${new Date().toISOString().slice(11, 19)}] ${message}\n`);

// layerlens gets a private cache home and docker config: it must not see (or fill) the user's ~/.cache/layerlens,
// nor credentials; --no-cache / --cache-dir then say what each registry measure uses.
const ENV = { ...process.env, XDG_CACHE_HOME: path.join(SCRATCH, 'xdg-cache'), DOCKER_CONFIG: path.join(SCRATCH, 'docker-config'), NO_COLOR: '1' };
delete ENV.DOCKER_HOST;
delete ENV.CONTAINER_HOST;
mkdirSync(ENV.DOCKER_CONFIG, { recursive: true });

// ---------------------------------------------------------------------------------------------------------------
// Timing: every command runs under GNU time -v (CPU times, peak RSS); wall time is measured here.
// ---------------------------------------------------------------------------------------------------------------
function parseTime(text) {
  const field = (label) => {
    const m = text.match(new RegExp(`${label}: (.*)`));
    return m ? m[1].trim() : null;
  };
  return {
    user: Number(field('User time \\(seconds\\)')),
    sys: Number(field('System time \\(seconds\\)')),
    maxRssKB: Number(field('Maximum resident set size \\(kbytes\\)')),
  };
}

let timeFiles = 0;
/** Runs argv under /usr/bin/time -v; stdout to a file (or ignored). Resolves {wall, user, sys, maxRssKB, code, stderr}. */
function timed(args, { stdout = null, cwd = REPO, env = ENV } = {}) {
  const timeFile = path.join(SCRATCH, `time-${timeFiles++}.txt`);
  return new Promise((resolve, reject) => {
    const out = stdout ? openSync(stdout, 'w') : 'ignore';
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', '-o', timeFile, ...args], { cwd, env, stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      if (stderr.length < 20000) stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (typeof out === 'number') closeSync(out);
      let usage = { user: NaN, sys: NaN, maxRssKB: NaN };
      try {
        usage = parseTime(readFileSync(timeFile, 'utf8'));
        rmSync(timeFile);
      } catch {}
      resolve({ wall, ...usage, code, stderr });
    });
  });
}

/**
 * Runs shell jobs, at most `limit` at a time, under one GNU time: `xargs -0 -P limit -n 1 sh -c`. Wall time of the
 * whole set; CPU of every job (their rusage reaches xargs); peak RSS of the largest single process. One timed
 * process rather than one per job, so that per-job overhead outside the jobs is not left unaccounted.
 */
async function pool(jobs, limit) {
  const list = path.join(SCRATCH, `jobs-${timeFiles}.list`);
  const stdout = path.join(SCRATCH, `jobs-${timeFiles}.out`);
  writeFileSync(list, jobs.map((j) => `${j.script}\0`).join(''));
  const r = await timed(['xargs', '-0', '-P', String(limit), '-n', '1', '-a', list, 'sh', '-c'], { stdout });
  const output = readFileSync(stdout, 'utf8');
  rmSync(list);
  rmSync(stdout);
  if (r.code !== 0) throw new Error(`floor jobs failed (${r.code}): ${r.stderr}`);
  for (const job of jobs) {
    for (const hex of job.expect) {
      if (!output.includes(hex)) throw new Error(`floor job did not produce ${hex}: ${job.script}\n${output.slice(0, 2000)}`);
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Images: blobs of the OCI layout, members of the docker-save tarball
// ---------------------------------------------------------------------------------------------------------------
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

function sniff(file) {
  const fd = openSync(file, 'r');
  const magic = Buffer.alloc(4);
  readSync(fd, magic, 0, 4, 0);
  closeSync(fd);
  if (magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

function ociLayers(layout) {
  const blob = (digest) => path.join(layout, 'blobs', ...digest.split(':'));
  const index = readJson(path.join(layout, 'index.json'));
  const manifest = readJson(blob(index.manifests[0].digest));
  const config = readJson(blob(manifest.config.digest));
  return manifest.layers.map((l, i) => ({ file: blob(l.digest), digest: l.digest, diffId: config.rootfs.diff_ids[i], size: l.size }));
}

/** Offsets and sizes of the regular-file members of a tar (headers only; GNU long names and pax paths handled). */
function tarMembers(file) {
  const fd = openSync(file, 'r');
  const size = statSync(file).size;
  const header = Buffer.alloc(512);
  const members = new Map();
  let pos = 0;
  let longName = null;
  const octal = (buf) => {
    if (buf[0] & 0x80) return Number(buf.readBigUInt64BE(buf.length - 8));
    return parseInt(buf.toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
  };
  while (pos + 512 <= size) {
    readSync(fd, header, 0, 512, pos);
    if (header.every((b) => b === 0)) break;
    const len = octal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156] || 0x30);
    const data = pos + 512;
    const read = () => {
      const b = Buffer.alloc(len);
      readSync(fd, b, 0, len, data);
      return b;
    };
    if (type === 'L') longName = read().toString('utf8').replace(/\0.*$/s, '');
    else if (type === 'x') {
      const m = read().toString('utf8').match(/\d+ path=([^\n]*)\n/);
      if (m) longName = m[1];
    } else {
      const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
      const name = longName ?? (prefix ? `${prefix}/` : '') + header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      longName = null;
      if (type === '0') members.set(name.replace(/^\.\//, ''), { offset: data, size: len });
    }
    pos = data + Math.ceil(len / 512) * 512;
  }
  closeSync(fd);
  return members;
}

function dockerLayers(tarball) {
  const members = tarMembers(tarball);
  const read = (name) => {
    const m = members.get(name);
    const fd = openSync(tarball, 'r');
    const b = Buffer.alloc(m.size);
    readSync(fd, b, 0, m.size, m.offset);
    closeSync(fd);
    return b.toString('utf8');
  };
  const manifest = JSON.parse(read('manifest.json'))[0];
  const config = JSON.parse(read(manifest.Config));
  return manifest.Layers.map((name, i) => ({ name, ...members.get(name), diffId: config.rootfs.diff_ids[i] }));
}

function floorOciJobs(layers) {
  return layers.map((l) => {
    const compression = sniff(l.file);
    const hash = `openssl dgst -sha256 ${q(l.file)}`;
    const decompress = { gzip: 'pigz -dc', zstd: 'zstd -dc', none: null }[compression];
    const script = decompress ? `${hash} && ${decompress} ${q(l.file)} | openssl dgst -sha256` : hash;
    return { script, expect: [l.digest.slice(7), l.diffId.slice(7)] };
  });
}

/** The same commands as floorOciJobs, each its own job: the blob hash and the decompress-and-hash run side by side. */
function floorOciSplitJobs(layers) {
  return floorOciJobs(layers).flatMap((job) => {
    const [hash, rest] = job.script.split(' && ');
    return rest ? [{ script: hash, expect: [job.expect[0]] }, { script: rest, expect: [job.expect[1]] }] : [job];
  });
}

function floorDockerJobs(tarball, layers) {
  return layers.map((l) => ({
    script: `dd if=${q(tarball)} bs=1M iflag=skip_bytes,count_bytes skip=${l.offset} count=${l.size} status=none | openssl dgst -sha256`,
    expect: [l.diffId.slice(7)],
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------------------------
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function startRegistry() {
  const port = await freePort();
  const dir = path.join(SCRATCH, 'registry');
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n'));
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (res.status === 200) return { port, child, host: `127.0.0.1:${port}` };
    } catch {}
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`docker-registry did not start: ${stderr}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Machine
// ---------------------------------------------------------------------------------------------------------------
function version(cmd, args, pick = (s) => s.split('\n')[0]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return r.error ? null : pick(text);
}

function newestMtime(dir) {
  let newest = 0;
  for (const name of readdirSync(dir, { recursive: true })) newest = Math.max(newest, statSync(path.join(dir, name)).mtimeMs);
  return newest;
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const git = (...args) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout.trim();
  return {
    host: os.hostname(),
    nproc: Number(execFileSync('nproc').toString().trim()),
    availableParallelism: os.availableParallelism(),
    cpuModel: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1] ?? null,
    cpuMHz: Number(cpuinfo.match(/cpu MHz\s*:\s*(.*)/)?.[1] ?? NaN),
    memTotalKB: Number(meminfo.match(/MemTotal:\s*(\d+)/)?.[1] ?? NaN),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    os: readFileSync('/etc/os-release', 'utf8').match(/PRETTY_NAME="(.*)"/)?.[1] ?? null,
    filesystem: version('df', ['-T', WORK], (s) => s.split('\n')[1]?.split(/\s+/)[1] ?? null),
    node: process.version,
    tools: {
      layerlens: `${readJson(path.join(REPO, 'package.json')).version} (git ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'src') ? ', src modified' : ''})`,
      layerlensDist: DIST_DIGEST,
      layerlensDistNewerThanSrc: newestMtime(path.join(REPO, 'dist')) >= newestMtime(path.join(REPO, 'src')),
      skopeo: version('skopeo', ['--version']),
      umoci: version('umoci', ['--version']),
      pigz: version('pigz', ['--version']),
      openssl: version('openssl', ['version']),
      zstd: version('zstd', ['--version']),
      dockerRegistry: version('docker-registry', ['--version']),
      tar: version('tar', ['--version']),
      gnuTime: version('/usr/bin/time', ['--version']),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Measures
// ---------------------------------------------------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function layerlens(id, label, source, extra, info, { floor, peers = [] }, env = ENV) {
  return {
    id,
    label,
    kind: 'layerlens',
    floor,
    peers,
    command: ['node', 'bin/layerlens.js', 'analyze', '--json', source, ...extra],
    async run(ctx) {
      const out = path.join(SCRATCH, `${info.name}-${id.replace(':', '-')}.json`);
      const r = await timed(['node', CLI, 'analyze', '--json', source, ...(typeof extra === 'function' ? extra(ctx) : extra)], { stdout: out, env });
      if (r.code !== 0) throw new Error(`${this.command.join(' ')} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
      if (!ctx.checked.has(id)) {
        ctx.checked.add(id);
        ctx.checks.push(checkReport(id, readJson(out), info));
      }
      rmSync(out);
      return r;
    },
  };
}

/** Another verb of layerlens on the image (its output to a file, then discarded); exit 0 expected. */
function verb(id, label, args, info, { floor = null, peers = [] } = {}) {
  return {
    id,
    label,
    kind: 'layerlens',
    floor,
    peers,
    command: ['node', 'bin/layerlens.js', ...args],
    async run() {
      const out = path.join(SCRATCH, `${info.name}-${id.replace(':', '-')}.out`);
      const r = await timed(['node', CLI, ...args.map((arg) => arg.replace('OUTFILE', `${out}.json`))], { stdout: out });
      rmSync(out, { force: true });
      rmSync(`${out}.json`, { force: true });
      if (r.code !== 0) throw new Error(`${this.command.join(' ')} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
      return r;
    },
  };
}

/** What layerlens reported, against what generate.sh counted with tar/pigz. */
function checkReport(id, report, info) {
  const docker = id.endsWith('docker-archive') || id.startsWith('layerlens:daemon-');
  const expect = {
    layers: info.layers,
    tarEntries: info.entries,
    rootfsPaths: info.filesInRootfs,
    uncompressedSize: info.uncompressedSize,
    compressedSize: docker ? info.uncompressedSize : info.compressedSize,
    verifyOk: true,
  };
  const actual = {
    layers: report.totals?.layers,
    // schemaVersion 2: totals.files counts the final filesystem's paths; the tar entries are each layer's `entries`.
    tarEntries: Array.isArray(report.layers) ? report.layers.reduce((sum, layer) => sum + (layer.entries ?? 0), 0) : undefined,
    rootfsPaths: report.files?.length,
    uncompressedSize: report.totals?.uncompressedSize,
    compressedSize: report.totals?.compressedSize,
    verifyOk: report.verify?.ok,
  };
  const mismatches = Object.keys(expect).filter((k) => expect[k] !== actual[k]);
  return { measure: id, ok: mismatches.length === 0, mismatches: mismatches.map((k) => ({ what: k, expected: expect[k], actual: actual[k] })), wasteEfficiency: report.waste?.efficiency ?? null };
}

function measuresFor(name, info, registry) {
  const layout = path.join(IMAGES_DIR, `${name}.oci`);
  const archive = path.join(IMAGES_DIR, `${name}.oci.tar`);
  const docker = path.join(IMAGES_DIR, `${name}.docker.tar`);
  const ref = `${registry.host}/bench/${name}:1`;
  const oci = ociLayers(layout);
  const dockerL = dockerLayers(docker);
  const ociFloor = floorOciJobs(oci);
  const ociSplit = floorOciSplitJobs(oci);
  const downloads = oci.map((l) => ({ script: `curl -sf -o /dev/null http://${registry.host}/v2/bench/${name}/blobs/${l.digest}`, expect: [] }));
  const dockerFloor = floorDockerJobs(docker, dockerL);
  const scratch = (what) => path.join(SCRATCH, `${name}-${what}`);
  const peerRun = (args, dir) => async () => {
    rmSync(dir, { recursive: true, force: true });
    const r = await timed(args);
    rmSync(dir, { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
    return r;
  };
  const tarLayers = dockerL.map((l) => `tar -xOf ${q(docker)} ${q(l.name)} | tar -tvf - >/dev/null`);
  const tarSerial = oci.map((l) => `tar -t${sniff(l.file) === 'gzip' ? 'z' : ''}vf ${q(l.file)} >/dev/null`).join(' && ');
  const changed = path.join(IMAGES_DIR, `${name}-changed.oci`);
  const verbPeers = { floor: 'floor:oci', peers: ['peer:tar-tvzf-serial'] };
  const list = [
    { id: 'floor:oci', label: `floor: sha256 + ${sniff(oci[0]?.file ?? '/dev/null') === 'zstd' ? 'zstd' : 'pigz'} -dc | sha256 of the OCI blobs, ${JOBS} at a time`, kind: 'floor', command: ociFloor.map((j) => j.script), run: () => pool(ociFloor, JOBS) },
    { id: 'floor:oci-split', label: `floor:oci with the blob hash and the decompress+hash as separate jobs, ${JOBS} at a time`, kind: 'floor', command: ociSplit.map((j) => j.script), run: () => pool(ociSplit, JOBS) },
    { id: 'floor:registry-download', label: `curl -o /dev/null of every layer blob from the registry, ${JOBS} at a time`, kind: 'floor', command: downloads.map((j) => j.script), run: () => pool(downloads, JOBS) },
    layerlens('layerlens:oci-archive', 'layerlens analyze oci-archive:FILE', `oci-archive:${archive}`, [], info, { floor: 'floor:oci', peers: ['floor:oci-split', 'peer:umoci-unpack'] }),
    layerlens('layerlens:oci-layout', 'layerlens analyze oci:DIR', `oci:${layout}`, [], info, { floor: 'floor:oci', peers: ['floor:oci-split', 'peer:umoci-unpack', 'peer:tar-tvzf-serial'] }),
    { id: 'floor:docker', label: `floor: sha256 of each layer of the docker-save tar (dd | openssl), ${JOBS} at a time`, kind: 'floor', command: dockerFloor.map((j) => j.script), run: () => pool(dockerFloor, JOBS) },
    layerlens('layerlens:docker-archive', 'layerlens analyze docker-save.tar', docker, [], info, { floor: 'floor:docker', peers: ['peer:tar-tvf', 'peer:tar-tvf-layers'] }),
    layerlens('layerlens:registry-cold', 'layerlens analyze REGISTRY/REF --no-cache', ref, ['--no-cache'], info, { floor: 'floor:oci', peers: ['floor:registry-download', 'peer:skopeo-copy-dir'] }),
    {
      id: 'layerlens:registry-warm',
      label: 'layerlens analyze REGISTRY/REF --cache-dir D (2nd run; 1st = registry-fill)',
      kind: 'layerlens',
      floor: 'floor:oci',
      peers: ['floor:registry-download', 'peer:skopeo-copy-dir'],
      command: ['node', 'bin/layerlens.js', 'analyze', '--json', ref, '--cache-dir', 'DIR', '(twice)'],
      async run(ctx) {
        const cacheDir = scratch('cache');
        rmSync(cacheDir, { recursive: true, force: true });
        const fill = await layerlens('layerlens:registry-fill', '', ref, ['--cache-dir', cacheDir], info, {}).run(ctx);
        const warm = await layerlens('layerlens:registry-warm', '', ref, ['--cache-dir', cacheDir], info, {}).run(ctx);
        rmSync(cacheDir, { recursive: true, force: true });
        warm.extra = { 'layerlens:registry-fill': fill };
        return warm;
      },
    },
    ...ENGINES.flatMap((engine) => {
      const env = { ...ENV, [engine.variable]: `unix://${engine.socket}` };
      const exportUrl = `http://engine/images/bench/${name}:1/get`;
      const exportRow = `peer:engine-export-${engine.name}`;
      return [
        layerlens(`layerlens:daemon-${engine.name}`, `layerlens analyze ${engine.transport}:bench/${name}:1`, `${engine.transport}:bench/${name}:1`, [], info, { floor: 'floor:docker', peers: [exportRow, 'peer:tar-tvf-layers'] }, env),
        {
          id: exportRow,
          label: `curl --unix-socket ${engine.name}.sock …/images/bench/${name}:1/get -o /dev/null (the engine's own export)`,
          kind: 'peer',
          command: ['curl', '-sf', '--unix-socket', engine.socket, exportUrl, '-o', '/dev/null'],
          run: async () => {
            const r = await timed(['curl', '-sf', '--unix-socket', engine.socket, exportUrl, '-o', '/dev/null']);
            if (r.code !== 0) throw new Error(`curl export from ${engine.name} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
            return r;
          },
        },
      ];
    }),
    { id: 'layerlens:startup', label: 'layerlens --version (node start-up and module loading alone)', kind: 'baseline', command: ['node', 'bin/layerlens.js', '--version'], run: () => timed(['node', CLI, '--version']) },
    // umoci writes every file to disk: ~10 minutes a run for a million files, and the issue's peer there is tar.
    ...(info.entries > 500_000 ? [] : [{ id: 'peer:umoci-unpack', label: 'umoci unpack --rootless (to a temp dir)', kind: 'peer', command: ['umoci', 'unpack', '--rootless', '--image', `${layout}:latest`, 'DIR'], run: peerRun(['umoci', 'unpack', '--rootless', '--image', `${layout}:latest`, scratch('bundle')], scratch('bundle')) }]),
    { id: 'peer:skopeo-copy-dir', label: 'skopeo copy registry → dir:', kind: 'peer', command: ['skopeo', 'copy', `docker://${ref}`, 'dir:DIR'], run: peerRun(['skopeo', '--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${scratch('skopeo')}`], scratch('skopeo')) },
    { id: 'peer:tar-tvf', label: 'tar -tvf docker-save.tar (outer members only)', kind: 'peer', command: ['tar', '-tvf', docker], run: () => timed(['tar', '-tvf', docker]) },
    { id: 'peer:tar-tvf-layers', label: `tar -xOf docker-save.tar LAYER | tar -tvf - for each layer, ${JOBS} at a time`, kind: 'peer', command: tarLayers, run: () => pool(tarLayers.map((script) => ({ script, expect: [] })), JOBS) },
    { id: 'peer:tar-tvzf-serial', label: 'tar -tvzf of each OCI layer blob, one after another (GNU tar: one core)', kind: 'peer', command: ['sh', '-c', tarSerial], run: () => pool([{ script: tarSerial, expect: [] }], 1) },
    verb('layerlens:cmd-layers', 'layerlens layers oci:DIR', ['layers', `oci:${layout}`], info, verbPeers),
    verb('layerlens:cmd-files', 'layerlens files oci:DIR (the tree, to its default depth)', ['files', `oci:${layout}`], info, verbPeers),
    verb('layerlens:cmd-waste', 'layerlens waste oci:DIR', ['waste', `oci:${layout}`], info, verbPeers),
    verb('layerlens:cmd-check', 'layerlens check oci:DIR (no rules: the whole scan, every check)', ['check', `oci:${layout}`], info, verbPeers),
    verb('layerlens:cmd-analyze-file', 'layerlens analyze oci:DIR -o FILE --format json', ['analyze', `oci:${layout}`, '--format', 'json', '-o', 'OUTFILE'], info, verbPeers),
    ...(existsSync(changed) ? [verb('layerlens:cmd-diff', `layerlens diff oci:DIR oci:${name}-changed.oci (one layer differs)`, ['diff', `oci:${layout}`, `oci:${changed}`], info, verbPeers)] : []),
  ];
  return ONLY ? list.filter((m) => ONLY.includes(m.id) || (m.id === 'layerlens:registry-warm' && ONLY.includes('layerlens:registry-fill'))) : list;
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------
const results = {
  schemaVersion: 1,
  startedAt: new Date(STARTED).toISOString(),
  options: { images: IMAGES, runs: RUNS, jobs: JOBS, quick: QUICK, imagesDir: path.relative(REPO, IMAGES_DIR) || '.' },
  machine: machine(),
  notes: [
    'All inputs are read from the page cache (each image is read once, untimed, before its runs): these are CPU-bound figures.',
    'wall/user/sys in seconds, maxRssKB from GNU time -v; for pooled floors/peers, CPU is summed over the jobs and maxRssKB is the largest job.',
    'Registry measures use a docker-registry on 127.0.0.1 over plain HTTP (layerlens probes HTTPS first on loopback).',
    'foreignCpu: CPU seconds the rest of the machine was busy during a sample (/proc/stat minus the measured command, this harness and our registry; includes kernel threads such as writeback, and GNU time itself); noise = foreignCpu / wall, in cores. Samples above --noise cores on average were retaken up to --retries times; the retaken ones are under "discarded".',
  ],
  images: {},
};

results.loadavgAtStart = readFileSync('/proc/loadavg', 'utf8').trim();
if (Number(results.loadavgAtStart.split(' ')[0]) > 0.5) log(`warning: load average ${results.loadavgAtStart}: the machine is busy; samples disturbed by other processes will be retaken (--noise ${NOISE})`);
const registry = await startRegistry();
log(`docker-registry on ${registry.host} (pid ${registry.child.pid})`);
const stopRegistry = () => {
  if (registry.child.exitCode === null) registry.child.kill('SIGTERM');
};
process.on('exit', stopRegistry);
process.on('SIGINT', () => process.exit(130));

try {
  for (const name of IMAGES) {
    const info = readJson(path.join(IMAGES_DIR, `${name}.info.json`));
    delete info.perLayer;
    const image = { info, push: null, measures: {}, checks: [], ratios: {} };
    results.images[name] = image;
    log(`${name}: ${info.layers} layers, ${(info.compressedSize / 1e6).toFixed(1)} MB compressed, ${(info.uncompressedSize / 1e6).toFixed(1)} MB uncompressed, ${info.filesInRootfs} paths`);

    const push = await timed(['skopeo', '--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${path.join(IMAGES_DIR, `${name}.oci`)}:latest`, `docker://${registry.host}/bench/${name}:1`]);
    if (push.code !== 0) throw new Error(`skopeo push failed: ${push.stderr}`);
    image.push = { seconds: push.wall };
    log(`${name}: pushed to ${registry.host}/bench/${name}:1 in ${push.wall.toFixed(1)} s`);

    // Warm the page cache: every input once, untimed.
    await timed(['sh', '-c', `cat ${q(path.join(IMAGES_DIR, `${name}.oci.tar`))} ${q(path.join(IMAGES_DIR, `${name}.docker.tar`))} ${q(path.join(IMAGES_DIR, `${name}.oci`))}/blobs/sha256/* >/dev/null`]);

    for (const engine of ENGINES) {
      const load = await timed(['curl', '-sf', '--unix-socket', engine.socket, '-X', 'POST', '-H', 'Content-Type: application/x-tar', '-T', path.join(IMAGES_DIR, `${name}.docker.tar`), 'http://engine/images/load?quiet=1']);
      if (load.code !== 0) throw new Error(`loading ${name} into ${engine.name} at ${engine.socket} failed: ${load.stderr}`);
      log(`${name}: loaded into ${engine.name} (${engine.socket}) in ${load.wall.toFixed(1)} s`);
    }
    const measures = measuresFor(name, info, registry);
    const ctx = { checked: new Set(), checks: image.checks };
    for (const m of measures) image.measures[m.id] = { label: m.label, kind: m.kind, command: m.command, runs: [], discarded: [] };
    for (let run = 0; run < RUNS; run++) {
      // Rotate the order from run to run, so no measure always follows the same one.
      const order = measures.map((_, i) => measures[(i + run) % measures.length]);
      for (const m of order) {
        let r;
        let sample;
        for (let attempt = 0; ; attempt++) {
          const busy0 = machineBusy();
          const reg0 = processCpu(registry.child.pid);
          const self0 = process.cpuUsage();
          r = await m.run(ctx);
          const self = process.cpuUsage(self0);
          const ours = r.user + r.sys + Object.values(r.extra ?? {}).reduce((n, x) => n + x.user + x.sys, 0) +
            (processCpu(registry.child.pid) - reg0) + (self.user + self.system) / 1e6;
          const wallAll = r.wall + Object.values(r.extra ?? {}).reduce((n, x) => n + x.wall, 0);
          const foreignCpu = Math.max(0, machineBusy() - busy0 - ours);
          const noise = foreignCpu / wallAll;
          sample = { wall: r.wall, user: r.user, sys: r.sys, maxRssKB: r.maxRssKB, foreignCpu: Number(foreignCpu.toFixed(2)), noise: Number(noise.toFixed(2)), attempt };
          if (noise <= NOISE || foreignCpu < 0.05 || attempt >= RETRIES) break; // /proc/stat counts in 10 ms ticks
          image.measures[m.id].discarded.push(sample);
          log(`${name} run ${run + 1}/${RUNS} ${m.id}: ${r.wall.toFixed(2)} s with ${(foreignCpu / wallAll).toFixed(2)} cores busy elsewhere: discarded, again`);
        }
        image.measures[m.id].runs.push(sample);
        for (const [extraId, extra] of Object.entries(r.extra ?? {})) {
          image.measures[extraId] ??= { label: 'layerlens analyze REGISTRY/REF --cache-dir D (1st run: empty cache, fills it)', kind: 'layerlens', command: ['node', 'bin/layerlens.js', 'analyze', '--json', 'REF', '--cache-dir', 'DIR'], runs: [], discarded: [] };
          image.measures[extraId].runs.push({ wall: extra.wall, user: extra.user, sys: extra.sys, maxRssKB: extra.maxRssKB, foreignCpu: sample.foreignCpu, noise: sample.noise, attempt: sample.attempt });
        }
        log(`${name} run ${run + 1}/${RUNS} ${m.id.padEnd(26)} ${r.wall.toFixed(2).padStart(7)} s${m.kind === 'layerlens' ? `  rss ${(r.maxRssKB / 1024).toFixed(0)} MiB` : ''}`);
      }
    }
    for (const m of Object.values(image.measures)) {
      m.median = {
        wall: median(m.runs.map((r) => r.wall)),
        cpu: median(m.runs.map((r) => r.user + r.sys)),
        maxRssKB: median(m.runs.map((r) => r.maxRssKB)),
        foreignCpu: median(m.runs.map((r) => r.foreignCpu)),
        noise: median(m.runs.map((r) => r.noise)),
      };
      m.min = { wall: Math.min(...m.runs.map((r) => r.wall)) };
    }
    // Ratios of medians: layerlens / its floor, layerlens / each peer.
    for (const m of measures.filter((x) => x.kind === 'layerlens')) {
      const ids = m.id === 'layerlens:registry-warm' ? ['layerlens:registry-fill', m.id] : [m.id];
      for (const id of ids) {
        const mine = image.measures[id].median.wall;
        const r = {};
        if (m.floor && image.measures[m.floor]) r[m.floor] = mine / image.measures[m.floor].median.wall;
        for (const p of m.peers) if (image.measures[p]) r[p] = mine / image.measures[p].median.wall;
        image.ratios[id] = r;
      }
    }
    for (const c of image.checks) if (!c.ok) log(`${name}: CHECK FAILED ${c.measure}: ${JSON.stringify(c.mismatches)}`);
    results.totalSeconds = (Date.now() - STARTED) / 1000;
  }
} finally {
  stopRegistry();
}

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------
results.finishedAt = new Date().toISOString();
results.totalSeconds = (Date.now() - STARTED) / 1000;
const day = results.startedAt.slice(0, 10);
const host = os.hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
mkdirSync(path.join(BENCH, 'results'), { recursive: true });
let outFile = opt('out', null);
if (!outFile) {
  outFile = path.join(BENCH, 'results', `${day}-${host}${QUICK ? '-quick' : ''}.json`);
  if (existsSync(outFile)) outFile = outFile.replace(/\.json$/, `-${results.startedAt.slice(11, 16).replace(':', '')}.json`);
}
writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
rmSync(SCRATCH, { recursive: true, force: true });

const s = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const mb = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(0) : '-');
const lines = [];
const m = results.machine;
lines.push(`layerlens ${m.tools.layerlens} dist ${DIST_DIGEST.slice(7, 19)}${m.tools.layerlensDistNewerThanSrc ? '' : ' (OLDER than src/: npm run build?)'} · node ${m.node} · ${m.nproc} × ${m.cpuModel} · ${(m.memTotalKB / 1048576).toFixed(1)} GiB · ${RUNS} run(s), medians · floors and pooled peers ${JOBS} jobs at a time`);
for (const [name, image] of Object.entries(results.images)) {
  const i = image.info;
  lines.push('');
  lines.push(`${name}: ${i.layers} layers, ${(i.compressedSize / 1e6).toFixed(1)} MB compressed, ${(i.uncompressedSize / 1e6).toFixed(1)} MB uncompressed, ${i.entries} tar entries, ${i.filesInRootfs} paths in the rootfs`);
  lines.push(`  ${'measure'.padEnd(26)} ${'wall s'.padStart(7)} ${'min s'.padStart(7)} ${'cpu s'.padStart(7)} ${'RSS MiB'.padStart(8)} ${'noise'.padStart(6)}  ratios (wall / wall)`);
  for (const [id, mm] of Object.entries(image.measures)) {
    const ratios = Object.entries(image.ratios[id] ?? {}).map(([k, v]) => `${v.toFixed(2)}× ${k.replace(/^(floor|peer):/, '')}`).join(', ');
    const noise = mm.median.noise;
    lines.push(`  ${id.padEnd(26)} ${s(mm.median.wall).padStart(7)} ${s(mm.min.wall).padStart(7)} ${s(mm.median.cpu).padStart(7)} ${mb(mm.median.maxRssKB).padStart(8)} ${(Number.isFinite(noise) ? noise.toFixed(2) : '-').padStart(6)}  ${ratios}${mm.discarded?.length ? ` (${mm.discarded.length} noisy sample(s) retaken)` : ''}`);
  }
  const rate = image.measures['layerlens:oci-layout']?.median.wall;
  if (rate) lines.push(`  analyze oci-layout: ${(i.entries / rate / 1000).toFixed(0)}k tar entries/s, ${(i.uncompressedSize / 1e6 / rate).toFixed(0)} MB/s uncompressed, ${(i.compressedSize / 1e6 / rate).toFixed(0)} MB/s compressed`);
  const bad = image.checks.filter((c) => !c.ok);
  lines.push(bad.length ? `  CHECKS FAILED: ${bad.map((c) => `${c.measure} ${JSON.stringify(c.mismatches)}`).join('; ')}` : `  checks: every layerlens report matched tar/pigz counts (layers, entries, rootfs paths, sizes) and verified`);
}
lines.push('');
lines.push(`results: ${path.relative(process.cwd(), outFile)}   total ${results.totalSeconds.toFixed(0)} s`);
process.stdout.write(lines.join('\n') + '\n');
