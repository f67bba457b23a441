/** `layerlens check`: dive's rules with dive's thresholds, configs, every output format, exit codes. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import { fixture, ROOT, runCli, runJson, SAMPLES } from './helpers/cli.js';

const DIVE_DATA = fixture('dive', '.data');
const DIVE = path.join(DIVE_DATA, 'test-docker-image.tar');
const SAMPLE = path.join(SAMPLES, 'busybox-amd64.tar');

interface CheckJson {
  check: { passed: boolean; config: string | null; defaults: boolean; rules: { name: string; status: string; threshold: unknown; actual: unknown; message: string; estimated?: boolean; measure?: string | null }[] };
  totals: { compressedSize: number; estimatedCompressedSize: number | null };
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-check-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function statuses(json: CheckJson): Record<string, string> {
  return Object.fromEntries(json.check.rules.filter((rule) => rule.status !== 'skip').map((rule) => [rule.name, rule.status]));
}

describe("dive's rules on dive's test image", () => {
  test('(0.99, 1B, 0.01) fails all three: exit 1', async () => {
    const { code, json } = await runJson<CheckJson>(['check', DIVE, '--lowest-efficiency', '0.99', '--highest-wasted-bytes', '1B', '--highest-user-wasted-percent', '0.01'], { cwd: work });
    expect(code).toBe(1);
    expect(statuses(json)).toEqual({ lowestEfficiency: 'fail', highestWastedBytes: 'fail', highestUserWastedPercent: 'fail' });
    expect(json.check.passed).toBe(false);
  });

  test('(0.9, 50kB, 0.5) passes all: exit 0', async () => {
    const { code, json } = await runJson<CheckJson>(['check', DIVE, '--lowest-efficiency', '0.9', '--highest-wasted-bytes', '50kB', '--highest-user-wasted-percent', '0.5'], { cwd: work });
    expect(code).toBe(0);
    expect(statuses(json)).toEqual({ lowestEfficiency: 'pass', highestWastedBytes: 'pass', highestUserWastedPercent: 'pass' });
  });

  test('(0.9, 1B, 0.5) fails only the wasted-bytes rule', async () => {
    const { code, json } = await runJson<CheckJson>(['check', DIVE, '--lowest-efficiency', '0.9', '--highest-wasted-bytes', '1B', '--highest-user-wasted-percent', '0.5'], { cwd: work });
    expect(code).toBe(1);
    expect(statuses(json)).toEqual({ lowestEfficiency: 'pass', highestWastedBytes: 'fail', highestUserWastedPercent: 'pass' });
  });

  test.each(['1.1', '-0.1', 'abc'])('lowestEfficiency %s is a configuration error: exit 2, one line', async (value) => {
    const flag = await runCli(['check', DIVE, `--lowest-efficiency=${value}`], { cwd: work });
    expect(flag.code).toBe(2);
    expect(flag.stderr.split('\n')[0]).toMatch(/^layerlens: --lowest-efficiency: .*(outside 0…1|not a ratio)/);
    const dir = mkdtempSync(path.join(work, 'cfg-'));
    writeFileSync(path.join(dir, '.layerlens.yml'), `lowestEfficiency: ${JSON.stringify(value)}\n`);
    const file = await runCli(['check', DIVE], { cwd: dir });
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/\.layerlens\.yml: lowestEfficiency/);
  });

  test("the .dive-ci in dive's fixtures is honoured (found in the working directory, and with --config)", async () => {
    const found = await runJson<CheckJson>(['check', 'test-docker-image.tar'], { cwd: DIVE_DATA });
    expect(found.code).toBe(0);
    expect(found.json.check.config).toBe(path.join(DIVE_DATA, '.dive-ci'));
    expect(statuses(found.json)).toEqual({ lowestEfficiency: 'pass', highestWastedBytes: 'pass', highestUserWastedPercent: 'pass' });
    expect(found.json.check.rules.find((rule) => rule.name === 'highestWastedBytes')!.threshold).toBe(20_000_000); // "20Mb" as dive reads it
    expect(found.stderr).toMatch(/"plugins" is not used by layerlens; ignored/);
    const given = await runJson<CheckJson>(['check', DIVE, '--config', path.join(DIVE_DATA, '.dive-ci'), '--highest-user-wasted-percent', '0.4'], { cwd: work });
    expect(given.code).toBe(1); // the flag overrides the file
    expect(statuses(given.json).highestUserWastedPercent).toBe('fail');
  });

  test('an unknown key in .layerlens.yml is an error naming the file and the key', async () => {
    const dir = mkdtempSync(path.join(work, 'unknown-'));
    writeFileSync(path.join(dir, '.layerlens.yml'), 'maxSize: 10MB\nmaxSzie: 1MB\n');
    const result = await runCli(['check', DIVE], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/\.layerlens\.yml: unknown key "maxSzie"/);
  });
});

describe('size, content, platform and growth rules on real images', () => {
  test('size rules use the pull cost (estimated for a docker save), and a unit-less number is bytes', async () => {
    // The sample's layers are stored uncompressed (2.4 MB); pulled once pushed, they cost ~1.5 MB (gzip -6).
    const { code, json } = await runJson<CheckJson>(['check', SAMPLE, '--max-size', '1MB', '--max-layers', '3', '--max-file-size', '3MiB'], { cwd: work });
    expect(code).toBe(1);
    expect(statuses(json)).toEqual({ maxSize: 'fail', maxLayers: 'pass', maxFileSize: 'pass' });
    expect(json.check.rules.find((rule) => rule.name === 'maxSize')).toMatchObject({ estimated: true, actual: json.totals.estimatedCompressedSize });
    expect((await runJson<CheckJson>(['check', SAMPLE, '--max-size', '2MB'], { cwd: work })).code).toBe(0);
    const ok = await runJson<CheckJson>(['check', SAMPLE, '--max-size', String(json.totals.estimatedCompressedSize)], { cwd: work });
    expect(ok.code).toBe(0);
  });

  test('forbidden paths are found with glob syntax', async () => {
    const { code, json } = await runJson<CheckJson>(['check', SAMPLE, '--forbid-paths', '**/passwd,**/.env'], { cwd: work });
    expect(code).toBe(1);
    const rule = json.check.rules.find((candidate) => candidate.name === 'forbidPaths')!;
    expect(rule.status).toBe('fail');
    expect(rule.actual).toEqual(['/etc/passwd']);
    expect((await runCli(['check', SAMPLE, '--forbid-paths', '**/.env,**/id_rsa'], { cwd: work })).code).toBe(0);
  });

  test('required platforms against a real multi-platform index', async () => {
    const layout = `oci:${path.join(SAMPLES, 'busybox-oci')}`;
    expect((await runCli(['check', layout, '--platform', 'linux/amd64', '--require-platforms', 'linux/amd64,linux/arm64'], { cwd: work })).code).toBe(0);
    const { code, json } = await runJson<CheckJson>(['check', layout, '--platform', 'linux/amd64', '--require-platforms', 'linux/arm64/v8,linux/s390x'], { cwd: work });
    expect(code).toBe(1);
    expect(json.check.rules.find((rule) => rule.name === 'requirePlatforms')!.message).toMatch(/missing platform\(s\): linux\/s390x$/);
  });

  test('growth against a baseline image and against a saved JSON report', async () => {
    const report = path.join(work, 'baseline.json');
    expect((await runCli(['analyze', DIVE, '--json', '-o', report])).code).toBe(0);
    const fromReport = await runJson<CheckJson>(['check', SAMPLE, '--baseline', report, '--max-growth', '5%'], { cwd: work });
    expect(fromReport.code).toBe(1);
    expect(fromReport.json.check.rules.find((rule) => rule.name === 'maxGrowth')).toMatchObject({ status: 'fail', threshold: '5%' });
    const fromImage = await runJson<CheckJson>(['check', SAMPLE, '--baseline', SAMPLE, '--max-growth', '0', '--max-uncompressed-growth', '0'], { cwd: work });
    expect(fromImage.code).toBe(0);
    expect(statuses(fromImage.json)).toEqual({ maxGrowth: 'pass', maxUncompressedGrowth: 'pass' });
  });

  test('a digest mismatch fails check even when no rule asks for it', async () => {
    const corrupted = fixture('snyk-docker-plugin', 'test', 'fixtures', 'oci-archives', 'alpine-3.12.0.tar');
    const { code, json } = await runJson<CheckJson>(['check', corrupted, '--require-verified', 'true'], { cwd: work });
    expect(code).toBe(1);
    expect(statuses(json).requireVerified).toBe('fail');
    expect((await runCli(['check', corrupted], { cwd: work })).code).toBe(1);
  });

  test('an unreadable image exits 3, not 1', async () => {
    expect((await runCli(['check', fixture('dive', '.data', 'test-gzip-image.tar'), '--max-size', '1GB'], { cwd: work })).code).toBe(3);
  });
});

