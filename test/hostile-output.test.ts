/**
 * Output that cannot be forged (issue 14, section 5; CONTRACT.md): names, created_by, tags, labels and registry
 * error codes holding ESC, OSC, CR, BS, NUL, bidi controls and newlines are shown escaped in tables, trees and
 * stderr; JUnit stays well-formed XML 1.0 (checked with expat, a strict parser); markdown and GitHub annotations
 * escape link, image, HTML and mention syntax; the JSON keeps the exact text. And a closed stdout (`| head`)
 * ends quietly with the verdict already known.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ROOT, runCli, runJson, type CliResult } from './helpers/cli.js';
import { streamBigDockerArchive } from './helpers/generate.js';
import { rawTar, writeLayout } from './helpers/hostile.js';
import { decodeSurrogateEscape, displayJson, escapeMarkdown, escapeTerminal, escapeXml, githubCommandData, markdownCode } from '../src/report/escape.js';

const FORGED = 'layerlens: ✓ all checks passed';
/** A file name: colours, a window title (OSC), CR/BS overwrites, DEL, a C1 CSI, a bidi override, a newline. */
const EVIL_NAME = `evil\x1b[31mRED\x1b]0;title\x07\r\b\x7f\u009b\u202e\n${FORGED}`;
/** Text in the config (JSON strings can also hold NUL and an OSC 52 clipboard write). */
const EVIL_TEXT = `${EVIL_NAME}\x00\x1b]52;c;ZXZpbA==\x07`;
/** Markdown and XML syntax in names (a name cannot hold `/`, and these fit a 100-byte ustar name field). */
const MD_LINKS = '[click](javascript:alert) ![img](x.png) <img src=x onerror=alert>';
const MD_OTHER = `@octocat #1 \`tick\` a|b *em* _u_ www.evil.example a&amp;b "q" 'a'`;
const MD_NAME = `${MD_LINKS} ${MD_OTHER}`;

let work: string;
let layout: string;
let mdLayout: string;
let plainLayout: string;

/** No character a terminal would act on: only printable text and newlines between lines. */
function expectTerminalSafe(text: string): void {
  expect(text).not.toMatch(/(?!\n)\p{Cc}|[\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff\ufffd]/u);
  expect(text).not.toMatch(/^layerlens: ✓ all checks passed/m);
}

function expectOneLine(result: CliResult, code: number): string {
  expect(result.code).toBe(code);
  const lines = result.stderr.replace(/\n$/, '').split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^layerlens: /);
  expectTerminalSafe(result.stderr);
  return lines[0]!;
}

