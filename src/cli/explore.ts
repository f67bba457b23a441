/**
 * `layerlens explore IMAGE`: dive's way of looking at an image, in the terminal. The layers on the left; on the
 * right the file tree as of the selected layer (or only that layer's changes), its changes marked with a letter
 * and a colour; dive's figures at the bottom. The image is read once (pipeline/explore.ts); what each screen
 * line says is report/explore-view.ts; this file only keeps the state and draws the lines, with Ink (a React
 * renderer for terminals, the most used and kept-up terminal UI library on npm), loaded only by this command.
 */
import type { Key } from 'ink';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import type { UnionFs } from '../analyze/union.js';
import { openExplore, type ExploreData } from '../pipeline/explore.js';
import { allDirectories, changeCounts, fit, layerLine, treeLine, treeRows, wasteLine, wasteListLines, type TreeRow } from '../report/explore-view.js';
import { escapeTerminal as esc } from '../report/escape.js';
import { platformText, wrapText, type Style } from '../report/format.js';
import { sourceLine } from '../report/table.js';
import { ACTIONS, defaultKeysFile, loadExploreConfig, type Action, type KeyBindings, type ViewDefaults } from './explore-keys.js';
import { readFlags, readOptions, registryFlags, tableStyle, voiceFlags, withExamples, type CommonOptions } from './commands.js';

type Pane = 'layers' | 'tree';

/** The help screen, from the bindings in use: rebound keys show as they are. */
function helpLines(keys: KeyBindings): string[] {
  const line = (label: string, text: string) => `  ${label.padEnd(22)} ${text}`;
  return [
    'Keys',
    ...(['toggle-view', 'compare-layer', 'compare-all', 'toggle-compare', 'filter-files'] as const).map((action) => line(keys.label(action), ACTIONS[action].help + (action === 'compare-all' ? ' (in the layers)' : ''))),
    line('↑ ↓  k j', 'move (in the layers: step through the layers)'),
    line(`${keys.label('page-up')} ${keys.label('page-down')}`, 'a page up or down; Home End (g G) the first or last row'),
    'In the file tree',
    ...(['toggle-collapse-dir', 'toggle-collapse-all-dir', 'toggle-added-files', 'toggle-modified-files', 'toggle-removed-files', 'toggle-unmodified-files', 'toggle-filetree-attributes'] as const).map((action) => line(keys.label(action), ACTIONS[action].help)),
    line('← →  h l  Z', 'fold / unfold; ← on a file goes to its directory; Z unfolds all'),
    line(keys.label('help'), ACTIONS.help.help),
    line(keys.label('quit'), ACTIONS.quit.help),
    '',
    'Marks: A added, M modified, D removed by the selected layer (colour too, unless NO_COLOR).',
    keys.file ? `Keys from ${keys.file}.` : `Rebind them in ${defaultKeysFile()} (dive's "keybinding:" names) or with --keys FILE.`,
  ];
}

interface ExploreState {
  layer: number;
  pane: Pane;
  cursor: number;
  top: number;
  folded: Set<string>;
  layerOnly: boolean;
  hideUnchanged: boolean;
  hideAdded: boolean;
  hideModified: boolean;
  hideRemoved: boolean;
  /** The mode and owner columns (dive's Ctrl+B). */
  attributes: boolean;
  filter: string;
  editing: boolean;
  help: boolean;
}

