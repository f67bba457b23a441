/**
 * The explorer's key bindings (cli/explore-keys.ts): dive's defaults and names, a file that rebinds them (a dive
 * config works as it is), and a clear exit-2 error for each way such a file can be wrong.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Key } from 'ink';
import { DEFAULT_VIEW, defaultKeysFile, loadExploreConfig, loadKeyBindings } from '../src/cli/explore-keys.js';
import { UsageError } from '../src/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'layerlens-keys-'));
const file = (name: string, text: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};
/** Ink's Key for one press, nothing held unless said. */
const press = (held: Partial<Key> = {}): Key => ({ upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false, ...held }) as Key;

test("dive's defaults, each in the pane dive gives it: Ctrl+A compares in the layers and hides added files in the tree", () => {
  const keys = loadKeyBindings(null, false);
  expect(keys.file).toBeNull();
  expect(keys.is('compare-all', 'a', press({ ctrl: true }), 'layers')).toBe(true);
  expect(keys.is('toggle-added-files', 'a', press({ ctrl: true }), 'layers')).toBe(false);
  expect(keys.is('toggle-added-files', 'a', press({ ctrl: true }), 'tree')).toBe(true);
  expect(keys.is('toggle-added-files', 'a', press(), 'tree')).toBe(false); // a plain a is not Ctrl+A
  // Ctrl+M is the byte Enter sends; Ctrl+Space arrives as NUL, which Ink names "`" with ctrl.
  expect(keys.is('toggle-modified-files', '', press({ return: true }), 'tree')).toBe(true);
  expect(keys.is('toggle-collapse-all-dir', '`', press({ ctrl: true }), 'tree')).toBe(true);
  expect(keys.is('toggle-filetree-attributes', 'b', press({ ctrl: true }), 'tree')).toBe(true);
  expect(keys.is('toggle-view', '', press({ tab: true }), 'layers')).toBe(true);
  expect(keys.label('toggle-modified-files')).toBe('Ctrl+M/Enter');
  expect(keys.label('filter-files')).toBe('/ Ctrl+F');
});

test('a keys file rebinds what it names and leaves the rest; a dive config file works as it is', () => {
  const keys = loadKeyBindings(file('keys.yml', 'keybinding:\n  quit: "x, ctrl+q"\n  toggle-added-files: "+"\n'), true);
  expect(keys.is('quit', 'x', press(), 'tree')).toBe(true);
  expect(keys.is('quit', 'q', press({ ctrl: true }), 'tree')).toBe(true);
  expect(keys.is('quit', 'q', press(), 'tree')).toBe(false); // replaced, not added to
  expect(keys.is('toggle-added-files', '+', press(), 'tree')).toBe(true);
  expect(keys.is('toggle-view', '', press({ tab: true }), 'tree')).toBe(true); // untouched
  // dive's own config (its README's layout): the keybinding section is read, the others ignored.
  const dive = file('.dive.yaml', ['log:', '  enabled: true', 'diff:', '  hide: []', 'keybinding:', '  quit: ctrl+c', '  toggle-view: tab', '  filter-files: ctrl+f', '  toggle-added-files: ctrl+a', '  page-up: pgup', 'filetree:', '  collapse-dir: false', ''].join('\n'));
  expect(loadKeyBindings(dive, true).is('quit', 'c', press({ ctrl: true }), 'layers')).toBe(true);
});

