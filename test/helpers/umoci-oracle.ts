/**
 * The Go reader as the oracle for layer tar semantics: `umoci unpack` (Go's archive/tar, as Docker, containerd
 * and BuildKit read layers) extracts an OCI layout into a real root filesystem, observed here with lstat and with
 * names as raw bytes (non-UTF-8 names stay apart); `layerlens files --json` of the same layout must list exactly
 * those paths with the same type, size, mode, owner and link target, or both must refuse the layout.
 *
 * The comparison is union.test.ts's, keyed by the bytes of each path: a JSON path is turned back into bytes as
 * UTF-8, except that `\xNN` escapes (NN ≥ 80) and lone surrogates U+DC80–U+DCFF (Python's surrogateescape) stand
 * for the single byte NN — whichever way layerlens chooses to show a non-UTF-8 byte, two different names must stay
 * two different strings.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { runCli } from './cli.js';
import { showBytes } from './craft-tar.js';

export interface FileJson {
  path: string;
  type: string;
  size: number;
  mode: string;
  uid: number;
  gid: number;
  linkTarget: string | null;
  layer: number;
}

export interface Observed {
  type: string;
  size: number;
  mode: string;
  uid: number;
  gid: number;
  /** Symlink target as bytes (latin1 string, one char per byte). */
  linkTarget: string | null;
  ino: number;
  hash: string | null;
}

/** A rootfs observed: path bytes as a latin1 string ('/a/b', one char per byte) → what lstat says. */
export type Rootfs = Map<string, Observed>;

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/** Every path under a rootfs, as lstat sees it (links never followed), names as bytes. */
export function observe(rootfs: string): Rootfs {
  const seen: Rootfs = new Map();
  const walk = (dir: Buffer, prefix: string) => {
    for (const name of readdirSync(dir, { encoding: 'buffer' })) {
      const full = Buffer.concat([dir, Buffer.from('/'), name]);
      const key = `${prefix}/${name.toString('latin1')}`;
      const stat = lstatSync(full);
      const type = stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'symlink' : stat.isFile() ? 'file' : stat.isCharacterDevice() ? 'char' : stat.isBlockDevice() ? 'block' : stat.isFIFO() ? 'fifo' : 'other';
      seen.set(key, {
        type,
        size: type === 'file' ? stat.size : 0,
        mode: octal(stat.mode),
        uid: stat.uid,
        gid: stat.gid,
        linkTarget: type === 'symlink' ? (readlinkSync(full, { encoding: 'buffer' }) as Buffer).toString('latin1') : null,
        ino: stat.ino,
        hash: type === 'file' ? createHash('sha256').update(readFileSync(full)).digest('hex') : null,
      });
      if (type === 'dir') walk(full, key);
    }
  };
  walk(Buffer.from(rootfs), '');
  return seen;
}

export interface UmociResult {
  /** umoci unpacked the image. */
  ok: boolean;
  /** Its error (last line of stderr) when it refused. */
  error: string;
  rootfs: Rootfs;
}

/** `umoci unpack --image LAYOUT:latest BUNDLE`, observed; the bundle is removed afterwards. */
export function umociUnpack(layout: string, bundle: string): UmociResult {
  rmSync(bundle, { recursive: true, force: true });
  const result = spawnSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { encoding: 'utf8', maxBuffer: 64 << 20 });
  try {
    if (result.error) throw result.error;
    if (result.status !== 0) {
      const lines = (result.stderr || '').trim().split('\n');
      return { ok: false, error: lines[lines.length - 1] ?? `exit ${result.status}`, rootfs: new Map() };
    }
    return { ok: true, error: '', rootfs: observe(path.join(bundle, 'rootfs')) };
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** The same, asynchronously (lets a batch run umoci and layerlens side by side on two cores). */
export function umociUnpackAsync(layout: string, bundle: string): Promise<UmociResult> {
  rmSync(bundle, { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    const child = spawn('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        if (code !== 0) {
          const lines = stderr.trim().split('\n');
          resolve({ ok: false, error: lines[lines.length - 1] ?? `exit ${code}`, rootfs: new Map() });
        } else resolve({ ok: true, error: '', rootfs: observe(path.join(bundle, 'rootfs')) });
      } catch (error) {
        reject(error);
      } finally {
        rmSync(bundle, { recursive: true, force: true });
      }
    });
  });
}

export interface LayerlensResult {
  code: number;
  stderr: string;
  files: FileJson[] | null;
}

/** `layerlens files oci:LAYOUT --json`. */
export async function layerlensFiles(layout: string): Promise<LayerlensResult> {
  const result = await runCli(['files', `oci:${layout}`, '--json']);
  if (result.code !== 0) return { code: result.code, stderr: result.stderr, files: null };
  let files: FileJson[];
  try {
    files = (JSON.parse(result.stdout) as { files: FileJson[] }).files;
  } catch {
    throw new Error(`files exited 0 but stdout is not JSON: ${result.stdout.slice(0, 300)} / stderr: ${result.stderr.slice(0, 300)}`);
  }
  return { code: 0, stderr: result.stderr, files };
}

