/**
 * What layerlens asks a Docker engine, seen from a fake one (helpers/engine-proxy.ts: node http on a unix socket,
 * any API version, the busybox sample as its export): `?platform=` on the export only from API 1.48 (moby
 * api/docs/CHANGELOG.md: "GET /images/{name}/get now support a platform parameter (JSON encoded OCI Platform
 * type)"), `inspect` without any export, progress of an export off a terminal only with --debug, as plain lines.
 * The real engines' side of the same behaviour is in docker-engine.test.ts and daemon.test.ts.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runJson, SAMPLES } from './helpers/cli.js';
import { fakeEngine, type FakeEngine } from './helpers/engine-proxy.js';
import { headerBlock } from './helpers/craft-tar.js';
import { apiAtLeast, exportPath } from '../src/fetch/daemon.js';
import { historyFromDocker, inferEmptyLayers } from '../src/fetch/engine-record.js';
import { archivePlan, chooseContainerRead } from '../src/fetch/container.js';

const SAMPLE_TAR = path.join(SAMPLES, 'busybox-amd64.tar');
const NAME = 'layerlens-sample/busybox:latest';
/** The sample as Docker 20.10 describes it after `docker load` (GET /images/{name}/json, trimmed). */
const RECORD = {
  Id: 'sha256:38b38950feb09afc950f97a560cd62f9236d0dd9296b75bfc68fc130fcda5cab',
  RepoTags: [NAME],
  RepoDigests: [],
  Created: '2024-01-01T00:07:00Z',
  Config: { Env: ['PATH=/bin'], Cmd: ['/app/hello.sh'], WorkingDir: '/app', Labels: { 'org.opencontainers.image.source': 'layerlens-samples' } },
  Architecture: 'amd64',
  Os: 'linux',
  Size: 2394983,
  RootFS: {
    Type: 'layers',
    Layers: [
      'sha256:edc487aa0a9a3e969687b8567495996feba922a6aedaada13953376f1db54fb6',
      'sha256:c582505cf25dc4a79318fc7d8cd139172b3ab4eaef576eeaf576166c1074b035',
      'sha256:743f1292df10d8bd8c9bde5d1107f795e1ee58b0c7a58f6d5a670e3e67f4be47',
    ],
  },
};

let work: string;
let old: FakeEngine;
let recent: FakeEngine;

const env = (engine: FakeEngine): NodeJS.ProcessEnv => ({
  DOCKER_HOST: engine.address,
  DOCKER_CONFIG: path.join(work, 'no-docker-config'),
  DOCKER_CONTEXT: undefined,
  CONTAINER_HOST: `unix://${path.join(work, 'no-podman.sock')}`,
  XDG_RUNTIME_DIR: undefined,
  LAYERLENS_TMPDIR: work,
});
const exports = (engine: FakeEngine) => engine.urls.filter((url) => /\/get(\?|$)/.test(url));

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'layerlens-engine-api-'));
  old = await fakeEngine({ dir: work, apiVersion: '1.41', name: NAME, archive: SAMPLE_TAR, record: RECORD });
  recent = await fakeEngine({ dir: work, apiVersion: '1.48', name: NAME, archive: SAMPLE_TAR, record: RECORD });
});
afterAll(async () => {
  await old?.close();
  await recent?.close();
  rmSync(work, { recursive: true, force: true });
});
beforeEach(() => {
  old.urls.length = 0;
  recent.urls.length = 0;
});

describe('?platform= on an export', () => {
  test('the API version gate: 1.48 and later, never an unknown version', () => {
    expect([apiAtLeast('1.41', '1.48'), apiAtLeast('1.47', '1.48'), apiAtLeast('1.48', '1.48'), apiAtLeast('1.52', '1.48'), apiAtLeast('2.0', '1.48'), apiAtLeast(null, '1.48')]).toEqual([false, false, true, true, true, false]);
    expect(exportPath('app:1', { os: 'linux', architecture: 'arm64', variant: 'v8' }, '1.48')).toBe(`/images/app:1/get?platform=${encodeURIComponent('{"os":"linux","architecture":"arm64","variant":"v8"}')}`);
    expect(exportPath('app:1', { os: 'linux', architecture: 'arm64' }, '1.47')).toBe('/images/app:1/get');
    expect(exportPath('app:1', null, '1.52')).toBe('/images/app:1/get');
  });

  test('an engine of API 1.48 is asked for the --platform it was given, as a JSON OCI platform', async () => {
    const result = await runJson(['layers', `docker-daemon:${NAME}`, '--platform', 'linux/amd64'], { env: env(recent) });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(exports(recent)).toEqual([`/images/${NAME}/get?platform=${encodeURIComponent('{"os":"linux","architecture":"amd64"}')}`]);
  });

  test('an engine of API 1.41 is never sent platform=; the platform its export holds is checked instead', async () => {
    const ok = await runJson(['layers', `docker-daemon:${NAME}`, '--platform', 'linux/amd64'], { env: env(old) });
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    const wrong = await runCli(['layers', `docker-daemon:${NAME}`, '--platform', 'linux/arm64'], { env: env(old) });
    expect({ code: wrong.code, stdout: wrong.stdout }).toEqual({ code: 3, stdout: '' });
    expect(wrong.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^layerlens: docker:layerlens-sample\/busybox:latest holds a linux\/amd64 image, not linux\/arm64 as --platform asks$/)]);
    expect(exports(old)).toEqual([`/images/${NAME}/get`, `/images/${NAME}/get`]);
  });
});

