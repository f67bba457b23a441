/**
 * A seeded generator of random and mutated layer tars for the differential fuzz test (test/tar-fuzz.test.ts):
 * odd typeflags, size fields on header-only entries hiding entries in their "data", PAX sizes that disagree with
 * the ustar field (both ways), PAX and GNU long names and links (and both at once), base-256 and oddly spelled
 * numbers, PAX uid/gid, old GNU and PAX sparse files, signed and wrong checksums, PAX global headers, V7 and GNU
 * headers, non-UTF-8 names, whiteouts over several layers, missing or extra end blocks, trailing data, a zero
 * block between entries, truncations and flipped bytes; gzip or uncompressed blobs.
 *
 * A case is plain data (FuzzCase), generated from (seed, case number) alone, so that any case can be replayed by
 * itself, printed (describeCase) and shrunk (shrinkCandidates). Every path a case writes is under `c<id>/`, so
 * that many cases can share one image (one or more layers each) without touching each other.
 */
import { BLOCK, TarBuilder, paxRecord, showBytes, type HeaderSpec, type NumField, type SparseMap, type LayerCompression } from './craft-tar.js';

// ---------------------------------------------------------------------------------------------------------------
// PRNG

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of case `n` of a run: independent of every other case, so one case replays alone. */
export function caseSeed(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, value] of choices) {
      if ((r -= w) < 0) return value;
    }
    return choices[choices.length - 1]![1];
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The case model

export type NumEnc = 'octal' | 'octal-space' | 'octal-lead-space' | 'octal-full' | 'base256' | 'garbage';
export type EntryKind = 'dir' | 'file' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block' | 'whiteout' | 'opaque' | 'sparse';
export type NameForm = 'plain' | 'dot' | 'abs' | 'double-slash' | 'dot-segment' | 'dotdot' | 'trailing-slash' | 'no-slash';
/** How a name (or link target) reaches the reader: the ustar field, a GNU 'L'/'K', a PAX record, the ustar prefix, or GNU and PAX both (the first spelling written first). */
export type NameVia = 'ustar' | 'gnu' | 'pax' | 'prefix' | 'gnu+pax' | 'pax+gnu';
/**
 * How the size fields relate to the data written:
 * natural: ustar size = content; ho-size: a header-only entry whose ustar size covers hidden entries; ho-pax-size:
 * the same with a PAX size; pax-honest: PAX size = content, the ustar field 0 or something else; pax-hides: PAX
 * size = content, ustar size = content + hidden entries; ustar-hides: the other way round; pax-weird: a PAX size
 * spelled oddly; lie: the ustar field says something else than what is written.
 */
export type SizeMode = 'natural' | 'ho-size' | 'ho-pax-size' | 'pax-honest' | 'pax-hides' | 'ustar-hides' | 'pax-weird' | 'lie';

export interface FuzzEntry {
  kind: EntryKind;
  /** The typeflag byte written (one character; '\0' for the old regular file). */
  typeflag: string;
  /** The logical path (c<id>/…), as bytes. */
  path: Buffer;
  nameForm: NameForm;
  nameVia: NameVia;
  linkname?: Buffer;
  linkVia?: NameVia;
  content: Buffer;
  mode: number;
  uid: number;
  gid: number;
  devmajor?: number;
  devminor?: number;
  format: 'ustar' | 'gnu' | 'v7';
  enc: Partial<Record<'mode' | 'uid' | 'gid' | 'size' | 'mtime', NumEnc>>;
  /** uid/gid as PAX records (the ustar fields then hold 0). */
  paxIds: boolean;
  paxExtra: [string, string][];
  /** A malformed PAX record appended to this entry's extended header. */
  paxBroken: boolean;
  /** Another 'x' header before the real one (Go keeps only the last). */
  doubleX: boolean;
  sizeMode: SizeMode;
  /** ho-size/ho-pax-size: zero blocks after the hidden entries; pax-honest: the ustar value; pax-weird: spelling; lie: the value. */
  sizeArg: number;
  hidden: FuzzEntry[];
  checksum: 'correct' | 'signed' | 'wrong';
  sparse?: { version: 'S' | '0.0' | '0.1' | '1.0'; realSize: number; map: SparseMap };
  /** A PAX global header ('g') written before this entry. */
  globalBefore?: [string, string][];
  /** The GNU header's atime/ctime area holds text (Go then takes it as a ustar prefix). */
  gnuPrefixJunk?: boolean;
}

export interface FuzzLayer {
  entries: FuzzEntry[];
  /** Zero blocks written after the last entry. */
  end: number;
  trailing: 'none' | 'garbage' | 'entry';
  trailingSeed: number;
  /** A single zero block written before entry #zeroGap (Go: invalid header unless the next block is zero too). */
  zeroGap?: number;
  /** Cut the stream: at a byte fraction ('byte') or at a block boundary ('block'). */
  truncate?: { how: 'byte' | 'block'; at: number };
  flip?: { at: number; xor: number };
  compression: LayerCompression;
}

export interface FuzzCase {
  id: number;
  seed: number;
  /** The features the generator enabled for this case. */
  features: string[];
  layers: FuzzLayer[];
}

// ---------------------------------------------------------------------------------------------------------------
// Generation

const MODES = [0o644, 0o644, 0o755, 0o600, 0o4755, 0o2755, 0o1777, 0o000, 0o777];
const ODD_TYPEFLAGS = ['\0', '\0', '7', 'Z', 'V', 'N', 'M', 'D', 'A', 'I', 'X', 'g'];
const WEIRD_PAX_SIZES = ['+%', '0%', ' %', '% ', '%.0', '', '0x%', '%\u0000'];

