export const pct = (x, digits = 0) => (x === null || x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)} %`);

export function seconds(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function mbps(x) {
  if (x === null || x === undefined) return '—';
  return x >= 1000 ? `${(x / 1000).toFixed(1)} Gb/s` : `${Math.round(x)} Mb/s`;
}

export function gb(mb) {
  return `${(mb / 1024).toFixed(mb < 10240 ? 1 : 0)} GB`;
}

export function ghz(mhz) {
  return `${(mhz / 1000).toFixed(1)} GHz`;
}

export function ago(at) {
  if (!at) return '—';
  const s = (Date.now() - new Date(at).getTime()) / 1000;
  if (s < 60) return `${Math.max(0, Math.round(s))} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(at).toLocaleString();
}

export function time(at) {
  return at ? new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : '—';
}

/** Load colour: calm below 60 %, warm to 80 %, hot above (or above the policy's overload line). */
export function loadClass(utilization, overloadLine) {
  if (overloadLine !== null && overloadLine !== undefined && utilization > overloadLine) return 'hot';
  if (utilization > 0.8) return 'hot';
  if (utilization > 0.6) return 'warm';
  return 'calm';
}
