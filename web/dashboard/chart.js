import { h } from 'preact';
import htm from 'htm';

const html = htm.bind(h);
const W = 640;
const H = 200;
const PAD = { left: 44, right: 44, top: 12, bottom: 24 };

/** Imbalance (left axis) and the hottest host's CPU (right axis, 0-100 %) over time, in SVG. */
export function Chart({ points, target }) {
  if (points.length < 2) return html`<p class="muted chart-empty">Not enough samples yet: the chart fills in as the collector stores them.</p>`;
  const t0 = new Date(points[0].at).getTime();
  const t1 = new Date(points[points.length - 1].at).getTime();
  const maxImbalance = Math.max(target ?? 0, ...points.map((p) => p.imbalance)) * 1.15 || 0.1;
  const x = (at) => PAD.left + ((new Date(at).getTime() - t0) / Math.max(1, t1 - t0)) * (W - PAD.left - PAD.right);
  const yImb = (v) => H - PAD.bottom - (v / maxImbalance) * (H - PAD.top - PAD.bottom);
  const yCpu = (v) => H - PAD.bottom - Math.min(1, v) * (H - PAD.top - PAD.bottom);
  const line = (y, key) => points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.at).toFixed(1)},${y(p[key]).toFixed(1)}`).join('');
  const ticks = [0, 0.5, 1].map((f) => f * maxImbalance);
  const hours = [];
  for (let t = Math.ceil(t0 / 3600000) * 3600000; t <= t1; t += 3 * 3600000) hours.push(t);
  return html`<svg class="chart" viewBox=${`0 0 ${W} ${H}`} role="img" aria-label="imbalance and hottest host CPU">
    ${ticks.map((v) => html`<line class="grid" x1=${PAD.left} x2=${W - PAD.right} y1=${yImb(v)} y2=${yImb(v)} /><text class="axis" x=${PAD.left - 6} y=${yImb(v) + 4} text-anchor="end">${v.toFixed(2)}</text>`)}
    ${[0, 0.5, 1].map((v) => html`<text class="axis cpu" x=${W - PAD.right + 6} y=${yCpu(v) + 4}>${v * 100}%</text>`)}
    ${hours.map((t) => html`<text class="axis" x=${x(t)} y=${H - 6} text-anchor="middle">${new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</text>`)}
    ${target !== null && target !== undefined && html`<line class="target" x1=${PAD.left} x2=${W - PAD.right} y1=${yImb(target)} y2=${yImb(target)} />`}
    <path class="series cpu" d=${line(yCpu, 'hottestCpuUtilization')} />
    <path class="series imbalance" d=${line(yImb, 'imbalance')} />
  </svg>
  <div class="legend"><span class="key imbalance"></span> imbalance <span class="key target"></span> target <span class="key cpu"></span> hottest host CPU</div>`;
}
