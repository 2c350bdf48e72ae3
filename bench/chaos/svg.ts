/**
 * Minimal SVG line charts for the chaos report: axes with ticks, one polyline per series and a
 * legend. No plotting library; the output is plain SVG 1.1 text.
 */

export interface Series {
  readonly name: string;
  readonly color: string;
  /** [x, y] points; NaN points are skipped. */
  readonly points: readonly (readonly [number, number])[];
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Lowest y shown (default 0). */
  readonly yMin?: number;
  readonly logX?: boolean;
}

const WIDTH = 760;
const PANEL_HEIGHT = 260;
const MARGIN = { left: 70, right: 170, top: 30, bottom: 45 };

const escape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** About five round tick values covering [min, max]. */
function ticks(min: number, max: number): number[] {
  const span = max - min || 1;
  const step0 = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= 6) ?? step0 * 10;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const label = (v: number) => (Math.abs(v) >= 10_000 ? `${v / 1000}k` : String(v));

function panelSvg(panel: Panel, offsetY: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const finite = panel.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const tx = (x: number) => (panel.logX ? Math.log10(Math.max(1, x)) : x);
  const xs = finite.map(([x]) => tx(x));
  const ys = finite.map(([, y]) => y);
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  const yMin = panel.yMin ?? 0;
  const yMax = ys.length ? Math.max(...ys, yMin + 1) * 1.05 : 1;
  const px = (x: number) => MARGIN.left + ((tx(x) - xMin) / (xMax - xMin || 1)) * plotW;
  const py = (y: number) => offsetY + MARGIN.top + plotH - ((y - yMin) / (yMax - yMin || 1)) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${MARGIN.left}" y="${offsetY + 18}" font-size="14" font-weight="bold">${escape(panel.title)}</text>`);
  const x0 = MARGIN.left;
  const y0 = offsetY + MARGIN.top + plotH;
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x0 + plotW}" y2="${y0}" stroke="#333"/>`);
  parts.push(`<line x1="${x0}" y1="${offsetY + MARGIN.top}" x2="${x0}" y2="${y0}" stroke="#333"/>`);
  const xTicks = panel.logX
    ? ticks(Math.floor(xMin), Math.ceil(xMax)).filter((t) => Number.isInteger(t)).map((t) => 10 ** t)
    : ticks(xMin, xMax);
  for (const t of xTicks) {
    const x = px(t);
    if (x < x0 - 1 || x > x0 + plotW + 1) continue;
    parts.push(`<line x1="${x.toFixed(1)}" y1="${y0}" x2="${x.toFixed(1)}" y2="${y0 + 4}" stroke="#333"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${y0 + 16}" font-size="11" text-anchor="middle">${label(t)}</text>`);
  }
  for (const t of ticks(yMin, yMax)) {
    const y = py(t);
    parts.push(`<line x1="${x0}" y1="${y.toFixed(1)}" x2="${x0 + plotW}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x0 - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end">${label(t)}</text>`);
  }
  parts.push(
    `<text x="${x0 + plotW / 2}" y="${y0 + 34}" font-size="12" text-anchor="middle">${escape(panel.xLabel)}</text>`,
    `<text x="16" y="${offsetY + MARGIN.top + plotH / 2}" font-size="12" text-anchor="middle" ` +
      `transform="rotate(-90 16 ${offsetY + MARGIN.top + plotH / 2})">${escape(panel.yLabel)}</text>`,
  );
  panel.series.forEach((s, i) => {
    const points = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.8" points="${points}"/>`);
    const ly = offsetY + MARGIN.top + 10 + i * 18;
    const lx = x0 + plotW + 12;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`);
    parts.push(`<text x="${lx + 24}" y="${ly + 4}" font-size="12">${escape(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** One SVG document with the panels stacked vertically, and a caption line at the bottom. */
export function renderPanels(panels: readonly Panel[], caption: string): string {
  const height = panels.length * PANEL_HEIGHT + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      'font-family="sans-serif">',
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    ...panels.map((p, i) => panelSvg(p, i * PANEL_HEIGHT)),
    `<text x="10" y="${height - 10}" font-size="11" fill="#555">${escape(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
