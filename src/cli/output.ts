/**
 * How the CLI writes: the report to stdout, one-line messages to stderr.
 *
 * - Closed stdout (`layerlens files big.tar | head -1`): the reader went away, which is not an error of the image
 *   nor of the user. Writing stops quietly (no EPIPE stack trace, no "internal error") and the run exits with the
 *   verdict it already has (a failed `check … | head` still exits 1), else 0 — never 1 or 3 for the pipe itself.
 *   A closed stderr is ignored the same way.
 * - Every line on stderr goes through escapeTerminal: error messages, notes and debug lines quote registry error
 *   codes, archive member names and tags, and must not be able to print a second, forged line.
 */
import { escapeTerminal } from '../report/escape.js';

let stdoutClosed = false;
let guarded = false;

function isClosedPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ECONNRESET';
}

/** Listen for EPIPE on stdout and stderr (without a listener, Node turns it into an uncaught exception). */
export function guardStdio(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (error) => {
    if (isClosedPipe(error)) stdoutClosed = true;
  });
  process.stderr.on('error', () => {
    // Nowhere left to report it; the exit code still says how the run went.
  });
}

/** True once a write found stdout closed by its reader. */
export function isStdoutClosed(): boolean {
  return stdoutClosed;
}

/** Write to stdout; resolves (without writing) when the reader has closed the pipe. */
export function writeStdout(text: string): Promise<void> {
  guardStdio();
  if (stdoutClosed || process.stdout.destroyed) {
    stdoutClosed = true;
    return Promise.resolve();
  }
  return new Promise<void>((resolve, reject) => {
    process.stdout.write(text, (error) => {
      if (!error) resolve();
      else if (isClosedPipe(error)) {
        stdoutClosed = true;
        resolve();
      } else reject(error);
    });
  });
}

/** One `layerlens: …` line on stderr, terminal-safe. */
export function stderrLine(text: string): void {
  guardStdio();
  if (process.stderr.destroyed) return;
  process.stderr.write(`layerlens: ${escapeTerminal(text)}\n`);
}

/** Several lines (a stack trace with --debug), each terminal-safe. */
export function stderrBlock(text: string): void {
  guardStdio();
  if (process.stderr.destroyed) return;
  process.stderr.write(`${text.split('\n').map(escapeTerminal).join('\n')}\n`);
}