/** The bytes a JSON path stands for, as a latin1 key (see the file comment for the escapes understood). */
export function pathKey(text: string): string {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const escape = /^\\x([89a-fA-F][0-9a-fA-F])/.exec(text.slice(i, i + 4));
    if (escape) {
      out.push(parseInt(escape[1]!, 16));
      i += 3;
      continue;
    }
    const code = text.charCodeAt(i);
    if (code >= 0xdc80 && code <= 0xdcff) {
      out.push(code - 0xdc00);
      continue;
    }
    const point = text.codePointAt(i)!;
    if (point > 0xffff) i++;
    out.push(...Buffer.from(String.fromCodePoint(point), 'utf8'));
  }
  return Buffer.from(out).toString('latin1');
}

/** A latin1 byte key shown readably. */
export const showKey = (key: string): string => showBytes(Buffer.from(key, 'latin1'));

/** Differences between layerlens's file list and umoci's rootfs, as readable lines (empty when they agree). */
export function compareListing(files: FileJson[], rootfs: Rootfs): string[] {
  const problems: string[] = [];
  const ours = new Map<string, FileJson>();
  for (const file of files) {
    const key = pathKey(file.path);
    if (ours.has(key)) problems.push(`${showKey(key)}: listed twice by files (${JSON.stringify(ours.get(key)!.path)} and ${JSON.stringify(file.path)})`);
    ours.set(key, file);
  }
  for (const [key, actual] of rootfs) {
    const file = ours.get(key);
    const shown = showKey(key);
    if (!file) {
      problems.push(`${shown}: in umoci's rootfs (${actual.type}${actual.type === 'file' ? ` ${actual.size} B` : ''}), missing from files`);
      continue;
    }
    // A hardlink is another name of its target's inode on disk: whatever that inode is (link(2) links symlinks,
    // fifos and devices too), and its target must be a name umoci gave the same inode.
    let type = file.type;
    if (file.type === 'hardlink') {
      const target = rootfs.get(pathKey(file.linkTarget ?? ''));
      if (!target) problems.push(`${shown}: hardlink to ${JSON.stringify(file.linkTarget)}, which is not in umoci's rootfs`);
      else if (target.ino !== actual.ino) problems.push(`${shown}: hardlink to ${file.linkTarget}, which umoci did not link to it`);
      type = target?.type ?? actual.type;
    }
    if (type !== actual.type) problems.push(`${shown}: type ${file.type}, umoci ${actual.type}`);
    if (type === 'file' && actual.type === 'file' && file.size !== actual.size) problems.push(`${shown}: size ${file.size}, umoci ${actual.size}`);
    if (actual.type !== 'symlink' && file.mode !== actual.mode) problems.push(`${shown}: mode ${file.mode}, umoci ${actual.mode}`);
    if (file.uid !== actual.uid || file.gid !== actual.gid) problems.push(`${shown}: owner ${file.uid}:${file.gid}, umoci ${actual.uid}:${actual.gid}`);
    if (actual.type === 'symlink' && file.type === 'symlink' && pathKey(file.linkTarget ?? '') !== actual.linkTarget) {
      problems.push(`${shown}: link ${JSON.stringify(file.linkTarget)}, umoci ${showKey(actual.linkTarget ?? '')}`);
    }
  }
  // The other direction: names umoci extracted as one inode are one file and hardlinks to it in files, not
  // separate copies (the waste and size figures count a hardlinked file once).
  const byInode = new Map<number, string[]>();
  for (const [key, observed] of rootfs) if (observed.type !== 'dir') byInode.set(observed.ino, [...(byInode.get(observed.ino) ?? []), key]);
  for (const names of byInode.values()) {
    if (names.length < 2 || !names.every((key) => ours.has(key))) continue;
    const notLinks = names.filter((key) => ours.get(key)!.type !== 'hardlink');
    if (notLinks.length !== 1) problems.push(`${names.map(showKey).join(', ')}: one inode in umoci's rootfs, ${notLinks.length} non-hardlink entries in files`);
  }
  for (const [key, file] of ours) if (!rootfs.has(key)) problems.push(`${showKey(key)}: in files (${file.type}${file.type === 'file' ? ` ${file.size} B` : ''}), not in umoci's rootfs`);
  return problems;
}

/** A one-line summary of a rootfs (for reports): every path with its type and, for files, size. */
export function summarize(rootfs: Rootfs): string[] {
  return [...rootfs].map(([key, o]) => `${showKey(key)} ${o.type}${o.type === 'file' ? ` ${o.size}` : ''}${o.type === 'symlink' ? ` -> ${showKey(o.linkTarget ?? '')}` : ''}`).sort();
}

export function summarizeFiles(files: FileJson[]): string[] {
  return files.map((f) => `${showKey(pathKey(f.path))} ${f.type}${f.type === 'file' ? ` ${f.size}` : ''}${f.type === 'symlink' ? ` -> ${f.linkTarget}` : ''}`).sort();
}