describe('a check never passes by accident', () => {
  const dir = (files: Record<string, string>): string => {
    const cwd = mkdtempSync(path.join(work, 'rules-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(cwd, name), text);
    return cwd;
  };

  test("no rule anywhere: dive's CI defaults (0.9, disabled, 0.1), said in the table and the JSON, failing where dive fails", async () => {
    const cwd = dir({});
    const { code, json } = await runJson<CheckJson>(['check', DIVE], { cwd });
    // dive --ci on this image with its defaults: efficiency 98.44 % passes, user wasted 48.35 % fails
    expect(code).toBe(1);
    expect(json.check).toMatchObject({ defaults: true, config: null, passed: false });
    expect(json.check.rules.map((rule) => [rule.name, rule.status, rule.threshold])).toEqual([
      ['lowestEfficiency', 'pass', 0.9],
      ['highestUserWastedPercent', 'fail', 0.1],
    ]);
    const table = await runCli(['check', DIVE, '--no-color'], { cwd });
    expect(table.stdout).toMatch(/^no rules configured: dive's defaults$/m);
    expect(table.stdout).toMatch(/^integrity +PASS /m);
    expect(table.stdout).not.toMatch(/SKIP/);
    // an efficient image passes the same defaults
    expect((await runCli(['check', SAMPLE], { cwd })).code).toBe(0);
  });

  test("a .dive-ci that sets one rule gets dive's defaults for the others, as in dive; a disabled rule stays off", async () => {
    const partial = dir({ '.dive-ci': 'rules:\n  lowestEfficiency: 0.95\n' });
    const one = await runJson<CheckJson>(['check', DIVE], { cwd: partial });
    expect(one.code).toBe(1);
    expect(one.json.check).toMatchObject({ defaults: false, config: path.join(partial, '.dive-ci') });
    expect(statuses(one.json)).toEqual({ lowestEfficiency: 'pass', highestUserWastedPercent: 'fail' });
    expect(one.json.check.rules.find((rule) => rule.name === 'lowestEfficiency')!.threshold).toBe(0.95);
    const disabled = dir({ '.dive-ci': 'rules:\n  lowestEfficiency: 0.95\n  highestUserWastedPercent: disabled\n' });
    const off = await runJson<CheckJson>(['check', DIVE], { cwd: disabled });
    expect(off.code).toBe(0);
    expect(statuses(off.json)).toEqual({ lowestEfficiency: 'pass' });
  });

  test('a .layerlens.yml or flags check only what they set (no dive defaults added)', async () => {
    const cwd = dir({ '.layerlens.yml': 'maxLayers: 100\n' });
    const file = await runJson<CheckJson>(['check', DIVE], { cwd });
    expect(file.code).toBe(0);
    expect(file.json.check).toMatchObject({ defaults: false, config: path.join(cwd, '.layerlens.yml') });
    expect(file.json.check.rules.map((rule) => rule.name)).toEqual(['maxLayers']);
    const table = await runCli(['check', DIVE, '--no-color'], { cwd });
    expect(table.stdout).toContain(`rules from ${path.join(cwd, '.layerlens.yml')}, then flags`);
    const flags = await runJson<CheckJson>(['check', DIVE, '--max-layers', '100'], { cwd: dir({}) });
    expect([flags.code, flags.json.check.defaults, flags.json.check.rules.map((rule) => rule.name)]).toEqual([0, false, ['maxLayers']]);
  });

  test('JUnit: the integrity test and the configured rules, no skipped tests for rules nobody set', async () => {
    const result = await runCli(['check', DIVE, '--format', 'junit', '--max-layers', '100'], { cwd: dir({}) });
    expect(result.code).toBe(0);
    const suite = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(result.stdout).testsuites.testsuite;
    const cases = ([] as { name: string }[]).concat(suite.testcase);
    expect(cases.map((testcase) => testcase.name)).toEqual(['integrity', 'maxLayers']);
    expect([suite.tests, suite.skipped, suite.failures]).toEqual(['2', '0', '0']);
  });

  test('JUnit: damaged layers fail the integrity test, naming the expected and actual digest', async () => {
    const corrupted = fixture('snyk-docker-plugin', 'test', 'fixtures', 'oci-archives', 'alpine-3.12.0.tar');
    const result = await runCli(['check', corrupted, '--format', 'junit', '--max-layers', '100'], { cwd: dir({}) });
    expect(result.code).toBe(1);
    expect(XMLValidator.validate(result.stdout)).toBe(true);
    const suite = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(result.stdout).testsuites.testsuite;
    const integrity = ([] as { name: string; failure?: { message: string; type: string } }[]).concat(suite.testcase).find((testcase) => testcase.name === 'integrity')!;
    expect(integrity.failure).toMatchObject({ type: 'integrity', message: expect.stringMatching(/^3 of 10 integrity checks failed; first: layer 0 blob digest \(sha256:df20fa93\w+\): expected sha256:df20fa93\w+, actual sha256:bf2fa495\w+$/) });
    expect(suite.failures).toBe('1');
  });
});

describe('outputs CI systems read', () => {
  test('JUnit XML is well-formed, with one testcase per rule and a failure per failed rule', async () => {
    const result = await runCli(['check', DIVE, '--format', 'junit', '--lowest-efficiency', '0.99', '--highest-wasted-bytes', '50kB'], { cwd: work });
    expect(result.code).toBe(1);
    expect(XMLValidator.validate(result.stdout)).toBe(true);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(result.stdout);
    const suite = parsed.testsuites.testsuite;
    const cases = suite.testcase as { name: string; failure?: { message: string }; skipped?: unknown }[];
    expect(cases.map((testcase) => testcase.name)).toContain('lowestEfficiency');
    expect(Number(suite.tests)).toBe(cases.length);
    expect(Number(suite.failures)).toBe(1);
    expect(cases.find((testcase) => testcase.name === 'lowestEfficiency')!.failure!.message).toMatch(/below 0.99/);
    expect(cases.find((testcase) => testcase.name === 'highestWastedBytes')!.failure).toBeUndefined();
    expect(Number(suite.skipped)).toBe(cases.filter((testcase) => testcase.skipped !== undefined).length);
  });

  test('markdown for a PR comment', async () => {
    const result = await runCli(['check', 'test-docker-image.tar', '--format', 'markdown', '--lowest-efficiency', '0.99', '--highest-wasted-bytes', '50kB', '--config', '/dev/null'], { cwd: DIVE_DATA });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatchSnapshot();
  });

  test('in GitHub Actions: an ::error annotation per failed rule and the table in the job summary', async () => {
    const summary = path.join(work, 'summary.md');
    writeFileSync(summary, '');
    const result = await runCli(['check', DIVE, '--json', '--highest-wasted-bytes', '1B'], { cwd: work, env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^::error title=layerlens highestWastedBytes::wasted bytes are 32025, more than 1$/m);
    expect(JSON.parse(result.stdout).check.passed).toBe(false);
    expect(readFileSync(summary, 'utf8')).toMatch(/\| highestWastedBytes \| ❌ fail \|/);
  });

  test('every input of the GitHub Action is a flag of `check` (but the image, the report and what to install)', async () => {
    const action = parseYaml(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown> };
    const help = (await runCli(['check', '--help'])).stdout;
    for (const name of Object.keys(action.inputs)) {
      if (['image', 'report', 'version', 'node-version'].includes(name)) continue;
      expect(help).toContain(`--${name}`);
    }
  });

  test('the config schema knows exactly the keys the CLI accepts', async () => {
    const schema = JSON.parse(readFileSync(path.join(ROOT, 'docs', 'config.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
    const help = (await runCli(['check', '--help'])).stdout;
    for (const key of Object.keys(schema.properties)) expect(help).toContain(`--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`);
  });
});
