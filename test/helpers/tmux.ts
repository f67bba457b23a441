/**
 * Drive an interactive terminal program under tmux: start it in a detached session of a known size, type at it,
 * read the screen back as plain text, and collect its exit status.
 *
 * Each session gets a private tmux server (`-L <unique socket>`, `-f /dev/null`), so tests can run in parallel,
 * never read a user's ~/.tmux.conf and never touch a tmux the user is running. The program's environment is
 * exactly what the caller passes (plus TERM): it is started through `env -i`, because a tmux server otherwise hands
 * its own environment (CI, NO_COLOR, TMUX, ...) to every pane. Servers still alive when the test process ends are
 * killed, by an exit handler where `process` is the real one and by a watchdog inside each server where it is not
 * (jest) or the process was SIGKILLed, so a failing test never leaves one behind.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface TmuxSession {
  /** The tmux socket name / session name used (for debugging). */
  name: string;
  /**
   * Send keys as tmux send-keys arguments, e.g. send('j'), send('Down'), send('Tab'), send('C-c'), send('Enter'), send('/'),
   * or literal text with sendText('usr/bin').
   */
  send(...keys: string[]): Promise<void>;
  sendText(text: string): Promise<void>;
  /** The visible pane as plain text (tmux capture-pane -p), lines joined by \n, trailing spaces trimmed per line. */
  capture(): Promise<string>;
  /** The visible pane with its colours and attributes as SGR escape sequences (tmux capture-pane -e -p). */
  captureAnsi(): Promise<string>;
  /**
   * Poll capture() (every ~50 ms) until it matches; resolves with the screen; rejects after timeoutMs (default 10000)
   * with an Error whose message includes the last screen captured.
   */
  waitFor(match: string | RegExp | ((screen: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Resize the window (tmux resize-window -x -y) to cols x rows. */
  resize(cols: number, rows: number): Promise<void>;
  /**
   * Resolves with the program's exit status once it has exited (128 + signal number if a signal killed it);
   * rejects after timeoutMs (default 10000).
   */
  exited(timeoutMs?: number): Promise<number>;
  /** Whether the pane is in the alternate screen right now (tmux display -p '#{alternate_on}'). */
  alternateOn(): Promise<boolean>;
  /** Kill the session and its server (always safe to call twice). */
  kill(): Promise<void>;
}

const TMUX = 'tmux';
const POLL_MS = 50;
const DEFAULT_TIMEOUT_MS = 10000;
// A wedged tmux client must fail the test, not hang it until jest's much longer test timeout.
const COMMAND_TIMEOUT_MS = 10000;

interface LiveServer {
  name: string;
  socketPath?: string;
}

const live = new Map<string, LiveServer>();
let hooked = false;
let sequence = 0;
let available: boolean | undefined;

/** The tmux client's own environment: without TMUX, so a test run from inside the user's tmux is not mistaken for a nested client. */
function clientEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TMUX;
  delete env.TMUX_PANE;
  return env;
}

function baseArgs(name: string): string[] {
  // -u: capture-pane must hand back UTF-8 (box drawing, ellipses) whatever locale the test process has.
  return ['-L', name, '-f', '/dev/null', '-u'];
}

async function tmux(name: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(TMUX, [...baseArgs(name), ...args], { env: clientEnv(), encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  return stdout;
}

function killSync(server: LiveServer): void {
  try {
    execFileSync(TMUX, [...baseArgs(server.name), 'kill-server'], { env: clientEnv(), stdio: 'ignore', timeout: 2000 });
  } catch {
    /* already gone */
  }
  // tmux leaves its socket file behind after kill-server.
  if (server.socketPath !== undefined) rmSync(server.socketPath, { force: true });
}

function killAll(): void {
  for (const server of live.values()) killSync(server);
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Under jest these listeners land on the test file's copy of `process` and never fire; the watchdog covers that.
  process.on('exit', killAll);
  // The tmux server is a daemon outside our process group: Ctrl-C on the test run does not reach it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      // Then die of the signal as the process would have without this handler.
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The pane's shell command: `env -i` so the program sees exactly `env`, `exec` so the pane's process is the program
 * itself. It first waits for a line on the terminal, which startTmux types once the pane is set up: tmux 3.3 can lose
 * the output of a program that writes and exits in the pane's first moments, and the program should see the verified
 * size from its first instruction. The screen is then cleared, because the tty echoes that line whenever it arrives
 * before `read` runs, and the program must start on a blank screen with the cursor at the top left.
 */
const START_GATE = 'IFS= read -r _; printf \'\\033[H\\033[2J\';';

function paneCommand(command: string[], env: NodeJS.ProcessEnv): string {
  const assignments: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (key === '' || key.includes('=') || key.includes('\0') || value.includes('\0')) {
      throw new TypeError(`startTmux: cannot pass environment variable ${JSON.stringify(key)}`);
    }
    assignments.push(`${key}=${value}`);
  }
  return `${START_GATE} ${['exec', '/usr/bin/env', '-i', '--', ...assignments, ...command].map(shellQuote).join(' ')}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describeMatch(match: string | RegExp | ((screen: string) => boolean)): string {
  if (typeof match === 'string') return JSON.stringify(match);
  if (match instanceof RegExp) return String(match);
  return 'predicate';
}

function matches(match: string | RegExp | ((screen: string) => boolean), screen: string): boolean {
  if (typeof match === 'string') return screen.includes(match);
  if (match instanceof RegExp) {
    // A /g or /y regex carries lastIndex from one test() to the next, which would make polling skip matches.
    match.lastIndex = 0;
    return match.test(screen);
  }
  return match(screen);
}

export function tmuxAvailable(): boolean {
  if (available === undefined) {
    const result = spawnSync(TMUX, ['-V'], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
    available = result.error === undefined && result.status === 0;
  }
  return available;
}

/**
 * Start `command` (an argv array; each word is quoted, so nothing in it is interpreted by a shell) in a new detached
 * tmux session of cols x rows (default 100 x 30), with exactly `env` (plus TERM=xterm-256color unless given; pass PATH
 * if the program needs it) and optional `cwd`, on a private tmux server (-L <unique name>, -f /dev/null).
 * Resolves once the program has been started at the verified size, on a blank screen.
 */
export async function startTmux(options: { command: string[]; cols?: number; rows?: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<TmuxSession> {
  const { command, cols = 100, rows = 30, cwd } = options;
  if (command.length === 0) throw new TypeError('startTmux: command is empty');
  for (const [what, value] of [['cols', cols], ['rows', rows]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`startTmux: ${what} must be a positive integer, not ${value}`);
  }
  const env: NodeJS.ProcessEnv = { ...options.env };
  if (env.TERM === undefined) env.TERM = 'xterm-256color';
  const shellCommand = paneCommand(command, env);

  hookExit();
  sequence += 1;
  // Unique across jest workers (pid) and runs (random), and free of '.' and ':', which tmux targets reserve.
  const name = `layerlens-${process.pid}-${sequence}-${randomBytes(4).toString('hex')}`;
  const server: LiveServer = { name };
  live.set(name, server);
  const target = ['-t', name];

  let killing: Promise<void> | undefined;
  // Still listed as live until the server is really gone, so the exit handler covers a kill cut short by exit.
  const kill = (): Promise<void> =>
    (killing ??= (async () => {
      try {
        await tmux(name, ['kill-server']);
      } catch {
        /* already gone */
      }
      if (server.socketPath !== undefined) await rm(server.socketPath, { force: true });
      live.delete(name);
    })());

  let serverPid: number | undefined;
  const paneSize = async (): Promise<string> => (await tmux(name, ['display', '-p', ...target, '#{pane_width}x#{pane_height}'])).trim();

  try {
    // One tmux invocation, so the options are in place before the program starts: remain-on-exit must already hold
    // if the program exits at once, or tmux would destroy the pane, the session and the server with its exit status.
    // An empty remain-on-exit-format, because tmux otherwise scrolls the dead pane up a line to print "Pane is dead".
    // window-size manual keeps a detached session at its size; set after new-session, since tmux 3.3 dies when it is
    // set on a server with no window yet.
    await tmux(name, [
      'set', '-g', 'remain-on-exit', 'on', ';',
      'set', '-g', 'remain-on-exit-format', '', ';',
      'set', '-g', 'status', 'off', ';',
      'set', '-g', 'default-size', `${cols}x${rows}`, ';',
      // The pane command is quoted for a POSIX shell, whatever the user's SHELL is.
      'set', '-g', 'default-shell', '/bin/sh', ';',
      'set', '-s', 'escape-time', '0', ';',
      'new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows), ...(cwd !== undefined ? ['-c', cwd] : []), shellCommand, ';',
      'set', '-g', 'window-size', 'manual',
    ]);
    const [socketPath, pid] = (await tmux(name, ['display', '-p', ...target, '#{socket_path}|#{pid}'])).trim().split('|');
    server.socketPath = socketPath || undefined;
    serverPid = Number(pid) > 0 ? Number(pid) : undefined;
    // Jest gives each test file its own copy of `process`, whose 'exit' and signal listeners never fire, and nothing
    // fires on SIGKILL; so the server also runs a watchdog that shuts it down once the test process is gone. It stops
    // of its own accord once the socket is gone (kill() removes it), and names the server by socket, not by pid,
    // so it cannot hit a recycled pid. ('##': run-shell expands formats.)
    if (server.socketPath !== undefined) {
      const socket = shellQuote(server.socketPath);
      const killServer = [TMUX, ...baseArgs(name), 'kill-server'].map(shellQuote).join(' ');
      const watchdog = `while kill -0 ${process.pid} && [ -S ${socket} ]; do sleep 1; done; if [ -S ${socket} ]; then ${killServer}; rm -f ${socket}; fi`;
      await tmux(name, ['run-shell', '-b', ...target, `(${watchdog}) >/dev/null 2>&1`.replace(/#/g, '##')]);
    }
    const want = `${cols}x${rows}`;
    if ((await paneSize()) !== want) await tmux(name, ['resize-window', ...target, '-x', String(cols), '-y', String(rows)]);
    const got = await paneSize();
    if (got !== want) throw new Error(`startTmux: pane is ${got}, not ${want}`);
    await tmux(name, ['send-keys', ...target, 'Enter']);
  } catch (error) {
    await kill();
    throw error;
  }

  const capture = async (): Promise<string> => {
    const out = await tmux(name, ['capture-pane', '-p', ...target]);
    const lines = out.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.map((line) => line.trimEnd()).join('\n');
  };

  const captureAnsi = async (): Promise<string> => tmux(name, ['capture-pane', '-e', '-p', ...target]);

  const deadStatus = async (): Promise<number | undefined> => {
    const [dead, status, signal] = (await tmux(name, ['display', '-p', ...target, '#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}'])).trim().split('|');
    if (dead !== '1') return undefined;
    if (status !== undefined && status !== '') return Number(status);
    // Shell convention, so a signal death is still one number a test can assert on.
    if (signal !== undefined && signal !== '') return 128 + Number(signal);
    // tmux marks the pane dead when the pty closes, which can be before it has reaped the process; and tmux built
    // with libutempter can miss the SIGCHLD altogether (tmux/tmux#311), leaving a zombie and no status for good.
    // A SIGCHLD of our own makes the server reap it; to tmux it is only a prompt to call waitpid.
    if (serverPid !== undefined) {
      try {
        process.kill(serverPid, 'SIGCHLD');
      } catch {
        /* the server is gone; the next query says so */
      }
    }
    return undefined;
  };

  return {
    name,
    async send(...keys: string[]): Promise<void> {
      if (keys.length === 0) return;
      // '--' so a key such as '-' is not read as a send-keys flag.
      await tmux(name, ['send-keys', ...target, '--', ...keys]);
    },
    async sendText(text: string): Promise<void> {
      if (text === '') return;
      // -l: text such as 'Enter' or 'C-c' is typed as letters, not looked up as a key name.
      await tmux(name, ['send-keys', ...target, '-l', '--', text]);
    },
    capture,
    captureAnsi,
    async waitFor(match, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      let screen = '';
      let previous: string | null = null;
      for (;;) {
        try {
          screen = await capture();
        } catch (error) {
          throw new Error(`waitFor(${describeMatch(match)}): tmux failed (${(error as Error).message.trim()}); last screen:\n${screen}`, { cause: error });
        }
        // A frame reaches tmux in several writes: a match is taken once two captures in a row agree, so a screen
        // half drawn (its first lines new, its last still blank or old) is never returned for the whole.
        if (matches(match, screen) && screen === previous) return screen;
        previous = screen;
        if (Date.now() >= deadline) break;
        await sleep(POLL_MS);
      }
      let exitNote = '';
      try {
        const status = await deadStatus();
        if (status !== undefined) exitNote = ` (the program has exited, status ${status})`;
      } catch {
        /* the message is what matters */
      }
      throw new Error(`waitFor(${describeMatch(match)}) timed out after ${timeoutMs} ms${exitNote}; last screen:\n${screen}`);
    },
    async resize(newCols: number, newRows: number): Promise<void> {
      await tmux(name, ['resize-window', ...target, '-x', String(newCols), '-y', String(newRows)]);
    },
    async exited(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<number> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = await deadStatus();
        if (status !== undefined) return status;
        if (Date.now() >= deadline) throw new Error(`exited(): the program is still running after ${timeoutMs} ms; last screen:\n${await capture()}`);
        await sleep(POLL_MS);
      }
    },
    async alternateOn(): Promise<boolean> {
      return (await tmux(name, ['display', '-p', ...target, '#{alternate_on}'])).trim() === '1';
    },
    kill,
  };
}
