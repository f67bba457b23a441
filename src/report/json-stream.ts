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

/**
 * An object whose members are all scalars (a file entry, a layer's figures) is written by one JSON.stringify call:
 * walking it key by key costs about five times as much, and its text is bounded by its number of keys. Arrays are
 * always walked (a list of a million paths must not become one string).
 */
function isFlatObject(value: Record<string, unknown> | unknown[]): boolean {
  if (Array.isArray(value)) return false;
  for (const key in value) {
    const member = value[key];
    if (member !== null && typeof member === 'object') return false;
  }
  return true;
}

/** At most this many members of an array are stringified in one call: it bounds the text one call makes. */
const BATCH = 256;

/** A member an array's run may hold: anything but a container that is walked (one with containers inside). */
function isBatchable(value: Json): boolean {
  return !isPlainContainer(value) || isFlatObject(value);
}

/** What JSON.stringify writes for a value inside a container at `indent` (undefined: an omitted member). */
function stringifyAt(value: Json, indent: string): string | undefined {
  if (indent === '') return JSON.stringify(value, null, 2) as string | undefined;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  return nestedText(value, indent.length / INDENT.length);
}

/**
 * JSON.stringify(value, null, 2) as it reads `depth` levels down, by stringifying it inside `depth` one-member
 * arrays and cutting their brackets off: V8 then indents it, about twice as fast as re-indenting its text after.
 * `value` must not be undefined (it would be null inside an array).
 */
function nestedText(value: Json, depth: number): string {
  let wrapped: unknown = value;
  for (let level = 0; level < depth; level++) wrapped = [wrapped];
  const text = JSON.stringify(wrapped, null, 2);
  // Level i (1-based) opens with "[\n" and i indents, and closes with "\n", i - 1 indents and "]".
  const opening = depth * 2 + depth * (depth + 1);
  const closing = depth * 2 + depth * (depth - 1);
  return text.slice(opening, text.length - closing);
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
    if (frame.array) {
      // A run of scalars and flat objects (a file list) is written by one JSON.stringify of the run, at this
      // array's depth (nestedText): the same text as member by member, at a fraction of the calls.
      const items = frame.items as unknown[];
      let end = frame.next;
      while (end < length && end - frame.next < BATCH && isBatchable(items[end])) end++;
      if (end - frame.next > 1) {
        // "[\n<members>\n<indent>]" at this array's depth: the members' lines are what lies between the brackets.
        const text = nestedText(items.slice(frame.next, end), frame.indent.length / INDENT.length);
        const body = text.slice(1, text.length - 2 - frame.indent.length);
        frame.next = end;
        const head = frame.wrote ? ',' : '';
        frame.wrote = true;
        if (push(head + body)) yield flush();
        continue;
      }
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
    if (isPlainContainer(member) && stack.length < STREAM_DEPTH && !isFlatObject(member)) {
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
