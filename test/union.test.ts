/**
 * The union filesystem against an independent oracle: umoci unpacks the same image into a real root filesystem,
 * and every path layerlens lists (`files --json`) must be there with the same type, size, mode, owner and link
 * target — and nothing more. `files --layer N` must equal umoci's unpack of the image cut to its first N+1
 * layers, each layer's `changes` must equal the difference between consecutive unpacks, and each file's `layer`
 * must be the last layer whose tarball (as GNU tar lists it) holds that path.
 *
 * Images: dive's own test image (hardlinks, whiteouts of files and directories), go-containerregistry's whiteout
 * and overwrite fixtures, snyk's skopeo- and kaniko-made archives, the bundled sample, and layer sequences built
 * here for what the fixtures lack: an opaque directory (regclient's layer-wh.tar), type changes in both
 * directions, hardlinks into lower layers, `./` and absolute tar names, whiteouts of whole trees.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { fixture, runJson, SAMPLES } from './helpers/cli.js';
import { layerTar, truncateImage, writeImage } from './helpers/layout.js';

// Each test unpacks an image once per layer with umoci.

interface FileJson {
  path: string;
  type: string;
  size: number;
  mode: string;
  uid: number;
  gid: number;
  linkTarget: string | null;
  layer: number;
}
interface FilesReport {
  layers: { index: number; digest: string; changes: { added: string[]; modified: string[]; removed: string[] } }[];
  files: FileJson[];
}

interface Observed {
  type: string;
  size: number;
  mode: string;
  uid: number;
  gid: number;
  linkTarget: string | null;
  ino: number;
  hash: string | null;
}

let work: string;
let layout: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-union-'));
  layout = path.join(work, 'layout');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/** Every path under an unpacked rootfs, as lstat sees it (links never followed). */
function observe(rootfs: string): Map<string, Observed> {
  const seen = new Map<string, Observed>();
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const key = `${prefix}/${name}`;
      const stat = lstatSync(full);
      const type = stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'symlink' : stat.isFile() ? 'file' : stat.isCharacterDevice() ? 'char' : stat.isBlockDevice() ? 'block' : stat.isFIFO() ? 'fifo' : 'other';
      seen.set(key, {
        type,
        size: type === 'file' ? stat.size : 0,
        mode: octal(stat.mode),
        uid: stat.uid,
        gid: stat.gid,
        linkTarget: type === 'symlink' ? readlinkSync(full) : null,
        ino: stat.ino,
        hash: type === 'file' ? createHash('sha256').update(readFileSync(full)).digest('hex') : null,
      });
      if (type === 'dir') walk(full, key);
    }
  };
  walk(rootfs, '');
  return seen;
}

