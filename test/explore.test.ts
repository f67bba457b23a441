/**
 * `layerlens explore`: what the explorer shows (report/explore-view.ts) against the CLI's own documents (`files
 * --layer N --json`, `layers --json`), then the explorer itself in a real terminal (tmux): keys, layer stepping,
 * the changes-only view, the filter, folding, help, resize, and a clean exit on q, Ctrl+C and a closed terminal.
 */
import path from 'node:path';
import { fixture, runCli, runJson, SAMPLES } from './helpers/cli.js';
import { startTmux, tmuxAvailable, type TmuxSession } from './helpers/tmux.js';
import { realisticImage, REALISTIC_BUILD_TIMEOUT_MS } from './helpers/realistic.js';
import { openExplore, type ExploreData } from '../src/pipeline/explore.js';
import { treeRows, wasteListLines, type TreeOptions } from '../src/report/explore-view.js';

const SAMPLE = path.join(SAMPLES, 'busybox-amd64.tar');
const BIN = path.resolve('bin', 'layerlens.js');

interface FilesJson {
  files: { path: string; size: number; type: string }[];
  layers: { changes: { added: string[]; modified: string[]; removed: string[] } }[];
}

const view = (layer: number, options: Partial<TreeOptions> = {}): TreeOptions => ({ layer, layerOnly: false, hideUnchanged: false, filter: '', folded: new Set(), ...options });

