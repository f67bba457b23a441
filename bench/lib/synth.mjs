#!/usr/bin/env node
// Deterministic file trees for the synthetic benchmark images (no randomness from the machine: every byte comes
// from a seeded PRNG or an AES-256-CTR keystream with a fixed key, so two runs write identical trees).
//
//   node synth.mjs smallfiles DIR [COUNT=200000]   COUNT small files (0 B - 8 KiB, mostly text) in COUNT/400 dirs
//   node synth.mjs bigfiles DIR [MIB=1000]         a few large files, MIB MiB in all: random, log-like text, mixed
//   node synth.mjs layer DIR N                     the content of layer N of "manylayers" (about 30 small files)
//   node synth.mjs appcache DIR MIB                a build cache: MIB MiB of wheels-like random + text files
//   node synth.mjs millionfiles DIR LAYER [COUNT]  layer LAYER of "millionfiles" (COUNT=1000000 entries in all):
//                                                  empty (64 %: empty files), small (30 %: 1-512 B text, one in
//                                                  five a copy of another), churn (6.4 %: whiteouts of 5 % of the
//                                                  empty files and new content for another 5 %), churn-changed
//                                                  (churn with other content: the copy `diff` compares against)
import { createCipheriv } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

const [mode, dir, arg] = process.argv.slice(2);
if (!mode || !dir) {
  console.error('usage: synth.mjs smallfiles|bigfiles|layer|appcache DIR [ARG]');
  process.exit(2);
}

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Incompressible bytes: an AES-256-CTR keystream with a fixed key, starting at block `seed << 32`. */
function keystream(seed) {
  const key = Buffer.from('6c617965726c656e732d62656e63682d6b657973747265616d2d303030303031', 'hex');
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(seed >>> 0, 4);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return (n) => cipher.update(Buffer.alloc(n));
}

const WORDS = (
  'the of and to in is for on that with as by at from this be are or an it not which have was all can will one ' +
  'config server request response error warning info debug layer image digest manifest blob tar gzip zstd file ' +
  'path user group mode size time node python package module import export function return const let value key ' +
  'cache build install update remove library share local bin etc var opt usr lib include source target version'
).split(' ');

