/** Run the built CLI as a user would (node bin/layerlens.js …) and capture its output and exit code. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = path.resolve(ROOT, '..', 'shared', 'fixtures');
export const SAMPLES = path.join(ROOT, 'samples');
const BIN = path.join(ROOT, 'bin', 'layerlens.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const CLI_HANG_GUARD_MS = Number(process.env.LAYERLENS_TEST_CLI_GUARD_MS ?? 300_000);

export function runCli(args: string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A hang guard, not a speed target: a child that never ends would hold the whole suite open after its test
    // timed out (seen once: a Node process stuck loading a module under heavy load). Killed, it fails its test.
    const guard = setTimeout(() => child.kill('SIGKILL'), CLI_HANG_GUARD_MS);
    child.on('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code: code ?? (signal === 'SIGKILL' ? -9 : -1), stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Run the CLI with --json and parse stdout. */
export async function runJson<T = Record<string, unknown>>(args: string[], options?: Parameters<typeof runCli>[1]): Promise<{ code: number; json: T; stderr: string }> {
  const result = await runCli([...args, '--json'], options);
  let json: T;
  try {
    json = JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}): ${result.stdout.slice(0, 300)} / stderr: ${result.stderr.slice(0, 300)}`);
  }
  return { code: result.code, json, stderr: result.stderr };
}

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

/** A report with its `source` blanked: two reads of one image through different sources must then be equal. */
export function withoutSource<T extends object>(report: T): T {
  return { ...report, source: null };
}

/** "The same JSON but source": the assertion every engine suite makes between an engine read and an archive read. */
export function expectSameReport(actual: object, expected: object, what = ''): void {
  expect([what, withoutSource(actual)]).toEqual([what, withoutSource(expected)]);
}

/**
 * What only an engine's export holds, blanked as the engine-record path (inspect, platforms) reports it: stored
 * layer sizes (null) and the checks of config bytes (none). README "Local engines" documents the difference.
 */
export function withoutExportOnly<T extends object>(report: T): T {
  const fields = report as { layers?: object[]; totals?: object; platforms?: object[]; platformsTotal?: object; verify?: object };
  return {
    ...report,
    ...(fields.layers ? { layers: fields.layers.map((layer) => ({ ...layer, compressedSize: null })) } : {}),
    ...(fields.totals ? { totals: { ...fields.totals, compressedSize: null } } : {}),
    ...(fields.platforms ? { platforms: fields.platforms.map((platform) => ({ ...platform, compressedSize: null })) } : {}),
    ...(fields.platformsTotal ? { platformsTotal: { compressedSize: null } } : {}),
    ...(fields.verify ? { verify: { ...fields.verify, checks: [] } } : {}),
  };
}