describe('what the explorer shows, against the CLI documents', () => {
  let data: ExploreData;
  let layers: FilesJson['layers'];
  beforeAll(async () => {
    data = await openExplore(SAMPLE);
    layers = (await runJson<FilesJson>(['analyze', SAMPLE])).json.layers;
  });

  test('the tree as of each layer lists exactly the paths `files --layer N` lists, in the same order, with its sizes', async () => {
    for (let layer = 0; layer < data.report.layers.length; layer++) {
      const files = (await runJson<FilesJson>(['files', SAMPLE, '--layer', String(layer)])).json.files;
      const rows = treeRows(data.unionAt(layer), view(layer));
      expect(rows.map((row) => row.path)).toEqual(files.map((file) => file.path));
      // A file's size is its own; a directory's is everything below it, as the files table rolls it up.
      for (const file of files.filter((entry) => entry.type === 'file')) expect([file.path, rows.find((row) => row.path === file.path)!.size]).toEqual([file.path, file.size]);
    }
  });

  test("each layer's marks are its changes as `layers --json` lists them; the changes-only view adds its removals as D rows", () => {
    for (let layer = 0; layer < layers.length; layer++) {
      const rows = treeRows(data.unionAt(layer), view(layer));
      const marked = (mark: string) => rows.filter((row) => row.mark === mark).map((row) => row.path).sort();
      expect(marked('A')).toEqual([...layers[layer]!.changes.added].sort());
      expect(marked('M')).toEqual([...layers[layer]!.changes.modified].sort());
      const only = treeRows(data.unionAt(layer), view(layer, { layerOnly: true }));
      expect(only.filter((row) => row.mark === 'D').map((row) => row.path)).toEqual(layers[layer]!.changes.removed);
      // Only changed paths and the directories leading to them.
      const changed = new Set([...layers[layer]!.changes.added, ...layers[layer]!.changes.modified]);
      for (const row of only.filter((entry) => entry.mark !== 'D')) expect([row.path, changed.has(row.path) || [...changed].some((p) => p.startsWith(`${row.path}/`))]).toEqual([row.path, true]);
    }
    expect(layers[2]!.changes.removed.length).toBeGreaterThan(0); // the sample's last layer deletes: the D rows are tested
  });

  test('a filter keeps the matching paths and the directories leading to them; a folded directory hides what is below it', () => {
    const union = data.unionAt(2);
    const all = treeRows(union, view(2)).map((row) => row.path);
    const filtered = treeRows(union, view(2, { filter: 'HELLO' })).map((row) => row.path);
    expect(filtered).toEqual(['/app', '/app/hello.sh']); // case-insensitive, parents kept
    const folded = treeRows(union, view(2, { folded: new Set(['/bin']) }));
    expect(folded.find((row) => row.path === '/bin')).toMatchObject({ folded: true, directory: true });
    expect(folded.map((row) => row.path)).toEqual(all.filter((p) => !p.startsWith('/bin/')));
  });

  test("hiding a kind of change (dive's Ctrl+A, Ctrl+M, Ctrl+R) hides those paths but keeps a directory while something below it shows", async () => {
    for (let layer = 0; layer < layers.length; layer++) {
      const files = (await runJson<FilesJson>(['files', SAMPLE, '--layer', String(layer)])).json.files.map((file) => file.path);
      const { added, modified, removed } = layers[layer]!.changes;
      for (const [hide, kind] of [[{ hideAdded: true }, added], [{ hideModified: true }, modified]] as const) {
        const gone = new Set<string>(kind);
        // The oracle: every path of `files --layer N` not of that kind, and every directory leading to one.
        const shown = files.filter((p) => !gone.has(p));
        const expected = files.filter((p) => shown.includes(p) || shown.some((other) => other.startsWith(`${p}/`)));
        expect(treeRows(data.unionAt(layer), view(layer, hide)).map((row) => row.path)).toEqual(expected);
      }
      const only = treeRows(data.unionAt(layer), view(layer, { layerOnly: true, hideRemoved: true }));
      expect(only.some((row) => row.mark === 'D')).toBe(false);
      expect(only.length).toBe(treeRows(data.unionAt(layer), view(layer, { layerOnly: true })).length - removed.length);
    }
    // Layer 1 added all of /app; hiding what it added leaves nothing of /app. Layer 2 modified only hello.sh.
    expect(treeRows(data.unionAt(1), view(1, { hideAdded: true })).some((row) => row.path.startsWith('/app'))).toBe(false);
    const layer2 = treeRows(data.unionAt(2), view(2, { hideModified: true })).map((row) => row.path);
    expect(layer2).toContain('/app');
    expect(layer2).not.toContain('/app/hello.sh');
  });

  test.each([
    ['the docker save', [SAMPLE]],
    ['the OCI layout, amd64', [`oci:${path.join(SAMPLES, 'busybox-oci')}`, '--platform', 'linux/amd64']],
    ['the OCI layout, arm64', [`oci:${path.join(SAMPLES, 'busybox-oci')}`, '--platform', 'linux/arm64']],
  ])('every layer of %s: the tree is `files --layer N`, the marks its changes', async (_, [image, ...flags]) => {
    const platform = flags[1] ? { platform: { os: 'linux', architecture: flags[1].split('/')[1]! } } : {};
    const opened = await openExplore(image!, platform);
    const analyzed = (await runJson<FilesJson>(['analyze', image!, ...flags])).json.layers;
    expect(opened.report.layers.length).toBe(analyzed.length);
    for (let layer = 0; layer < analyzed.length; layer++) {
      const files = (await runJson<FilesJson>(['files', image!, ...flags, '--layer', String(layer)])).json.files;
      const rows = treeRows(opened.unionAt(layer), view(layer));
      expect(rows.map((row) => row.path)).toEqual(files.map((file) => file.path));
      expect(rows.filter((row) => row.mark === 'A').map((row) => row.path).sort()).toEqual([...analyzed[layer]!.changes.added].sort());
    }
  });

  test("dive's list of paths in more than one layer, in the room the layers pane leaves: `waste --json`'s entries, in order", async () => {
    // dive's own test image: several paths written twice or more.
    const dive = fixture('dive', '.data', 'test-docker-image.tar');
    const waste = (await runJson<{ waste: { entries: { path: string; count: number; cumulativeSize: number }[] } }>(['waste', dive])).json.waste.entries;
    expect(waste.length).toBeGreaterThan(2);
    const opened = await openExplore(dive);
    const lines = wasteListLines(opened.report, 60, 10);
    expect(lines[0]).toMatch(new RegExp(`^Count +Total +Path \\(${waste.length} in 2\\+ layers\\)`));
    const listed = lines.slice(1).map((line) => line.trim().split(/\s+/));
    expect(listed.map((cells) => [Number(cells[0]), cells.at(-1)])).toEqual(waste.map((entry) => [entry.count, entry.path]));
    expect(wasteListLines(opened.report, 42, 3)).toHaveLength(3); // the room, not more: a header and two
    expect(lines.every((line) => line.length === 60)).toBe(true);
    // Narrower, a path is cut in its middle: the file name stays.
    expect(wasteListLines(opened.report, 36, 10)[1]).toMatch(/ \/root…\S+file\d\.txt $/);
    expect(wasteListLines(data.report, 42, 2)).toEqual([]); // no room: nothing, not a header alone
    expect(wasteListLines(data.report, 42, 5)).toHaveLength(2); // the sample: one path, written twice
  });

  test('explore off a terminal is exit 2 saying what to use instead', async () => {
    const result = await runCli(['explore', SAMPLE]);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: '' });
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layerlens: explore is interactive: it needs a terminal on stdin and stdout \(for a script: layerlens files IMAGE --layer N --changed/), "Run 'layerlens --help' for usage."]);
  });
});

