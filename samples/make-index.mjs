#!/usr/bin/env node
// Turns an OCI image layout that holds one single-platform image per tag into
// a layout whose only entry is a multi-platform image index, then removes
// every blob that is no longer referenced.
//
//   node make-index.mjs <layout> <ref-name> <tag>=<os>/<arch>[/<variant>] ...
//
// e.g. node make-index.mjs work latest amd64=linux/amd64 arm64=linux/arm64/v8
//
// umoci (0.4.x) cannot write an image index with several platforms, nor set
// the platform variant in an image config, so this script does both: when a
// variant is given and the config lacks it, the config gets a "variant" field
// (image-spec v1.1) and the manifest is rewritten to point at the new config.
// Output is deterministic: same input layout, same bytes out.
// Plain Node (>= 18), no dependencies.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, readdirSync, unlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';

function die(msg) {
  process.stderr.write(`make-index: ${msg}\n`);
  process.exit(1);
}

const [layout, refName, ...specs] = process.argv.slice(2);
if (!layout || !refName || specs.length === 0) {
  die('usage: make-index.mjs <layout> <ref-name> <tag>=<os>/<arch>[/<variant>] ...');
}

const blobDir = join(layout, 'blobs', 'sha256');

function blobPath(digest) {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) die(`unsupported digest ${digest}`);
  return join(blobDir, m[1]);
}

function readBlob(desc) {
  const buf = readFileSync(blobPath(desc.digest));
  const actual = 'sha256:' + createHash('sha256').update(buf).digest('hex');
  if (actual !== desc.digest) die(`blob ${desc.digest} has digest ${actual}`);
  if (typeof desc.size === 'number' && desc.size !== buf.length) {
    die(`blob ${desc.digest} is ${buf.length} bytes, descriptor says ${desc.size}`);
  }
  return buf;
}

// JSON as Go's encoding/json writes it (umoci writes the other blobs), so that
// every JSON blob in the layout looks alike: compact, with <, > and & escaped.
function goJson(obj) {
  return JSON.stringify(obj).replace(
    /[<>&\u2028\u2029]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

function writeJsonBlob(obj, mediaType) {
  const buf = Buffer.from(goJson(obj));
  const digest = 'sha256:' + createHash('sha256').update(buf).digest('hex');
  writeFileSync(blobPath(digest), buf, { mode: 0o644 });
  return { mediaType, digest, size: buf.length };
}

const topIndex = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
const entries = [];

for (const spec of specs) {
  const m = /^([^=]+)=([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(spec);
  if (!m) die(`bad platform spec "${spec}" (want tag=os/arch[/variant])`);
  const [, tag, os, architecture, variant] = m;

  const found = (topIndex.manifests ?? []).filter((d) => d.annotations?.[REF_NAME] === tag);
  if (found.length !== 1) die(`expected exactly one manifest tagged "${tag}", found ${found.length}`);
  const desc = found[0];
  if (desc.mediaType !== MT_MANIFEST) die(`"${tag}" is ${desc.mediaType}, not an image manifest`);

  const manifest = JSON.parse(readBlob(desc).toString('utf8'));
  const config = JSON.parse(readBlob(manifest.config).toString('utf8'));
  if (config.os !== os || config.architecture !== architecture) {
    die(`"${tag}" config says ${config.os}/${config.architecture}, expected ${os}/${architecture}`);
  }

  let manifestDesc = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (variant && config.variant !== variant) {
    // Insert "variant" right after "architecture" to keep the usual key order.
    const patched = {};
    for (const [k, v] of Object.entries(config)) {
      if (k === 'variant') continue;
      patched[k] = v;
      if (k === 'architecture') patched.variant = variant;
    }
    manifest.config = writeJsonBlob(patched, manifest.config.mediaType ?? MT_CONFIG);
    manifestDesc = writeJsonBlob(manifest, MT_MANIFEST);
  }

  const platform = { architecture, os };
  if (variant) platform.variant = variant;
  entries.push({ ...manifestDesc, platform });
}

const imageIndex = { schemaVersion: 2, mediaType: MT_INDEX, manifests: entries };
const indexDesc = writeJsonBlob(imageIndex, MT_INDEX);

const newTop = {
  schemaVersion: 2,
  mediaType: MT_INDEX,
  manifests: [{ ...indexDesc, annotations: { [REF_NAME]: refName } }],
};
writeFileSync(join(layout, 'index.json'), goJson(newTop), { mode: 0o644 });

// Garbage-collect: keep only what index.json reaches.
const reachable = new Set();
function walk(desc) {
  if (reachable.has(desc.digest)) return;
  reachable.add(desc.digest);
  if (!existsSync(blobPath(desc.digest))) die(`missing blob ${desc.digest}`);
  if (desc.mediaType === MT_INDEX) {
    const idx = JSON.parse(readBlob(desc).toString('utf8'));
    for (const d of idx.manifests) walk(d);
  } else if (desc.mediaType === MT_MANIFEST) {
    const man = JSON.parse(readBlob(desc).toString('utf8'));
    walk(man.config);
    for (const l of man.layers) walk(l);
  } else {
    readBlob(desc); // config or layer: verify digest and size
  }
}
for (const d of newTop.manifests) walk(d);

let removed = 0;
for (const name of readdirSync(blobDir)) {
  if (!reachable.has(`sha256:${name}`)) {
    unlinkSync(join(blobDir, name));
    removed++;
  }
}

process.stdout.write(
  `make-index: ${refName} -> ${indexDesc.digest} (${entries.length} platforms, ` +
    `${reachable.size} blobs kept, ${removed} removed)\n`,
);
for (const e of entries) {
  const p = e.platform;
  process.stdout.write(`  ${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}  ${e.digest}\n`);
}
