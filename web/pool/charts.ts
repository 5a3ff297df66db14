/**
 * The standing pool's two plots, drawn with Chart.js: each job's rows a second over time, and each
 * tab's time split into computing, waiting for input, loading and idle (a starved GPU or a stuck
 * actor shows at a glance). Only the parts used are registered, so the bundle stays small.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { PoolStatus } from '../../shared/poolStatus.ts';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, BarController, BarElement, Legend, Tooltip);

const PALETTE = ['#3867d6', '#20bf6b', '#fa8231', '#8854d0', '#eb3b5a', '#0fb9b1', '#f7b731', '#4b6584'];
const SPLIT = [
  { key: 'computingMs', label: 'computing', color: '#20bf6b' },
  { key: 'waitingMs', label: 'waiting for input', color: '#fa8231' },
  { key: 'loadingMs', label: 'loading', color: '#8854d0' },
  { key: 'idleMs', label: 'idle', color: '#d1d8e0' },
] as const;

const clock = (ms: number): string => new Date(ms).toLocaleTimeString([], { hour12: false });

export class PoolCharts {
  private readonly throughput: Chart<'line', { x: number; y: number }[]>;
  private readonly split: Chart<'bar', number[], string>;

  constructor(throughput: HTMLCanvasElement, split: HTMLCanvasElement) {
    this.throughput = new Chart(throughput, {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        scales: {
          x: { type: 'linear', ticks: { callback: (v) => clock(Number(v)), maxTicksLimit: 6 } },
          y: { type: 'linear', beginAtZero: true, title: { display: true, text: 'rows/s' } },
        },
        plugins: { legend: { position: 'bottom' } },
      },
    });
    this.split = new Chart(split, {
      type: 'bar',
      data: { labels: [], datasets: SPLIT.map((s) => ({ label: s.label, data: [], backgroundColor: s.color })) },
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: 'y',
        scales: {
          x: { stacked: true, max: 100, title: { display: true, text: '% of its time in the pool' } },
          y: { stacked: true },
        },
        plugins: { legend: { position: 'bottom' } },
      },
    });
  }

  update(s: PoolStatus): void {
    const jobs = s.jobs.filter((j) => j.series.length > 0);
    this.throughput.data.datasets = jobs.map((j, i) => ({
      label: `${j.id} ${j.name}`.slice(0, 48),
      data: j.series.map(([x, y]) => ({ x, y })),
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length],
      pointRadius: 0,
      borderWidth: 2,
    }));
    this.throughput.update('none');
    this.split.data.labels = s.tabs.map((t) => `${t.id}${t.job ? ` (${t.job})` : ''}`);
    for (const [i, part] of SPLIT.entries()) {
      this.split.data.datasets[i]!.data = s.tabs.map((t) => {
        const total = t.split.computingMs + t.split.waitingMs + t.split.loadingMs + t.split.idleMs;
        return total > 0 ? (100 * t.split[part.key]) / total : 0;
      });
    }
    this.split.update('none');
  }
}
