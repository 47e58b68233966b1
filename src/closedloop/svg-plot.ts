/**
 * A small SVG line chart (no dependency): two panels sharing a time axis, one line per run, for
 * `ballast simulate --plot`. Series are thinned to at most ~1500 points per line.
 */
export interface PlotLine {
  label: string;
  color: string;
  values: readonly number[];
}

export interface PlotPanel {
  title: string;
  unit: (value: number) => string;
  lines: PlotLine[];
  /** A dashed horizontal reference (e.g. the 80 % line). */
  reference?: { value: number; label: string };
}

const WIDTH = 960;
const PANEL_HEIGHT = 260;
const LEFT = 70;
const RIGHT = 20;
const TOP = 40;
const GAP = 60;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svgChart(title: string, at: readonly number[], panels: PlotPanel[]): string {
  const height = TOP + panels.length * (PANEL_HEIGHT + GAP) + 10;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const t0 = at[0] ?? 0;
  const t1 = at[at.length - 1] ?? 1;
  const x = (t: number) => LEFT + ((t - t0) / Math.max(1, t1 - t0)) * plotWidth;
  const every = Math.max(1, Math.ceil(at.length / 1500));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((panel, p) => {
    const top = TOP + p * (PANEL_HEIGHT + GAP) + 20;
    const all = panel.lines.flatMap((l) => l.values).concat(panel.reference ? [panel.reference.value] : []);
    const max = Math.max(1e-9, ...all) * 1.05;
    const y = (v: number) => top + PANEL_HEIGHT - (v / max) * PANEL_HEIGHT;
    out.push(`<text x="${LEFT}" y="${top - 8}" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`);
    for (let i = 0; i <= 4; i++) {
      const v = (max / 4) * i;
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
      out.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${esc(panel.unit(v))}</text>`);
    }
    const days = (t1 - t0) / 86_400_000;
    const tickEvery = days > 10 ? 7 : days > 2 ? 1 : 0.25;
    for (let d = 0; d <= days + 1e-9; d += tickEvery) {
      const xt = x(t0 + d * 86_400_000);
      out.push(`<line x1="${xt.toFixed(1)}" x2="${xt.toFixed(1)}" y1="${top + PANEL_HEIGHT}" y2="${top + PANEL_HEIGHT + 5}" stroke="#999"/>`);
      const label = tickEvery < 1 ? `${Math.round(d * 24)} h` : `day ${Math.round(d)}`;
      out.push(`<text x="${xt.toFixed(1)}" y="${top + PANEL_HEIGHT + 18}" text-anchor="middle">${label}</text>`);
    }
    if (panel.reference) {
      const yr = y(panel.reference.value).toFixed(1);
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${yr}" y2="${yr}" stroke="#c00" stroke-dasharray="6 4"/>`);
      out.push(`<text x="${LEFT + plotWidth - 4}" y="${Number(yr) - 4}" text-anchor="end" fill="#c00">${esc(panel.reference.label)}</text>`);
    }
    panel.lines.forEach((line, l) => {
      const points: string[] = [];
      for (let i = 0; i < line.values.length; i += every) {
        // The highest value of each thinned stretch, so peaks stay visible.
        let v = line.values[i];
        for (let j = i; j < Math.min(line.values.length, i + every); j++) v = Math.max(v, line.values[j]);
        points.push(`${x(at[i]).toFixed(1)},${y(v).toFixed(1)}`);
      }
      out.push(`<polyline fill="none" stroke="${line.color}" stroke-width="1.2" stroke-opacity="0.85" points="${points.join(' ')}"/>`);
      const lx = LEFT + 10 + l * 180;
      out.push(`<rect x="${lx}" y="${top + 8}" width="14" height="4" fill="${line.color}"/>`);
      out.push(`<text x="${lx + 20}" y="${top + 14}">${esc(line.label)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
