/**
 * Where a standing pool's tabs go: which job each idle tab serves next, and which tab a job over
 * its share hands back (at a batch boundary) to one below it. Pure: the head (head.ts) feeds it
 * the tabs and jobs as they are and carries out what it decides.
 *
 * Shares: every job first gets its --pool minimum (highest --priority first, then oldest) while
 * tabs last; the rest are shared in proportion to --weight, each job capped at its maximum. A
 * free tab goes to the job furthest below its share among the highest priority; budgets hold
 * per host across every job (Ray's per-node resources), and a tab a job cannot use (its EP, a
 * barred host) is never counted as that job's.
 */
import type { Capabilities, DeclaredResources, ExecutionProvider } from '../../shared/protocol.ts';
import type { PoolPolicy } from '../pool/actorRoster.ts';
import { add, hostCapacity, shortfalls, subtract, ZERO, type Resources } from '../pool/resources.ts';
import type { Placement } from '../../shared/poolProtocol.ts';

export interface PlacedTab {
  id: string;
  hostId: string;
  caps: Capabilities;
  declared: DeclaredResources;
  pinned: ExecutionProvider | null;
  joinedAt: number;
  /** The job it serves, or null while idle. */
  job: string | null;
  /** What it reserves on its host for that job. */
  budget: Resources;
  /** Asked to hand back for this job (below its share): it counts as that job's already. */
  releasing: string | null;
}

export interface PlacedJob {
  id: string;
  placement: Placement;
  policy: PoolPolicy;
  submittedAt: number;
  /** Whether it can take tabs now (its submitter is connected and the job runs). */
  open: boolean;
  /** Tabs and hosts it refused or barred: never offered to it again. */
  excludedTabs: ReadonlySet<string>;
  excludedHosts: ReadonlySet<string>;
}

export interface Assignment {
  tab: string;
  job: string;
  /** The tab's hello goes to the job pinned to wasm: a GPU budget would not fit on its host. */
  pinWasm: boolean;
  budget: Resources;
}

export interface PlacementPlan {
  assign: Assignment[];
  release: { tab: string; job: string; for: string }[];
}

/** Each job's share of `tabs` tabs: minimums first (priority, then age), the rest by weight up to each maximum. */
export function shares(jobs: readonly PlacedJob[], tabs: number): Map<string, number> {
  const open = [...jobs].filter((j) => j.open).sort(byPriority);
  const t = new Map(open.map((j) => [j.id, 0]));
  let left = tabs;
  for (const j of open) {
    const n = Math.min(j.placement.pool.min, j.placement.pool.max, left);
    t.set(j.id, n);
    left -= n;
  }
  while (left > 0) {
    let best: PlacedJob | null = null;
    let bestKey = Infinity;
    for (const j of open) {
      const have = t.get(j.id)!;
      if (have >= j.placement.pool.max) continue;
      // D'Hondt: the next actor goes where it adds least over the weight (ties: priority, then age).
      const key = (have - Math.min(j.placement.pool.min, have) + 1) / j.placement.weight;
      if (key < bestKey - 1e-12) {
        best = j;
        bestKey = key;
      }
    }
    if (!best) break;
    t.set(best.id, t.get(best.id)! + 1);
    left--;
  }
  return t;
}

function byPriority(a: PlacedJob, b: PlacedJob): number {
  return b.placement.priority - a.placement.priority || a.submittedAt - b.submittedAt || (a.id < b.id ? -1 : 1);
}

/**
 * What `tab` would reserve serving `job` (and whether its hello must pin wasm), or null when it
 * cannot serve it now. `used`: what every job's actors reserve on its host, this tab's own aside.
 */
export function fitFor(tab: PlacedTab, job: PlacedJob, used: Resources): Omit<Assignment, 'tab' | 'job'> | null {
  if (job.excludedTabs.has(tab.id) || job.excludedHosts.has(tab.hostId)) return null;
  const offer = job.policy.offer(tab.caps, tab.pinned);
  if (offer.eps === null) return null;
  const free = subtract(hostCapacity(tab.caps, tab.declared, job.placement.allowSoftwareGpu), used);
  const first = job.policy.budgetFor(offer.eps[0]!);
  if (shortfalls(free, first).length === 0) return { pinWasm: false, budget: first };
  if (offer.eps.length > 1 && offer.eps.includes('wasm')) {
    const wasm = job.policy.budgetFor('wasm');
    if (shortfalls(free, wasm).length === 0) return { pinWasm: true, budget: wasm };
  }
  return null;
}

