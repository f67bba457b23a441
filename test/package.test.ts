/**
 * The package as users get it: `npm pack` of a clean checkout (prepack builds dist/ and the man page), installed
 * with npm into temp prefixes — with install scripts (zstd-napi builds its native binding), with
 * `--ignore-scripts` (pnpm's default, npm 12's for dependencies: no binding), and with no compiler on PATH (the
 * optional zstd-napi fails to build and is dropped) — each reading a gzip and a zstd image made by skopeo outside the
 * repository. Also the completion scripts (run in real bash and zsh) and the man page (rendered by groff).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, SAMPLES } from './helpers/cli.js';
import { requireTools } from './helpers/oracle.js';
import { installGlobal, packCleanCheckout, type PackedRelease } from './helpers/pack.js';

const run = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;
let release: PackedRelease;
let entries: string[];
/** Outside the repository: nothing can be found relative to the checkout. */
let images: string;
let expectedDiffIds: string[];

interface Install {
  prefix: string;
  output: string;
  seconds: number;
}
const installs = new Map<string, Promise<Install>>();

function install(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Install> {
  let pending = installs.get(name);
  if (!pending) {
    const prefix = path.join(work, `prefix-${name}`);
    pending = installGlobal(release.tarball, prefix, args, env).then((result) => ({ prefix, ...result }));
    installs.set(name, pending);
  }
  return pending;
}

/** A PATH on which every compiler and make is /bin/false: node-gyp cannot build anything. */
function pathWithoutCompiler(): string {
  const dir = path.join(work, 'no-compiler');
  mkdirSync(dir, { recursive: true });
  for (const tool of ['cc', 'gcc', 'c++', 'g++', 'clang', 'clang++', 'make']) symlinkSync('/bin/false', path.join(dir, tool));
  return `${dir}:${process.env.PATH ?? ''}`;
}

function runInstalled(prefix: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(path.join(prefix, 'bin', 'layerlens'), args, { cwd: images, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 1 << 28 });
}

beforeAll(async () => {
  requireTools('npm', 'skopeo', 'tar', 'bash', 'zsh', 'groff');
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-package-'));
  images = path.join(work, 'images');
  mkdirSync(images);
  const sample = `docker-archive:${path.join(SAMPLES, 'busybox-amd64.tar')}`;
  // skopeo, not layerlens, writes the compressed layers: the zstd decoder is tested on a real encoder's frames.
  await Promise.all(
    ['gzip', 'zstd'].map((format) => run('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-compress-format', format, sample, `oci:${path.join(images, format)}:latest`])),
  );
  const config = JSON.parse((await run('skopeo', ['inspect', '--config', '--raw', sample])).stdout) as { rootfs: { diff_ids: string[] } };
  expectedDiffIds = config.rootfs.diff_ids;
  release = await packCleanCheckout(work);
  entries = (await run('tar', ['-tzf', release.tarball], { maxBuffer: 1 << 26 })).stdout.split('\n').filter(Boolean);
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  if (release) rmSync(path.dirname(release.tarball), { recursive: true, force: true });
});

describe('npm pack of a clean checkout', () => {
  test('ships the built CLI, the man page, LICENSE and one sample, and no sources, tests or source maps', () => {
    expect(existsSync(path.join(ROOT, 'dist'))).toBe(true); // the checkout's own build is untouched
    expect(entries).toEqual(expect.arrayContaining(['package/bin/layerlens.js', 'package/dist/cli/main.js', 'package/dist/scan/compression.js', 'package/man/layerlens.1', 'package/LICENSE', 'package/README.md', 'package/package.json', 'package/samples/busybox-amd64.tar']));
    expect(entries.filter((entry) => /\.map$/.test(entry))).toEqual([]);
    expect(entries.filter((entry) => /^package\/(src|test|bench|ci|\.ci|scripts)\//.test(entry))).toEqual([]);
    // One sample ships; `npm run samples` builds the others.
    expect(entries.filter((entry) => entry.startsWith('package/samples/') && /\.tar$|busybox-oci/.test(entry))).toEqual(['package/samples/busybox-amd64.tar']);
  });

  test('no built module refers to a source map', async () => {
    const dist = path.join(release.checkout, 'dist');
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.js'));
    expect(files.length).toBeGreaterThan(20);
    expect(files.filter((file) => readFileSync(path.join(dist, file), 'utf8').includes('sourceMappingURL'))).toEqual([]);
  });

  test('is small: under 2.5 MB packed (the one sample is 2.4 MB of it uncompressed)', () => {
    expect(release.info.size).toBeLessThan(2_500_000);
    expect(release.info.entryCount).toBe(entries.length);
  });

  test('package.json says where the project lives, and lists the man page', () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ license: 'MIT', man: ['man/layerlens.1'], repository: { type: 'git' }, optionalDependencies: { 'zstd-napi': expect.any(String) } });
    expect(typeof manifest.homepage).toBe('string');
    expect((manifest.keywords as string[]).length).toBeGreaterThan(3);
    expect(manifest.dependencies).not.toHaveProperty('zstd-napi');
    expect(manifest.dependencies).toHaveProperty('fzstd');
  });
});

