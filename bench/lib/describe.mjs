#!/usr/bin/env node
// Describes a built benchmark image from its outputs, with system tools only (pigz/zstd, GNU tar, sha256sum), so
// the numbers are independent of layerlens: layers, compressed and uncompressed bytes, tar entries, the paths of
// the final root filesystem (whiteouts and opaque directories applied), digests and output checksums.
//
//   node describe.mjs OUTDIR NAME "how it was built"   → JSON on stdout
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const [out, name, how = ''] = process.argv.slice(2);
const layout = path.join(out, `${name}.oci`);
const blob = (digest) => path.join(layout, 'blobs', digest.replace(':', '/'));
const json = (file) => JSON.parse(readFileSync(file, 'utf8'));

const index = json(path.join(layout, 'index.json'));
const manifestDesc = index.manifests[0];
const manifest = json(blob(manifestDesc.digest));
const config = json(blob(manifest.config.digest));

function sniff(file) {
  const fd = execFileSync('head', ['-c', '4', file]);
  if (fd[0] === 0x1f && fd[1] === 0x8b) return ['pigz', ['-dc', file]];
  if (fd.length === 4 && fd.readUInt32LE(0) === 0xfd2fb528) return ['zstd', ['-dc', file]];
  return ['cat', [file]];
}

/** Uncompressed size and entry names of one layer blob. */
function listLayer(file) {
  return new Promise((resolve, reject) => {
    const [cmd, args] = sniff(file);
    const dec = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const tar = spawn('tar', ['-t', '--quoting-style=literal', '-f', '-'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let bytes = 0;
    dec.stdout.on('data', (chunk) => (bytes += chunk.length));
    dec.stdout.pipe(tar.stdin);
    const names = [];
    readline.createInterface({ input: tar.stdout }).on('line', (line) => names.push(line));
    let pending = 2;
    const done = (what) => (code) => {
      if (code !== 0) reject(new Error(`${what} exited ${code} on ${file}`));
      else if (--pending === 0) resolve({ bytes, names });
    };
    dec.on('close', done(cmd));
    tar.on('close', done('tar'));
  });
}

const norm = (name) => { const p = name.replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, ''); return p === '.' ? '' : p; };

const rootfs = new Set();
/**
 * Apply one layer's whiteouts to the paths of the layers below, in one pass over them: `removed` paths go with
 * everything below them, `opaque` directories keep themselves but lose what is below.
 */
function applyWhiteouts(removed, opaque) {
  if (removed.size === 0 && opaque.size === 0) return;
  for (const p of rootfs) {
    if (removed.has(p)) {
      rootfs.delete(p);
      continue;
    }
    if (opaque.has('') && p !== '') {
      rootfs.delete(p);
      continue;
    }
    for (let slash = p.indexOf('/'); slash !== -1; slash = p.indexOf('/', slash + 1)) {
      const ancestor = p.slice(0, slash);
      if (removed.has(ancestor) || opaque.has(ancestor)) {
        rootfs.delete(p);
        break;
      }
    }
  }
}
const layers = [];
for (const desc of manifest.layers) {
  const { bytes, names } = await listLayer(blob(desc.digest));
  let whiteouts = 0;
  let opaque = 0;
  const adds = [];
  const removed = new Set();
  const opaqued = new Set();
  for (const raw of names) {
    const p = norm(raw);
    if (p === '') continue;
    const base = path.posix.basename(p);
    const dir = path.posix.dirname(p) === '.' ? '' : path.posix.dirname(p);
    if (base === '.wh..wh..opq') {
      opaque++;
      opaqued.add(dir);
    } else if (base.startsWith('.wh.')) {
      whiteouts++;
      removed.add(dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`);
    } else adds.push(p);
  }
  applyWhiteouts(removed, opaqued);
  for (const p of adds) rootfs.add(p);
  layers.push({ digest: desc.digest, mediaType: desc.mediaType, compressedSize: desc.size, uncompressedSize: bytes, entries: names.length, whiteouts, opaque });
}

if (process.env.DESCRIBE_PATHS) writeFileSync(process.env.DESCRIBE_PATHS, [...rootfs].sort().join('\n') + '\n');

const sha = (file) => execFileSync('sha256sum', [file]).toString().split(' ')[0];
const sum = (key) => layers.reduce((n, l) => n + l[key], 0);
console.log(JSON.stringify({
  name,
  how,
  builtAt: new Date().toISOString(),
  layers: layers.length,
  compressedSize: sum('compressedSize'),
  uncompressedSize: sum('uncompressedSize'),
  entries: sum('entries'),
  whiteouts: sum('whiteouts'),
  opaqueWhiteouts: sum('opaque'),
  filesInRootfs: rootfs.size,
  manifestDigest: manifestDesc.digest,
  configDigest: manifest.config.digest,
  historyEntries: (config.history ?? []).length,
  outputs: {
    'oci.tar': statSync(path.join(out, `${name}.oci.tar`)).size,
    'docker.tar': statSync(path.join(out, `${name}.docker.tar`)).size,
  },
  sha256: {
    'oci.tar': sha(path.join(out, `${name}.oci.tar`)),
    'docker.tar': sha(path.join(out, `${name}.docker.tar`)),
  },
  perLayer: layers,
}, null, 2));
