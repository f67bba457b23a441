/**
 * Hostile layer tars (issue 14, "1. Tar semantics"): what `files` lists must be what a container runtime extracts.
 * Docker, containerd, BuildKit and umoci read layers with Go's archive/tar; `umoci unpack` (Go 1.19's reader here)
 * is the oracle. Every case builds its layer byte by byte (test/helpers/craft-tar.ts), writes it into an OCI layout
 * (gzip or uncompressed, digests and diff_ids right, so only the tar content is at fault) and asserts:
 *
 *  1. what umoci does with it, as documented in the case (so that a claim about Go's semantics below is checked
 *     on every run, not assumed): it extracts (and some paths must or must not be in its rootfs), or it refuses;
 *  2. layerlens agrees: when umoci extracts, `files --json` lists exactly its rootfs (path bytes, type, size, mode,
 *     owner, link target; test/helpers/umoci-oracle.ts); when umoci refuses, layerlens exits 3 with one line;
 *  3. for the cases that hide a file, `check --forbid-paths '**\/.env'` exits 1.
 *
 * PAX global headers ('g'): Go returns them as entries, without applying their records to later entries. Docker
 * and containerd skip such an entry ("PAX Global Extended Headers found and ignored"); umoci 0.4.7 refuses it
 * ("unknown typeflag '\x67'"), which would make every `git archive` tarball unreadable. The oracle for those
 * cases is umoci on the same stream without the 'g' header: what Docker and containerd extract.
 *
 * The differential fuzz test of the same property is test/tar-fuzz.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/cli.js';
import { BLOCK, headerBlock, tar, truncate, writeLayout, type LayerCompression, type TarBuilder } from './helpers/craft-tar.js';
import { compareListing, layerlensFiles, pathKey, showKey, summarize, umociUnpack, type FileJson, type LayerlensResult } from './helpers/umoci-oracle.js';

let work: string;
let counter = 0;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-hostile-tar-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface HostileCase {
  name: string;
  /** The layers, uncompressed (stored as `compression` says). */
  layers: () => Buffer[];
  compression?: LayerCompression;
  /** What Go's reader (umoci) does with them, verified on every run. */
  umoci: { extracts: true; has?: string[]; hasNot?: string[] } | { extracts: false };
  /** A file hidden from a reader that gets it wrong: `check --forbid-paths '**\/.env'` must exit 1. */
  hidden?: boolean;
  /** The stream the oracle unpacks, when it is not the same (PAX global headers, see the file comment). */
  oracle?: () => Buffer[];
  /** More about the JSON listing. */
  also?: (files: FileJson[]) => void;
  /** The case documents umoci only: layerlens is not compared with it. */
  umociOnly?: boolean;
}

const app = (): TarBuilder => tar().dir('app/').file('app/readme', 'hello\n');
const SECRET = 'SECRET=hunter2\n';
/** A header for `app/.env` plus its one data block: 1024 bytes. */
const envEntry = (name = 'app/.env'): Buffer => Buffer.concat([headerBlock({ name, size: SECRET.length }), Buffer.from(SECRET), Buffer.alloc(BLOCK - SECRET.length)]);

const headerOnly: [string, Parameters<typeof headerBlock>[0]][] = [
  ['symlink', { name: 'app/link', typeflag: '2', linkname: 'readme', mode: 0o777 }],
  ['hardlink', { name: 'app/link', typeflag: '1', linkname: 'app/readme' }],
  ['char device', { name: 'app/link', typeflag: '3', devmajor: 1, devminor: 3 }],
  ['block device', { name: 'app/link', typeflag: '4', devmajor: 7, devminor: 0 }],
  ['fifo', { name: 'app/link', typeflag: '6' }],
  ['directory', { name: 'app/link/', typeflag: '5', mode: 0o755 }],
];