/**
 * What a case may exercise. Each case enables one to three of these (most entries stay plain), so that a
 * disagreement points at few features and the cases Go refuses stay a minority.
 */
export const FEATURES = [
  'header-only-size', // size fields on header-only entries, hiding entries in their "data"
  'pax-size', // PAX size vs ustar size: honest, hiding entries either way, oddly spelled
  'size-lie', // a ustar size that is not what is written
  'names', // GNU long names, PAX paths, ustar prefix, both GNU and PAX, ./ / // . .. forms
  'links', // GNU long link names, PAX linkpath, both; hardlinks
  'numbers', // octal spelled with spaces, without NUL, base-256, garbage
  'ids', // uid/gid beyond 7 octal digits (base-256 or PAX), PAX uid/gid
  'typeflags', // NUL, '7', unknown letters, 'g' as an entry
  'sparse', // old GNU 'S', PAX 0.0, 0.1, 1.0
  'checksum', // signed checksums (non-ASCII bytes), wrong ones
  'global', // PAX global headers before entries
  'pax-misc', // extra/empty PAX records, two 'x' headers, a broken record
  'formats', // GNU and V7 headers, text in GNU's atime (read as a prefix by Go)
  'non-utf8', // names and link targets that are not UTF-8
  'end', // 0, 1, 3, 4 end blocks, trailing data or entries after the end, a single zero block between entries
  'damage', // truncations, flipped bytes
  'layers', // several layers, whiteouts, opaque directories
  'devices', // char, block, fifo
] as const;
export type Feature = (typeof FEATURES)[number];

interface GenState {
  rng: Rng;
  id: number;
  on: Set<Feature>;
  files: Buffer[]; // regular files written so far (hardlink targets)
  leaves: Buffer[]; // leaf paths written so far (whiteout targets)
  dirs: Buffer[];
}

function leafName(g: GenState): Buffer {
  const { rng } = g;
  const dir = rng.pick(g.dirs);
  const kind = rng.weighted([
    [70, 'plain'],
    [10, 'env'],
    [8, 'utf8'],
    [g.on.has('non-utf8') ? 40 : 0, 'non-utf8'],
    [g.on.has('names') ? 15 : 0, 'long'],
  ] as const);
  const k = rng.int(0, 5);
  const leaf =
    kind === 'plain'
      ? Buffer.from(`f${k}`)
      : kind === 'env'
        ? Buffer.from('.env')
        : kind === 'utf8'
          ? Buffer.from(`é${k}-名`)
          : kind === 'non-utf8'
            ? Buffer.concat([Buffer.from(rng.pick([[0xff, 0xfe], [0xfe, 0xff], [0xe9], [0xc3, 0x28], [0x80]])), Buffer.from(`-${k}`)])
            : Buffer.from(`${'L'.repeat(rng.int(95, 160))}${k}`);
  return Buffer.concat([dir, Buffer.from('/'), leaf]);
}

function numEnc(rng: Rng): NumEnc {
  return rng.weighted([
    [25, 'octal-space'],
    [25, 'octal-lead-space'],
    [20, 'octal-full'],
    [25, 'base256'],
    [5, 'garbage'],
  ] as const);
}