describe('inspect and platforms answer from the image record', () => {
  test('inspect and platforms ask for /json and the history, never the export', async () => {
    for (const command of ['inspect', 'platforms']) {
      const result = await runJson<{ configDigest?: string; platforms?: { architecture: string }[] }>([command, `docker-daemon:${NAME}`], { env: env(old) });
      expect({ command, code: result.code, stderr: result.stderr }).toEqual({ command, code: 0, stderr: '' });
    }
    expect(exports(old)).toEqual([]);
    expect(old.urls).toEqual(expect.arrayContaining([`/images/${NAME}/json`, `/images/${RECORD.Id.slice(7)}/history`]));
  });

  test('inspect --platform that the image is not: exit 3, one line, still no export', async () => {
    const result = await runCli(['inspect', `docker-daemon:${NAME}`, '--platform', 'linux/arm64'], { env: env(old) });
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 3, stdout: '' });
    expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^layerlens: docker:layerlens-sample\/busybox:latest is a linux\/amd64 image, not linux\/arm64 as --platform asks$/)]);
    expect(exports(old)).toEqual([]);
  });

  test("Docker's history: steps with a size made layers; of the size-0 steps, file-writing ones before WORKDIR, never config-only ones", () => {
    // The realistic image's history as Docker 20.10 gives it (newest first): the RUN that only deletes is size 0.
    const items = [
      ['CMD ["node", "bin/layerlens.js"]', 0],
      ['USER 1000:1000', 0],
      ['WORKDIR /app', 0],
      ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 0],
      ['RUN find /usr/share/doc -type f ! -name copyright -delete', 1940939],
      ['COPY --chown=1000:1000 . /app', 13485919],
      ['RUN apt-get clean && rm -rf /var/lib/apt/lists/* /root/.cache', 0],
      ['RUN pip wheel --wheel-dir /root/.cache/pip -r requirements.txt', 32158990],
      ['RUN apt-get update && apt-get install -y python3', 218317489],
      ['/bin/sh -c #(nop) ADD file:rootfs.tar.xz in / ', 115753745],
    ].map(([CreatedBy, Size], i) => ({ CreatedBy: CreatedBy as string, Size: Size as number, Comment: '', Created: 1704067800 - i * 60 }));
    const { history, guessed } = historyFromDocker(items, 6);
    expect(guessed).toBe(false);
    expect(history.map((entry) => entry.empty_layer ?? false)).toEqual([false, false, false, false, false, false, true, true, true, true]);
    expect(history[0]).toEqual({ created: '2024-01-01T00:01:00Z', created_by: '/bin/sh -c #(nop) ADD file:rootfs.tar.xz in / ' });
    // The legacy builder's WORKDIR that created its directory is a layer of size 0 too.
    expect(inferEmptyLayers([{ createdBy: 'ADD x /', size: 5 }, { createdBy: '/bin/sh -c #(nop) WORKDIR /app', size: 0 }, { createdBy: 'ENV A=1', size: 0 }], 2)).toEqual({ empty: [false, false, true], guessed: false });
    // Two RUNs of size 0 and one layer to give: a guess, and said to be one.
    expect(inferEmptyLayers([{ createdBy: 'RUN true', size: 0 }, { createdBy: 'RUN rm /x', size: 0 }], 1)).toEqual({ empty: [false, true], guessed: true });
  });
});

