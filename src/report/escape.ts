/**
 * Text that comes from an image or a server (paths, link targets, created_by, tags, labels, env, platform
 * strings, registry error codes and messages) is hostile until shown otherwise: it can hold ESC (colours, OSC 8
 * links, OSC 52 clipboard writes, cursor moves), CR and BS (overwrite what was printed), newlines (a fake
 * "layerlens: ✓ all checks passed" line, or a `::error` workflow command in GitHub Actions) and bidi controls
 * (text that reads in another order than it is stored). Renderers pass every such string through one of these
 * functions at render time, never when the report is built: the JSON keeps the exact text.
 *
 * - escapeTerminal: tables, trees, hint lines, stderr. Every character that is not printable text becomes a
 *   visible escape: `\n`, `\r`, `\t`, `\xNN` (C0, DEL, C1, and raw bytes, below), `\u{NNNN}` (format and bidi
 *   controls, line/paragraph separators, lone surrogates, noncharacters, U+FFFD). A backslash is doubled only
 *   where it would otherwise read as the start of such an escape (`\\x41` is the four characters `\x41`), so the
 *   shown text maps back to exactly one string while `sed 's/\./_/'` stays as it was.
 * - displayJson: JSON.stringify for people (Cmd, Entrypoint, config values in a diff), with the characters
 *   JSON.stringify leaves raw written as `\uNNNN` — still valid JSON, never a raw control character.
 *
 * Raw bytes: a name that is not valid UTF-8 is expected as a JS string in which each undecodable byte 0xNN is
 * the lone surrogate U+DC00+0xNN (Python's "surrogateescape"; decodeSurrogateEscape below makes one from bytes).
 * Such a string keeps two names that differ only in those bytes apart, JSON.stringify writes it with `\udcNN`
 * escapes (the exact bytes can be recovered), and escapeTerminal shows each such byte as `\xNN`. If names end up
 * represented otherwise, this is the one module to adapt.
 */

/** What escapeTerminal rewrites: controls (C0, DEL, C1), format/bidi controls, separators, surrogates, nonchars. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{NChar}\uFFFD]|\\(?=[\\xuntr]|$)/gu;
const UNSAFE_TEST = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{NChar}\uFFFD\\]/u;

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

function escapeOne(char: string): string {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    case '\\':
      return '\\\\';
  }
  const code = char.codePointAt(0)!;
  if (code >= 0xdc80 && code <= 0xdcff) return `\\x${hex(code - 0xdc00, 2)}`; // a raw byte (surrogateescape)
  if (code <= 0xff) return `\\x${hex(code, 2)}`;
  return `\\u{${hex(code, 4)}}`;
}

/** Terminal-safe text: printable characters as they are, everything else as a visible escape (see above). */
export function escapeTerminal(text: string): string {
  if (!UNSAFE_TEST.test(text)) return text;
  return text.replace(UNSAFE, escapeOne);
}

/** True when escapeTerminal would change nothing (the text is printable as it is). */
export function isPrintable(text: string): boolean {
  return escapeTerminal(text) === text;
}

/** What JSON.stringify leaves raw but a terminal would act on (it escapes C0, `"`, `\` and lone surrogates). */
const JSON_UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{NChar}\uFFFD]/gu;

/** JSON.stringify for people: the same JSON, with every non-printable character as a `\uNNNN` escape. */
export function displayJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.replace(JSON_UNSAFE, (char) => {
    let out = '';
    for (let i = 0; i < char.length; i++) out += `\\u${hex(char.charCodeAt(i), 4)}`;
    return out;
  });
}

export { decodeSurrogateEscape } from '../image/names.js';

/**
 * Markdown (`--format markdown`, the `$GITHUB_STEP_SUMMARY` table): text from an image as inert text, for a
 * table cell or a sentence. It is first made terminal-safe (so no newline can end a table row or start a
 * heading, and the text reads as it does on a terminal), then:
 * - `&`, `<`, `>` become entities: no HTML, no `<https://…>` autolink, no entity the author chose;
 * - `\`, `` ` ``, `*`, `_`, `[`, `]`, `(`, `)`, `!`, `#`, `|`, `~` are backslash-escaped: no link, image, code,
 *   emphasis or strike-through, and a `|` never splits a table cell;
 * - GitHub resolves @mentions, `#123` references and bare `https://`/`www.` links after markdown, ignoring
 *   backslashes, so a zero-width space (`&#8203;`) is put after `@`, after a `#` before a digit and inside
 *   `://` and `www.`: the text looks the same, pings nobody and links nowhere.
 */
export function escapeMarkdown(text: string): string {
  return markdownSafe(escapeTerminal(text));
}

/** escapeMarkdown for text that is already terminal-safe (escapeTerminal's output: do not escape it twice). */
export function markdownSafe(safe: string): string {
  return safe
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]()!#|~]/g, '\\$&')
    .replace(/#(?=\d)/g, '#&#8203;') // before the entities below, whose `#8203` it would match
    .replace(/@/g, '@&#8203;')
    .replace(/:\/\//g, ':&#8203;//')
    .replace(/\bwww\./gi, (match) => `${match.slice(0, 3)}&#8203;.`);
}

/**
 * Text from an image as a markdown code span (paths in a diff): shown literally (code spans render no link,
 * HTML, entity or mention), terminal-safe, fenced with more backticks than any run inside. In a table cell, `|`
 * is written `\|` (GFM splits cells before it parses code spans, and removes that backslash). `alreadySafe`: the
 * text is escapeTerminal or displayJson output (not escaped twice).
 */
export function markdownCode(text: string, inTable: boolean, alreadySafe = false): string {
  let safe = alreadySafe ? text : escapeTerminal(text);
  if (safe === '') return '` `';
  if (inTable) safe = safe.replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(safe.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = safe.startsWith('`') || safe.endsWith('`') || (safe.startsWith(' ') && safe.endsWith(' ') && safe.trim() !== '') ? ' ' : '';
  return `${fence}${pad}${safe}${pad}${fence}`;
}

/**
 * XML 1.0 text or attribute value (JUnit): terminal-safe first, which leaves no character XML 1.0 forbids (C0
 * but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF are escapes by then, like C1 and DEL, which it discourages),
 * then the five markup characters as entities. Well-formed whatever the names, and it reads as on a terminal.
 */
export function escapeXml(text: string): string {
  return escapeTerminal(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * GitHub Actions workflow commands (`::error title=…::message`): the runner decodes `%25`, `%0D`, `%0A` in the
 * message and also `%3A`, `%2C` in properties; the text is terminal-safe first (the log shows it on a terminal
 * emulator: no colours or links from an image), so it is always one line.
 */
export function githubCommandData(text: string): string {
  return escapeTerminal(text).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function githubCommandProperty(text: string): string {
  return githubCommandData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