let bundles = 0;
/** umoci's root filesystem of `oci:LAYOUT:TAG`, observed. */
function unpack(tag: string): Map<string, Observed> {
  const bundle = path.join(work, `bundle-${bundles++}`);
  execFileSync('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle], { stdio: 'pipe' });
  try {
    return observe(path.join(bundle, 'rootfs'));
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** Differences between layerlens's file list and umoci's rootfs, as readable lines (empty when they agree). */
function compare(files: FileJson[], rootfs: Map<string, Observed>): string[] {
  const problems: string[] = [];
  const ours = new Map(files.map((file) => [file.path, file]));
  for (const [key, actual] of rootfs) {
    const file = ours.get(key);
    if (!file) {
      problems.push(`${key}: in umoci's rootfs (${actual.type}), missing from files`);
      continue;
    }
    // A hardlink is a regular file sharing its target's inode on disk.
    const type = file.type === 'hardlink' ? 'file' : file.type;
    if (type !== actual.type) problems.push(`${key}: type ${file.type}, umoci ${actual.type}`);
    if (type === 'file' && file.size !== actual.size) problems.push(`${key}: size ${file.size}, umoci ${actual.size}`);
    if (actual.type !== 'symlink' && file.mode !== actual.mode) problems.push(`${key}: mode ${file.mode}, umoci ${actual.mode}`);
    if (file.uid !== actual.uid || file.gid !== actual.gid) problems.push(`${key}: owner ${file.uid}:${file.gid}, umoci ${actual.uid}:${actual.gid}`);
    if (actual.type === 'symlink' && file.linkTarget !== actual.linkTarget) problems.push(`${key}: link ${file.linkTarget}, umoci ${actual.linkTarget}`);
    if (file.type === 'hardlink') {
      // Its target may have been removed since (the content stays, under this name); if it is there, same inode.
      const target = rootfs.get(file.linkTarget ?? '');
      if (target && target.ino !== actual.ino) problems.push(`${key}: hardlink to ${file.linkTarget}, which umoci did not link to it`);
      if (!target && actual.type !== 'file') problems.push(`${key}: hardlink whose target is gone, umoci ${actual.type}`);
    }
  }
  for (const key of ours.keys()) if (!rootfs.has(key)) problems.push(`${key}: in files, not in umoci's rootfs`);
  return problems;
}

/** What changed from one rootfs to the next: the oracle for a layer's `changes`. */
function changes(before: Map<string, Observed>, after: Map<string, Observed>): { added: string[]; modified: string[]; removed: string[] } {
  const added: string[] = [];
  const modified: string[] = [];
  const removed: string[] = [];
  for (const [key, now] of after) {
    const then = before.get(key);
    if (!then) added.push(key);
    else if (then.type !== now.type || then.hash !== now.hash || then.mode !== now.mode || then.uid !== now.uid || then.gid !== now.gid || then.linkTarget !== now.linkTarget) modified.push(key);
  }
  for (const key of before.keys()) if (!after.has(key)) removed.push(key);
  return { added: added.sort(), modified: modified.sort(), removed: removed.sort() };
}

/** The paths each layer's tarball holds, as GNU tar lists them (normalised like a rootfs path). */
function tarPaths(blob: string): Set<string> {
  const listing = execFileSync('tar', ['-tf', blob], { maxBuffer: 256 << 20 }).toString('utf8');
  return new Set(
    listing
      .split('\n')
      .filter(Boolean)
      .map((name) => `/${name.replace(/^(\.\/)+|^\/+/, '').replace(/\/+$/, '')}`),
  );
}

function layerBlobs(tag: string): string[] {
  const blob = (digest: string) => path.join(layout, 'blobs', 'sha256', digest.slice(7));
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((candidate) => candidate.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as { layers: { digest: string }[] };
  return manifest.layers.map((layer) => blob(layer.digest));
}

async function files(tag: string, extra: string[] = []): Promise<FilesReport> {
  const { code, json, stderr } = await runJson<FilesReport>(['files', `oci:${layout}:${tag}`, ...extra]);
  if (code !== 0) throw new Error(`files exited ${code}: ${stderr}`);
  return json;
}

/** The whole check for one image: final filesystem, every `--layer N`, every layer's changes, `layer` attribution. */
async function checkImage(tag: string): Promise<void> {
  const report = await files(tag);
  const layerCount = report.layers.length;
  const unpacked: Map<string, Observed>[] = [];
  for (let n = 0; n < layerCount; n++) {
    const cut = `${tag}-upto-${n}`;
    if (n === layerCount - 1) unpacked.push(unpack(tag));
    else {
      truncateImage(layout, tag, cut, n + 1);
      unpacked.push(unpack(cut));
    }
  }
  expect(compare(report.files, unpacked[layerCount - 1]!)).toEqual([]);
  for (let n = 0; n < layerCount - 1; n++) {
    const asOf = await files(tag, ['--layer', String(n)]);
    expect({ layer: n, problems: compare(asOf.files, unpacked[n]!) }).toEqual({ layer: n, problems: [] });
  }
  for (let n = 0; n < layerCount; n++) {
    const expected = changes(n === 0 ? new Map() : unpacked[n - 1]!, unpacked[n]!);
    const actual = report.layers[n]!.changes;
    expect({ layer: n, added: [...actual.added].sort(), modified: [...actual.modified].sort(), removed: [...actual.removed].sort() }).toEqual({ layer: n, ...expected });
  }
  const listed = layerBlobs(tag).map(tarPaths);
  const wrongLayer = report.files
    .filter((file) => file.type !== 'dir')
    .filter((file) => {
      let last = -1;
      listed.forEach((paths, i) => {
        if (paths.has(file.path)) last = i;
      });
      return last !== file.layer;
    })
    .map((file) => `${file.path}: layer ${file.layer}`);
  expect(wrongLayer).toEqual([]);
}

function importArchive(archive: string, tag: string): void {
  const names = execFileSync('tar', ['-tf', archive], { maxBuffer: 64 << 20 }).toString('utf8').split('\n');
  const transport = names.includes('manifest.json') ? 'docker-archive' : 'oci-archive';
  execFileSync('skopeo', ['copy', '--quiet', `${transport}:${archive}`, `oci:${layout}:${tag}`], { stdio: 'pipe' });
}

describe('real images, against umoci unpack', () => {
  const archives: [string, string][] = [
    ['dive-test-image', fixture('dive', '.data', 'test-docker-image.tar')],
    ['ggcr-whiteout-image', fixture('go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata', 'whiteout_image.tar')],
    ['ggcr-whiteout-dir', fixture('go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata', 'whiteout_dir.tar')],
    ['ggcr-overwritten-file', fixture('go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata', 'overwritten_file.tar')],
    ['snyk-node-removed', fixture('snyk-docker-plugin', 'test', 'fixtures', 'docker-archives', 'skopeo-copy', 'node-removed.tar')],
    ['snyk-kaniko-busybox', fixture('snyk-docker-plugin', 'test', 'fixtures', 'kaniko-archives', 'kaniko-busybox.tar')],
    ['sample-busybox', path.join(SAMPLES, 'busybox-amd64.tar')],
  ];
  // dive's image has 14 layers: 14 umoci unpacks. Under a loaded machine (CI beside other jobs) that passed the
  // default 120 s; the deadline guards against a hang, it is not a speed target.
  test.each(archives)('%s', async (tag, archive) => {
    importArchive(archive, tag);
    await checkImage(tag);
  }, 600_000);
});

describe('layer sequences built here, against umoci unpack', () => {
  test('an opaque directory (regclient layer-wh.tar) over a populated base', async () => {
    const base = await layerTar([
      { name: 'layer1.txt', content: 'one' },
      { name: 'layer2.txt', content: 'two' },
      { name: 'exdir/', type: 'directory' },
      { name: 'exdir/a', content: 'a' },
      { name: 'exdir/sub/', type: 'directory' },
      { name: 'exdir/sub/deep', content: 'deep' },
    ]);
    const top = await layerTar([
      { name: 'exdir/', type: 'directory' },
      { name: 'exdir/new-in-same-layer', content: 'kept: added by the opaque layer itself' },
      { name: 'exdir/.wh..wh..opq' },
    ]);
    writeImage(layout, 'opaque', [base, readFileSync(fixture('regclient', 'testdata', 'layer-wh.tar')), top]);
    await checkImage('opaque');
  });

  test('type changes both ways, whiteouts of trees, hardlinks into lower layers, ./ and absolute names', async () => {
    const layers = [
      await layerTar([
        { name: './etc/', type: 'directory' },
        { name: './etc/config', content: 'v1', mode: 0o640, uid: 10, gid: 20 },
        { name: './etc/tree/', type: 'directory', mode: 0o700 },
        { name: './etc/tree/a/b/c', content: 'deep file, parents implicit' },
        { name: './bin/tool', content: 'binary'.repeat(100), mode: 0o755 },
        { name: './data', type: 'directory' },
        { name: './data/x', content: 'x' },
        { name: './link-to-tool', type: 'symlink', linkname: 'bin/tool' },
        { name: './setuid', content: 's', mode: 0o4755 },
      ]),
      await layerTar([
        { name: '/etc/config', content: 'v2 longer', mode: 0o640, uid: 10, gid: 20 }, // modified content
        { name: '/etc/.wh.tree' }, // a whole tree whited out
        { name: 'data', content: 'a directory became a file' }, // dir → file
        // A hardlink into a lower layer, its header's mode differing from its target's (tar writers normally
        // write the same): umoci keeps the target's, and so do we.
        { name: 'bin/tool-hardlink', type: 'link', linkname: 'bin/tool', mode: 0o600 },
        { name: 'link-to-tool', type: 'directory' }, // symlink → dir
        { name: 'link-to-tool/inside', content: 'i' },
      ]),
      await layerTar([
        { name: 'data', type: 'directory', mode: 0o711 }, // file → dir again
        { name: 'data/y', content: 'y' },
        { name: 'etc/tree/', type: 'directory' }, // re-created after its whiteout
        { name: 'etc/tree/fresh', content: 'f' },
        { name: 'etc/config', content: 'v2 longer', mode: 0o600, uid: 10, gid: 20 }, // mode only
        { name: 'setuid', type: 'symlink', linkname: '/bin/tool' }, // file → symlink
        { name: 'bin/.wh.tool' }, // the hardlink's original name removed; the hardlink keeps the content
      ]),
    ];
    writeImage(layout, 'tricky', layers);
    await checkImage('tricky');
  });
});
