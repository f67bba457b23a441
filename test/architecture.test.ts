/**
 * The house as docs/ARCHITECTURE.md draws it: floors from the model up to the CLI, every import going down or
 * staying on its floor, and no import circle between modules. Read from the sources' own import lines, so a
 * change that climbs back up fails here with the line that does it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/cli.js';

const SRC = path.join(ROOT, 'src');

/** Floor of each top-level folder or module of src/ (CONTRACT of ARCHITECTURE.md: ground first). */
const FLOORS: Record<string, number> = {
  model: 0,
  image: 0,
  'errors.ts': 0,
  'concurrency.ts': 0,
  'reference.ts': 0,
  scan: 1,
  fetch: 2,
  analyze: 3,
  report: 4,
  pipeline: 5,
  'api.ts': 6,
  cli: 6,
};

function sources(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(SRC, file));
}

function floorOf(file: string): number {
  const top = path.relative(SRC, file).split(path.sep)[0]!;
  const floor = FLOORS[top];
  if (floor === undefined) throw new Error(`src/${top} has no floor in this test and in docs/ARCHITECTURE.md: give it one`);
  return floor;
}

/** Relative imports (static, re-exports and dynamic `import()`), resolved to source files. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g)) {
    found.push(path.resolve(path.dirname(file), match[1]!).replace(/\.js$/, '.ts'));
  }
  return found;
}

const graph = new Map(sources().map((file) => [file, imports(file)]));
const name = (file: string) => path.relative(ROOT, file);

test('every import goes down a floor or stays on its own', () => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) if (floorOf(target) > floorOf(file)) upward.push(`${name(file)} → ${name(target)}`);
  }
  expect(upward).toEqual([]);
});

test('every import names a module that exists', () => {
  const missing = [...graph].flatMap(([file, targets]) => targets.filter((target) => !graph.has(target)).map((target) => `${name(file)} → ${name(target)}`));
  expect(missing).toEqual([]);
});

test('no import circle', () => {
  const circles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') circles.push([...stack.slice(stack.indexOf(target)), target].map(name).join(' → '));
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  expect(circles).toEqual([]);
});
