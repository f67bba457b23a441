/**
 * The JSON document, written in pieces: the same text as `JSON.stringify(value, null, 2)`, byte for byte, as a
 * sequence of chunks of about CHUNK_CHARS. A report of a million-file image is a few hundred MB of JSON; built as
 * one string it exists twice more in memory (the string, then its UTF-8 copy for the write) and comes close to
 * V8's string limit. In chunks, only the Report itself is held and the writer's backpressure paces the rest.
 *
 * The walk descends only through the document's outer structure (objects and arrays up to STREAM_DEPTH deep);
 * below that, and for every scalar, JSON.stringify does the work and its lines are re-indented (JSON text has no
 * raw newline inside a string, so every newline in it is layout). A crafted image cannot deepen the walk: values
 * it controls (labels, config strings) sit below that depth or are strings.
 */

const INDENT = '  ';
/** Objects and arrays nested this deep are walked key by key; deeper ones are stringified whole. */
const STREAM_DEPTH = 4;
const CHUNK_CHARS = 1 << 20;

type Json = unknown;

function isPlainContainer(value: Json): value is Record<string, unknown> | unknown[] {
  if (value === null || typeof value !== 'object') return false;
  // toJSON (a Date, say) decides its own text: leave it to JSON.stringify.
  return typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/** What JSON.stringify writes for a value inside a container at `indent` (undefined: an omitted member). */
function stringifyAt(value: Json, indent: string): string | undefined {
  const text = JSON.stringify(value, null, 2) as string | undefined;
  if (text === undefined || indent === '' || !text.includes('\n')) return text;
  return text.replaceAll('\n', `\n${indent}`);
}

/** JSON.stringify(value, null, 2), in chunks. */
export function* jsonChunks(value: Json): Generator<string> {
  let parts: string[] = [];
  let size = 0;
  const push = (text: string): boolean => {
    parts.push(text);
    size += text.length;
    return size >= CHUNK_CHARS;
  };
  const flush = (): string => {
    const chunk = parts.join('');
    parts = [];
    size = 0;
    return chunk;
  };

  // Depth-first with an explicit stack of open containers; each frame yields its members one at a time.
  interface Frame {
    indent: string;
    array: boolean;
    keys: string[] | null;
    items: unknown[] | Record<string, unknown>;
    next: number;
    wrote: boolean;
  }
  const open = (container: Record<string, unknown> | unknown[], indent: string): Frame => ({
    indent,
    array: Array.isArray(container),
    keys: Array.isArray(container) ? null : Object.keys(container),
    items: container,
    next: 0,
    wrote: false,
  });

  if (!isPlainContainer(value)) {
    const text = JSON.stringify(value, null, 2) as string | undefined;
    if (text !== undefined) yield text;
    return;
  }
  const stack: Frame[] = [open(value, '')];
  push(Array.isArray(value) ? '[' : '{');
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const length = frame.keys ? frame.keys.length : (frame.items as unknown[]).length;
    if (frame.next >= length) {
      stack.pop();
      const close = frame.array ? ']' : '}';
      if (push(frame.wrote ? `\n${frame.indent}${close}` : close)) yield flush();
      continue;
    }
    const index = frame.next++;
    const key = frame.keys ? frame.keys[index]! : null;
    let member = key !== null ? (frame.items as Record<string, unknown>)[key] : (frame.items as unknown[])[index];
    if (typeof member === 'function' || typeof member === 'symbol') member = undefined;
    // In an object an undefined member is left out; in an array it is null, as JSON.stringify has it.
    if (member === undefined && key !== null) continue;
    const inner = frame.indent + INDENT;
    const head = `${frame.wrote ? ',' : ''}\n${inner}${key !== null ? `${JSON.stringify(key)}: ` : ''}`;
    frame.wrote = true;
    if (isPlainContainer(member) && stack.length < STREAM_DEPTH) {
      const empty = Array.isArray(member) ? member.length === 0 : Object.keys(member).length === 0;
      if (!empty) {
        push(head + (Array.isArray(member) ? '[' : '{'));
        stack.push(open(member, inner));
        continue;
      }
    }
    if (push(head + (stringifyAt(member, inner) ?? 'null'))) yield flush();
  }
  yield flush();
}

/** A rendered document too large to hold as one string: its text, chunk by chunk, as often as it is asked for. */
export interface ChunkedText {
  chunks(): Iterable<string>;
}

/** The `--json` document of a value: JSON.stringify(value, null, 2) and a newline, in chunks. */
export function jsonDocument(value: unknown): ChunkedText {
  return {
    *chunks() {
      yield* jsonChunks(value);
      yield '\n';
    },
  };
}
