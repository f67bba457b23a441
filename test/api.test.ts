/**
 * layerlens used as a library, the way a program gets it: a consumer project whose node_modules/layerlens is this
 * package, importing `layerlens` (package.json "exports", the built dist/) from plain JavaScript and from
 * TypeScript checked against the shipped declarations. Its documents are the CLI's `--json` documents.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, runJson, SAMPLES } from './helpers/cli.js';

const run = promisify(execFile);
const ARCHIVE = path.join(SAMPLES, 'busybox-amd64.tar');
const LAYOUT = path.join(SAMPLES, 'busybox-oci');
let consumer: string;

beforeAll(() => {
  consumer = mkdtempSync(path.join(os.tmpdir(), 'layerlens-consumer-'));
  mkdirSync(path.join(consumer, 'node_modules'));
  symlinkSync(ROOT, path.join(consumer, 'node_modules', 'layerlens'), 'dir');
  writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
});

afterAll(() => rmSync(consumer, { recursive: true, force: true }));

/** Run an ES module in the consumer project; it prints one JSON value. */
async function program(source: string): Promise<unknown> {
  const file = path.join(consumer, `program-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, source);
  const { stdout } = await run(process.execPath, [file], { cwd: consumer, maxBuffer: 64 << 20 });
  return JSON.parse(stdout);
}

describe('import { … } from "layerlens"', () => {
  test('analyze() returns the document `analyze --json` prints', async () => {
    const fromLibrary = await program(`import { analyze } from 'layerlens';\nconsole.log(JSON.stringify(await analyze(${JSON.stringify(ARCHIVE)})));\n`);
    const { code, json: fromCli } = await runJson(['analyze', ARCHIVE, '--json']);
    expect(code).toBe(0);
    expect(fromLibrary).toEqual(fromCli);
    const document = fromLibrary as { files: unknown[]; totals: { files: number } };
    expect(document.files.length).toBe(document.totals.files);
    expect(document.files.length).toBeGreaterThan(10);
  });

  test('verify() of a multi-platform layout checks every platform; inspect(), files() and platforms() answer as the CLI', async () => {
    const result = (await program(`import { verify, inspect, files, platforms } from 'layerlens';
const layout = ${JSON.stringify(`oci:${LAYOUT}`)};
const verified = await verify(layout);
const arm = await inspect(layout, { platform: 'arm64' });
const bin = await files(layout, { platform: 'linux/amd64', path: '/bin', glob: '/bin/s*' });
const covered = await platforms(layout, { require: ['linux/amd64', 'linux/riscv64'] });
console.log(JSON.stringify({ verified, arm, bin, covered }));
`)) as Record<string, Record<string, unknown>>;
    const cli = async (...args: string[]) => (await runJson(args)).json;
    expect(result.verified).toEqual(await cli('verify', `oci:${LAYOUT}`, '--json'));
    expect((result.verified as { images: unknown[] }).images.length).toBeGreaterThan(1);
    expect(result.arm).toEqual(await cli('inspect', `oci:${LAYOUT}`, '--platform', 'linux/arm64', '--json'));
    expect(result.bin).toEqual(await cli('files', `oci:${LAYOUT}`, '--platform', 'linux/amd64', '--path', '/bin', '--glob', '/bin/s*', '--json'));
    expect(result.covered).toEqual(await cli('platforms', `oci:${LAYOUT}`, '--require', 'linux/amd64,linux/riscv64', '--json'));
    expect((result.covered as { verify: { ok: boolean } }).verify.ok).toBe(false); // riscv64 is missing
  });

  test('diff() compares two images; errors are typed and carry the CLI exit codes', async () => {
    const result = (await program(`import { diff, analyze, ImageReadError, UsageError } from 'layerlens';
const compared = await diff(${JSON.stringify(ARCHIVE)}, ${JSON.stringify(`oci:${LAYOUT}`)}, { platform: 'linux/amd64', depth: 1 });
const failure = async (work) => { try { await work(); return null; } catch (error) { return { name: error.constructor.name, exitCode: error.exitCode, image: error instanceof ImageReadError, usage: error instanceof UsageError, message: error.message }; } };
const missing = await failure(() => analyze('./no-such-image.tar'));
const platform = await failure(() => analyze(${JSON.stringify(ARCHIVE)}, { platform: 'linux/amd64/v8/extra' }));
// Credentials go to the one registry of the call's images, no other (CONTRACT.md "Credentials"): refused before any request.
const credentials = { registry: { credentials: { username: 'u', password: 'secret-pw' } } };
const twoRegistries = await failure(() => diff('127.0.0.1:9/a/app:1', '127.0.0.2:9/b/app:1', credentials));
const notRegistry = await failure(() => analyze(${JSON.stringify(ARCHIVE)}, credentials));
console.log(JSON.stringify({ compared, missing, platform, twoRegistries, notRegistry }));
`)) as Record<'compared' | 'missing' | 'platform' | 'twoRegistries' | 'notRegistry', Record<string, unknown>>;
    const { json: fromCli } = await runJson(['diff', ARCHIVE, `oci:${LAYOUT}`, '--platform', 'linux/amd64', '--depth', '1', '--json']);
    expect(result.compared).toEqual(fromCli);
    expect(result.missing).toMatchObject({ exitCode: 3, image: true, usage: false });
    expect(result.missing.message).toMatch(/no such file/);
    expect(result.platform).toMatchObject({ exitCode: 2, usage: true });
    expect(result.twoRegistries).toMatchObject({ exitCode: 2, usage: true });
    expect(result.twoRegistries.message).toMatch(/^registry\.credentials are for one registry, but 127\.0\.0\.1:9\/a\/app:1 is on 127\.0\.0\.1:9 and 127\.0\.0\.2:9\/b\/app:1 on 127\.0\.0\.2:9/);
    expect(result.notRegistry).toMatchObject({ exitCode: 2, usage: true });
    expect(result.notRegistry.message).toMatch(/^registry\.credentials are for the registry of the image they are given with, and .* is not a registry image$/);
    expect(JSON.stringify(result)).not.toContain('secret-pw');
  });

  test('the declarations type the documents: a TypeScript consumer compiles, and a wrong use does not', async () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const options = ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types')];
    writeFileSync(
      path.join(consumer, 'good.ts'),
      `import { analyze, isMultiReport, type Report, type ImageReport } from 'layerlens';
const report: Report = await analyze('app.tar', { platform: 'linux/arm64', registry: { timeoutSeconds: 10 } });
const images: ImageReport[] = isMultiReport(report) ? report.images : [report];
const sizes: (number | null)[] = images.map((image) => image.totals.compressedSize);
const efficiency: number | undefined = images[0]?.waste?.efficiency;
export { sizes, efficiency };
`,
    );
    writeFileSync(path.join(consumer, 'bad.ts'), `import { analyze } from 'layerlens';\nconst version: string = (await analyze('app.tar')).schemaVersion;\nexport { version };\n`);
    await expect(run(process.execPath, [tsc, ...options, 'good.ts'], { cwd: consumer })).resolves.toBeDefined();
    const bad = await run(process.execPath, [tsc, ...options, 'bad.ts'], { cwd: consumer }).then(
      () => null,
      (error: { stdout: string }) => error.stdout,
    );
    expect(bad).toMatch(/TS2322: Type 'number' is not assignable to type 'string'/);
  });
});