describe('progress of an export', () => {
  test('off a terminal: nothing on stderr', async () => {
    const result = await runJson(['layers', `docker-daemon:${NAME}`], { env: env(old) });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('with --debug: plain lines (no carriage returns), with the engine\'s Size as the expected total, and the end', async () => {
    const result = await runJson(['layers', `docker-daemon:${NAME}`, '--debug'], { env: env(old) });
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('\r');
    const lines = result.stderr.trimEnd().split('\n');
    const progress = lines.filter((line) => line.includes('exported so far'));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (const line of progress) expect(line).toMatch(/^layerlens: docker:layerlens-sample\/busybox:latest: \d+ of ~2394983 bytes \(\d+ %\) exported so far$/);
    expect(lines).toContain(`layerlens: docker:layerlens-sample/busybox:latest: export read: ${statSync(SAMPLE_TAR).size} bytes (the engine counted 2394983)`);
  });

  test('on a terminal: one line redrawn in place, cleared at the end', async () => {
    // script(1) gives the CLI a pseudo-terminal; what the terminal received comes back on script's stdout.
    const bin = path.resolve('bin', 'layerlens.js');
    const command = `${process.execPath} ${bin} layers docker-daemon:${NAME} --json > /dev/null`;
    const { execFile } = await import('node:child_process');
    const typescript = await new Promise<string>((resolve, reject) =>
      execFile('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, ...env(old), NO_COLOR: '1' }, timeout: 60_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(typescript).toMatch(/\rreading docker:layerlens-sample\/busybox:latest: [\d.]+ [kKMG]?i?B of ~[\d.]+ [kKMG]?i?B \(\d+ %\)/);
    expect(typescript).toContain('\r\x1b[K'); // cleared before the report
  });
});

describe("a container's writable layer: which paths are read, and how", () => {
  const change = (Kind: number, Path: string) => ({ Kind, Path });
  test('an added directory is read whole, once; a changed path alone (its own entry); deletions not at all; in walk order', () => {
    const plan = archivePlan([
      change(0, '/usr'),
      change(0, '/usr/lib'),
      change(0, '/usr/lib/os-release'),
      change(2, '/usr/share/locale'),
      change(1, '/srv/cache'),
      change(1, '/srv/cache/blob.bin'),
      change(1, '/srv/cache/deep/x'),
      change(0, '/srv'),
      change(1, '/a-c'),
      change(1, '/a/b'),
      change(0, '/a'),
      change(1, '/srv/cache'), // an engine listing a path twice reads it once
    ]);
    expect(plan).toEqual([
      // Go's filepath.Walk (the export's order) visits /a and all below it before /a-c, though "a-c" < "a/b" as strings.
      { path: 'a', whole: false },
      { path: 'a/b', whole: true },
      { path: 'a-c', whole: true },
      { path: 'srv', whole: false },
      { path: 'srv/cache', whole: true },
      { path: 'usr', whole: false },
      { path: 'usr/lib', whole: false },
      { path: 'usr/lib/os-release', whole: false },
    ]);
  });

  test('the archive is read while it takes at most one request per 4 MB of filesystem left unread; LAYERLENS_CONTAINER_READ forces either', () => {
    const plan = (count: number) => Array.from({ length: count }, (_, i) => ({ path: `p${i}`, whole: true }));
    expect(chooseContainerRead(plan(10), 480_000_000, undefined)).toBe('archive');
    expect(chooseContainerRead(plan(120), 480_000_000, undefined)).toBe('archive');
    expect(chooseContainerRead(plan(121), 480_000_000, undefined)).toBe('export');
    expect(chooseContainerRead(plan(16), null, undefined)).toBe('archive'); // an engine that does not say: a few requests still pay
    expect(chooseContainerRead(plan(17), null, undefined)).toBe('export');
    expect(chooseContainerRead(plan(5000), 100e9, undefined)).toBe('export'); // at most 2,000 requests
    expect(chooseContainerRead(plan(1), 480_000_000, 'export')).toBe('export');
    expect(chooseContainerRead(plan(500), 1_000_000, 'archive')).toBe('archive');
  });
});

describe('a container on a hostile engine: what its archive or export holds is checked, and every read has a deadline', () => {
  const ID = 'c'.repeat(64);
  const tarOf = (entries: { name: string; body?: string }[]) =>
    Buffer.concat([
      ...entries.flatMap(({ name, body = '' }) => [headerBlock({ name, size: body.length, typeflag: body || !name.endsWith('/') ? '0' : '5' }), Buffer.from(body), Buffer.alloc((512 - (body.length % 512)) % 512)]),
      Buffer.alloc(1024),
    ]);
  const engineUrls: string[] = [];
  /** A container of the busybox sample that added /data/x; its archive of /data is `archive`, or never comes. */
  const hostile = (archive: Buffer | 'stall' | 'cut' | 'gone', sizeRootFs = 2_500_000) =>
    fakeEngine({
      dir: work,
      apiVersion: '1.41',
      name: RECORD.Id,
      archive: SAMPLE_TAR,
      record: RECORD,
      routes: (pathname, url, response) => {
        const json = (body: unknown) => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify(body));
          return true;
        };
        // 'gone': the container is removed once its archive is asked for (docker rm -f during the read).
        if (archive === 'gone' && pathname === `/containers/${ID}/json` && engineUrls.some((seen) => seen.includes('/archive'))) {
          response.writeHead(404, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ message: `No such container: ${ID}` }));
          return true;
        }
        if (pathname === '/containers/evil/json' || pathname === `/containers/${ID}/json`) return json({ Id: ID, Name: '/evil', Image: RECORD.Id, Config: { Image: NAME }, State: { Status: 'running' }, SizeRw: 2, SizeRootFs: sizeRootFs });
        if (pathname === `/containers/${ID}/changes`) return json([{ Path: '/data', Kind: 1 }, { Path: '/data/x', Kind: 1 }]);
        if (pathname !== `/containers/${ID}/archive`) return false;
        expect(new URL(url, 'http://engine').searchParams.get('path')).toBe('/data');
        engineUrls.push(url);
        if (archive === 'gone') {
          response.writeHead(404, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ message: `No such container: ${ID}` }));
          return true;
        }
        response.writeHead(200, { 'content-type': 'application/x-tar' });
        if (archive === 'stall') response.write(Buffer.alloc(512)); // headers and a first block, then nothing
        else if (archive === 'cut') {
          // A file that claims 10 MB, 200 kB of it, then the connection closes.
          response.write(Buffer.concat([headerBlock({ name: 'data/', typeflag: '5' }), headerBlock({ name: 'data/x', size: 10_000_000 }), Buffer.alloc(200_000)]));
          response.socket?.destroy();
        } else response.end(archive);
        return true;
      },
    });

  test('an archive that names a path outside the one asked for is exit 3 naming it; nothing is placed', async () => {
    const engine = await hostile(tarOf([{ name: 'data/' }, { name: 'etc/passwd', body: 'root::0:0::/:/bin/sh\n' }]));
    try {
      const result = await runCli(['files', 'container:evil'], { env: env(engine) });
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 3, stdout: '' });
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: layer 3 at container evil \(writable layer\) could not be read \(unix:.*: the archive of "\/data" in container cccccccccccc holds "etc\/passwd", outside it\)$/)]);
    } finally {
      await engine.close();
    }
  });

  test('an archive whose body stops coming fails after --timeout, exit 3, one line', async () => {
    const engine = await hostile('stall');
    try {
      const result = await runCli(['files', 'container:evil', '--timeout', '2'], { env: env(engine) });
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 3, stdout: '' });
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: layer 3 at container evil \(writable layer\) could not be read \(unix:.*: the archive of "\/data" in container cccccccccccc stalled after 512 bytes: less than 64 KiB arrived in 2 s \(--timeout 2\)\)$/)]);
    } finally {
      await engine.close();
    }
  });

  test('an archive cut short is exit 3 naming the layer, never a crash; a container removed during the read is exit 3, not an empty layer', async () => {
    for (const [mode, reason] of [
      ['cut', /could not be read \(.*(terminated|other side closed|closed the connection|aborted|premature|Unexpected end)/i],
      ['gone', /unix:.*: container cccccccccccc was removed while its writable layer was read/],
    ] as const) {
      const engine = await hostile(mode);
      try {
        const result = await runCli(['check', 'container:evil', '--max-writable-size', '1GB', '--config', '/dev/null'], { env: env(engine) });
        expect({ mode, code: result.code, stdout: result.stdout }).toEqual({ mode, code: 3, stdout: '' });
        expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(reason)]);
      } finally {
        await engine.close();
      }
    }
  });

  test('an honest archive: the added directory is placed under its parent, with the image below it', async () => {
    const engine = await hostile(tarOf([{ name: 'data/' }, { name: 'data/x', body: 'hello\n' }]));
    try {
      const result = await runJson<{ container: { writable: { writtenBytes: number; largestFiles: { path: string; size: number }[] } }; layers: { changes: { added: string[] } }[] }>(['container', 'evil'], { env: env(engine) });
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(result.json.layers).toHaveLength(4);
      expect(result.json.layers.at(-1)!.changes.added).toEqual(['/data', '/data/x']);
      expect(result.json.container.writable).toMatchObject({ writtenBytes: 6, largestFiles: [{ path: '/data/x', size: 6 }] });
      expect(engine.urls.filter((url) => url.includes('/export'))).toEqual([]); // one archive request, no export
    } finally {
      await engine.close();
    }
  });
});