/** Counts kept as decisions are made: each host's reservations, each job's tabs and the tabs coming to it. */
class Ledger {
  private readonly used = new Map<string, Resources>();
  private readonly heldBy = new Map<string, number>();
  private readonly coming = new Map<string, number>();

  constructor(tabs: readonly PlacedTab[]) {
    for (const t of tabs) if (t.job !== null) this.take(t, t.job, t.budget, t.releasing);
  }

  /** What the tab's host has reserved, the tab's own reservation aside. */
  usedBesides(t: PlacedTab): Resources {
    const all = this.used.get(t.hostId) ?? ZERO;
    return t.job === null ? all : subtract(all, t.budget);
  }

  held(job: string): number {
    return this.heldBy.get(job) ?? 0;
  }

  comingTo(job: string): number {
    return this.coming.get(job) ?? 0;
  }

  take(t: PlacedTab, job: string, budget: Resources, releasing: string | null = null): void {
    this.used.set(t.hostId, add(this.used.get(t.hostId) ?? ZERO, budget));
    if (releasing === null) this.heldBy.set(job, this.held(job) + 1);
    else this.coming.set(releasing, this.comingTo(releasing) + 1);
  }

  release(t: PlacedTab, forJob: string): void {
    this.heldBy.set(t.job!, this.held(t.job!) - 1);
    this.coming.set(forJob, this.comingTo(forJob) + 1);
  }
}

/** Idle tabs to jobs, and tabs to hand back from jobs over their share to jobs below it. */
export function place(tabs: readonly PlacedTab[], jobs: readonly PlacedJob[]): PlacementPlan {
  const plan: PlacementPlan = { assign: [], release: [] };
  const open = jobs.filter((j) => j.open);
  if (open.length === 0) return plan;
  const target = shares(open, tabs.length);
  // Working copies: each decision is seen by the next.
  const state = tabs.map((t) => ({ ...t }));
  const ledger = new Ledger(state);
  const held = (jobId: string): number => ledger.held(jobId);
  const idle = state.filter((t) => t.job === null).sort((a, b) => a.joinedAt - b.joinedAt);
  for (const tab of idle) {
    const used = ledger.usedBesides(tab);
    const ranked = open
      .filter((j) => held(j.id) < j.placement.pool.max)
      .map((j) => ({ j, fit: fitFor(tab, j, used) }))
      .filter((c): c is { j: PlacedJob; fit: NonNullable<ReturnType<typeof fitFor>> } => c.fit !== null)
      .sort((a, b) => rank(a.j, b.j, target, held));
    const chosen = ranked[0];
    if (!chosen) continue;
    ledger.take(tab, chosen.j.id, chosen.fit.budget);
    tab.job = chosen.j.id;
    tab.budget = chosen.fit.budget;
    plan.assign.push({ tab: tab.id, job: chosen.j.id, ...chosen.fit });
  }
  // A job below its share, with no idle tab it could use: the job furthest over its share hands one back.
  const byId = new Map(open.map((j) => [j.id, j]));
  for (const j of [...open].sort(byPriority)) {
    while (held(j.id) + ledger.comingTo(j.id) < target.get(j.id)!) {
      const donor = state
        .filter((t) => t.job !== null && t.job !== j.id && t.releasing === null)
        .filter((t) => byId.has(t.job!) && held(t.job!) > target.get(t.job!)!)
        .filter((t) => fitFor({ ...t, job: null }, j, ledger.usedBesides(t)) !== null)
        .sort((a, b) => over(b, target, held) - over(a, target, held) || b.joinedAt - a.joinedAt)[0];
      if (!donor) break;
      ledger.release(donor, j.id);
      donor.releasing = j.id;
      plan.release.push({ tab: donor.id, job: donor.job!, for: j.id });
    }
  }
  return plan;
}

function over(t: PlacedTab, target: Map<string, number>, held: (j: string) => number): number {
  return t.job === null ? 0 : held(t.job) - (target.get(t.job) ?? 0);
}

/** Below-share jobs first; then highest priority; then furthest below share (by weight); then oldest. */
function rank(a: PlacedJob, b: PlacedJob, target: Map<string, number>, held: (j: string) => number): number {
  const deficit = (j: PlacedJob): number => target.get(j.id)! - held(j.id);
  const below = (j: PlacedJob): number => (deficit(j) > 0 ? 1 : 0);
  return (
    below(b) - below(a) ||
    b.placement.priority - a.placement.priority ||
    deficit(b) / b.placement.weight - deficit(a) / a.placement.weight ||
    held(a.id) / a.placement.weight - held(b.id) / b.placement.weight ||
    a.submittedAt - b.submittedAt
  );
}
