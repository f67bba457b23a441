/** `layerlens inspect`: the config as `docker inspect` and `skopeo inspect` show it (issue 15). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/cli.js';

let work: string;
let layout: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-inspect-'));
  layout = path.join(work, 'layout');
  // A real image config written by umoci: variables with spaces, labels, user, ports, entrypoint.
  execFileSync('umoci', ['init', '--layout', layout]);
  execFileSync('umoci', ['new', '--image', `${layout}:latest`]);
  execFileSync('umoci', [
    'config', '--image', `${layout}:latest`,
    '--config.env', 'GREETING=hello  two spaces', '--config.env', 'PATH=/usr/local/bin:/usr/bin',
    '--config.label', 'org.opencontainers.image.source=https://example.org/app', '--config.label', 'evil=\x1b[2Jcleared',
    '--config.user', '1000:1000', '--config.exposedports', '8080/tcp', '--config.entrypoint', '/app/run',
  ]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('inspect lists every Env variable and label on its own line, with user, ports and entrypoint; text from the image is escaped', async () => {
  const result = await runCli(['inspect', `oci:${layout}`, '--no-color']);
  expect(result.code).toBe(0);
  const lines = result.stdout.split('\n');
  const at = lines.findIndex((line) => line.startsWith('Env '));
  expect(lines.slice(at, at + 2)).toEqual([`${'Env'.padEnd(17)}GREETING=hello  two spaces`, `${''.padEnd(17)}PATH=/usr/local/bin:/usr/bin`]);
  expect(result.stdout).toContain(`${'Labels'.padEnd(17)}evil=\\x1b[2Jcleared`);
  expect(result.stdout).toContain(`${''.padEnd(17)}org.opencontainers.image.source=https://example.org/app`);
  expect(result.stdout).toMatch(/^User {13}1000:1000$/m);
  expect(result.stdout).toMatch(/^Ports {12}8080\/tcp$/m);
  expect(result.stdout).toMatch(/^Entrypoint {7}\["\/app\/run"\]$/m);
  expect(result.stdout).not.toContain('\x1b');
});
