/**
 * The GitHub Action and the GitLab template run their own scripts, here, in a real bash: inputs reach the shell only
 * as data (an input holding `$(…)` runs nothing), and GitLab's job credentials are passed only when set and only for
 * GitLab's registry. `layerlens` on PATH is this checkout's CLI; the install steps (npm from the registry) are the
 * one part not run here — test/package.test.ts installs the packed release the same way.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT, SAMPLES } from './helpers/cli.js';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
}
const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown>; runs: { using: string; steps: Step[] } };
const gitlab = parse(readFileSync(path.join(ROOT, 'ci', 'gitlab-layerlens.yml'), 'utf8')) as { layerlens: { image: string; script: string[]; variables: Record<string, string> } };
const SAMPLE = path.join(SAMPLES, 'busybox-amd64.tar');

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-ci-'));
  // `layerlens` on PATH, as the install step leaves it.
  writeFileSync(path.join(work, 'layerlens'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'bin', 'layerlens.js')}" "$@"\n`, { mode: 0o755 });
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function bash(script: string, env: Record<string, string>) {
  return spawnSync('bash', ['-e', '-c', script], { cwd: work, encoding: 'utf8', env: { PATH: `${work}:${process.env.PATH ?? ''}`, HOME: work, NO_COLOR: '1', ...env } });
}

describe('action.yml', () => {
  test('no step pastes an expression into its script: inputs come through env', () => {
    const scripts = action.runs.steps.filter((step) => step.run !== undefined);
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    for (const step of scripts) expect(step.run).not.toContain('${{');
  });

  test('sets up Node and installs the packed release, never building the repository per job', () => {
    expect(action.runs.steps[0]!.uses).toMatch(/^actions\/setup-node@v\d+$/);
    const install = action.runs.steps.find((step) => step.name === 'Install layerlens')!.run!;
    expect(install).toContain('npm install --global --prefix "$prefix" --no-audit --no-fund "layerlens@$LAYERLENS_VERSION"');
    // The default is a pinned release from npm; only `version: local` packs the checkout.
    expect((action.inputs.version as { default: string }).default).toMatch(/^\d+\.\d+\.\d+$/);
    expect(install.split('else')[0]).not.toMatch(/npm ci|npm run build|tsc/);
  });

  test('every script is valid bash', () => {
    for (const step of action.runs.steps.filter((s) => s.run !== undefined)) {
      const result = spawnSync('bash', ['-n'], { input: step.run, encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    }
  });

  const check = () => action.runs.steps.find((step) => step.name === 'Check')!;
  function runCheck(inputs: Record<string, string>) {
    const output = path.join(work, 'github-output');
    writeFileSync(output, '');
    const all: Record<string, string> = { ...Object.fromEntries(Object.keys(action.inputs).map((name) => [name, ''])), report: 'layerlens-report.json', ...inputs };
    const result = bash(check().run!, { INPUT_JSON: JSON.stringify(all), LAYERLENS_INPUT_IMAGE: all.image!, LAYERLENS_INPUT_REPORT: all.report!, GITHUB_OUTPUT: output });
    return { ...result, outputs: readFileSync(output, 'utf8') };
  }

  test('the Check step gates the image with the inputs as flags and writes its outputs', () => {
    expect(Object.keys(check().env!)).toEqual(expect.arrayContaining(['LAYERLENS_INPUT_IMAGE', 'LAYERLENS_INPUT_REPORT']));
    const passing = runCheck({ image: SAMPLE, 'lowest-efficiency': '0.9' });
    expect(passing.status).toBe(0);
    expect(passing.outputs).toBe('report=layerlens-report.json\npassed=true\n');
    expect(JSON.parse(readFileSync(path.join(work, 'layerlens-report.json'), 'utf8'))).toMatchObject({ check: { passed: true } });
    const failing = runCheck({ image: SAMPLE, 'max-size': '1kB' });
    expect(failing.status).toBe(1);
    expect(failing.outputs).toContain('passed=false');
  });

  test('an image input holding shell syntax is a name, never a command', () => {
    const result = runCheck({ image: '$(touch pwned)`touch pwned2`.tar' });
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('no such file');
    expect(existsSync(path.join(work, 'pwned'))).toBe(false);
    expect(existsSync(path.join(work, 'pwned2'))).toBe(false);
  });

  test('a report input with a newline cannot forge an output line', () => {
    const result = runCheck({ image: SAMPLE, report: 'r.json\npassed=true' });
    expect(result.status).toBe(2);
    expect(result.outputs).toBe('');
  });
});

describe('ci/gitlab-layerlens.yml', () => {
  // The first line installs from npm; the rest is the job.
  const job = () => gitlab.layerlens.script.slice(1).join('\n');

  test('installs a pinned release and is valid sh', () => {
    expect(gitlab.layerlens.script[0]).toContain('npm install --global');
    expect(gitlab.layerlens.variables.LAYERLENS_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    const result = spawnSync('sh', ['-n'], { input: job(), encoding: 'utf8' });
    expect(result.status).toBe(0);
  });

  test('without registry credentials it checks the image: the table in the log, JUnit and JSON reports from one read', () => {
    const result = bash(job(), { LAYERLENS_IMAGE: SAMPLE, LAYERLENS_ARGS: '--lowest-efficiency 0.9' });
    expect(result.stderr).not.toContain('username');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/lowestEfficiency\s+PASS/);
    expect(readFileSync(path.join(work, 'layerlens.xml'), 'utf8')).toContain('<testsuite');
    expect(JSON.parse(readFileSync(path.join(work, 'layerlens.json'), 'utf8')).check.passed).toBe(true);
  });

  test("GitLab's credentials are never passed for an image of another registry", () => {
    // Were --username passed with a local file, layerlens would refuse it (no registry for the credentials): exit 2.
    const result = bash(job(), { LAYERLENS_IMAGE: SAMPLE, CI_REGISTRY: 'registry.gitlab.example', CI_REGISTRY_USER: 'gitlab-ci-token', CI_REGISTRY_PASSWORD: 'secret' });
    expect(result.status).toBe(0);
  });

  test("with credentials and an image in $CI_REGISTRY, they are passed (the password on stdin)", () => {
    const result = bash(job(), { LAYERLENS_IMAGE: 'registry.gitlab.example/group/app:1', CI_REGISTRY: 'registry.gitlab.example', CI_REGISTRY_USER: 'gitlab-ci-token', CI_REGISTRY_PASSWORD: 'secret', LAYERLENS_ARGS: '--timeout 2' });
    // The registry does not exist: exit 3 naming it — after taking the credentials (a usage error would be 2).
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('registry.gitlab.example');
    expect(result.stderr).not.toContain('secret');
  });
});
