/**
 * The status page: how to join, the pool, its hosts and actors, and the progress, read from
 * /api/status (typed by shared/status.ts) once a second.
 */
import { ROUTES, TOKEN_PARAM } from '../../shared/routes.ts';
import type { JobStatus, ResourcesStatus } from '../../shared/status.ts';
import { formatBytes } from '../../shared/units.ts';
import { fillTable } from '../dom/table.ts';
import { renderJoin } from './join.ts';

const token = new URLSearchParams(location.search).get(TOKEN_PARAM) ?? '';

function field(name: string): HTMLElement {
  return document.querySelector<HTMLElement>(`[data-field="${name}"]`)!;
}

const gib = (b: number | null): string => (b === null ? 'unknown' : `${(b / 2 ** 30).toFixed(1)} GiB`);
const num = (v: number | null, digits = 2): string => (v === null ? '–' : v.toFixed(digits));

const used = (u: ResourcesStatus, c: ResourcesStatus, key: 'gpus' | 'cpus'): string => `${u[key]} / ${c[key]}`;

/** A generation job's tokens a second, prompt and generated apart. */
function tokenRates(t: JobStatus['progress']['tokens']): string {
  return t
    ? `; ${num(t.generatedPerSecond)} tokens/s generated (${t.generated}), ${num(t.promptPerSecond)} tokens/s of prompts (${t.prompt})`
    : '';
}

function render(s: JobStatus): void {
  renderJoin(s.join);
  const p = s.progress;
  const rate = s.job.inputs === 'image' ? 'img/s' : 'items/s';
  const pct = p.total ? Math.min(100, (100 * p.done) / p.total) : 0;
  field('bar').style.width = `${pct}%`;
  field('progress').textContent =
    `${s.job.name}: ${p.done}${p.total !== null ? ` / ${p.total}` : ''} rows, ${p.errors} errors, ${num(p.imagesPerSecond)} ` +
    `${rate}${tokenRates(p.tokens)}, ${p.elapsedSeconds.toFixed(0)} s${p.finished ? ' — finished' : ''}`;
  field('pool').textContent =
    `min ${s.pool.min}, max ${s.pool.max} — ${s.pool.active} active, ${s.pool.standby} standby, ${s.pool.rejected} rejected; ` +
    `heartbeat ${s.pool.heartbeatMs / 1000} s (a tab silent that long is dropped, its batches run elsewhere)`;
  fillTable(
    'files',
    s.job.files.map((f) => [f.name, formatBytes(f.bytes), f.sha256]),
  );
  fillTable(
    'hosts',
    s.hosts.map((h) => [
      h.id,
      used(h.used, h.capacity, 'gpus'),
      used(h.used, h.capacity, 'cpus'),
      `${gib(h.used.memoryBytes)} / ${gib(h.capacity.memoryBytes)}`,
    ]),
  );
  const sc = s.schedule;
  field('schedule').textContent =
    `batch size ${sc.batchSize === 'auto' ? "auto (sized to each actor's speed)" : sc.batchSize}; pool ` +
    `speed ${num(sc.poolImagesPerSecond)} ${rate}; expected to finish ` +
    `${sc.expectedSecondsLeft === null ? '–' : sc.expectedSecondsLeft === 0 ? 'now' : `in ${sc.expectedSecondsLeft.toFixed(0)} s`}; ` +
    `${sc.speculativeCopies} tail copies`;
  const stalled = field('stalled');
  stalled.hidden = sc.stalled === null;
  stalled.textContent = sc.stalled === null ? '' : `stalled: ${sc.stalled}`;
  const v = s.verify;
  const barred = [...v.barredActors.map((b) => b.actor), ...v.barredHosts.map((b) => `host ${b.host}`)];
  field('verify').textContent =
    v.rate === 0
      ? 'off (--verify 0): the tabs are trusted'
      : `--verify ${v.rate}: ${v.batchesChecked} checks (${v.inputsChecked} inputs), ${v.peerChecks} by actors of other hosts; ` +
        `the coordinator computed ${v.referenceInputs} input(s), ${v.arbitrationInputs} to decide between two tabs; ` +
        `${v.disagreements} disagreement(s), ${v.inconclusive} inconclusive, ${v.unverifiedRows} row(s) unverified, ` +
        `${v.rowsHeld} held; barred: ${barred.join(', ') || 'none'}`;
  fillTable(
    'actors',
    s.actors.map((a) => [
      a.id,
      a.host,
      a.state,
      a.ep ?? (a.offered.length ? `${a.offered.join(' or ')}?` : '–'),
      a.probe.map((f) => `${f.ep}: ${f.imagesPerSecond === null ? f.note : `${f.imagesPerSecond.toFixed(1)} ${rate}`}`).join('; ') || '–',
      a.adapter ?? '–',
      threadsText(a.threads),
      a.speed === null ? '–' : `${a.speed.toFixed(2)}${a.speedMeasured ? '' : ' (reported)'}`,
      a.batchSize ?? '–',
      a.batchesDone,
      a.imagesDone,
      a.inFlight,
      a.reason ?? '',
    ]),
  );
}

async function tick(): Promise<void> {
  const alert = document.getElementById('unreachable')!;
  try {
    const res = await fetch(`${ROUTES.statusApi}?${TOKEN_PARAM}=${encodeURIComponent(token)}`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render((await res.json()) as JobStatus);
    alert.hidden = true;
  } catch (e) {
    alert.textContent = `coordinator unreachable (${(e as Error).message}); the job may have ended`;
    alert.hidden = false;
  }
}

void tick();
setInterval(() => void tick(), 1000);

/** `2`, or `2 → 1` while a re-plan loads the actor afresh. */
function threadsText(t: JobStatus['actors'][number]['threads']): string {
  if (t.running === null) return t.planned === null ? '–' : `→ ${t.planned}`;
  return t.planned === null || t.planned === t.running ? String(t.running) : `${t.running} → ${t.planned}`;
}