function newEntry(g: GenState, kind: EntryKind, depth: number): FuzzEntry {
  const { rng, on } = g;
  let path: Buffer;
  if (kind === 'dir') {
    path = rng.pick(g.dirs);
  } else if (kind === 'whiteout') {
    const victim = rng.pick([...g.leaves, ...g.dirs.filter((d) => d.toString('latin1') !== `c${g.id}`)]);
    const slash = victim.lastIndexOf(0x2f);
    path = Buffer.concat([victim.subarray(0, slash + 1), Buffer.from('.wh.'), victim.subarray(slash + 1)]);
  } else if (kind === 'opaque') {
    path = Buffer.concat([rng.pick(g.dirs), Buffer.from('/.wh..wh..opq')]);
  } else {
    path = leafName(g);
  }
  const bigId = () => (on.has('ids') && rng.chance(0.4) ? rng.int(2_097_152, 40_000_000) : rng.chance(0.6) ? 0 : rng.int(1, 65534));
  const entry: FuzzEntry = {
    kind,
    typeflag: { dir: '5', file: '0', symlink: '2', hardlink: '1', fifo: '6', char: '3', block: '4', whiteout: '0', opaque: '0', sparse: '0' }[kind],
    path,
    nameForm: 'plain',
    nameVia: 'ustar',
    content: Buffer.alloc(0),
    // No setgid directories: implicit directories under one inherit its group and setgid bit from the kernel, a union
    // matter (hostile-tar.test.ts has a case), not a tar one.
    mode: kind === 'symlink' ? 0o777 : kind === 'dir' ? rng.pick([0o755, 0o755, 0o700, 0o1777, 0o750]) : rng.pick(MODES),
    uid: bigId(),
    gid: bigId(),
    format: on.has('formats')
      ? rng.weighted([
          [30, 'ustar'],
          [45, 'gnu'],
          [25, 'v7'],
        ] as const)
      : 'ustar',
    enc: {},
    paxIds: false,
    paxExtra: [],
    paxBroken: false,
    doubleX: false,
    sizeMode: 'natural',
    sizeArg: 0,
    hidden: [],
    checksum: 'correct',
  };
  // Ids too big for 7 octal digits go as base-256 or as PAX records, as Go's writer does.
  if (entry.uid >= 2_097_152 || entry.gid >= 2_097_152) {
    if (rng.chance(0.5)) entry.paxIds = true;
    else entry.enc.uid = entry.enc.gid = 'base256';
  }
  if (on.has('ids') && rng.chance(0.2)) entry.paxIds = true;
  if (on.has('numbers')) {
    for (const field of ['mode', 'uid', 'gid', 'size', 'mtime'] as const) if (rng.chance(0.3)) entry.enc[field] ??= numEnc(rng);
  }

  // Names.
  if (on.has('names')) {
    entry.nameForm = rng.weighted([
      [40, 'plain'],
      [12, 'dot'],
      [12, 'abs'],
      [8, 'double-slash'],
      [8, 'dot-segment'],
      [8, 'dotdot'],
      [8, kind === 'dir' ? 'no-slash' : 'trailing-slash'],
    ] as const);
    if (entry.nameForm === 'trailing-slash' && kind !== 'file') entry.nameForm = 'plain';
    if (entry.nameForm === 'dotdot' && path.toString('latin1').split('/').length < 2) entry.nameForm = 'plain';
  }
  const rendered = formName(entry.path, entry.nameForm, entry.kind === 'dir');
  if (rendered.length > 100) entry.nameVia = rng.pick(['gnu', 'pax', 'prefix', 'gnu+pax', 'pax+gnu'] as const);
  else if (on.has('names') && rng.chance(0.4)) entry.nameVia = rng.pick(['gnu', 'pax', 'gnu+pax', 'pax+gnu', 'prefix'] as const);

  // Kind-specific content.
  switch (kind) {
    case 'file':
    case 'whiteout':
    case 'opaque': {
      const length =
        kind === 'file'
          ? rng.weighted([
              [20, 0],
              [50, rng.int(1, 600)],
              [20, rng.int(600, 3000)],
              [10, rng.pick([511, 512, 513, 1024, 1536])],
            ] as const)
          : 0;
      entry.content = rng.chance(0.15) ? Buffer.alloc(length) : rng.bytes(length);
      if (kind === 'file' && on.has('typeflags') && rng.chance(0.25)) entry.typeflag = rng.pick(ODD_TYPEFLAGS);
      // A 'g' header's data is PAX records, which Go parses (and refuses when malformed) before the runtimes skip it.
      if (entry.typeflag === 'g') entry.content = paxRecord('comment', `global ${rng.int(0, 999)}`);
      if (kind === 'file') {
        g.files.push(entry.path);
        g.leaves.push(entry.path);
      }
      break;
    }
    case 'sparse': {
      const realSize = rng.int(1, 20000);
      const map: SparseMap = [];
      let at = rng.int(0, 3) * 512;
      const fragments = rng.int(0, 6);
      while (at < realSize && map.length < fragments) {
        const length = Math.min(rng.int(0, 700), realSize - at);
        map.push([at, length]);
        at += length + rng.int(1, 4000);
      }
      const version = rng.pick(['S', '0.0', '0.1', '1.0'] as const);
      if (rng.chance(0.1) && map.length > 1) map.reverse(); // unsorted: Go refuses
      entry.sparse = { version, realSize, map };
      entry.content = rng.bytes(map.reduce((sum, [, length]) => sum + length, 0));
      entry.typeflag = version === 'S' ? 'S' : '0';
      g.leaves.push(entry.path);
      break;
    }
    case 'symlink':
      entry.linkname = rng.weighted([
        [30, Buffer.from(`f${rng.int(0, 5)}`)],
        [15, Buffer.from('../d1/f2')],
        [15, Buffer.from('/etc/passwd')],
        [10, Buffer.from(`c${g.id}/d0`)],
        [on.has('links') ? 20 : 0, Buffer.from(`t/${'T'.repeat(rng.int(95, 170))}`)],
        [on.has('non-utf8') ? 20 : 0, Buffer.concat([Buffer.from('x'), Buffer.from([0xff, 0xfe])])],
        [10, Buffer.from('.env')],
      ] as const);
      g.leaves.push(entry.path);
      break;
    case 'hardlink':
      entry.linkname = g.files.length > 0 ? rng.pick(g.files) : undefined;
      if (!entry.linkname) return newEntry(g, 'file', depth);
      if (on.has('links') && rng.chance(0.3)) entry.linkname = Buffer.concat([Buffer.from(rng.pick(['./', '/'])), entry.linkname]);
      g.leaves.push(entry.path);
      break;
    case 'char':
    case 'block':
      entry.devmajor = rng.pick([1, 7, 254]);
      entry.devminor = rng.int(0, 9);
      g.leaves.push(entry.path);
      break;
    case 'fifo':
      g.leaves.push(entry.path);
      break;
    case 'dir':
      break;
  }
  if (entry.linkname && (entry.linkname.length > 100 || (on.has('links') && rng.chance(0.5)))) {
    entry.linkVia = rng.pick(['gnu', 'pax', 'gnu+pax', 'pax+gnu'] as const);
  }

  // Size games.
  const headerOnly = ['dir', 'symlink', 'hardlink', 'fifo', 'char', 'block'].includes(kind);
  if (headerOnly && on.has('header-only-size') && rng.chance(0.5)) {
    entry.sizeMode = rng.chance(0.75) ? 'ho-size' : 'ho-pax-size';
    entry.sizeArg = rng.weighted([
      [80, 0],
      [10, 1],
      [10, 2],
    ] as const);
  } else if (kind === 'file' && (on.has('pax-size') || on.has('size-lie')) && rng.chance(0.5)) {
    entry.sizeMode = rng.weighted([
      [on.has('pax-size') ? 25 : 0, 'pax-honest'],
      [on.has('pax-size') ? 25 : 0, 'pax-hides'],
      [on.has('pax-size') ? 25 : 0, 'ustar-hides'],
      [on.has('pax-size') ? 15 : 0, 'pax-weird'],
      [on.has('size-lie') ? 30 : 0, 'lie'],
    ] as const);
    if (entry.sizeMode === 'pax-honest') entry.sizeArg = rng.pick([0, 0, 2048, 1, entry.content.length + 512]);
    if (entry.sizeMode === 'pax-weird') entry.sizeArg = rng.int(0, WEIRD_PAX_SIZES.length - 1);
    if (entry.sizeMode === 'lie') entry.sizeArg = rng.pick([0, 1, 512, 1024, entry.content.length + 1, Math.max(0, entry.content.length - 1)]);
  }
  if (['ho-size', 'ho-pax-size', 'pax-hides', 'ustar-hides'].includes(entry.sizeMode) && depth < 2) {
    const count = rng.int(1, depth === 0 ? 3 : 1);
    for (let i = 0; i < count; i++) {
      entry.hidden.push(
        newEntry(
          g,
          rng.weighted([
            [60, 'file'],
            [15, 'symlink'],
            [10, 'dir'],
            [15, 'fifo'],
          ] as const),
          depth + 1,
        ),
      );
    }
  }

  // Headers around the entry.
  if (on.has('pax-misc')) {
    if (rng.chance(0.3)) {
      entry.paxExtra.push(
        rng.pick<[string, string]>([
          ['mtime', '1700000000.123456789'],
          ['atime', '1700000001'],
          ['comment', 'fuzz'],
          ['uname', 'nobody'],
          ['gname', 'nogroup'],
          ['LIBARCHIVE.creationtime', '1'],
          ['GNU.sparse.major', '7'],
          ['path', ''],
          ['size', ''],
        ]),
      );
    }
    if (rng.chance(0.05)) entry.paxBroken = true;
    if (rng.chance(0.15)) entry.doubleX = true;
  }
  if (on.has('checksum')) {
    if (rng.chance(0.3)) entry.checksum = 'signed';
    else if (rng.chance(0.04)) entry.checksum = 'wrong';
  }
  if (on.has('global') && rng.chance(0.3)) {
    entry.globalBefore = [
      rng.pick<[string, string]>([
        ['comment', 'git-archive-like'],
        ['path', `c${g.id}/global-path`],
        ['uid', '4242'],
        ['size', '0'],
        ['mtime', '1'],
      ]),
    ];
  }
  if (entry.format === 'gnu' && rng.chance(0.1)) entry.gnuPrefixJunk = true;
  if (entry.typeflag === 'g') {
    // The oracle leaves a 'g' header out (Docker and containerd skip it; umoci 0.4.7 refuses it): keep it one Go
    // reads without error, so that leaving it out is what those runtimes do.
    Object.assign(entry, { sizeMode: 'natural', sizeArg: 0, hidden: [], checksum: 'correct', enc: {}, paxBroken: false, nameVia: 'ustar', nameForm: 'plain', gnuPrefixJunk: false });
    entry.path = Buffer.from(`c${g.id}/pax_global_header`);
  }
  return entry;
}