const describeTmux = tmuxAvailable() ? describe : describe.skip;

describeTmux('layerlens explore in a terminal (tmux)', () => {
  let session: TmuxSession | null = null;
  afterEach(async () => {
    await session?.kill();
    session = null;
  });
  const start = async (image: string, size: { cols?: number; rows?: number } = {}) => {
    session = await startTmux({ command: [process.execPath, BIN, 'explore', image], env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' }, ...size });
    return session;
  };

  test('opens on the last layer, steps through the layers, shows only a layer\'s changes, filters, folds and quits with q, giving the screen back', async () => {
    const tmux = await start(SAMPLE);
    let screen = await tmux.waitFor('Files as of layer 2');
    expect(await tmux.alternateOn()).toBe(true);
    expect(screen).toMatch(/▶\s+2\s+143 B \+0 ~1 -2\s+RUN rm -rf/); // the last layer selected
    expect(screen).toMatch(/^Efficiency 99\.99 % · Wasted 280 B · Reclaimable 143 B/m);
    expect(screen.split('\n').every((line) => line.length <= 100)).toBe(true);
    // Tab to the layers, k twice: the tree as of layer 0, everything marked added.
    await tmux.send('Tab', 'k', 'k');
    screen = await tmux.waitFor('Files as of layer 0');
    expect(screen).toMatch(/▶\s+0\s+1\.98 MB \+51 ~0 -0/);
    expect(screen).toMatch(/│ A drwxr-xr-x .*├── bin\/$/m);
    // Back to the last layer; c: only its changes, its removals as D rows.
    await tmux.send('j', 'j', 'c');
    screen = await tmux.waitFor('Changes of layer 2');
    expect(screen).toMatch(/M -rwxr-xr-x .*└── hello\.sh$/m);
    expect(screen).toMatch(/D {2}\/var\/cache\/sample\/dataset\.bin/);
    expect(screen).not.toMatch(/── bin\//); // layer 2 did not touch /bin
    // c again, / to filter: only numbers.txt and the directories above it.
    await tmux.send('c', '/');
    await tmux.sendText('numbers');
    await tmux.send('Enter');
    screen = await tmux.waitFor(/filter "numbers"\) · 3 rows/);
    expect(screen).toMatch(/└── numbers\.txt$/m);
    // Esc clears the filter; Tab to the tree, Space folds /app.
    // Esc alone (Esc and a key written at once is Alt+key to a terminal program).
    await tmux.send('Escape');
    await tmux.waitFor('Files as of layer 2 · 60 rows');
    await tmux.send('Tab', 'Space');
    screen = await tmux.waitFor(/├── app\/ …$/m);
    expect(screen).not.toMatch(/── hello\.sh/);
    await tmux.send('?');
    await tmux.waitFor(/Space {2,}fold or unfold the directory/);
    await tmux.send('x', 'q');
    expect(await tmux.exited()).toBe(0);
    expect(await tmux.alternateOn()).toBe(false);
  });

  test("dive's keys: Ctrl+B hides the attributes, Enter (Ctrl+M) the modified paths, Ctrl+R the removals; a keys file rebinds quit", async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const os = await import('node:os');
    const keysFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'layerlens-keys-')), 'keys.yml');
    writeFileSync(keysFile, 'keybinding:\n  quit: x\n');
    session = await startTmux({ command: [process.execPath, BIN, 'explore', SAMPLE, '--keys', keysFile], env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' } });
    const tmux = session;
    let screen = await tmux.waitFor('Files as of layer 2');
    expect(screen).toMatch(/M -rwxr-xr-x .*└── hello\.sh$/m);
    await tmux.send('C-b');
    screen = await tmux.waitFor((text) => !/-rwxr-xr-x/.test(text));
    expect(screen).toMatch(/^│?.*M +\d[\d.]* B +.*└── hello\.sh$/m); // the mark and the size, no mode
    await tmux.send('C-b', 'Enter');
    screen = await tmux.waitFor('(modified hidden)');
    expect(screen).not.toMatch(/── hello\.sh/); // (the step on the left still names it)
    expect(screen).toMatch(/└── data\/$/m); // /app stays: its data is unchanged
    await tmux.send('Enter', 'c');
    screen = await tmux.waitFor('Changes of layer 2');
    expect(screen).toMatch(/D {2}\/var\/cache\/sample\/dataset\.bin/);
    await tmux.send('C-r');
    screen = await tmux.waitFor('(removed hidden)');
    expect(screen).not.toMatch(/dataset\.bin/);
    await tmux.send('?');
    screen = await tmux.waitFor(`Keys from ${keysFile}.`);
    expect(screen).toMatch(/^ {2}x {2,}quit/m);
    await tmux.send('Escape', 'q'); // q is no longer quit
    await tmux.waitFor('Changes of layer 2');
    await tmux.send('x');
    expect(await tmux.exited()).toBe(0);
  });

  test("a dive config's view sections set the first view: kinds hidden, every directory folded, no attributes, dive's pane width", async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const os = await import('node:os');
    const configFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'layerlens-keys-')), '.dive.yaml');
    writeFileSync(configFile, ['diff:', '  hide:', '    - changed', 'filetree:', '  collapse-dir: true', '  pane-width: 0.7', '  show-attributes: false', ''].join('\n'));
    session = await startTmux({ command: [process.execPath, BIN, 'explore', SAMPLE, '--keys', configFile], cols: 100, rows: 30, env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' } });
    const tmux = session;
    let screen = await tmux.waitFor('(modified hidden)');
    // The file tree takes 70 of the 100 columns: the divider sits after 30.
    const lines = screen.split('\n');
    const header = lines.find((line) => line.includes('Layers (3)'))!;
    expect(header.indexOf('│')).toBe(30);
    expect(screen).not.toMatch(/-rwxr-xr-x|drwxr-xr-x/); // show-attributes: false
    expect(screen).toMatch(/── app\/ …/); // collapse-dir: true
    expect(screen).not.toMatch(/── hello\.sh/);
    // Each is still the key's to change: Ctrl+B shows the attributes, Z unfolds, Enter shows the modified again.
    await tmux.send('C-b', 'Z', 'Enter');
    screen = await tmux.waitFor((text) => /M -rwxr-xr-x .*└── hello\.sh$/m.test(text));
    expect(screen).not.toContain('(modified hidden)');
    await tmux.send('q');
    expect(await tmux.exited()).toBe(0);
  });

  test('a bad keys file is exit 2 before the image is read', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const os = await import('node:os');
    const keysFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'layerlens-keys-')), 'keys.yml');
    writeFileSync(keysFile, 'keybinding:\n  quit: tab\n');
    session = await startTmux({ command: ['sh', '-c', `${process.execPath} ${BIN} explore /nonexistent.tar --keys ${keysFile}; echo "exit=$?"; sleep 30`], env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' } });
    const screen = await session.waitFor('exit=');
    expect(screen).toMatch(/Tab is bound to both (quit and toggle-view|toggle-view and quit)/);
    expect(screen).toContain('exit=2');
  });

  test('at 80×24 and after a resize every line fits the terminal; Ctrl+C quits cleanly', async () => {
    const tmux = await start(SAMPLE, { cols: 80, rows: 24 });
    let screen = await tmux.waitFor('Files as of layer 2');
    expect(screen.split('\n').every((line) => line.length <= 80)).toBe(true);
    expect(screen).toMatch(/^Tab pane/m);
    await tmux.resize(120, 40);
    screen = await tmux.waitFor((text) => text.split('\n').some((line) => line.length > 100));
    expect(screen.split('\n').every((line) => line.length <= 120)).toBe(true);
    expect(screen).toMatch(/0:0/); // a wide tree pane shows the owner column
    await tmux.send('C-c');
    expect(await tmux.exited()).toBe(0);
  });

  test('a closed terminal ends the explorer (no process left behind)', async () => {
    const tmux = await start(SAMPLE);
    await tmux.waitFor('Files as of layer 2');
    await tmux.kill(); // the pane's terminal goes away: SIGHUP
    session = null;
    const { execFileSync } = await import('node:child_process');
    for (let attempt = 0; attempt < 50; attempt++) {
      const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((line) => line.includes(`${BIN} explore ${SAMPLE}`));
      if (left.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('explore still running after its terminal closed');
  });

  test('the realistic image (~400 MB, ~14k paths) from an OCI archive: opens, moves, filters', async () => {
    const realistic = await realisticImage();
    const tmux = await start(realistic.ociArchive);
    let screen = await tmux.waitFor('Files as of layer 5', 120_000);
    // Every path of the final filesystem (the image copies this checkout's node_modules: its count is the info's).
    expect(screen).toContain(`${realistic.info.filesInRootfs.toLocaleString('en-US')} rows`);
    await tmux.send('/');
    await tmux.sendText('os-release');
    await tmux.send('Enter');
    screen = await tmux.waitFor(/filter "os-release"\) · 5 rows/);
    expect(screen).toMatch(/└── os-release → \.\.\/usr\/lib/);
    await tmux.send('q');
    expect(await tmux.exited()).toBe(0);
  }, REALISTIC_BUILD_TIMEOUT_MS);
});
