/**
 * PostgreSQL array literals built here rather than by `pg`, which turns each element of a JS array
 * into a string, escapes it with two regular expressions and quotes it: for the thousands of
 * numbers of a metrics batch that cost more than the statement itself. Cast the parameter to the
 * array type in SQL (`$1::real[]`).
 */

/** `{1,2.5,NULL}`: finite numbers, NaN and ±Infinity (PostgreSQL reads those too), nulls. */
export function numberArrayLiteral(values: readonly (number | null | undefined)[]): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) text += ',';
    text += value === null || value === undefined ? 'NULL' : String(value);
  }
  return `${text}}`;
}

const NEEDS_ESCAPE = /["\\]/;
const TO_ESCAPE = /["\\]/g;

/** One element of a text array, quoted (so that commas, braces, blanks and "NULL" stay text). */
function quotedArrayElement(value: string): string {
  return `"${NEEDS_ESCAPE.test(value) ? value.replace(TO_ESCAPE, '\\$&') : value}"`;
}

/** `{"a","b \"c\"",NULL}`: every string quoted (so that commas, braces, blanks and "NULL" stay text), nulls. */
export function textArrayLiteral(values: readonly (string | null | undefined)[]): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) text += ',';
    text += value === null || value === undefined ? 'NULL' : quotedArrayElement(value);
  }
  return `${text}}`;
}