/** A deterministic case: 1–3 layers of 1–6 entries each, under c<id>/, exercising 1–3 features. */
export function generateCase(seed: number, id: number, features?: Feature[]): FuzzCase {
  const rng = new Rng(caseSeed(seed, id));
  const on = new Set<Feature>(features ?? []);
  if (!features) {
    const count = rng.weighted([
      [40, 1],
      [40, 2],
      [20, 3],
    ] as const);
    while (on.size < count) on.add(rng.pick(FEATURES));
  }
  const root = Buffer.from(`c${id}`);
  const g: GenState = { rng, id, on, files: [], leaves: [], dirs: [root, Buffer.from(`c${id}/d0`), Buffer.from(`c${id}/d1`), Buffer.from(`c${id}/d0/e0`)] };
  const layerCount = on.has('layers') ? rng.int(2, 3) : 1;
  const layers: FuzzLayer[] = [];
  for (let l = 0; l < layerCount; l++) {
    const entries: FuzzEntry[] = [];
    if (l === 0 && rng.chance(0.7)) entries.push(newEntry(g, 'dir', 0));
    const count = rng.int(1, 6);
    for (let i = 0; i < count; i++) {
      const kind = rng.weighted<EntryKind>([
        [35, 'file'],
        [8, 'dir'],
        [12, 'symlink'],
        [on.has('links') ? 20 : 5, 'hardlink'],
        [on.has('devices') ? 15 : 2, 'fifo'],
        [on.has('devices') ? 10 : 0, 'char'],
        [on.has('devices') ? 10 : 0, 'block'],
        [on.has('sparse') ? 30 : 0, 'sparse'],
        [l > 0 ? 12 : 0, 'whiteout'],
        [l > 0 ? 5 : 0, 'opaque'],
      ]);
      entries.push(newEntry(g, kind, 0));
    }
    const end = on.has('end');
    const layer: FuzzLayer = {
      entries,
      end: end
        ? rng.weighted([
            [30, 2],
            [20, 1],
            [20, 0],
            [15, 3],
            [15, 4],
          ] as const)
        : 2,
      trailing: end
        ? rng.weighted([
            [40, 'none'],
            [30, 'garbage'],
            [30, 'entry'],
          ] as const)
        : 'none',
      trailingSeed: rng.int(0, 0x7fffffff),
      compression: rng.chance(0.5) ? 'gzip' : 'none',
    };
    if (end && rng.chance(0.2)) layer.zeroGap = rng.int(0, entries.length - 1);
    const withGlobal = entries.some(function walk(e): boolean {
      return e.globalBefore !== undefined || e.typeflag === 'g' || e.hidden.some(walk);
    });
    // Truncations and flips are positions in the stream: not with a 'g' header, whose oracle stream is shorter.
    if (on.has('damage') && !withGlobal) {
      if (rng.chance(0.6)) layer.truncate = { how: rng.chance(0.5) ? 'byte' : 'block', at: rng.float() };
      else layer.flip = { at: rng.float(), xor: rng.int(1, 255) };
    }
    layers.push(layer);
  }
  return { id, seed, features: [...on].sort(), layers };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

function formName(path: Buffer, form: NameForm, isDir: boolean): Buffer {
  const text = path.toString('latin1');
  const slash = isDir ? '/' : '';
  switch (form) {
    case 'plain':
      return Buffer.from(`${text}${slash}`, 'latin1');
    case 'dot':
      return Buffer.from(`./${text}${slash}`, 'latin1');
    case 'abs':
      return Buffer.from(`/${text}${slash}`, 'latin1');
    case 'double-slash':
      return Buffer.from(`${text.replace('/', '//')}${slash}`, 'latin1');
    case 'dot-segment':
      return Buffer.from(`${text.replace('/', '/./')}${slash}`, 'latin1');
    case 'dotdot': {
      const [first, ...rest] = text.split('/');
      return Buffer.from(`${first}/d1/../${rest.join('/')}${slash}`, 'latin1');
    }
    case 'trailing-slash':
      return Buffer.from(`${text}/`, 'latin1');
    case 'no-slash':
      return Buffer.from(text, 'latin1');
  }
}

function numField(value: number, enc: NumEnc | undefined, width: number): NumField {
  switch (enc ?? 'octal') {
    case 'octal':
      return value;
    case 'octal-space':
      return { octal: value, digits: width - 2, terminator: ' \0' };
    case 'octal-lead-space': {
      const digits = value.toString(8);
      return { raw: `${' '.repeat(Math.max(0, width - 1 - digits.length))}${digits}\0` };
    }
    case 'octal-full':
      return value.toString(8).length <= width ? { octal: value, digits: width, terminator: '' } : value;
    case 'base256':
      return { base256: value };
    case 'garbage':
      return { raw: `${value.toString(8).slice(0, 3)}9z\0` };
  }
}

const decoyOf = (path: Buffer): Buffer => Buffer.concat([path.subarray(0, path.lastIndexOf(0x2f) + 1), Buffer.from('decoy')]);

/** Writes one entry (and the headers before it) into `b`. `oracle`: leave PAX global headers out. */
function renderEntry(b: TarBuilder, e: FuzzEntry, oracle: boolean): void {
  if (e.globalBefore && !oracle) b.pax(e.globalBefore, { global: true });
  if (e.typeflag === 'g' && oracle) return; // an entry written as a 'g' header: runtimes skip it
  const name = formName(e.path, e.nameForm, e.kind === 'dir');
  const decoy = formName(decoyOf(e.path), 'plain', e.kind === 'dir');
  const pax: [Buffer | string, Buffer | string][] = [];
  const before: (() => void)[] = []; // GNU long headers and PAX headers, in the order they are written
  let ustarName: Buffer = name.length <= 100 ? name : name.subarray(0, 100);
  let prefix: Buffer | undefined;
  switch (e.nameVia) {
    case 'ustar':
      break;
    case 'gnu':
      before.push(() => b.gnuLong('L', name));
      if (name.length <= 100) ustarName = decoy;
      break;
    case 'pax':
      pax.push(['path', name]);
      if (name.length <= 100) ustarName = decoy;
      break;
    case 'prefix': {
      // Split at a slash: prefix ≤ 155 bytes, name ≤ 100 (ustar only; elsewhere the prefix is not read).
      let split = -1;
      for (let i = name.length - 1; i > 0; i--) if (name[i] === 0x2f && i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) split = i;
      if (split > 0) {
        prefix = name.subarray(0, split);
        ustarName = name.subarray(split + 1);
      } else pax.push(['path', name]);
      break;
    }
    case 'gnu+pax':
    case 'pax+gnu':
      // Go: the GNU long name wins over the PAX path, whatever their order.
      pax.push(['path', decoy]);
      before.push(() => b.gnuLong('L', name));
      ustarName = name.length <= 100 ? name : name.subarray(0, 100);
      break;
  }
  let linkField = e.linkname ?? Buffer.alloc(0);
  if (e.linkname && e.linkVia) {
    const decoyLink = Buffer.from('decoy-target');
    if (e.linkVia === 'gnu') before.push(() => b.gnuLong('K', e.linkname!));
    if (e.linkVia === 'pax') pax.push(['linkpath', e.linkname]);
    if (e.linkVia === 'gnu+pax' || e.linkVia === 'pax+gnu') {
      before.push(() => b.gnuLong('K', e.linkname!));
      pax.push(['linkpath', decoyLink]);
    }
    linkField = e.linkname.length <= 100 && e.linkVia !== 'gnu' && e.linkVia !== 'pax' ? e.linkname : e.linkname.length <= 100 ? decoyLink : e.linkname.subarray(0, 100);
  }

  // Data region and sizes.
  const hiddenBytes = (() => {
    if (e.hidden.length === 0) return Buffer.alloc(0);
    const inner = new TarBuilder();
    // Where Go reads the hidden entries as this entry's data (ustar-hides: the PAX size covers them), their bytes
    // are content, a PAX global header among them included: the oracle's stream keeps them byte for byte.
    const dataToGo = e.sizeMode === 'ustar-hides';
    for (const h of e.hidden) renderEntry(inner, h, oracle && !dataToGo);
    return inner.build();
  })();
  const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
  let region: Buffer = e.content;
  let ustarSize = e.content.length;
  let paxSize: string | undefined;
  switch (e.sizeMode) {
    case 'natural':
      break;
    case 'ho-size':
    case 'ho-pax-size':
      region = Buffer.concat([hiddenBytes, Buffer.alloc(e.sizeArg * BLOCK)]);
      if (e.sizeMode === 'ho-size') ustarSize = region.length;
      else paxSize = String(region.length);
      break;
    case 'pax-honest':
      paxSize = String(e.content.length);
      ustarSize = e.sizeArg;
      break;
    case 'pax-hides':
      region = Buffer.concat([e.content, Buffer.alloc(padded(e.content.length) - e.content.length), hiddenBytes]);
      paxSize = String(e.content.length);
      ustarSize = region.length;
      break;
    case 'ustar-hides':
      region = Buffer.concat([e.content, Buffer.alloc(padded(e.content.length) - e.content.length), hiddenBytes]);
      paxSize = String(region.length);
      ustarSize = e.content.length;
      break;
    case 'pax-weird':
      paxSize = WEIRD_PAX_SIZES[e.sizeArg]!.replace('%', String(e.content.length));
      break;
    case 'lie':
      ustarSize = e.sizeArg;
      break;
  }
  if (paxSize !== undefined) pax.push(['size', paxSize]);
  if (e.paxIds) pax.push(['uid', String(e.uid)], ['gid', String(e.gid)]);
  pax.push(...e.paxExtra);

  const spec: HeaderSpec = {
    name: ustarName,
    typeflag: e.typeflag,
    mode: numField(e.mode, e.enc.mode, 8),
    uid: e.paxIds ? 0 : numField(e.uid, e.enc.uid, 8),
    gid: e.paxIds ? 0 : numField(e.gid, e.enc.gid, 8),
    size: numField(ustarSize, e.enc.size, 12),
    mtime: numField(1_700_000_000, e.enc.mtime, 12),
    linkname: linkField,
    format: e.format,
    checksum: e.checksum === 'wrong' ? { delta: 1 } : e.checksum,
    ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
    ...(prefix ? { prefix } : {}),
    // Text where GNU keeps atime: Go's reader then takes it as a ustar prefix (its fix for old Go writers).
    ...(e.gnuPrefixJunk ? { patches: [{ offset: 345, bytes: `${e.path.toString('latin1').split('/')[0]}/d1` }] } : {}),
  };

  const writePax = () => {
    if (e.doubleX) b.pax([['path', decoy], ['uid', '31337']]);
    if (pax.length > 0 || e.paxBroken) {
      const body = Buffer.concat([...pax.map(([k, v]) => paxRecord(k, v)), e.paxBroken ? Buffer.from('12 short=\n') : Buffer.alloc(0)]);
      b.pax(body);
    }
  };
  if (e.nameVia === 'pax+gnu') {
    writePax();
    for (const f of before) f();
  } else {
    for (const f of before) f();
    writePax();
  }

  if (e.sparse) {
    const { version, realSize, map } = e.sparse;
    const sparseSpec: HeaderSpec = { mode: spec.mode!, uid: spec.uid!, gid: spec.gid!, checksum: spec.checksum! };
    if (version === 'S') b.gnuSparse(name.length <= 100 ? name : name.subarray(0, 100), realSize, map, e.content, sparseSpec);
    else b.paxSparse(version, name, realSize, map, e.content, { ...sparseSpec, format: e.format === 'v7' ? 'ustar' : e.format });
    return;
  }
  b.header(spec).data(region);
}

/** The uncompressed stream of one layer. `oracle`: the stream the Go runtimes act on (PAX global headers left out). */
export function renderLayer(layer: FuzzLayer, oracle = false): Buffer {
  const b = new TarBuilder();
  layer.entries.forEach((entry, i) => {
    if (layer.zeroGap === i) b.zeros(1);
    renderEntry(b, entry, oracle);
  });
  b.zeros(layer.end);
  const rng = new Rng(layer.trailingSeed);
  if (layer.trailing === 'garbage') b.raw(rng.bytes(rng.int(1, 1500)));
  if (layer.trailing === 'entry') b.file(`${layer.entries[0]?.path.toString('latin1').split('/')[0] ?? 'c'}/after-end-${rng.int(0, 9)}`, 'written after the end-of-archive marker').end();
  let stream = b.build();
  if (layer.truncate) {
    const at = layer.truncate.how === 'byte' ? Math.floor(layer.truncate.at * stream.length) : Math.floor(layer.truncate.at * Math.ceil(stream.length / BLOCK)) * BLOCK;
    stream = stream.subarray(0, at);
  }
  if (layer.flip && stream.length > 0) {
    stream = Buffer.from(stream);
    const at = Math.floor(layer.flip.at * stream.length);
    stream[at] = stream[at]! ^ layer.flip.xor;
  }
  return stream;
}

/** Whether any layer's oracle stream differs from the stream itself (a 'g' header is in it). */
export function hasGlobal(fuzz: FuzzCase): boolean {
  return fuzz.layers.some((layer) => !renderLayer(layer, true).equals(renderLayer(layer, false)));
}

// ---------------------------------------------------------------------------------------------------------------
// Description and shrinking

function describeEntry(e: FuzzEntry, indent: string, label = ''): string[] {
  const bits: string[] = [`${e.kind}`];
  if (e.typeflag !== { dir: '5', file: '0', symlink: '2', hardlink: '1', fifo: '6', char: '3', block: '4', whiteout: '0', opaque: '0', sparse: e.sparse?.version === 'S' ? 'S' : '0' }[e.kind]) {
    bits.push(`typeflag=${JSON.stringify(e.typeflag)}`);
  }
  bits.push(`'${showBytes(formName(e.path, e.nameForm, e.kind === 'dir'))}'`);
  if (e.nameVia !== 'ustar') bits.push(`name-via=${e.nameVia}`);
  if (e.linkname) bits.push(`-> '${showBytes(e.linkname)}'${e.linkVia ? ` link-via=${e.linkVia}` : ''}`);
  if (e.kind === 'file') bits.push(`${e.content.length}B`);
  if (e.sparse) bits.push(`sparse=${e.sparse.version} realsize=${e.sparse.realSize} map=${JSON.stringify(e.sparse.map)}`);
  bits.push(`mode=${e.mode.toString(8)} ${e.uid}:${e.gid}`);
  if (e.devmajor !== undefined) bits.push(`dev=${e.devmajor},${e.devminor}`);
  if (e.format !== 'ustar') bits.push(`format=${e.format}`);
  const enc = Object.entries(e.enc).filter(([, v]) => v !== 'octal');
  if (enc.length > 0) bits.push(`enc{${enc.map(([k, v]) => `${k}:${v}`).join(',')}}`);
  if (e.paxIds) bits.push('pax-ids');
  if (e.paxExtra.length > 0) bits.push(`pax{${e.paxExtra.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`);
  if (e.paxBroken) bits.push('pax-broken-record');
  if (e.doubleX) bits.push('double-x');
  if (e.sizeMode !== 'natural') bits.push(`size=${e.sizeMode}(${e.sizeMode === 'pax-weird' ? JSON.stringify(WEIRD_PAX_SIZES[e.sizeArg]) : e.sizeArg})`);
  if (e.checksum !== 'correct') bits.push(`checksum=${e.checksum}`);
  if (e.globalBefore) bits.push(`after-global{${e.globalBefore.map(([k, v]) => `${k}=${v}`).join(',')}}`);
  if (e.gnuPrefixJunk) bits.push('gnu-atime-text');
  const lines = [`${indent}${label}${bits.join(' ')}`];
  for (const h of e.hidden) lines.push(...describeEntry(h, `${indent}    `, 'hidden in the data above: '));
  return lines;
}

/** The entry list of a case, one line per entry, for failure reports. */
export function describeCase(fuzz: FuzzCase): string[] {
  const lines: string[] = [`features: ${fuzz.features.join(', ')}`];
  fuzz.layers.forEach((layer, l) => {
    const extras = [`end=${layer.end}`, layer.compression];
    if (layer.trailing !== 'none') extras.push(`trailing=${layer.trailing}`);
    if (layer.zeroGap !== undefined) extras.push(`zero-block-before-entry-${layer.zeroGap}`);
    if (layer.truncate) extras.push(`truncate=${layer.truncate.how}@${layer.truncate.at.toFixed(3)}`);
    if (layer.flip) extras.push(`flip@${layer.flip.at.toFixed(3)}^${layer.flip.xor}`);
    lines.push(`layer ${l} (${extras.join(' ')}, ${renderLayer(layer).length} bytes):`);
    layer.entries.forEach((e) => lines.push(...describeEntry(e, '  ')));
  });
  return lines;
}

/** A deep copy that keeps Buffers Buffers (structuredClone makes them plain Uint8Arrays). */
function clone<T>(value: T): T {
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (Array.isArray(value)) return value.map((item) => clone(item)) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)])) as T;
  return value;
}

