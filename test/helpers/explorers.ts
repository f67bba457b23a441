/**
 * Both explorers on any image argument, for the suites of each source: the terminal explorer's first screen under
 * tmux, and the HTML report's embedded data. A source is read right when both equal what the same image gives from
 * its docker save tarball.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runCli } from './cli.js';
import { startTmux } from './tmux.js';

const BIN = path.join(ROOT, 'bin', 'layerlens.js');

/** The explorer's first screen of `image` (all but its title line, which names the source), then q. */
export async function exploreScreen(image: string | string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<string> {
  const args = typeof image === 'string' ? [image] : image;
  const clean = Object.fromEntries(Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME, ...env, NO_COLOR: '1' }).filter(([, value]) => value !== undefined));
  const tmux = await startTmux({ command: [process.execPath, BIN, 'explore', ...args], env: clean });
  try {
    // The frame's title and its last line (the image's efficiency); waitFor takes it once two captures agree.
    const screen = await tmux.waitFor((text) => /Files as of layer \d+/.test(text) && /^Efficiency /m.test(text), timeoutMs);
    await tmux.send('q');
    if ((await tmux.exited()) !== 0) throw new Error(`explore ${args.join(' ')} did not exit 0`);
    return screen.split('\n').slice(1).join('\n');
  } finally {
    await tmux.kill();
  }
}

/** Every data block of the HTML report of `image` (trees as of each layer, paths, change lists with sizes), in order. */
export async function htmlData(image: string | string[], file: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const args = typeof image === 'string' ? [image] : image;
  const result = await runCli(['analyze', ...args, '--format', 'html', '-o', file], { env });
  if (result.code !== 0) throw new Error(`analyze ${args.join(' ')} --format html: exit ${result.code}: ${result.stderr}`);
  const html = readFileSync(file, 'utf8');
  return [...html.matchAll(/<script type="application\/json"[^>]*>(.*?)<\/script>/gs)].map((match) => match[1]!);
}