test('a missing default file is the defaults; a missing --keys file, an unknown action, a key that is not one, or one key for two actions is exit 2 naming it', () => {
  expect(loadKeyBindings(path.join(dir, 'absent.yml'), false).file).toBeNull();
  const wrong = (text: string | null, message: RegExp) => {
    const at = text === null ? path.join(dir, 'absent.yml') : file(`bad-${Math.random()}.yml`, text);
    let caught: unknown;
    try {
      loadKeyBindings(at, true);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as Error).message).toMatch(message);
  };
  wrong(null, /--keys .*absent\.yml: no such file/);
  wrong('keybinding:\n  explode: x\n', /"explode" is not an action of the explorer \(use one of quit, toggle-view/);
  wrong('keybinding:\n  quit: ctrl+F1\n', /quit: "ctrl\+F1" is not a key/);
  wrong('keybinding:\n  quit: tab\n', /Tab is bound to both quit and toggle-view|Tab is bound to both toggle-view and quit/);
  // Enter and Ctrl+M are one key to a terminal: binding both is a collision too.
  wrong('keybinding:\n  toggle-collapse-dir: enter\n', /bound to both .*toggle-(collapse-dir|modified-files)/);
  wrong('quit: q\n', /expected a "keybinding:" map/);
  wrong('keybinding: [q]\n', /expected a "keybinding:" map/);
  wrong('keybinding:\n  quit: 3\n', /quit: give its keys as text/);
  wrong('keybinding: {\n', /not a YAML key bindings file/);
});

test("dive's view sections set the first view (diff.hide, filetree.collapse-dir, show-attributes, pane-width); a wrong value is exit 2 naming it", () => {
  expect(loadExploreConfig(null, false).view).toEqual(DEFAULT_VIEW);
  // dive's README layout, without a keybinding section: the keys stay dive's defaults.
  const at = file('view.yaml', ['diff:', '  hide:', '    - added', '    - changed', 'filetree:', '  collapse-dir: true', '  pane-width: 0.7', '  show-attributes: false', 'layer:', '  show-aggregated-changes: true', ''].join('\n'));
  const { keys, view } = loadExploreConfig(at, true);
  expect(view).toEqual({ hideAdded: true, hideModified: true, hideRemoved: false, hideUnchanged: false, collapseDirs: true, attributes: false, treeShare: 0.7 });
  expect(keys.file).toBe(at);
  expect(keys.is('quit', 'q', press(), 'tree')).toBe(true);
  // The explorer's own names for the kinds are accepted too; an empty hide list hides nothing.
  expect(loadExploreConfig(file('kinds.yaml', 'diff:\n  hide: [removed, unmodified]\n'), true).view).toEqual({ ...DEFAULT_VIEW, hideRemoved: true, hideUnchanged: true });
  expect(loadExploreConfig(file('none.yaml', 'diff:\n  hide: []\nkeybinding:\n  quit: x\n'), true).view).toEqual(DEFAULT_VIEW);
  const wrong = (text: string, message: RegExp) => {
    let caught: unknown;
    try {
      loadExploreConfig(file(`bad-view-${Math.random()}.yml`, text), true);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as Error).message).toMatch(message);
  };
  wrong('diff:\n  hide: added\n', /diff\.hide must be a list of kinds \(added, removed, changed/);
  wrong('diff:\n  hide: [renamed]\n', /diff\.hide: "renamed" is not a kind of change/);
  wrong('filetree:\n  pane-width: 1.5\n', /filetree\.pane-width must be a number between 0 and 1.*not 1\.5/);
  wrong('filetree:\n  pane-width: half\n', /filetree\.pane-width must be a number/);
  wrong('filetree:\n  collapse-dir: maybe\n', /filetree\.collapse-dir must be true or false, not "maybe"/);
  wrong('filetree: [1]\n', /"filetree:" must be a map/);
  wrong('log:\n  enabled: true\n', /expected a "keybinding:" map .*or dive's diff: or filetree: section/);
});

test('the default file follows XDG_CONFIG_HOME (an absolute one), else ~/.config', () => {
  expect(defaultKeysFile({ XDG_CONFIG_HOME: '/etc/xdg-test' })).toBe('/etc/xdg-test/layerlens/keys.yml');
  expect(defaultKeysFile({ XDG_CONFIG_HOME: 'relative' })).toBe(path.join(os.homedir(), '.config', 'layerlens', 'keys.yml'));
  expect(defaultKeysFile({})).toBe(path.join(os.homedir(), '.config', 'layerlens', 'keys.yml'));
});
