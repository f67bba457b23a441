/** Every JSON document the CLI prints validates against docs/report.schema.json (draft 2020-12, strict). */
import Ajv2020 from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixture, ROOT, runJson, SAMPLES } from './helpers/cli.js';

const schema = JSON.parse(readFileSync(path.join(ROOT, 'docs', 'report.schema.json'), 'utf8'));
const ajv = new Ajv2020.default({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(schema);

const cases: [string, string[]][] = [
  ['inspect of a docker save', ['inspect', path.join(SAMPLES, 'busybox-amd64.tar')]],
  ['layers of a multi-platform OCI layout, all platforms', ['layers', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--all-platforms']],
  ['files with a glob', ['files', path.join(SAMPLES, 'busybox-amd64.tar'), '--glob', '/app/**']],
  ['waste of dive’s test image', ['waste', fixture('dive', '.data', 'test-docker-image.tar')]],
  ['analyze of a zstd OCI archive', ['analyze', fixture('dive', '.data', 'test-oci-zstd-image.tar')]],
  ['verify of every platform of a layout', ['verify', `oci:${path.join(SAMPLES, 'busybox-oci')}`]],
  ['platforms of an index with missing blobs and windows entries', ['platforms', fixture('oras-go', 'content', 'oci', 'testdata', 'hello-world.tar')]],
  ['platforms with an attestation manifest', ['platforms', fixture('snyk-docker-plugin', 'test', 'fixtures', 'containerd-archives', 'busybox-single-arch-with-attestation-manifest.tar')]],
  ['diff of two formats of one image', ['diff', `oci:${path.join(SAMPLES, 'busybox-oci')}`, path.join(SAMPLES, 'busybox-amd64.tar'), '--platform', 'linux/amd64']],
  ['check with a baseline image (the diff is included)', ['check', path.join(SAMPLES, 'busybox-amd64.tar'), '--baseline', fixture('dive', '.data', 'test-docker-image.tar'), '--max-growth', '50%', '--config', '/dev/null']],
  ['check of a docker save on its pull cost, against the same image as a layout (not scanned: every layer shared)', ['check', path.join(SAMPLES, 'busybox-amd64.tar'), '--baseline', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--platform', 'linux/amd64', '--max-growth', '5%', '--max-size', '1MB', '--config', '/dev/null']],
  ['check of every platform of a layout, each against its own baseline platform', ['check', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--all-platforms', '--baseline', `oci:${path.join(SAMPLES, 'busybox-oci')}`, '--max-growth', '5%', '--max-size', '10MB', '--config', '/dev/null']],
  ['verify of an archive holding 1 of its index\'s 11 platforms', ['verify', fixture('oras-go', 'content', 'oci', 'testdata', 'hello-world.tar')]],
  ['analyze of a corrupted archive (checks fail)', ['analyze', fixture('snyk-docker-plugin', 'test', 'fixtures', 'oci-archives', 'alpine-3.12.0.tar')]],
];

test.each(cases)('%s validates against the schema', async (_name, args) => {
  const { json } = await runJson(args);
  const valid = validate(json);
  if (!valid) throw new Error(ajv.errorsText(validate.errors, { separator: '\n' }));
  expect(valid).toBe(true);
});