const cases: HostileCase[] = [
  // ── Header-only entries carry no data, whatever their size field says (Go: isHeaderOnlyType, typeflags 1–6).
  ...headerOnly.flatMap(([kind, spec]): HostileCase[] =>
    (['gzip', 'none'] as const).map((compression) => ({
      name: `header-only: a ${kind} header with size 1024 hides app/.env in its "data" (${compression})`,
      layers: () => [app().header({ ...spec, size: 1024 }).raw(envEntry()).end().build()],
      compression,
      umoci: { extracts: true, has: ['/app/.env', '/app/link'] },
      hidden: true,
    })),
  ),
  {
    name: 'header-only: a PAX size=1024 on a symlink is ignored too (the .env after it is an entry)',
    layers: () => [app().pax({ size: '1024' }).symlink('app/link', 'readme').raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/.env'] },
    hidden: true,
  },
  {
    name: 'header-only: a symlink size field in base-256 (1024) hides nothing either',
    layers: () => [app().header({ name: 'app/link', typeflag: '2', linkname: 'readme', size: { base256: 1024 } }).raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/.env'] },
    hidden: true,
  },

  // ── A PAX size overrides the ustar size field, for the entry and for end-of-archive detection.
  {
    name: 'pax size: size=10 over a ustar size of 2048, then an entry of 1024 zero bytes, then later entries (the issue recipe)',
    layers: () => [app().pax({ size: '10' }).header({ name: 'app/small', size: 2048 }).data('0123456789').file('app/zeros', Buffer.alloc(1024)).file('app/later', 'later\n').raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/small', '/app/zeros', '/app/later', '/app/.env'] },
    hidden: true,
  },
  {
    name: 'pax size: size=10 over a ustar size of 1024 lands a ustar reader on 1024 zero bytes (two zero blocks)',
    layers: () => [app().pax({ size: '10' }).header({ name: 'app/small', size: 1024 }).data('0123456789').file('app/zeros', Buffer.alloc(1024)).file('app/later', 'later\n').raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/small', '/app/zeros', '/app/later', '/app/.env'] },
    hidden: true,
  },
  {
    name: 'pax size: size=10 over a ustar size of 2048, then an entry of 2048 zero bytes, then later entries',
    layers: () => [app().pax({ size: '10' }).header({ name: 'app/small', size: 2048 }).data('0123456789').file('app/zeros', Buffer.alloc(2048)).file('app/later', 'later\n').raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/small', '/app/zeros', '/app/later', '/app/.env'] },
    hidden: true,
  },
  {
    name: 'pax size: an honest big file (PAX size, ustar field 0 as Go writes above 8 GiB) whose data starts with zeros',
    layers: () => [app().pax({ size: '3072' }).header({ name: 'app/big', size: 0 }).data(Buffer.concat([Buffer.alloc(2048), Buffer.alloc(1024, 'b')])).file('app/later', 'later\n').raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/big', '/app/later', '/app/.env'] },
    hidden: true,
  },
  {
    name: 'pax size: smaller than the ustar field, the rest of the ustar-sized data is an entry (app/.env)',
    layers: () => [app().pax({ size: '5' }).header({ name: 'app/short', size: BLOCK + 1024 }).data('short').raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/short', '/app/.env'] },
    hidden: true,
  },
  {
    name: 'pax size: larger than the ustar field, entry-looking bytes are content (no app/.env)',
    layers: () => [app().pax({ size: String(BLOCK + 1024) }).header({ name: 'app/long', size: 5 }).data(Buffer.concat([Buffer.from('short'), Buffer.alloc(BLOCK - 5), envEntry()])).file('app/after', 'after\n').end().build()],
    umoci: { extracts: true, has: ['/app/long', '/app/after'], hasNot: ['/app/.env'] },
  },
  {
    name: "pax size: '+10' and '010' are decimal sizes to Go",
    layers: () => [app().pax({ size: '+10' }).header({ name: 'app/plus', size: 0 }).data('0123456789').pax({ size: '010' }).header({ name: 'app/zero-led', size: 0 }).data('abcdefghij').end().build()],
    umoci: { extracts: true, has: ['/app/plus', '/app/zero-led'] },
  },
  ...(['abc', '1.5', ' 10', '10 ', '-1', '0x10'] as const).map(
    (value): HostileCase => ({
      name: `pax size: ${JSON.stringify(value)} is refused`,
      layers: () => [app().pax({ size: value }).header({ name: 'app/odd', size: 10 }).data('0123456789').end().build()],
      umoci: { extracts: false },
    }),
  ),
  {
    name: 'pax size: an empty value deletes the record (the ustar size stands)',
    layers: () => [app().pax({ size: '' }).file('app/empty-pax-size', 'twelve bytes').end().build()],
    umoci: { extracts: true, has: ['/app/empty-pax-size'] },
  },

  // ── Names.
  {
    name: 'non-UTF-8 names: bin/\\xff\\xfe-a and bin/\\xfe\\xff-a are two files',
    layers: () => [tar().dir('bin/').file(Buffer.from('bin/\xff\xfe-a', 'latin1'), 'first\n').file(Buffer.from('bin/\xfe\xff-a', 'latin1'), 'second, longer\n').end().build()],
    umoci: { extracts: true, has: ['/bin/\xff\xfe-a', '/bin/\xfe\xff-a'] },
    also: (files) => {
      const bin = files.filter((file) => file.path.startsWith('/bin/'));
      expect({ count: bin.length, distinct: new Set(bin.map((file) => file.path)).size }).toEqual({ count: 2, distinct: 2 });
    },
  },
  {
    name: 'non-UTF-8 names: latin-1 é, a lone continuation byte and a non-UTF-8 symlink target',
    layers: () => [tar().dir('etc/').file(Buffer.from('etc/caf\xe9', 'latin1'), 'x').file(Buffer.from('etc/\x80', 'latin1'), 'y').symlink('etc/link', Buffer.from('caf\xe9', 'latin1')).file('etc/café-utf8', 'z').end().build()],
    umoci: { extracts: true, has: ['/etc/caf\xe9', '/etc/\x80', '/etc/link', Buffer.from('/etc/café-utf8').toString('latin1')] },
  },
  {
    name: 'names: a GNU long name wins over a PAX path (L then x)',
    layers: () => [app().gnuLong('L', 'app/gnu-name').pax({ path: 'app/pax-name' }).file('app/ustar-name', 'x').end().build()],
    umoci: { extracts: true, has: ['/app/gnu-name'], hasNot: ['/app/pax-name', '/app/ustar-name'] },
  },
  {
    name: 'names: a GNU long name wins over a PAX path (x then L)',
    layers: () => [app().pax({ path: 'app/pax-name' }).gnuLong('L', 'app/gnu-name').file('app/ustar-name', 'x').end().build()],
    umoci: { extracts: true, has: ['/app/gnu-name'], hasNot: ['/app/pax-name', '/app/ustar-name'] },
  },
  {
    name: 'names: a PAX path over a decoy ustar name, and a 200-byte GNU long name',
    layers: () => [app().pax({ path: 'app/real' }).file('app/decoy', 'x').gnuLong('L', `app/${'n'.repeat(200)}`).file('app/cut', 'y').end().build()],
    umoci: { extracts: true, has: ['/app/real', `/app/${'n'.repeat(200)}`], hasNot: ['/app/decoy', '/app/cut'] },
  },
  {
    name: 'names: a GNU long name without its NUL terminator',
    layers: () => [app().gnuLong('L', 'app/no-nul-name', { nul: false }).file('app/ustar-name', 'x').end().build()],
    umoci: { extracts: true, has: ['/app/no-nul-name'] },
  },
  {
    name: 'names: the ustar prefix field is joined with the name',
    layers: () => [app().file('readme2', 'x', { prefix: 'app' }).end().build()],
    umoci: { extracts: true, has: ['/app/readme2'] },
  },
  {
    name: "names: text in a GNU header's atime field is read as a ustar prefix (Go's fix for old Go writers)",
    layers: () => [app().file('readme2', 'x', { format: 'gnu', prefix: 'app' }).end().build()],
    umoci: { extracts: true, has: ['/app/readme2'], hasNot: ['/readme2'] },
  },
  {
    name: 'names: a PAX path with an empty value is deleted (the ustar name stands)',
    layers: () => [app().pax({ path: '' }).file('app/ustar-name', 'x').end().build()],
    umoci: { extracts: true, has: ['/app/ustar-name'] },
  },
  {
    name: 'names: of two PAX headers in a row only the last applies',
    layers: () => [app().pax({ path: 'app/first-pax', uid: '5' }).pax({ gid: '6' }).file('app/ustar-name', 'x').end().build()],
    umoci: { extracts: true, has: ['/app/ustar-name'], hasNot: ['/app/first-pax'] },
  },
  {
    name: 'names: a PAX path holding a NUL byte is refused',
    layers: () => [app().pax({ path: 'app/a\0b' }).file('app/x', 'x').end().build()],
    umoci: { extracts: false },
  },
  {
    name: 'names: a malformed PAX record is refused',
    layers: () => [app().pax(Buffer.from('bogus\n')).file('app/x', 'x').end().build()],
    umoci: { extracts: false },
  },
  {
    name: 'names: ./, /, // and .. spellings of the same paths',
    layers: () => [tar().dir('./app/').file('/app/abs', 'a').file('./app//double', 'b').file('app/sub/../dotdot', 'c').file('app/./dot', 'd').end().build()],
    umoci: { extracts: true, has: ['/app/abs', '/app/double', '/app/dotdot', '/app/dot'], hasNot: ['/app/sub'] },
  },

  // ── Links.
  {
    name: 'links: a PAX linkpath over the ustar linkname',
    layers: () => [app().pax({ linkpath: 'readme-via-pax' }).symlink('app/l', 'ustar-target').end().build()],
    umoci: { extracts: true, has: ['/app/l'] },
  },
  {
    name: 'links: a GNU long link name (K)',
    layers: () => [app().gnuLong('K', `t/${'T'.repeat(150)}`).symlink('app/l', 'ustar-target').end().build()],
    umoci: { extracts: true, has: ['/app/l'] },
  },
  {
    name: 'links: a GNU long link name wins over a PAX linkpath',
    layers: () => [app().pax({ linkpath: 'pax-target' }).gnuLong('K', 'gnu-target').symlink('app/l', 'ustar-target').end().build()],
    umoci: { extracts: true, has: ['/app/l'] },
  },

  // ── Numbers.
  {
    name: 'numbers: base-256 uid/gid (3000000, 12) and size (700)',
    layers: () => [app().file('app/b256', 'x'.repeat(700), { uid: { base256: 3_000_000 }, gid: { base256: 12 }, size: { base256: 700 } }).file('app/after', 'z').end().build()],
    umoci: { extracts: true, has: ['/app/b256', '/app/after'] },
  },
  {
    name: 'numbers: PAX uid/gid beyond the octal fields (3000000, 4000000)',
    layers: () => [app().pax({ uid: '3000000', gid: '4000000' }).file('app/big-ids', 'x').end().build()],
    umoci: { extracts: true, has: ['/app/big-ids'] },
  },
  {
    name: 'numbers: octal with leading spaces, a trailing space, no NUL terminator',
    layers: () => [
      app()
        .file('app/lead', 'x'.repeat(10), { size: { raw: '         12\0' }, mode: { raw: '   644 \0' } })
        .file('app/full', 'y'.repeat(10), { size: { octal: 10, digits: 12, terminator: '' }, mode: { octal: 0o640, digits: 8, terminator: '' }, uid: { octal: 1234, digits: 8, terminator: '' } })
        .end()
        .build(),
    ],
    umoci: { extracts: true, has: ['/app/lead', '/app/full'] },
  },
  {
    name: 'numbers: garbage in the size field (12x45) is refused',
    layers: () => [app().file('app/g', 'x'.repeat(10), { size: { raw: '12x45\0' } }).file('app/after', 'z').end().build()],
    umoci: { extracts: false },
  },
  {
    name: 'numbers: garbage in the mode field is refused',
    layers: () => [app().file('app/g', 'x', { mode: { raw: '0644x\0' } }).end().build()],
    umoci: { extracts: false },
  },
  {
    name: 'numbers: a negative (base-256) size is refused',
    layers: () => [app().file('app/neg', '', { size: { base256: -1 } }).end().build()],
    umoci: { extracts: false },
  },

  // ── Checksums and formats.
  {
    name: 'checksum: a wrong checksum is refused',
    layers: () => [app().header({ name: 'app/bad', size: 0, checksum: { delta: 1 } }).end().build()],
    umoci: { extracts: false },
  },
  {
    name: 'checksum: the signed-char checksum (old writers, non-ASCII bytes) is accepted',
    layers: () => [app().file(Buffer.from('app/caf\xe9', 'latin1'), 'x', { checksum: 'signed' }).end().build()],
    umoci: { extracts: true, has: ['/app/caf\xe9'] },
  },
  {
    name: 'formats: V7 headers (no magic)',
    layers: () => [tar().dir('app/', { format: 'v7' }).file('app/v7', 'x', { format: 'v7', uid: 7, gid: 8 }).end().build()],
    umoci: { extracts: true, has: ['/app/v7'] },
  },
  {
    name: 'formats: a V7 regular file with a NUL typeflag, and one named with a trailing slash (a directory)',
    layers: () => [app().header({ name: 'app/nul', typeflag: 0, size: 3 }).data('abc').header({ name: 'app/nul-dir/', typeflag: 0 }).header({ name: 'app/zero-slash/', typeflag: '0' }).end().build()],
    umoci: { extracts: true, has: ['/app/nul', '/app/nul-dir', '/app/zero-slash'] },
  },

  // ── Truncation and the end of the archive.
  {
    name: 'truncated: mid-header is refused',
    layers: () => [truncate(app().file('app/after', 'x').end().build(), 3 * BLOCK + 100)],
    umoci: { extracts: false },
  },
  {
    name: 'truncated: mid-data is refused',
    layers: () => [truncate(app().file('app/big', 'y'.repeat(2000)).end().build(), 4 * BLOCK + 700)],
    umoci: { extracts: false },
  },
  {
    name: 'truncated: inside the padding after the last data is an end (Go: EOF in padding is fine)',
    layers: () => [truncate(app().file('app/big', 'y'.repeat(600)).build(), 4 * BLOCK + 600 + 100)],
    umoci: { extracts: true, has: ['/app/big'] },
  },
  {
    name: 'truncated: at a header boundary, without end blocks, is an end',
    layers: () => [app().file('app/last', 'x').build()],
    umoci: { extracts: true, has: ['/app/last'] },
  },
  {
    name: 'end: a single zero block then EOF',
    layers: () => [app().file('app/last', 'x').zeros(1).build()],
    umoci: { extracts: true, has: ['/app/last'] },
  },
  {
    name: 'end: a single zero block then a header is refused',
    layers: () => [app().zeros(1).file('app/after-one-zero-block', 'x').end().build()],
    umoci: { extracts: false },
  },
  {
    name: 'end: trailing garbage after the end marker is not read',
    layers: () => [app().end().raw(Buffer.from('garbage'.repeat(100))).build()],
    umoci: { extracts: true, has: ['/app/readme'] },
  },
  {
    name: 'end: a valid entry after the end marker (eStargz keeps its TOC there) is not extracted',
    layers: () => [app().end().file('app/.env', SECRET).end().build()],
    umoci: { extracts: true, hasNot: ['/app/.env'] },
  },
  {
    name: 'end: four zero blocks',
    layers: () => [app().end(4).build()],
    umoci: { extracts: true, has: ['/app/readme'] },
  },

  // ── Typeflags.
  ...(['Z', '7', 'V', 'N', 'M', 'D', 'A', 'X'] as const).map(
    (flag): HostileCase => ({
      name: `typeflag '${flag}' is refused (umoci: unknown typeflag; Docker, containerd: unhandled tar header type)`,
      layers: () => [app().header({ name: 'app/odd', typeflag: flag, size: 3 }).data('abc').file('app/after', 'x').end().build()],
      umoci: { extracts: false },
    }),
  ),
  {
    name: "typeflag 'g': a PAX global header is skipped, its records applied to nothing (Docker, containerd)",
    layers: () => [app().pax({ path: 'app/global-name', uid: '4242', size: '0' }, { global: true }).file('app/after', 'after\n').raw(envEntry()).end().build()],
    oracle: () => [app().file('app/after', 'after\n').raw(envEntry()).end().build()],
    umoci: { extracts: true, has: ['/app/after', '/app/.env'], hasNot: ['/app/global-name'] },
    hidden: true,
  },
  {
    name: "typeflag 'g': umoci 0.4.7 itself refuses a PAX global header (why the oracle above leaves it out)",
    layers: () => [app().pax({ comment: 'git archive' }, { global: true }).end().build()],
    umoci: { extracts: false },
    umociOnly: true, // layerlens follows Docker and containerd here (the case above)
  },

  // ── Sparse files.
  {
    name: "sparse: an old GNU sparse file (typeflag 'S') is refused (umoci, Docker, containerd)",
    layers: () => [app().gnuSparse('app/sparse', 10000, [[0, 5], [8000, 5]], 'aaaaabbbbb').end().build()],
    umoci: { extracts: false },
  },
  ...(['0.0', '0.1', '1.0'] as const).map(
    (version): HostileCase => ({
      name: `sparse: a PAX ${version} sparse file is its real name and size`,
      layers: () => [app().paxSparse(version, `app/sparse-${version}`, 10000, [[0, 5], [8000, 5]], 'aaaaabbbbb').file('app/after', 'x').end().build()],
      umoci: { extracts: true, has: [`/app/sparse-${version}`, '/app/after'], hasNot: ['/GNUSparseFile.0'] },
    }),
  ),

  // ── Hardlink identity (found by the fuzzer): extractors unlink a path before writing it, so a link keeps the
  // inode it was made to, and the names left holding an inode are one file and links to it.
  {
    name: 'hardlink: its target rewritten later in the layer, the link keeps the old content',
    layers: () => [app().file('app/b', 'old content\n').hardlink('app/a', 'app/b').file('app/b', 'new, longer content\n').end().build()],
    umoci: { extracts: true, has: ['/app/a', '/app/b'] },
    also: (files) => expect(files.find((f) => f.path === '/app/a')).toMatchObject({ type: 'file', size: 12, linkTarget: null }),
  },
  {
    name: 'hardlink: its target whited out by a later layer, the link stays a file',
    layers: () => [app().file('app/b', 'kept through a\n').hardlink('app/a', 'app/b').end().build(), tar().file('app/.wh.b').end().build()],
    umoci: { extracts: true, has: ['/app/a'], hasNot: ['/app/b'] },
    also: (files) => expect(files.find((f) => f.path === '/app/a')).toMatchObject({ type: 'file', size: 15 }),
  },
  {
    name: "hardlink: a chain (a → b, c → a) whose first name is replaced: a is the file, c links to it",
    layers: () => [app().file('app/b', 'shared\n').hardlink('app/a', 'app/b').hardlink('app/c', 'app/a').end().build(), tar().file('app/b', 'replaced\n').end().build()],
    umoci: { extracts: true, has: ['/app/a', '/app/b', '/app/c'] },
    also: (files) => {
      expect(files.find((f) => f.path === '/app/a')).toMatchObject({ type: 'file', size: 7 });
      expect(files.find((f) => f.path === '/app/c')).toMatchObject({ type: 'hardlink', linkTarget: '/app/a', size: 7 });
    },
  },
  {
    name: 'hardlink: the directory holding the target removed by an opaque whiteout, the link outside survives',
    layers: () => [app().file('app/sub/b', 'data\n').hardlink('app/a', 'app/sub/b').end().build(), tar().dir('app/sub/').file('app/sub/.wh..wh..opq').end().build()],
    umoci: { extracts: true, has: ['/app/a', '/app/sub'], hasNot: ['/app/sub/b'] },
  },
  {
    name: 'hardlink: to a symlink links the symlink itself (link(2) does not follow it)',
    layers: () => [app().symlink('app/s', 'readme').hardlink('app/t', 'app/s').end().build()],
    umoci: { extracts: true, has: ['/app/s', '/app/t'] },
  },
  {
    name: 'hardlink: to a lower file that a whiteout later in the same layer removes (the link came first in the stream)',
    layers: () => [app().file('app/b', 'lower\n').end().build(), tar().hardlink('app/a', 'app/b').file('app/.wh.b').end().build()],
    umoci: { extracts: true, has: ['/app/a'], hasNot: ['/app/b'] },
    also: (files) => expect(files.find((f) => f.path === '/app/a')).toMatchObject({ type: 'file', size: 6 }),
  },
  {
    name: 'hardlink: to a lower file that a whiteout earlier in the same layer removed is refused',
    layers: () => [app().file('app/b', 'lower\n').end().build(), tar().file('app/.wh.b').hardlink('app/a', 'app/b').end().build()],
    umoci: { extracts: false },
  },
  {
    name: 'opaque: an entry before the marker keeps its lower parent directory with the lower metadata',
    layers: () => [tar().dir('app/', { mode: 0o700 }).dir('app/d/', { mode: 0o1777, uid: 35001 }).file('app/d/old', 'x').end().build(), tar().file('app/d/e/new', 'y').file('app/.wh..wh..opq').end().build()],
    umoci: { extracts: true, has: ['/app/d/e/new'], hasNot: ['/app/d/old'] },
  },
  {
    name: 'hardlink: to its own name is refused (the extractor removes the path, then has nothing to link to)',
    layers: () => [app().file('app/a', 'x').hardlink('app/a', 'app/a').end().build()],
    umoci: { extracts: false },
  },

  // ── Devices, and one union matter found on the way.
  {
    name: 'devices: char, block and fifo',
    layers: () => [app().char('app/c', 1, 3).block('app/b', 7, 0).fifo('app/f').end().build()],
    umoci: { extracts: true, has: ['/app/c', '/app/b', '/app/f'] },
  },
  {
    name: 'union: an implicit directory under a setgid directory takes its group and setgid bit (the kernel does)',
    layers: () => [tar().dir('shared/', { mode: 0o2775, gid: 50 }).file('shared/sub/file', 'x').end().build()],
    umoci: { extracts: true, has: ['/shared/sub/file'] },
  },
];

function layoutOf(layers: Buffer[], compression: LayerCompression): string {
  const dir = path.join(work, `layout-${counter++}`);
  writeLayout(dir, layers, compression);
  return dir;
}

/** What layerlens did, in a form that reads well in a failed expectation. */
function outcome(result: LayerlensResult): string {
  const lines = result.stderr.trim().split('\n').filter(Boolean);
  if (result.code === 0) return `exit 0, listed ${result.files!.length} paths: ${result.files!.map((f) => showKey(pathKey(f.path))).join(' ')}`;
  return `exit ${result.code}, ${lines.length} line(s) on stderr${lines.length ? `: ${lines[0]!.slice(0, 200)}` : ''}`;
}

test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  const layout = layoutOf(c.layers(), c.compression ?? 'gzip');
  const oracleLayout = c.oracle ? layoutOf(c.oracle(), c.compression ?? 'gzip') : layout;
  const umoci = umociUnpack(oracleLayout, `${oracleLayout}-bundle`);
  // Everything is compared in one expectation, so that a failure shows every disagreement of the case at once.
  const actual: Record<string, unknown> = {};
  const wanted: Record<string, unknown> = {};

  // 1. The Go semantics this case documents.
  if (c.umoci.extracts) {
    actual.umoci = umoci.ok ? 'extracts' : `refuses: ${umoci.error}`;
    wanted.umoci = 'extracts';
    actual.umociMissing = (c.umoci.has ?? []).filter((key) => !umoci.rootfs.has(key)).map(showKey);
    actual.umociUnexpected = (c.umoci.hasNot ?? []).filter((key) => umoci.rootfs.has(key)).map(showKey);
    wanted.umociMissing = wanted.umociUnexpected = [];
    actual.umociRootfs = wanted.umociRootfs = summarize(umoci.rootfs);
  } else {
    actual.umoci = umoci.ok ? `extracts: ${summarize(umoci.rootfs).join(' | ')}` : `refuses: ${umoci.error}`;
    wanted.umoci = umoci.ok ? 'refuses' : actual.umoci;
  }
  if (c.umociOnly) {
    expect(actual).toEqual(wanted);
    return;
  }

  // 2. layerlens agrees with it.
  const result = await layerlensFiles(layout);
  if (!umoci.ok) {
    actual.layerlens = outcome(result);
    wanted.layerlens = expect.stringMatching(/^exit 3, 1 line\(s\) on stderr: /);
  } else {
    actual.layerlens = result.code === 0 ? 'exit 0' : outcome(result);
    wanted.layerlens = 'exit 0';
    actual.problems = result.files ? compareListing(result.files, umoci.rootfs) : ['(no listing)'];
    wanted.problems = [];
  }

  // 3. The gate sees what the runtime extracts.
  if (c.hidden) {
    const cwd = mkdtempSync(path.join(work, 'cwd-')); // no .layerlens.* or .dive-ci from the repository
    const check = await runCli(['check', `oci:${layout}`, '--forbid-paths', '**/.env'], { cwd });
    actual.check = check.code === 1 ? 'exit 1' : `exit ${check.code}${check.stderr.trim() ? `: ${check.stderr.trim().split('\n')[0]!.slice(0, 200)}` : ''}`;
    wanted.check = 'exit 1';
  }
  expect(actual).toEqual(wanted);
  if (result.files) c.also?.(result.files);
});

test("a header-only entry's size field puts no bytes on disk: directory totals count regular files only", async () => {
  // Go's reader ignores the size of a symlink, device or fifo header (nothing is read or extracted for it); the
  // union's totals must not count it either, or a crafted 1 TB symlink would top waste's largest directories.
  const layer = tar()
    .dir('app/')
    .file('app/readme', 'hello\n')
    .header({ name: 'app/link', typeflag: '2', linkname: 'readme', mode: 0o777, size: 1024 })
    .header({ name: 'app/fifo', typeflag: '6', size: 4096 })
    .end()
    .build();
  const layout = layoutOf([layer], 'none');
  const waste = await runCli(['waste', `oci:${layout}`, '--json']);
  expect(waste.code).toBe(0);
  const report = JSON.parse(waste.stdout) as { waste: { largestDirectories: { path: string; size: number }[]; largestFiles: { path: string; size: number }[] } };
  expect(report.waste.largestDirectories).toEqual([{ path: '/app', size: 6, layer: 0 }]);
  expect(report.waste.largestFiles.map(({ path, size }) => ({ path, size }))).toEqual([{ path: '/app/readme', size: 6 }]);
});