/** Simpler variants of a case (one change each), most drastic first: for a greedy shrink. */
export function* shrinkCandidates(fuzz: FuzzCase): Generator<FuzzCase> {
  if (fuzz.layers.length > 1) {
    for (let l = 0; l < fuzz.layers.length; l++) {
      const c = clone(fuzz);
      c.layers.splice(l, 1);
      yield c;
    }
  }
  for (let l = 0; l < fuzz.layers.length; l++) {
    const layer = fuzz.layers[l]!;
    for (let i = 0; i < layer.entries.length; i++) {
      const c = clone(fuzz);
      c.layers[l]!.entries.splice(i, 1);
      if (c.layers[l]!.zeroGap !== undefined && c.layers[l]!.zeroGap! >= c.layers[l]!.entries.length) delete c.layers[l]!.zeroGap;
      yield c;
    }
    const layerEdits: ((x: FuzzLayer) => boolean)[] = [
      (x) => (x.truncate ? (delete x.truncate, true) : false),
      (x) => (x.flip ? (delete x.flip, true) : false),
      (x) => (x.zeroGap !== undefined ? (delete x.zeroGap, true) : false),
      (x) => (x.trailing !== 'none' ? ((x.trailing = 'none'), true) : false),
      (x) => (x.end !== 2 ? ((x.end = 2), true) : false),
      (x) => (x.compression !== 'none' ? ((x.compression = 'none'), true) : false),
    ];
    for (const edit of layerEdits) {
      const c = clone(fuzz);
      if (edit(c.layers[l]!)) yield c;
    }
    for (let i = 0; i < layer.entries.length; i++) {
      for (const edited of entryEdits(layer.entries[i]!)) {
        const c = clone(fuzz);
        c.layers[l]!.entries[i] = edited;
        yield c;
      }
    }
  }
}

