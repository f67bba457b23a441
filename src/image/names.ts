/**
 * File names in tar headers are bytes. Valid UTF-8 (nearly every name) decodes as such; a name that is not valid
 * UTF-8 keeps each byte that does not decode as the lone surrogate U+DC80–U+DCFF (Python's "surrogateescape"), so
 * two names that differ in their bytes never become one string, the terminal shows the byte as `\xNN`, and the
 * JSON (`\udcNN`) gives the bytes back.
 */

const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes to a string, UTF-8 where they are valid UTF-8, and each byte that is not as the lone surrogate
 * U+DC00+byte (so `\xff\xfe` and `\xfe\xff` stay two different strings, and escapeTerminal shows `\xff\xfe`).
 */
export function decodeSurrogateEscape(bytes: Uint8Array): string {
  try {
    return FATAL_UTF8.decode(bytes);
  } catch {
    // fall through: decode by hand, byte by byte where the sequence is not well-formed (Unicode Table 3-7)
  }
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i++;
      continue;
    }
    let length = 0;
    let low = 0x80;
    let high = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) length = 2;
    else if (b0 >= 0xe0 && b0 <= 0xef) {
      length = 3;
      if (b0 === 0xe0) low = 0xa0;
      if (b0 === 0xed) high = 0x9f; // no encoded surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      length = 4;
      if (b0 === 0xf0) low = 0x90;
      if (b0 === 0xf4) high = 0x8f;
    }
    let valid = length > 0 && i + length <= bytes.length;
    for (let k = 1; valid && k < length; k++) {
      const b = bytes[i + k]!;
      if (b < (k === 1 ? low : 0x80) || b > (k === 1 ? high : 0xbf)) valid = false;
    }
    if (!valid) {
      out += String.fromCharCode(0xdc00 + b0);
      i++;
      continue;
    }
    let code = b0 & (length === 2 ? 0x1f : length === 3 ? 0x0f : 0x07);
    for (let k = 1; k < length; k++) code = (code << 6) | (bytes[i + k]! & 0x3f);
    out += String.fromCodePoint(code);
    i += length;
  }
  return out;
}

/** The inverse of decodeSurrogateEscape: the bytes a name string stands for. */
export function encodeSurrogateEscape(name: string): Buffer {
  if (!/[\udc80-\udcff]/.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (const char of name) {
    const code = char.charCodeAt(0);
    if (char.length === 1 && code >= 0xdc80 && code <= 0xdcff) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.from([code - 0xdc00]));
    } else run += char;
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}
