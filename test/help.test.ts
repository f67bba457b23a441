/**
 * `--help` of every command, parsed at 80 and 100 columns: it lists exactly the formats the command renders (each
 * listed one runs on a real image, each other one is refused at once), examples keep each command on one line, no
 * line is wider than the terminal, and the top-level help names every transport.
 */
import path from 'node:path';
import { runCli, SAMPLES } from './helpers/cli.js';

const ALL_FORMATS = ['table', 'json', 'markdown', 'junit', 'html'];
const ARCHIVE = path.join(SAMPLES, 'busybox-amd64.tar');
const COMMANDS: Record<string, string[]> = {
  inspect: [ARCHIVE],
  layers: [ARCHIVE],
  files: [ARCHIVE],
  waste: [ARCHIVE],
  analyze: [ARCHIVE],
  verify: [ARCHIVE],
  platforms: [`oci:${path.join(SAMPLES, 'busybox-oci')}`],
  diff: [ARCHIVE, ARCHIVE],
  check: [ARCHIVE, '--config', '/dev/null'],
};

const helps = new Map<string, Promise<string>>();

/** `--help` at this width, run once per command and width. */
function help(args: string[], columns: number): Promise<string> {
  const key = `${args.join(' ')}@${columns}`;
  let text = helps.get(key);
  if (!text) {
    text = runCli([...args, '--help'], { env: { COLUMNS: String(columns) } }).then((result) => {
      expect([args.join(' '), result.code, result.stderr]).toEqual([args.join(' '), 0, '']);
      return result.stdout;
    });
    helps.set(key, text);
  }
  return text;
}

/** The `--format` choices as the help prints them, however yargs wrapped the option's lines. */
function formatChoices(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^\s+--format\b/.test(line));
  expect(start).toBeGreaterThanOrEqual(0);
  let block = lines[start]!;
  for (let i = start + 1; i < lines.length && !/^\s+(-\w, )?--[\w-]+/.test(lines[i]!) && lines[i]!.trim() !== ''; i++) block += ` ${lines[i]!.trim()}`;
  const choices = /\[choices: ([^\]]*)\]/.exec(block);
  expect(choices).not.toBeNull();
  return [...choices![1]!.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
}

/** The lines under "Examples:" up to the next blank line. */
function exampleLines(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf('Examples:');
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => line.trim() === '');
  return rest.slice(0, end === -1 ? rest.length : end);
}

describe.each([80, 100])('at %i columns', (columns) => {
  test.each([...Object.keys(COMMANDS), 'repo', 'cache info', 'cache prune'])('%s --help: no line wider than the terminal; every example command on its own line', async (command) => {
    const text = await help(command.split(' '), columns);
    for (const line of text.split('\n')) expect([line, line.length <= columns]).toEqual([line, true]);
    const examples = exampleLines(text);
    expect(examples.length).toBeGreaterThanOrEqual(4);
    // Comment, command, comment, command…: a wrapped command would break the alternation or start mid-command.
    examples.forEach((line, index) => {
      if (index % 2 === 0) expect(line).toMatch(/^ {2}# \S/);
      else expect(line).toMatch(/^ {2}(layerlens \S|docker save \S+ \| layerlens \S)/);
    });
  });

  test('the top-level help names every transport', async () => {
    const text = await help([], columns);
    for (const line of text.split('\n')) expect([line, line.length <= columns]).toEqual([line, true]);
    for (const transport of ['NAME[:TAG][@DIGEST]', 'docker://NAME', 'docker-daemon:NAME', 'podman:NAME', 'containerd:NAME', 'docker-archive:FILE[:REF]', 'oci:DIR[:REF]', 'oci-archive:FILE[:REF]']) {
      expect(text).toMatch(new RegExp(`^ {2}${transport.replace(/[[\]/:.@]/g, '\\$&')} +\\S`, 'm'));
    }
    expect(text).toMatch(/^ {2}PATH +a file or directory/m);
    expect(text).toMatch(/^ {2}- +a tarball on standard input/m);
  });
});

describe('the formats --help lists are the formats the command renders', () => {
  test.each(Object.keys(COMMANDS))('%s', async (command) => {
    const listed = formatChoices(await help([command], 80));
    expect(listed).toEqual(formatChoices(await help([command], 100)));
    expect(listed[0]).toBe('table');
    for (const format of ALL_FORMATS) {
      const result = await runCli([command, ...COMMANDS[command]!, '--format', format]);
      if (listed.includes(format)) {
        // check's verdict on this image may be fail (1); either way it ran and printed its document.
        expect([format, [0, 1].includes(result.code), result.stdout.length > 0]).toEqual([format, true, true]);
      } else {
        expect([format, result.code, result.stdout]).toEqual([format, 2, '']);
        expect(result.stderr).toMatch(/format/);
      }
    }
  });
});
