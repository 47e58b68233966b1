import { type Reader, readerOf, SnapshotError } from '../planner/validate-snapshot.js';

/**
 * Request bodies for hosts, VMs and rules are FORMAT.md items (plus the cluster they belong to),
 * checked by the same parsers as snapshots. Bodies are strict: an unknown field is an error.
 */
export function parseItemCreate<T>(body: unknown, fields: readonly string[], parse: (reader: Reader) => T): T {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown(fields);
  return parse(reader);
}

/** A host or rule to create: the item and the cluster it joins. */
export function parseClusterItemCreate<T>(
  body: unknown,
  fields: readonly string[],
  parse: (reader: Reader) => T,
): { clusterId: string; item: T } {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown([...fields, 'clusterId']);
  return { clusterId: reader.id('clusterId'), item: parse(reader) };
}

/** A rule to create: `clusterId` may be left out (the rule joins the cluster of its VMs). */
export function parseRuleCreate<T>(body: unknown, fields: readonly string[], parse: (reader: Reader) => T): { clusterId?: string; item: T } {
  const reader = readerOf(body, 'body');
  reader.rejectUnknown([...fields, 'clusterId']);
  return { clusterId: reader.optionalId('clusterId'), item: parse(reader) };
}

/** A partial update: the given fields replace the current ones (null clears an optional one), then the whole item is checked. */
export function parseItemUpdate<T extends object>(
  current: T,
  body: unknown,
  fields: readonly string[],
  parse: (reader: Reader) => T,
): T {
  const patch = readerOf(body, 'body');
  patch.rejectUnknown(fields);
  const changes = body as Record<string, unknown>;
  if ('id' in changes && changes.id !== (current as { id?: unknown }).id) {
    throw new SnapshotError('body.id', 'cannot be changed; create a new item instead');
  }
  const merged: Record<string, unknown> = { ...current, ...changes };
  for (const key of Object.keys(merged)) if (merged[key] === null) delete merged[key];
  return parse(readerOf(merged, 'body'));
}
