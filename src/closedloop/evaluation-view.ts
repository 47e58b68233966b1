import { holdLeftMs, type Detection } from './detection.js';
import { describeDetection } from './evaluate.js';
import type { WindowState } from './change-windows.js';

/** The change window as the status shows it. */
export interface ChangeWindowView {
  open: boolean;
  timeZone: string | null;
  current: { start: string; end: string } | null;
  next: { start: string; end: string } | null;
}

export function windowView(w: WindowState): ChangeWindowView {
  const span = (s: { start: number; end: number } | null) => (s === null ? null : { start: new Date(s.start).toISOString(), end: new Date(s.end).toISOString() });
  return { open: w.open, timeZone: w.timeZone, current: span(w.current), next: span(w.next) };
}

export interface DetectionView {
  kind: Detection['kind'];
  subject: string;
  resource?: 'cpu' | 'memory';
  since: string;
  value: number;
  line: number;
  holdSeconds: number;
  holdLeftSeconds: number;
  acting: boolean;
  description: string;
}

/** `waitsForHeadroom`: the last evaluation left a held imbalance alone, no host being above its balancing line. */
export function detectionView(d: Detection, holdMs: number, now: number, waitsForHeadroom = false): DetectionView {
  const left = holdLeftMs(d, holdMs, now);
  return {
    kind: d.kind,
    subject: d.subject,
    ...(d.resource ? { resource: d.resource } : {}),
    since: new Date(d.since).toISOString(),
    value: Math.round(d.value * 10_000) / 10_000,
    line: d.line,
    holdSeconds: holdMs / 1000,
    holdLeftSeconds: Math.ceil(left / 1000),
    acting: left === 0 && !(waitsForHeadroom && d.kind === 'imbalanced'),
    description: describeDetection(d),
  };
}