describe.each([
  ['with install scripts', 'scripts', [] as string[], () => ({}), 'zstd-napi'],
  ['with --ignore-scripts', 'ignore-scripts', ['--ignore-scripts'], () => ({}), 'fzstd'],
  ['with no compiler on PATH', 'no-compiler', [] as string[], () => ({ PATH: pathWithoutCompiler(), CC: 'false', CXX: 'false' }), 'fzstd'],
])('installed from the tarball %s', (_title, name, args, env, decoder) => {
  let installed: Install;
  beforeAll(async () => {
    installed = await install(name, args, env());
    process.stderr.write(`npm install ${name}: ${installed.seconds.toFixed(1)} s\n`);
  }, 900_000);

  test('--version is the package version', () => {
    const result = runInstalled(installed.prefix, ['--version']);
    expect(result.stdout.trim()).toBe(VERSION);
    expect(result.status).toBe(0);
  });

  test.each(['gzip', 'zstd'])('reads a %s image from outside the repository, every digest checked', (format) => {
    const result = runInstalled(installed.prefix, ['layers', `oci:${format}`, '--json', '--no-cache']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as { layers: { mediaType: string; diffId: string }[]; verify: { ok: boolean } };
    expect(report.verify.ok).toBe(true);
    expect(report.layers.map((layer) => layer.diffId)).toEqual(expectedDiffIds);
    expect(report.layers.every((layer) => layer.mediaType.endsWith(`+${format}`))).toBe(true);
    // The slow decoder says so, once; the native one is silent.
    const note = /decoded by fzstd, the pure-JavaScript fallback/;
    if (format === 'zstd' && decoder === 'fzstd') expect(result.stderr.match(new RegExp(note, 'g'))).toHaveLength(1);
    else expect(result.stderr).not.toMatch(note);
  });

  test(`the zstd decoder is ${decoder}`, () => {
    // Forcing the native decoder fails exactly where it is not there.
    const forced = runInstalled(installed.prefix, ['layers', 'oci:zstd', '--json', '--no-cache'], { LAYERLENS_ZSTD: 'zstd-napi' });
    expect(forced.status).toBe(decoder === 'zstd-napi' ? 0 : 3);
    const modules = path.join(installed.prefix, 'lib', 'node_modules', 'layerlens', 'node_modules');
    expect(existsSync(path.join(modules, 'zstd-napi', 'build', 'Release', 'binding.node'))).toBe(decoder === 'zstd-napi');
  });

  test('man layerlens finds the page', () => {
    const page = path.join(installed.prefix, 'share', 'man', 'man1', 'layerlens.1');
    expect(readFileSync(page, 'utf8')).toContain('.TH LAYERLENS 1');
  });
});

describe('the man page', () => {
  test('is generated from the help text of every command and renders without groff warnings', async () => {
    const page = path.join(release.checkout, 'man', 'layerlens.1');
    // -P-cbou: plain text, without overstrike or SGR bold and underline.
    const rendered = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-P-cbou', page], { encoding: 'utf8' });
    expect(rendered.stderr).toBe('');
    expect(rendered.status).toBe(0);
    const text = rendered.stdout;
    for (const command of ['inspect', 'layers', 'files', 'waste', 'analyze', 'verify', 'platforms', 'diff', 'check']) {
      expect(text).toContain(`layerlens ${command}`);
    }
    // Text that only --help prints proves the page came from it.
    const { stdout: checkHelp } = await run(process.execPath, [path.join(ROOT, 'bin', 'layerlens.js'), 'check', '--help'], { env: { ...process.env, COLUMNS: '80', NO_COLOR: '1' } });
    const flagLine = checkHelp.split('\n').find((line) => line.includes('--lowest-efficiency'))!;
    expect(text).toContain(flagLine.trim().split(/\s{2,}/)[0]);
  });
});

describe('layerlens completion', () => {
  const bin = path.join(ROOT, 'bin', 'layerlens.js');
  const script = (shell: string) => spawnSync(process.execPath, [bin, 'completion', shell], { encoding: 'utf8', env: { ...process.env, SHELL: '/bin/sh' } });

  test('bash: the script completes commands and options in a real bash', () => {
    const generated = script('bash');
    expect(generated.status).toBe(0);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'layerlens-completion-'));
    try {
      // The script calls `layerlens`: a shim on PATH runs this checkout's CLI.
      writeFileSync(path.join(dir, 'layerlens'), `#!/bin/sh\nexec "${process.execPath}" "${bin}" "$@"\n`, { mode: 0o755 });
      writeFileSync(path.join(dir, 'completion.bash'), generated.stdout);
      const complete = (words: string[]) =>
        spawnSync('bash', ['-c', `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _layerlens_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', path.join(dir, 'completion.bash')], {
          encoding: 'utf8',
          env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` },
        });
      const commands = complete(['layerlens', 'ins']);
      expect(commands.stderr).toBe('');
      expect(commands.stdout.split('\n')).toContain('inspect');
      expect(complete(['layerlens', 'check', '--lowest-eff']).stdout.split('\n')).toContain('--lowest-efficiency');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('zsh: sourced in a real zsh, it defines its function and registers it for layerlens with compdef', () => {
    const generated = script('zsh');
    expect(generated.status).toBe(0);
    expect(generated.stdout).toMatch(/^#compdef layerlens/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'layerlens-completion-'));
    try {
      writeFileSync(path.join(dir, '_layerlens'), generated.stdout);
      const check = spawnSync('zsh', ['-f', '-c', 'autoload -U compinit && compinit -u -D && source "$1" && whence -w _layerlens_yargs_completions && print -r -- "comp=$_comps[layerlens]"', 'zsh', path.join(dir, '_layerlens')], {
        encoding: 'utf8',
        env: { ...process.env, HOME: dir, ZDOTDIR: dir },
      });
      expect(check.stderr).toBe('');
      expect(check.stdout).toContain('_layerlens_yargs_completions: function');
      expect(check.stdout).toContain('comp=_layerlens_yargs_completions');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('another shell is a usage error (exit 2)', () => {
    const result = script('fish');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('bash or zsh');
  });
});