function* entryEdits(e: FuzzEntry): Generator<FuzzEntry> {
  const edits: ((x: FuzzEntry) => boolean)[] = [
    (x) => (x.globalBefore ? (delete x.globalBefore, true) : false),
    (x) => (x.doubleX ? ((x.doubleX = false), true) : false),
    (x) => (x.paxBroken ? ((x.paxBroken = false), true) : false),
    (x) => (x.paxExtra.length > 0 ? ((x.paxExtra = []), true) : false),
    (x) => (x.checksum !== 'correct' ? ((x.checksum = 'correct'), true) : false),
    (x) => (x.gnuPrefixJunk ? (delete x.gnuPrefixJunk, true) : false),
    (x) => (x.nameVia !== 'ustar' && formName(x.path, x.nameForm, x.kind === 'dir').length <= 100 ? ((x.nameVia = 'ustar'), true) : false),
    (x) => (x.linkVia && (x.linkname?.length ?? 0) <= 100 ? (delete x.linkVia, true) : false),
    (x) => (x.nameForm !== 'plain' ? ((x.nameForm = 'plain'), true) : false),
    (x) => (x.format !== 'ustar' ? ((x.format = 'ustar'), true) : false),
    (x) => (Object.keys(x.enc).length > 0 ? ((x.enc = {}), true) : false),
    (x) => (x.paxIds && x.uid < 2_097_152 && x.gid < 2_097_152 ? ((x.paxIds = false), true) : false),
    (x) => (x.uid !== 0 || x.gid !== 0 ? ((x.uid = 0), (x.gid = 0), (x.paxIds = false), (x.enc = {}), true) : false),
    (x) => (x.mode !== 0o644 && x.kind !== 'symlink' && x.kind !== 'dir' ? ((x.mode = 0o644), true) : false),
    (x) => (x.content.length > 16 && !x.sparse ? ((x.content = x.content.subarray(0, 16)), true) : false),
    (x) => (x.content.length > 0 && !x.sparse ? ((x.content = Buffer.alloc(0)), true) : false),
    (x) => (x.sizeMode !== 'natural' && x.hidden.length === 0 ? ((x.sizeMode = 'natural'), true) : false),
    (x) => (x.sizeArg !== 0 ? ((x.sizeArg = 0), true) : false),
  ];
  for (const edit of edits) {
    const c = clone(e);
    if (edit(c)) yield c;
  }
  for (let i = 0; i < e.hidden.length; i++) {
    const c = clone(e);
    c.hidden.splice(i, 1);
    yield c;
    for (const edited of entryEdits(e.hidden[i]!)) {
      const d = clone(e);
      d.hidden[i] = edited;
      yield d;
    }
  }
  if (e.hidden.length > 0) {
    // Hidden entries promoted out of their hiding place: is the hiding what matters?
    const c = clone(e);
    c.hidden = [];
    c.sizeMode = 'natural';
    yield c;
  }
}

