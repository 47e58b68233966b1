/**
 * JSON from outside (request bodies, files given to the CLI), read with limits that the format
 * never comes near: V8 parses a 1 MB document nested a million levels deep in seconds, and
 * anything that later walks it recursively (formatting an error, stringifying) overflows the stack.
 */

/** Far deeper than any Ballast document (a snapshot's deepest field is 5 levels down). */
export const MAX_JSON_DEPTH = 32;

/** A document refused before or while parsing; `field` is the JSON path of the problem. */
export class JsonInputError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const ESCAPED_NUL = '\\u0000';

/**
 * Parses `bytes` (UTF-8) as JSON named `root` in messages ("body", a file name). Nesting deeper
 * than MAX_JSON_DEPTH is refused before parsing; a string or key holding a NUL character (which
 * PostgreSQL cannot store in text) is refused naming its path.
 */
export function parseJsonInput(bytes: Uint8Array, root: string): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === QUOTE) inString = false;
      else if (byte === BACKSLASH) i++;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > MAX_JSON_DEPTH) throw new JsonInputError(root, `nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) depth--;
  }
  // A NUL can only be written \u0000 (JSON refuses raw control characters); where that text
  // appears, the parsed value is searched for the NUL itself (the text may be an escaped backslash
  // followed by "u0000").
  const hasNul = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(ESCAPED_NUL);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new JsonInputError(root, 'is not UTF-8 text');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new JsonInputError(root, `is not valid JSON (${(error as Error).message})`);
  }
  if (hasNul) rejectNul(value, root);
  return value;
}

/** Names the first string or key holding a NUL character (the depth is already bounded). */
function rejectNul(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw new JsonInputError(path, 'must not contain a NUL character (\\u0000)');
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => rejectNul(item, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) throw new JsonInputError(`${path}.${key.replaceAll('\u0000', '\\u0000')}`, 'a key must not contain a NUL character (\\u0000)');
      rejectNul(item, `${path}.${key}`);
    }
  }
}
