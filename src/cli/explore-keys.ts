/**
 * The explorer's key bindings: dive's defaults and dive's names for them (`keybinding:` in a dive config), so a
 * dive user's fingers and config both carry over. A file (`--keys FILE`, else `$XDG_CONFIG_HOME/layerlens/keys.yml`)
 * may rebind any of them; the movement keys (arrows, j k h l, g G, Home End) stay as they are. The same file may
 * set the first view as dive's config does (`diff.hide`, `filetree.collapse-dir`, `filetree.show-attributes`,
 * `filetree.pane-width`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Key } from 'ink';
import { UsageError } from '../errors.js';

/** Where an action's keys apply: both panes, or only the one with the focus (dive gives Ctrl+A a meaning in each). */
type Scope = 'any' | 'layers' | 'tree';

interface ActionSpec {
  keys: string;
  scope: Scope;
  help: string;
}

/** Every action a key can be bound to, with dive's default keys (and layerlens's own second keys). */
export const ACTIONS = {
  quit: { keys: 'q', scope: 'any', help: 'quit (Ctrl+C always quits too)' },
  'toggle-view': { keys: 'tab', scope: 'any', help: 'switch between the layers and the file tree' },
  'filter-files': { keys: '/, ctrl+f', scope: 'any', help: 'filter by path (Enter keeps it, Esc clears it)' },
  help: { keys: '?', scope: 'any', help: 'this help; any key closes it' },
  'compare-layer': { keys: 'ctrl+l', scope: 'any', help: 'only the changes of the selected layer' },
  'compare-all': { keys: 'ctrl+a', scope: 'layers', help: 'the tree as of the layer: every layer up to it' },
  'toggle-compare': { keys: 'c', scope: 'any', help: 'switch between those two' },
  'toggle-collapse-dir': { keys: 'space', scope: 'tree', help: 'fold or unfold the directory under the cursor' },
  'toggle-collapse-all-dir': { keys: 'ctrl+space, z', scope: 'tree', help: 'fold every directory, or unfold them all' },
  'toggle-added-files': { keys: 'ctrl+a', scope: 'tree', help: 'show or hide what the layer added' },
  'toggle-removed-files': { keys: 'ctrl+r', scope: 'tree', help: 'show or hide what the layer removed (D rows)' },
  // Ctrl+M is the byte Enter sends: in a terminal they are one key, as in dive.
  'toggle-modified-files': { keys: 'ctrl+m', scope: 'tree', help: 'show or hide what the layer modified' },
  'toggle-unmodified-files': { keys: 'ctrl+u, u', scope: 'tree', help: 'show or hide what the layer did not change' },
  'toggle-filetree-attributes': { keys: 'ctrl+b', scope: 'tree', help: 'show or hide the mode and owner columns' },
  'page-up': { keys: 'pgup', scope: 'any', help: 'a page up' },
  'page-down': { keys: 'pgdn', scope: 'any', help: 'a page down' },
} as const satisfies Record<string, ActionSpec>;

export type Action = keyof typeof ACTIONS;

/** One key: a named key, Ctrl with a letter or Space, or one character. */
interface KeySpec {
  text: string;
  /** What the terminal sends: Ctrl+M and Enter are one key (two actions on them would collide). */
  id: string;
  matches(input: string, key: Key): boolean;
}

const NAMED: Record<string, (input: string, key: Key) => boolean> = {
  tab: (_, key) => key.tab,
  enter: (_, key) => key.return,
  esc: (_, key) => key.escape,
  space: (input, key) => input === ' ' && !key.ctrl,
  backspace: (_, key) => key.backspace,
  delete: (_, key) => key.delete,
  pgup: (_, key) => key.pageUp,
  pgdn: (_, key) => key.pageDown,
  home: (_, key) => key.home,
  end: (_, key) => key.end,
  up: (_, key) => key.upArrow,
  down: (_, key) => key.downArrow,
  left: (_, key) => key.leftArrow,
  right: (_, key) => key.rightArrow,
};

/** Ctrl keys a terminal sends as another key's byte: Ctrl+M is Enter, Ctrl+I is Tab, Ctrl+[ is Esc. */
const CTRL_ALIASES: Record<string, string> = { m: 'enter', i: 'tab', '[': 'esc', space: '`' };

