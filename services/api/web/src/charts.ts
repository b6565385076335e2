// Charts: Chart.js with only the parts used registered (tree-shaken), no
// animation (instant, and screenshots are stable). Every chart is a
// canvas with role img and a label; its numbers are also a table.
import {
  BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import { h } from './dom';

Chart.register(BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip);
Chart.defaults.animation = false;
Chart.defaults.font.family = getComputedStyle(document.documentElement).getPropertyValue('--font') || 'system-ui, sans-serif';
Chart.defaults.color = '#374151';
Chart.defaults.borderColor = '#e5e7eb';
Chart.defaults.maintainAspectRatio = false;

// A palette told apart by people with common colour-vision deficiencies
// (Okabe–Ito, then Tableau), each at least 3:1 against white.
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#7A6F00', '#6B5B95', '#B22222', '#2E8B57', '#8B4513', '#4B0082'];
export const color = (i: number) => PALETTE[i % PALETTE.length];

const live = new Set<Chart>();

// destroyCharts frees the charts of the previous page.
export function destroyCharts(): void {
  for (const c of live) c.destroy();
  live.clear();
}

export interface Series {
  label: string;
  data: (number | null)[];
  color?: string;
  type?: 'bar' | 'line';
  stack?: string;
  yAxisID?: string;
  dashed?: boolean;
}

export interface ChartOpts {
  label: string; // what the chart shows, for screen readers
  labels: string[];
  series: Series[];
  kind: 'bar' | 'line';
  stacked?: boolean;
  height?: number;
  yTitle?: string;
  y2Title?: string;
  horizontal?: boolean;
  testid?: string;
}

export function chart(o: ChartOpts): HTMLElement {
  const canvas = h('canvas', { role: 'img', 'aria-label': o.label });
  const box = h('div', { className: 'chart', 'data-testid': o.testid }, canvas);
  box.style.height = `${o.height ?? 260}px`;
  const cfg: ChartConfiguration = {
    type: o.kind,
    data: {
      labels: o.labels,
      datasets: o.series.map((s, i) => ({
        type: s.type ?? o.kind,
        label: s.label,
        data: s.data,
        backgroundColor: s.color ?? color(i),
        borderColor: s.color ?? color(i),
        borderWidth: (s.type ?? o.kind) === 'line' ? 2 : 0,
        borderDash: s.dashed ? [6, 4] : undefined,
        pointRadius: (s.type ?? o.kind) === 'line' ? 0 : undefined,
        pointHoverRadius: 4,
        tension: 0.25,
        stack: s.stack,
        yAxisID: s.yAxisID,
        spanGaps: true,
      })) as any,
    },
    options: {
      indexAxis: o.horizontal ? 'y' : 'x',
      interaction: { mode: 'index', intersect: false },
      plugins: {
        legend: { display: o.series.length > 1, position: 'bottom', labels: { boxWidth: 12, boxHeight: 12 } },
        tooltip: { enabled: true },
      },
      scales: {
        x: { stacked: !!o.stacked, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        y: { stacked: !!o.stacked, beginAtZero: true, title: { display: !!o.yTitle, text: o.yTitle ?? '' } },
        ...(o.y2Title ? { y2: { position: 'right', beginAtZero: true, grid: { display: false }, title: { display: true, text: o.y2Title } } } : {}),
      } as any,
    },
  };
  // Chart.js measures its parent: build once the box is in the page.
  queueMicrotask(() => {
    if (canvas.isConnected) live.add(new Chart(canvas, cfg));
    else requestAnimationFrame(() => canvas.isConnected && live.add(new Chart(canvas, cfg)));
  });
  return box;
}