/** Parse with Python's expat, which refuses any document that is not well-formed XML 1.0. */
function expectWellFormedXml(xml: string, name: string): void {
  const file = path.join(work, name);
  writeFileSync(file, xml);
  execFileSync('python3', ['-c', 'import sys, xml.parsers.expat; p = xml.parsers.expat.ParserCreate(); p.ParseFile(open(sys.argv[1], "rb"))', file]);
  expect(XMLValidator.validate(xml)).toBe(true);
}

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-hostile-output-'));
  layout = path.join(work, 'evil');
  writeLayout(layout, {
    layers: [
      rawTar([
        { name: 'app/', type: '5' },
        { name: `app/${EVIL_NAME}`, data: 'one' },
        { name: `app/${EVIL_NAME}2`, data: 'two' },
        { name: 'app/link', type: '2', linkname: `target-${EVIL_NAME}` },
        { name: Buffer.concat([Buffer.from('bin/'), Buffer.from([0xff, 0xfe]), Buffer.from('-a')]), data: 'a' },
        { name: Buffer.concat([Buffer.from('bin/'), Buffer.from([0xfe, 0xff]), Buffer.from('-a')]), data: 'b' },
      ]),
      rawTar([{ name: `app/${EVIL_NAME}`, data: 'one, written again' }]),
      rawTar([{ name: `app/.wh.${EVIL_NAME}2` }]),
    ],
    createdBy: [`RUN ${EVIL_TEXT}`, `COPY ${EVIL_TEXT}`, `RUN rm ${EVIL_TEXT}`],
    runConfig: { User: EVIL_TEXT, WorkingDir: `/${EVIL_TEXT}`, Env: [`A=${EVIL_TEXT}`], Cmd: [EVIL_TEXT], Entrypoint: ['/bin/sh', EVIL_TEXT], Labels: { [`k${EVIL_TEXT}`]: EVIL_TEXT }, ExposedPorts: { [`80/${EVIL_TEXT}`]: {} } },
    refName: `tag${EVIL_TEXT}`,
    variant: `v\x1b[2J${EVIL_NAME}`,
  });
  mdLayout = path.join(work, 'markdown');
  writeLayout(mdLayout, {
    layers: [
      rawTar([
        { name: 'app/', type: '5' },
        ...[MD_LINKS, MD_OTHER].flatMap((name) => [
          { name: `app/${name}/`, type: '5' },
          { name: `app/${name}/f`, data: 'x'.repeat(2000) },
        ]),
        { name: `app/${EVIL_NAME}`, data: 'y' },
      ]),
    ],
    createdBy: [`RUN ${MD_NAME}`],
    runConfig: { Labels: { md: MD_NAME } },
  });
  plainLayout = path.join(work, 'plain');
  writeLayout(plainLayout, { layers: [rawTar([{ name: 'app/', type: '5' }, { name: 'app/readme', data: 'hello' }])] });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the escaping functions', () => {
  test('escapeTerminal shows every control, format and bidi character as a visible escape', () => {
    expect(escapeTerminal('a\x1b[31mb\n\tc\r\b\x00\x7f\u009b')).toBe('a\\x1b[31mb\\n\\tc\\r\\x08\\x00\\x7f\\x9b');
    expect(escapeTerminal('\u202e\u200b\ufeff\u2028\u2029\ufffd\ufffe\uffff')).toBe('\\u{202e}\\u{200b}\\u{feff}\\u{2028}\\u{2029}\\u{fffd}\\u{fffe}\\u{ffff}');
    expect(escapeTerminal('lone \ud800 high')).toBe('lone \\u{d800} high');
    // printable text, including other scripts and emoji, is unchanged
    expect(escapeTerminal('/usr/lib/python3.12/été 日本 👍 ✓')).toBe('/usr/lib/python3.12/été 日本 👍 ✓');
  });

  test('a backslash is doubled only where it would read as an escape, so the shown text maps back to one string', () => {
    expect(escapeTerminal("sed 's/\\./_/'")).toBe("sed 's/\\./_/'");
    expect(escapeTerminal('a\\x1b')).toBe('a\\\\x1b');
    expect(escapeTerminal('a\x1b')).toBe('a\\x1b');
    expect(escapeTerminal('printf a\\n')).toBe('printf a\\\\n');
    expect(escapeTerminal('ends with \\')).toBe('ends with \\\\');
  });

  test('raw bytes (surrogateescape) show as \\xNN, and two names that differ only in them stay apart', () => {
    const a = decodeSurrogateEscape(Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0xff, 0xfe, 0x2d, 0x61]));
    const b = decodeSurrogateEscape(Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0xfe, 0xff, 0x2d, 0x61]));
    expect(a).not.toBe(b);
    expect(escapeTerminal(a)).toBe('bin/\\xff\\xfe-a');
    expect(escapeTerminal(b)).toBe('bin/\\xfe\\xff-a');
    expect(JSON.parse(JSON.stringify(a))).toBe(a); // the JSON keeps them exact
    expect(decodeSurrogateEscape(Buffer.from('héllo 👍'))).toBe('héllo 👍');
    // an encoded surrogate (ED A0 80) and a cut sequence are not UTF-8: byte by byte
    expect(escapeTerminal(decodeSurrogateEscape(Buffer.from([0xed, 0xa0, 0x80, 0x41, 0xc3])))).toBe('\\xed\\xa0\\x80A\\xc3');
  });

  test('displayJson is valid JSON with no raw control character', () => {
    const shown = displayJson(['a\x1b', 'b\u009b\u202e', 'c\n']);
    expectTerminalSafe(shown);
    expect(JSON.parse(shown)).toEqual(['a\x1b', 'b\u009b\u202e', 'c\n']);
  });

  test('escapeXml leaves nothing XML 1.0 forbids', () => {
    const text = escapeXml(`${EVIL_TEXT}\ud800\ufffe<&>"'`);
    expect(text).not.toMatch(/\p{Cc}|[\ufffe\uffff<>"']|\p{Cs}/u);
    expectWellFormedXml(`<a b="${text}">${text}</a>`, 'unit.xml');
  });

  test('escapeMarkdown neutralises links, images, HTML, mentions, references and autolinks', () => {
    const md = escapeMarkdown(MD_NAME);
    expect(md).not.toMatch(/(?<!\\)[[\]!`|*_()]/);
    expect(md).not.toMatch(/[<>]/);
    expect(md).not.toMatch(/@(?!&#8203;)/);
    expect(md).toContain('\\#&#8203;1');
    expect(md).not.toMatch(/#1/);
    expect(md).not.toMatch(/www\./i);
    expect(md).toContain('a&amp;amp;b');
    expect(escapeMarkdown(`x\ny${FORGED}`)).not.toContain('\n');
    expect(markdownCode('a`b|c', true)).toBe('``a`b\\|c``');
    expect(markdownCode('`x', false)).toBe('`` `x ``');
  });

  test('GitHub workflow command data is one line whatever the text', () => {
    expect(githubCommandData(`100%\r\n::set-env name=X::1\x1b[2J`)).toBe('100%25\\r\\n::set-env name=X::1\\x1b[2J');
  });
});

describe('tables, trees and hint lines show text from an image escaped', () => {
  test.each([
    ['inspect', []],
    ['layers', []],
    ['files', []],
    ['files', ['--glob', '**']],
    ['files', ['--changed', '--layer', '2']],
    ['waste', []],
    ['verify', []],
    ['analyze', []],
    ['check', ['--forbid-paths', '/app/**', '--config', '/dev/null']],
  ])('%s %j', async (command, extra) => {
    const result = await runCli([command, `oci:${layout}`, ...extra]);
    expect([0, 1]).toContain(result.code);
    expectTerminalSafe(result.stdout);
    expectTerminalSafe(result.stderr);
    expect(result.stdout).toMatch(/evil\\x1b\[31mRED\\x1b\]0;title\\x07\\r\\x08\\x7f\\x9b\\u\{202e\}\\n/);
  });

  test('every line of the tree is one entry: a name cannot add a line', async () => {
    const result = await runCli(['files', `oci:${layout}`, '--layer', '0', '--depth', '9']);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter((line) => /^[-dlhcbp][-rwxsStT]{9} /.test(line));
    const { json } = await runJson<{ files: unknown[] }>(['files', `oci:${layout}`, '--layer', '0']);
    expect(lines).toHaveLength(json.files.length); // one line per path (/app, the evil name, link, /bin and its files)
    expect(result.stdout).toMatch(/link → target-evil\\x1b/);
    // the non-UTF-8 names are escapes however the scanner represents their bytes
    expect(result.stdout).toMatch(/── (\\x[0-9a-f]{2}|\\u\{[0-9a-f]+\}){2}-a$/m);
  });

  test('a diff table of two hostile images', async () => {
    const result = await runCli(['diff', `oci:${plainLayout}`, `oci:${layout}`]);
    expect(result.code).toBe(0);
    expectTerminalSafe(result.stdout);
    expect(result.stdout).toMatch(/user: null → "evil\\u001b\[31mRED/);
  });

  test('the JSON keeps the exact text', async () => {
    const { json } = await runJson<{ files: { path: string; linkTarget?: string }[]; layers: { createdBy: string }[]; source: { reference: string } }>(['files', `oci:${layout}`, '--layer', '1']);
    expect(json.files.map((file) => file.path)).toContain(`/app/${EVIL_NAME}`);
    expect(json.files.find((file) => file.path === '/app/link')?.linkTarget).toBe(`target-${EVIL_NAME}`);
    expect(json.layers[0]!.createdBy).toBe(`RUN ${EVIL_TEXT}`);
    expect(json.source.reference).toBe(`tag${EVIL_TEXT}`);
  });
});

describe('globs match every name (sibling: picomatch `**` skipped names holding a newline)', () => {
  test('check --forbid-paths and files --glob find .env under directories named with \\n, \\r and U+2028', async () => {
    const dir = path.join(work, 'newline-dirs');
    writeLayout(dir, { layers: [rawTar(['a\nb/', 'c\rd/', 'e\u2028f/'].flatMap((name) => [{ name, type: '5' }, { name: `${name}.env`, data: 'SECRET=1' }]))] });
    const check = await runJson<{ check: { rules: { name: string; status: string; actual: string[] }[] } }>(['check', `oci:${dir}`, '--forbid-paths', '**/.env', '--config', '/dev/null']);
    expect(check.code).toBe(1);
    expect(check.json.check.rules.find((rule) => rule.name === 'forbidPaths')!.actual).toEqual(['/a\nb/.env', '/c\rd/.env', '/e\u2028f/.env']);
    const { json } = await runJson<{ files: { path: string }[] }>(['files', `oci:${dir}`, '--glob', '**/.env']);
    expect(json.files.map((file) => file.path)).toEqual(['/a\nb/.env', '/c\rd/.env', '/e\u2028f/.env']);
  });
});

describe('stderr', () => {
  test('an error quoting a tag from the image is one escaped line', async () => {
    const line = expectOneLine(await runCli(['inspect', `oci:${layout}:no-such-tag`]), 3);
    expect(line).toContain(`it has: tagevil\\x1b[31mRED`);
  });

  test('a registry error code with a newline and a forged verdict prints escaped, on one line', async () => {
    const body = JSON.stringify({ errors: [{ code: `DENIED\n${FORGED}\x1b[2J`, message: 'm\x1b]52;c;ZXZpbA==\x07' }] });
    const server = http.createServer((_request, response) => {
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const image = `127.0.0.1:${port}/evil/repo:tag`;
      const line = expectOneLine(await runCli(['inspect', image, '--plain-http', '--no-cache']), 3);
      expect(line).toContain(`DENIED\\n${FORGED}\\x1b[2J`);
      // check --format junit still writes its report: one <error> test, well-formed whatever the server said
      const junit = await runCli(['check', image, '--plain-http', '--no-cache', '--format', 'junit', '--config', '/dev/null']);
      expectOneLine(junit, 3);
      expectWellFormedXml(junit.stdout, 'registry-error.xml');
      const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(junit.stdout);
      expect(parsed.testsuites.errors).toBe('1');
      expect(parsed.testsuites.testsuite.testcase.error.message).toContain(`DENIED\\n${FORGED}\\x1b[2J`);
    } finally {
      server.close();
    }
  });
});

describe('CI formats', () => {
  test('JUnit is well-formed XML 1.0 (expat) with hostile names in the failure', async () => {
    const result = await runCli(['check', `oci:${mdLayout}`, '--format', 'junit', '--forbid-paths', '/app/*', '--config', '/dev/null']);
    expect(result.code).toBe(1);
    expectWellFormedXml(result.stdout, 'check.xml');
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(result.stdout);
    const failure = (parsed.testsuites.testsuite.testcase as { name: string; failure?: { message: string } }[]).find((testcase) => testcase.name === 'forbidPaths')!.failure!;
    expect(failure.message).toContain('<img src=x onerror=alert>');
    expect(failure.message).toContain('evil\\x1b[31mRED');
  });

  test('JUnit for an image that cannot be read: one <error> test naming why', async () => {
    const result = await runCli(['check', path.join(work, 'absent.tar'), '--format', 'junit', '--config', '/dev/null']);
    expectOneLine(result, 3);
    expectWellFormedXml(result.stdout, 'absent.xml');
    expect(result.stdout).toMatch(/<error message="no such file[^"]*absent\.tar" type="unreadable">/);
  });

  test('markdown: a name cannot make a link, an image, HTML, a mention, a new row or a new line', async () => {
    const result = await runCli(['check', `oci:${mdLayout}`, '--format', 'markdown', '--forbid-paths', '/app/*', '--config', '/dev/null']);
    expect(result.code).toBe(1);
    const md = result.stdout;
    expectTerminalSafe(md);
    const lines = md.trimEnd().split('\n');
    const failed = lines.find((line) => line.startsWith('- **forbidPaths**'))!;
    expect(failed).toContain('\\[click\\]\\(javascript:alert\\)');
    expect(failed).not.toMatch(/(?<!\\)[[\]`|]/);
    expect(md).not.toMatch(/[<>]/);
    expect(md).not.toMatch(/@(?!&#8203;)/);
    expect(md).not.toMatch(/www\./i);
    for (const row of lines.filter((line) => line.startsWith('| '))) expect(row.match(/(?<!\\)\|/g)).toHaveLength(5);
    expect(lines.filter((line) => line.startsWith('- '))).toHaveLength(1);
  });

  test('diff markdown puts names in code spans that no backtick or pipe in them can close', async () => {
    const result = await runCli(['diff', `oci:${plainLayout}`, `oci:${mdLayout}`, '--format', 'markdown']);
    expect(result.code).toBe(0);
    expectTerminalSafe(result.stdout);
    const rows = result.stdout.split('\n').filter((line) => line.includes('/app/[click]') || line.includes('/app/@octocat'));
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.match(/(?<!\\)\|/g)).toHaveLength(6);
    expect(rows.find((row) => row.includes('[click]'))).toMatch(/ `\/app\/\[click\]\(javascript:alert\) !\[img\]\(x\.png\) <img src=x onerror=alert>` \|$/);
    expect(rows.find((row) => row.includes('@octocat'))).toMatch(/ ``\/app\/@octocat #1 `tick` a\\\|b \*em\* _u_ www\.evil\.example a&amp;b "q" 'a'`` \|$/);
  });

  test('GitHub Actions: one ::error line per failed rule, and an escaped job summary', async () => {
    const summary = path.join(work, 'summary.md');
    writeFileSync(summary, '');
    const result = await runCli(['check', `oci:${mdLayout}`, '--json', '--forbid-paths', '/app/*', '--config', '/dev/null'], { env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } });
    expect(result.code).toBe(1);
    expectTerminalSafe(result.stderr);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^::error title=layerlens forbidPaths::forbidden path\(s\): /);
    expect(lines[0]).toContain(`evil\\x1b[31mRED\\x1b]0;title\\x07\\r\\x08\\x7f\\x9b\\u{202e}\\n${FORGED}`);
    const written = readFileSync(summary, 'utf8');
    expectTerminalSafe(written);
    expect(written).not.toMatch(/[<>]/);
    expect(written).not.toMatch(/@(?!&#8203;)/);
  });
});

describe('closed stdout (| head)', () => {
  /** Run with the read end of stdout closed before the CLI writes anything: every write gets EPIPE. */
  function runWithClosedStdout(args: string[]): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'layerlens.js'), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy();
      const stderr: Buffer[] = [];
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr: Buffer.concat(stderr).toString('utf8') }));
    });
  }

  test('files: exit 0, nothing on stderr', async () => {
    const result = await runWithClosedStdout(['files', `oci:${layout}`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  test('a failed check still exits 1', async () => {
    const result = await runWithClosedStdout(['check', `oci:${plainLayout}`, '--max-files', '0', '--config', '/dev/null']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
  });

  test('--help: exit 0', async () => {
    const result = await runWithClosedStdout(['--help']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  test('a real pipe into head -1, with output far larger than the pipe buffer', async () => {
    const archive = path.join(work, 'many-files.tar');
    await streamBigDockerArchive(createWriteStream(archive), { files: 20_000, fileSize: 0 });
    const bin = path.join(ROOT, 'bin', 'layerlens.js');
    const script = [
      `"${process.execPath}" "${bin}" files "${archive}" --depth 5 2>"${work}/files.err" | head -1 >/dev/null; echo "files=\${PIPESTATUS[0]}"`,
      `"${process.execPath}" "${bin}" check "${archive}" --max-files 1 --config /dev/null --json 2>"${work}/check.err" | head -c 100 >/dev/null; echo "check=\${PIPESTATUS[0]}"`,
    ].join('\n');
    const output = execFileSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(output).toContain('files=0');
    expect(output).toContain('check=1');
    expect(readFileSync(path.join(work, 'files.err'), 'utf8')).toBe('');
    expect(readFileSync(path.join(work, 'check.err'), 'utf8')).toBe('');
  });
});