function parseKey(text: string, where: string): KeySpec {
  const spec = text.trim();
  const lower = spec.toLowerCase();
  const named = NAMED[lower];
  if (named) return { text: lower, id: lower, matches: named };
  const ctrl = /^ctrl\+(.+)$/.exec(lower);
  if (ctrl) {
    const rest = ctrl[1]!;
    const alias = CTRL_ALIASES[rest];
    if (alias && NAMED[alias]) return { text: lower, id: alias, matches: NAMED[alias] };
    // Ctrl+Space arrives as NUL, which Ink names by the character after it: "`" with ctrl.
    const letter = alias ?? rest;
    if (/^[a-z`]$/.test(letter)) return { text: lower, id: `ctrl+${letter}`, matches: (input, key) => key.ctrl && input === letter };
  }
  if ([...spec].length === 1 && spec !== ' ') return { text: spec, id: spec, matches: (input, key) => input === spec && !key.ctrl && !key.meta };
  throw new UsageError(`${where}: "${text.trim()}" is not a key (write a character, ctrl+LETTER, ctrl+space, or one of ${Object.keys(NAMED).join(', ')})`);
}

export interface KeyBindings {
  /** Whether this key, in this pane, is bound to `action`. */
  is(action: Action, input: string, key: Key, pane: 'layers' | 'tree'): boolean;
  /** The keys of an action as the help shows them ("Ctrl+A"), or only its first. */
  label(action: Action, first?: boolean): string;
  /** Where the bindings came from: null for the defaults. */
  file: string | null;
}

const LABELS: Record<string, string> = { tab: 'Tab', enter: 'Enter', esc: 'Esc', space: 'Space', pgup: 'PgUp', pgdn: 'PgDn', home: 'Home', end: 'End', up: '↑', down: '↓', left: '←', right: '→', backspace: 'Backspace', delete: 'Delete' };

function labelOf(spec: KeySpec): string {
  const ctrl = /^ctrl\+(.+)$/.exec(spec.text);
  // Ctrl+M is named with Enter: a user pressing either should know it is the same key.
  if (ctrl) return `Ctrl+${ctrl[1] === 'space' ? 'Space' : ctrl[1]!.toUpperCase()}${spec.id === 'enter' ? '/Enter' : ''}`;
  return LABELS[spec.text] ?? spec.text;
}

/** The file the bindings are read from when no --keys is given. */
export function defaultKeysFile(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(config, 'layerlens', 'keys.yml');
}

/**
 * The bindings: dive's defaults, with what `file` rebinds. Its `keybinding:` map names actions as dive does
 * (`toggle-added-files: ctrl+a`, several keys comma-separated); a dive config file works as it is (its other
 * sections are ignored). An unknown action, a key that is not one, or one key bound to two actions in the same
 * pane is exit 2 naming it.
 */
export function loadKeyBindings(file: string | null, required: boolean): KeyBindings {
  return loadExploreConfig(file, required).keys;
}

/** What a file sets of the explorer's first view, as dive's config does; each can still be toggled by its key. */
export interface ViewDefaults {
  /** dive's `diff.hide`: the kinds of path hidden at first. */
  hideAdded: boolean;
  hideRemoved: boolean;
  hideModified: boolean;
  hideUnchanged: boolean;
  /** dive's `filetree.collapse-dir`: every directory folded at first. */
  collapseDirs: boolean;
  /** dive's `filetree.show-attributes`: the mode and owner columns. */
  attributes: boolean;
  /** dive's `filetree.pane-width`: the file tree's share of the width (0 < x < 1); null: layerlens's own split. */
  treeShare: number | null;
}

export const DEFAULT_VIEW: ViewDefaults = { hideAdded: false, hideRemoved: false, hideModified: false, hideUnchanged: false, collapseDirs: false, attributes: true, treeShare: null };

/** dive's names for the kinds of change (`diff.hide`), and the names the explorer's own keys use. */
const HIDE_KINDS: Record<string, keyof ViewDefaults> = { added: 'hideAdded', removed: 'hideRemoved', changed: 'hideModified', modified: 'hideModified', unchanged: 'hideUnchanged', unmodified: 'hideUnchanged' };

const isMap = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function viewDefaults(data: Record<string, unknown>, file: string): ViewDefaults {
  const view: ViewDefaults = { ...DEFAULT_VIEW };
  const section = (name: string): Record<string, unknown> => {
    const value = data[name];
    if (value === undefined || value === null) return {};
    if (!isMap(value)) throw new UsageError(`${file}: "${name}:" must be a map (as in dive's config)`);
    return value;
  };
  const flag = (value: unknown, name: string): boolean | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw new UsageError(`${file}: ${name} must be true or false, not ${JSON.stringify(value)}`);
    return value;
  };
  const hide = section('diff').hide;
  if (hide !== undefined && hide !== null) {
    if (!Array.isArray(hide)) throw new UsageError(`${file}: diff.hide must be a list of kinds (${Object.keys(HIDE_KINDS).join(', ')})`);
    for (const kind of hide) {
      const field = typeof kind === 'string' ? HIDE_KINDS[kind] : undefined;
      if (!field) throw new UsageError(`${file}: diff.hide: ${JSON.stringify(kind)} is not a kind of change (use ${Object.keys(HIDE_KINDS).join(', ')})`);
      (view[field] as boolean) = true;
    }
  }
  const tree = section('filetree');
  view.collapseDirs = flag(tree['collapse-dir'], 'filetree.collapse-dir') ?? view.collapseDirs;
  view.attributes = flag(tree['show-attributes'], 'filetree.show-attributes') ?? view.attributes;
  const share = tree['pane-width'];
  if (share !== undefined && share !== null) {
    if (typeof share !== 'number' || !(share > 0 && share < 1)) throw new UsageError(`${file}: filetree.pane-width must be a number between 0 and 1 (the file tree's share of the width), not ${JSON.stringify(share)}`);
    view.treeShare = share;
  }
  return view;
}

/**
 * The bindings and the first view from `file` (dive's defaults without one). A file needs a `keybinding:` map or
 * one of dive's view sections (`diff:`, `filetree:`); dive's other sections (`log:`, `layer:`, …) are ignored.
 */
export function loadExploreConfig(file: string | null, required: boolean): { keys: KeyBindings; view: ViewDefaults } {
  const chosen: Record<string, string> = Object.fromEntries(Object.entries(ACTIONS).map(([action, spec]) => [action, spec.keys]));
  let used: string | null = null;
  let view = DEFAULT_VIEW;
  if (file && (required || existsSync(file))) {
    let data: unknown;
    try {
      data = (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(readFileSync(file, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(code === 'ENOENT' ? `--keys ${file}: no such file` : `${file}: not a YAML key bindings file (${(error as Error).message.split('\n')[0]})`);
    }
    const document = isMap(data) ? data : {};
    const section = document.keybinding;
    const viewOnly = section === undefined && (document.diff !== undefined || document.filetree !== undefined);
    if (!viewOnly && !isMap(section)) {
      throw new UsageError(`${file}: expected a "keybinding:" map of actions to keys (e.g. "toggle-added-files: ctrl+a"), or dive's diff: or filetree: section; actions: ${Object.keys(ACTIONS).join(', ')}`);
    }
    view = viewDefaults(document, file);
    for (const [action, keys] of Object.entries(isMap(section) ? section : {})) {
      if (!(action in ACTIONS)) throw new UsageError(`${file}: "${action}" is not an action of the explorer (use one of ${Object.keys(ACTIONS).join(', ')})`);
      if (typeof keys !== 'string' || keys.trim() === '') throw new UsageError(`${file}: ${action}: give its keys as text, e.g. "ctrl+a" or "q, ctrl+q"`);
      chosen[action] = keys;
    }
    used = file;
  }
  const where = used ?? 'the default keys';
  const parsed = new Map<Action, KeySpec[]>();
  for (const [action, keys] of Object.entries(chosen) as [Action, string][]) parsed.set(action, keys.split(',').map((key) => parseKey(key, `${where}: ${action}`)));
  // One key, one meaning in each pane.
  const owner = new Map<string, Action>();
  for (const [action, specs] of parsed) {
    const scopes: Scope[] = ACTIONS[action].scope === 'any' ? ['layers', 'tree'] : [ACTIONS[action].scope];
    for (const spec of specs) {
      for (const scope of scopes) {
        const other = owner.get(`${scope} ${spec.id}`);
        if (other && other !== action) throw new UsageError(`${where}: ${labelOf(spec)} is bound to both ${other} and ${action}`);
        owner.set(`${scope} ${spec.id}`, action);
      }
    }
  }
  const keys: KeyBindings = {
    file: used,
    is(action, input, key, pane) {
      const scope = ACTIONS[action].scope;
      if (scope !== 'any' && scope !== pane) return false;
      return parsed.get(action)!.some((spec) => spec.matches(input, key));
    },
    label(action, first = false) {
      const specs = parsed.get(action)!;
      return (first ? specs.slice(0, 1) : specs).map(labelOf).join(' ');
    },
  };
  return { keys, view };
}