/** Everything below is drawn from this: the lines of one frame for a terminal of `cols` × `rows`. */
function frame(data: ExploreData, state: ExploreState, rows: TreeRow[], cols: number, height: number, style: Style, keys: KeyBindings, treeShare: number | null): string[] {
  const { report } = data;
  const { color } = style;
  // dive's pane-width when the file gives one, within what keeps both panes readable.
  const leftWidth = treeShare === null ? Math.max(30, Math.min(56, Math.floor(cols * 0.42))) : Math.max(20, Math.min(cols - 21, Math.round(cols * (1 - treeShare))));
  const rightWidth = Math.max(20, cols - leftWidth - 1);
  const body = Math.max(3, height - 4);
  const title = fit(`${sourceLine(report)}  ${platformText(report.platform)}`, cols);
  const treeTitle = state.layerOnly ? `Changes of layer ${state.layer}` : `Files as of layer ${state.layer}`;
  const hidden = [state.hideAdded ? 'added' : '', state.hideModified ? 'modified' : '', state.hideRemoved && state.layerOnly ? 'removed' : ''].filter(Boolean);
  const flags = [state.hideUnchanged && !state.layerOnly ? 'changed only' : '', hidden.length > 0 ? `${hidden.join(', ')} hidden` : '', state.filter ? `filter "${esc(state.filter)}"` : ''].filter(Boolean).join(', ');
  const headLeft = fit(`${state.pane === 'layers' ? '●' : ' '} Layers (${report.layers.length})`, leftWidth);
  const headRight = fit(`${state.pane === 'tree' ? '●' : ' '} ${treeTitle}${flags ? ` (${flags})` : ''} · ${rows.length.toLocaleString('en-US')} rows`, rightWidth);
  const left: string[] = [];
  // The layer list scrolls to keep the selected layer in view; the details of that layer fill what is left.
  const listHeight = Math.min(report.layers.length, Math.max(1, body - 5));
  const first = Math.min(Math.max(0, state.layer - listHeight + 1), Math.max(0, report.layers.length - listHeight));
  const changesWidth = Math.max(...data.changes.map((changes) => changeCounts(changes).length));
  for (let i = first; i < first + listHeight; i++) left.push(layerLine(report.layers[i]!, data.changes[i], leftWidth, style, i === state.layer, changesWidth));
  const selected = report.layers[state.layer]!;
  left.push(fit('', leftWidth), color.bold(fit(`Layer ${state.layer}`, leftWidth)), fit(`Digest ${selected.digest ?? 'none'}`, leftWidth));
  for (const line of wrapText(`Command ${selected.createdBy ?? '(no history)'}`, leftWidth, '  ')) {
    if (left.length >= body) break;
    left.push(fit(line, leftWidth));
  }
  // What is left of the pane: dive's list of paths written more than once.
  const waste = wasteListLines(report, leftWidth, body - left.length - 1);
  if (waste.length > 0) left.push(fit('', leftWidth), color.bold(waste[0]!), ...waste.slice(1));
  const right: string[] = [];
  for (let i = state.top; i < Math.min(rows.length, state.top + body); i++) right.push(treeLine(rows[i]!, rightWidth, style, state.pane === 'tree' && i === state.cursor, state.attributes));
  if (rows.length === 0) right.push(fit(state.filter ? '  no path matches the filter' : '  nothing to show', rightWidth));
  const lines = [color.bold(title), `${color.bold(headLeft)}│${color.bold(headRight)}`];
  for (let i = 0; i < body; i++) lines.push(`${left[i] ?? fit('', leftWidth)}│${right[i] ?? fit('', rightWidth)}`);
  const key = (action: Action) => keys.label(action, true);
  const hint = state.editing
    ? `Filter: ${esc(state.filter)}▏  (Enter keep, Esc clear)`
    : `${key('toggle-view')} pane · ↑↓ move · ${key('toggle-collapse-dir')} fold · ${key('toggle-compare')} layer/all · ${key('toggle-unmodified-files')} changed · ${key('filter-files')} filter · ${key('help')} help · ${key('quit')} quit`;
  lines.push(color.dim(fit(hint, cols)), fit(wasteLine(report, cols), cols));
  return lines;
}

function helpFrame(cols: number, height: number, style: Style, keys: KeyBindings): string[] {
  const lines = helpLines(keys).map((line, i) => (i === 0 ? style.color.bold(fit(line, cols)) : fit(line, cols)));
  while (lines.length < height - 1) lines.push(fit('', cols));
  return lines.slice(0, Math.max(1, height - 1));
}

/**
 * Ink hands over a run of plain characters as one input (it keeps pasted text whole): "jjj" from a held key, or
 * "\tkk" written at once. Each is a keypress here. Escape sequences (arrows) Ink has already split.
 */
