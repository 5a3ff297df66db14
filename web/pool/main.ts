/**
 * The standing pool's status page: its jobs (queued, running, done, failed, cancelled) with their
 * progress, its tabs (idle or busy, for which job), its hosts' budgets, and the two plots
 * (charts.ts), read from /api/status (typed by shared/poolStatus.ts) every two seconds.
 */
import type { PoolStatus } from '../../shared/poolStatus.ts';
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import { fillTable } from '../dom/table.ts';
import { PoolCharts } from './charts.ts';

const token = new URLSearchParams(location.search).get(TOKEN_PARAM) ?? '';
const charts = new PoolCharts(document.querySelector('#throughput')!, document.querySelector('#split')!);

function render(s: PoolStatus): void {
  const busy = s.tabs.filter((t) => t.job !== null).length;
  const running = s.jobs.filter((j) => j.status === 'running' || j.status === 'queued').length;
  document.querySelector('[data-field="summary"]')!.textContent =
    `${s.tabs.length} tab(s) on ${s.hosts.length} host(s): ${busy} busy, ${s.tabs.length - busy} idle; ` +
    `${running} job(s) queued or running, ${s.jobs.length} in all; ` +
    `heartbeat ${s.head.heartbeatMs / 1000} s (a tab silent that long is dropped)`;
  const stateError = document.querySelector<HTMLElement>('[data-field="state-error"]')!;
  stateError.hidden = s.head.stateError === null;
  stateError.textContent = s.head.stateError === null ? '' : `the head's --state is not being saved: ${s.head.stateError}`;
  fillTable(
    'jobs',
    [...s.jobs]
      .reverse()
      .map((j) => [
        j.id,
        j.name,
        j.status,
        j.placement.priority,
        j.placement.weight,
        `${j.actors} (${j.target})`,
        j.total
          ? `${j.done}/${j.total} (${((100 * j.done) / j.total).toFixed(0)}%)${j.errors ? `, ${j.errors} errors` : ''}`
          : String(j.done),
        j.out,
        j.message ?? '',
      ]),
  );
  fillTable(
    'tabs',
    s.tabs.map((t) => [
      t.id,
      t.host,
      t.state,
      t.job ?? '–',
      t.ep ?? '–',
      t.inFlight,
      t.batches,
      t.items,
      t.modelFromCache === null ? '–' : t.modelFromCache ? 'yes' : 'no',
    ]),
  );
  fillTable(
    'hosts',
    s.hosts.map((h) => [h.id, h.tabs, `${h.used.gpus} / ${h.capacity.gpus}`, h.gpuActors, `${h.used.cpus} / ${h.capacity.cpus}`]),
  );
  charts.update(s);
}

async function poll(): Promise<void> {
  const alert = document.querySelector<HTMLElement>('#unreachable')!;
  try {
    const res = await fetch(`${ROUTES.statusApi}?${TOKEN_PARAM}=${encodeURIComponent(token)}`, { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    render((await res.json()) as PoolStatus);
    alert.hidden = true;
  } catch (err) {
    alert.textContent = `the head is not answering (${(err as Error).message}); retrying`;
    alert.hidden = false;
  }
  setTimeout(() => void poll(), 2000);
}

void poll();