/** The feature tags of a case (for grouping disagreements). */
export function featureTags(fuzz: FuzzCase): string[] {
  const tags = new Set<string>();
  const visit = (e: FuzzEntry, hidden: boolean) => {
    if (hidden) tags.add('hidden-entry');
    if (e.sizeMode !== 'natural') tags.add(`size:${e.sizeMode}`);
    if (!'0512346'.includes(e.typeflag) || e.typeflag === '') tags.add(`typeflag:${JSON.stringify(e.typeflag)}`);
    if (e.sparse) tags.add(`sparse:${e.sparse.version}`);
    if (e.nameVia !== 'ustar') tags.add(`name:${e.nameVia}`);
    if (e.linkVia) tags.add(`link:${e.linkVia}`);
    if (e.nameForm !== 'plain') tags.add(`form:${e.nameForm}`);
    if (e.format !== 'ustar') tags.add(`format:${e.format}`);
    for (const [k, v] of Object.entries(e.enc)) if (v !== 'octal') tags.add(`enc:${k}:${v}`);
    if (e.paxIds) tags.add('pax-ids');
    if (e.paxBroken) tags.add('pax-broken');
    if (e.doubleX) tags.add('double-x');
    if (e.checksum !== 'correct') tags.add(`checksum:${e.checksum}`);
    if (e.globalBefore) tags.add('global-header');
    if (e.gnuPrefixJunk) tags.add('gnu-atime-text');
    if (e.kind === 'whiteout' || e.kind === 'opaque') tags.add(e.kind);
    if (/[\x80-\xff]/.test(e.path.toString('latin1'))) tags.add('non-ascii-name');
    for (const h of e.hidden) visit(h, true);
  };
  for (const layer of fuzz.layers) {
    for (const e of layer.entries) visit(e, false);
    if (layer.end !== 2) tags.add(`end:${layer.end}`);
    if (layer.trailing !== 'none') tags.add(`trailing:${layer.trailing}`);
    if (layer.zeroGap !== undefined) tags.add('zero-gap');
    if (layer.truncate) tags.add('truncated');
    if (layer.flip) tags.add('flipped-byte');
  }
  if (fuzz.layers.length > 1) tags.add('multi-layer');
  return [...tags].sort();
}
