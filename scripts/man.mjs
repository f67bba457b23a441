// man/layerlens.1, generated from the CLI's own --help text (the built dist/), so the manual never drifts from it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const bin = new URL('bin/layerlens.js', root).pathname;
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
// A fixed width and no colour: the page is the same on every machine that builds it.
const help = (...args) =>
  execFileSync(process.execPath, [bin, ...args, '--help'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: '80' } }).trimEnd();

/** Preformatted text for roff: backslashes escaped, lines starting with . or ' kept as text, non-ASCII as \[uXXXX]. */
const roffLine = (line) =>
  line
    .replace(/\\/g, '\\e')
    .replace(/^([.'])/, '\\&$1')
    .replace(/[^\x00-\x7f]/gu, (char) => `\\[u${char.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
const verbatim = (text) => ['.nf', ...text.split('\n').map(roffLine), '.fi'].join('\n');

const top = help();
const commands = [...top.matchAll(/^ {2}layerlens (\S+)/gm)].map((match) => match[1]).filter((name) => name !== 'completion');

const page = [
  `.TH LAYERLENS 1 "" "layerlens ${version}" "User Commands"`,
  '.SH NAME',
  'layerlens \\- open container images: layers, files, waste, digests, platforms',
  '.SH SYNOPSIS',
  '.B layerlens',
  '.I command image',
  '[\\fIoptions\\fR]',
  '.SH DESCRIPTION',
  verbatim(top),
  '.SH COMMANDS',
  ...commands.flatMap((name) => [`.SS layerlens ${name}`, verbatim(help(name))]),
  '.SS layerlens completion [bash|zsh]',
  'Prints a completion script for bash or zsh (default: the shell named by \\fB$SHELL\\fR).',
  'Add it to \\fI~/.bashrc\\fR or \\fI~/.zshrc\\fR.',
  '.SH EXIT STATUS',
  '.TP', '.B 0', 'success; every check passed',
  '.TP', '.B 1', 'the image was read and something in it failed a check (a digest, size or diff_id mismatch, a gate rule)',
  '.TP', '.B 2', 'usage or configuration error',
  '.TP', '.B 3', 'the image could not be read',
  '.SH ENVIRONMENT',
  '.TP', '.B HTTPS_PROXY, HTTP_PROXY, NO_PROXY', 'proxies for registries (loopback is never proxied)',
  '.TP', '.B REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, DOCKER_CONFIG', 'where registry credentials are read (containers-auth.json(5), then docker\'s config.json)',
  '.TP', '.B CONTAINERS_REGISTRIES_CONF', 'the containers-registries.conf(5) file whose mirrors are used',
  '.TP', '.B DOCKER_HOST, CONTAINER_HOST', 'the local Docker or Podman engine',
  '.TP', '.B NO_COLOR', 'no colour in tables',
  '.TP', '.B LAYERLENS_TMPDIR, TMPDIR', 'where compressed archives and stdin are unpacked',
  '.SH FILES',
  '.TP', '.I ~/.cache/layerlens', 'the blob and layer-scan cache',
  '.TP', '.I .layerlens.yml, .layerlens.json, .dive-ci', 'gate rules for \\fBlayerlens check\\fR, read from the working directory',
  '.SH SEE ALSO',
  'containers-auth.json(5), containers-registries.conf(5), dive(1), skopeo(1)',
  '',
].join('\n');

mkdirSync(new URL('man', root), { recursive: true });
writeFileSync(new URL('man/layerlens.1', root), page);