/** Text-like bytes (compresses about 4x with gzip): words, numbers, newlines. */
function text(rand, n) {
  const parts = [];
  let len = 0;
  while (len < n) {
    let line = `${Math.floor(rand() * 1e6)}`;
    const words = 4 + Math.floor(rand() * 12);
    for (let i = 0; i < words; i++) line += ` ${WORDS[Math.floor(rand() * WORDS.length)]}`;
    line += '\n';
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

function smallfiles(root, count) {
  const rand = prng(1);
  const random = keystream(1);
  const perDir = 400;
  for (let d = 0; d * perDir < count; d++) {
    const sub = path.join(root, `d${String(d).padStart(4, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < perDir && d * perDir + f < count; f++) {
      const r = rand();
      const size = r < 0.7 ? Math.floor(rand() * 512) : r < 0.95 ? 512 + Math.floor(rand() * 1536) : 2048 + Math.floor(rand() * 6144);
      // One file in ten is binary (incompressible), the rest text.
      const binary = rand() < 0.1;
      writeFileSync(path.join(sub, `f${String(f).padStart(3, '0')}.${binary ? 'bin' : 'txt'}`), binary ? random(size) : text(rand, size));
    }
  }
}

function writeStream(file, mib, chunk) {
  const fd = openSync(file, 'w');
  for (let i = 0; i < mib; i++) writeSync(fd, chunk(i));
  closeSync(fd);
}

function bigfiles(root, mib) {
  mkdirSync(root, { recursive: true });
  const MiB = 1 << 20;
  // 40 % random (media, compressed archives), 35 % log-like text, 25 % mixed 64 KiB blocks.
  const randomMiB = Math.round(mib * 0.4);
  const textMiB = Math.round(mib * 0.35);
  const mixedMiB = mib - randomMiB - textMiB;
  const random = keystream(2);
  writeStream(path.join(root, 'model.bin'), randomMiB, () => random(MiB));
  const rand = prng(2);
  writeStream(path.join(root, 'events.log'), textMiB, () => text(rand, MiB));
  const random3 = keystream(3);
  const rand3 = prng(3);
  writeStream(path.join(root, 'dataset.dat'), mixedMiB, () => {
    const blocks = [];
    for (let b = 0; b < 16; b++) blocks.push(rand3() < 0.5 ? random3(64 << 10) : text(rand3, 64 << 10));
    return Buffer.concat(blocks);
  });
}

function layer(root, n) {
  const rand = prng(1000 + n);
  const random = keystream(1000 + n);
  const sub = path.join(root, 'opt', 'app', `step${String(n).padStart(3, '0')}`);
  mkdirSync(sub, { recursive: true });
  for (let f = 0; f < 30; f++) {
    const size = 256 + Math.floor(rand() * 8192);
    writeFileSync(path.join(sub, `part${String(f).padStart(2, '0')}${f % 5 === 0 ? '.bin' : '.txt'}`), f % 5 === 0 ? random(size) : text(rand, size));
  }
}

function appcache(root, mib) {
  const rand = prng(4);
  const random = keystream(4);
  const wheels = path.join(root, 'wheels');
  const http = path.join(root, 'http');
  mkdirSync(wheels, { recursive: true });
  mkdirSync(http, { recursive: true });
  let left = mib << 20;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, 64 * 1024 + Math.floor(rand() * 2 * 1024 * 1024));
    const binary = i % 3 !== 2;
    writeFileSync(path.join(binary ? wheels : http, `${binary ? 'pkg' : 'resp'}-${String(i).padStart(4, '0')}.${binary ? 'whl' : 'json'}`), binary ? random(size) : text(rand, size));
    left -= size;
  }
}

/** Where file `i` of millionfiles' first layer lives: 1,000 files a directory. */
function emptyPath(i) {
  return [`d${String(Math.floor(i / 1000)).padStart(4, '0')}`, `f${String(i % 1000).padStart(3, '0')}`];
}

function millionfiles(root, which, count) {
  const emptyCount = Math.round(count * 0.64);
  const smallCount = Math.round(count * 0.3);
  const made = new Set();
  const dirFor = (...parts) => {
    const dir = path.join(root, ...parts);
    if (!made.has(dir)) mkdirSync(dir, { recursive: true });
    made.add(dir);
    return dir;
  };
  if (which === 'empty') {
    for (let i = 0; i < emptyCount; i++) {
      const [d, f] = emptyPath(i);
      writeFileSync(path.join(dirFor('srv', 'empty', d), f), '');
    }
  } else if (which === 'small') {
    const rand = prng(5);
    const unique = Math.floor(smallCount * 0.8);
    const body = (j) => {
      const own = prng(100000 + j);
      return text(own, 1 + Math.floor(own() * 512));
    };
    for (let i = 0; i < smallCount; i++) {
      // One file in five repeats an earlier file's bytes: duplicates for the waste analysis, as vendored trees have.
      const content = i < unique ? body(i) : body(Math.floor(rand() * unique));
      writeFileSync(path.join(dirFor('srv', 'small', `d${String(Math.floor(i / 1000)).padStart(4, '0')}`), `f${String(i % 1000).padStart(3, '0')}.txt`), content);
    }
  } else if (which === 'churn' || which === 'churn-changed') {
    const rand = prng(which === 'churn' ? 6 : 7);
    for (let i = 0; i < emptyCount; i += 20) {
      const [d, f] = emptyPath(i);
      writeFileSync(path.join(dirFor('srv', 'empty', d), `.wh.${f}`), '');
      if (i + 10 >= emptyCount) continue;
      const [d2, f2] = emptyPath(i + 10);
      writeFileSync(path.join(dirFor('srv', 'empty', d2), f2), text(rand, 16 + Math.floor(rand() * 112)));
    }
  } else {
    console.error(`synth.mjs: millionfiles has no layer ${which} (empty, small, churn, churn-changed)`);
    process.exit(2);
  }
}

switch (mode) {
  case 'smallfiles':
    smallfiles(dir, Number(arg ?? 200000));
    break;
  case 'bigfiles':
    bigfiles(dir, Number(arg ?? 1000));
    break;
  case 'layer':
    layer(dir, Number(arg));
    break;
  case 'appcache':
    appcache(dir, Number(arg ?? 40));
    break;
  case 'millionfiles':
    millionfiles(dir, arg, Number(process.argv[5] ?? 1000000));
    break;
  default:
    console.error(`synth.mjs: unknown mode ${mode}`);
    process.exit(2);
}