function keypresses(input: string, key: Key): [string, Key][] {
  if (input.length <= 1 || key.ctrl || key.meta || input.startsWith('\x1b')) return [[input, key]];
  const plain: Key = { ...key, tab: false, return: false, backspace: false, delete: false, ctrl: false };
  return [...input].map((char): [string, Key] => {
    if (char === '\t') return ['', { ...plain, tab: true }];
    if (char === '\r' || char === '\n') return ['', { ...plain, return: true }];
    if (char === '\x7f' || char === '\b') return ['', { ...plain, backspace: true }];
    const code = char.charCodeAt(0);
    if (code >= 1 && code <= 26) return [String.fromCharCode(code + 96), { ...plain, ctrl: true }];
    return [char, plain];
  });
}

/** The parent directory's row of the row at `index` (for ← on a file), or the row itself at the top. */
function parentRow(rows: TreeRow[], index: number): number {
  const path = rows[index]?.path ?? '';
  const parent = path.slice(0, path.lastIndexOf('/'));
  for (let i = index - 1; i >= 0; i--) if (rows[i]!.path === parent) return i;
  return index;
}

async function runExplorer(data: ExploreData, style: Style, keys: KeyBindings, view: ViewDefaults): Promise<void> {
  // Ink renders nothing until exit when it believes it runs in CI (is-in-ci reads CI at import): explore is
  // interactive on a terminal, checked before, so it draws whatever the environment says.
  const ci = process.env.CI;
  process.env.CI = 'false';
  const [{ createElement: h, useEffect, useRef, useState }, ink] = await Promise.all([import('react'), import('ink')]);
  if (ci === undefined) delete process.env.CI;
  else process.env.CI = ci;
  const { Box, Text, render, useApp, useInput, useStdout } = ink;
  const timing = process.env.LAYERLENS_EXPLORE_TIMING ? await import('node:fs').then((fs) => fs.createWriteStream(process.env.LAYERLENS_EXPLORE_TIMING!, { flags: 'a' })) : null;
  let keyAt: { key: string; at: number } | null = null;
  const last = data.report.layers.length - 1;

  // The tree rows of a state, cached on what they depend on: keys arrive faster than frames (a held key, keys
  // pasted or sent in one write), so each key is applied to the state the previous key left, not to the last frame.
  // The fields of the state the rows depend on (not the cursor, the pane or the columns shown).
  const rowKeys = ['layerOnly', 'hideUnchanged', 'hideAdded', 'hideModified', 'hideRemoved', 'filter', 'folded'] as const;
  let cached: { union: UnionFs; state: ExploreState; rows: TreeRow[] } | null = null;
  const rowsOf = (state: ExploreState): { union: UnionFs; rows: TreeRow[] } => {
    const union = data.unionAt(state.layer);
    if (cached && cached.union === union && rowKeys.every((name) => cached!.state[name] === state[name])) return cached;
    cached = { union, state, rows: treeRows(union, state) };
    return cached;
  };

  /** The state after one key; `body` is the height of the tree pane. */
  // The cursor stays on a row and in view whatever changed (a fold, a filter, a smaller terminal).
  const placed = (next: ExploreState, body: number): ExploreState => {
    const count = rowsOf(next).rows.length;
    const cursor = Math.max(0, Math.min(next.cursor, count - 1));
    const top = Math.max(0, Math.min(next.top, cursor, Math.max(0, count - body)), cursor - body + 1);
    return cursor === next.cursor && top === next.top ? next : { ...next, cursor, top };
  };

  const afterKey = (state: ExploreState, input: string, key: Key, body: number): ExploreState | 'quit' => {
    const { union, rows } = rowsOf(state);
    const place = (next: ExploreState) => placed(next, body);
    if (key.ctrl && input === 'c') return 'quit';
    if (state.help) return { ...state, help: false };
    if (state.editing) {
      if (key.return) return place({ ...state, editing: false, cursor: 0, top: 0 });
      if (key.escape) return { ...state, editing: false, filter: '', cursor: 0, top: 0 };
      if (key.backspace || key.delete) return { ...state, filter: state.filter.slice(0, -1), cursor: 0, top: 0 };
      if (input && !key.ctrl && !key.meta) return { ...state, filter: state.filter + input, cursor: 0, top: 0 };
      return state;
    }
    const is = (action: Action) => keys.is(action, input, key, state.pane);
    const fresh = (next: Partial<ExploreState>): ExploreState => ({ ...state, ...next, cursor: 0, top: 0 });
    if (is('quit')) return 'quit';
    if (is('help')) return { ...state, help: true };
    if (is('toggle-view')) return { ...state, pane: state.pane === 'layers' ? 'tree' : 'layers' };
    if (is('compare-layer')) return state.layerOnly ? state : fresh({ layerOnly: true });
    if (is('compare-all')) return state.layerOnly ? fresh({ layerOnly: false }) : state;
    if (is('toggle-compare')) return fresh({ layerOnly: !state.layerOnly });
    if (is('toggle-unmodified-files')) return fresh({ hideUnchanged: !state.hideUnchanged });
    if (is('toggle-added-files')) return fresh({ hideAdded: !state.hideAdded });
    if (is('toggle-modified-files')) return fresh({ hideModified: !state.hideModified });
    if (is('toggle-removed-files')) return fresh({ hideRemoved: !state.hideRemoved });
    if (is('toggle-filetree-attributes')) return { ...state, attributes: !state.attributes };
    if (is('filter-files')) return { ...state, editing: true };
    if (key.escape && state.filter) return fresh({ filter: '' });
    const step = key.upArrow || input === 'k' ? -1 : key.downArrow || input === 'j' ? 1 : is('page-up') ? -body : is('page-down') ? body : key.home || input === 'g' ? -Infinity : key.end || input === 'G' ? Infinity : 0;
    if (state.pane === 'layers') {
      if (step === 0) return state;
      const layer = Math.max(0, Math.min(last, Number.isFinite(step) ? state.layer + step : step > 0 ? last : 0));
      // A new layer, a new tree: the cursor starts at its top, as in dive.
      return layer === state.layer ? state : { ...state, layer, cursor: 0, top: 0 };
    }
    if (step !== 0) return place({ ...state, cursor: Number.isFinite(step) ? state.cursor + step : step > 0 ? rows.length - 1 : 0 });
    // Fold everything, or (when something is folded) unfold everything: dive's Ctrl+Space.
    if (is('toggle-collapse-all-dir')) return place({ ...state, folded: state.folded.size > 0 ? new Set() : allDirectories(union) });
    if (input === 'Z') return place({ ...state, folded: new Set() });
    const row = rows[state.cursor];
    if (!row) return state;
    const fold = (folded: boolean): ExploreState => {
      const next = new Set(state.folded);
      if (folded) next.add(row.path);
      else next.delete(row.path);
      return place({ ...state, folded: next });
    };
    if (is('toggle-collapse-dir') && row.directory) return fold(!row.folded);
    if (key.rightArrow || input === 'l') return row.directory && row.folded ? fold(false) : state;
    if (key.leftArrow || input === 'h') {
      if (row.directory && !row.folded) return fold(true);
      return place({ ...state, cursor: parentRow(rows, state.cursor) });
    }
    return state;
  };

  function Explorer() {
    const { exit } = useApp();
    const { stdout } = useStdout();
    const [size, setSize] = useState({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
    // The first view as the file sets it (dive's diff.hide, filetree.*), computed once, not on every frame.
    const [state, setState] = useState<ExploreState>(() => ({
      ...{ layer: last, pane: 'tree', cursor: 0, top: 0, layerOnly: false, filter: '', editing: false, help: false },
      folded: view.collapseDirs ? allDirectories(data.unionAt(last)) : new Set<string>(),
      ...{ hideUnchanged: view.hideUnchanged, hideAdded: view.hideAdded, hideModified: view.hideModified, hideRemoved: view.hideRemoved, attributes: view.attributes },
    }));
    const latest = useRef(state);
    latest.current = state;
    useEffect(() => {
      const resized = () => setSize({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
      stdout.on('resize', resized);
      return () => void stdout.off('resize', resized);
    }, [stdout]);
    // One line less than the terminal: Ink clears the whole screen before every frame as tall as the terminal.
    const height = size.rows - 1;
    const body = Math.max(3, height - 4);
    useInput((input, key) => {
      if (timing) keyAt = { key: input || Object.entries(key).find(([, on]) => on)?.[0] || '?', at: performance.now() };
      let next = latest.current;
      for (const [one, oneKey] of keypresses(input, key)) {
        const after = afterKey(next, one, oneKey, body);
        if (after === 'quit') return exit();
        next = after;
      }
      latest.current = next;
      setState(next);
    });
    const lines = state.help ? helpFrame(size.cols, height, style, keys) : frame(data, placed(state, body), rowsOf(state).rows, size.cols, height, style, keys, view.treeShare);
    return h(Box, { flexDirection: 'column', width: size.cols }, ...lines.map((line, i) => h(Text, { key: i, wrap: 'truncate' }, line)));
  }

  const restore = () => process.stdout.write('\x1b[?1049l');
  process.stdout.write('\x1b[?1049h\x1b[H');
  const instance = render(h(Explorer), {
    // Ctrl+C is a key like q (afterKey): Ink's own handling would race the keys that arrived with it.
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: 60,
    onRender: () => {
      if (timing && keyAt) {
        timing.write(`${keyAt.key} ${(performance.now() - keyAt.at).toFixed(1)}\n`);
        keyAt = null;
      }
    },
  });
  // A closed terminal (SIGHUP) or a kill ends the explorer as q does, and the screen is given back.
  const end = () => instance.unmount();
  process.once('SIGHUP', end);
  process.once('SIGTERM', end);
  try {
    await instance.waitUntilExit();
  } finally {
    process.off('SIGHUP', end);
    process.off('SIGTERM', end);
    try {
      restore();
    } catch {
      // the terminal is gone
    }
    timing?.end();
  }
}

export type ExploreOptions = CommonOptions & { keys?: string };

export async function runExplore(options: ExploreOptions): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UsageError('explore is interactive: it needs a terminal on stdin and stdout (for a script: layerlens files IMAGE --layer N --changed, or analyze IMAGE --format html -o report.html)');
  }
  // The bindings before the image: a bad keys file is exit 2 before anything is read.
  const { keys, view } = loadExploreConfig(options.keys ?? defaultKeysFile(), options.keys !== undefined);
  const data = await openExplore(options.image, await readOptions(options));
  await runExplorer(data, tableStyle(options, false), keys, view);
  return 0;
}

export function registerExploreCommand(parser: Argv, setExit: (code: number) => void): void {
  parser.command(
    'explore <image>',
    'walk an image layer by layer in the terminal: the layers, the file tree as of each, what each changed',
    (command) =>
      withExamples(
        readFlags(
          registryFlags(
            voiceFlags(
              command
                .positional('image', { type: 'string', describe: 'the image to read (see "Images" below)', demandOption: true })
                .option('platform', { type: 'string', describe: 'platform to pick from a multi-arch image: os/arch[/variant]' })
                .option('keys', { type: 'string', describe: `key bindings and first view (a "keybinding:" map in dive's action names; dive's diff: and filetree: sections; default ${defaultKeysFile()} when it exists)` }),
            ),
          ),
        ),
        [
          ['$0 explore samples/busybox-amd64.tar', 'step through the layers of a docker save'],
          ['$0 explore docker-daemon:app:dev', 'an image of the local engine, as dive does'],
          ['$0 explore alpine --platform linux/arm64', 'one platform of a registry image'],
          ['$0 explore app.tar --keys ~/.dive.yaml', "dive's own config: its key bindings, the kinds it hides, folded directories, pane width"],
        ],
      ),
    async (argv) => setExit(await runExplore(argv as unknown as ExploreOptions)),
  );
}

