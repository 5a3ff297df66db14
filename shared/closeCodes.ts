/**
 * WebSocket close codes, as both sides read them. 1000–1011 are the protocol's own; 4000–4999 are
 * tabpool's. The page decides from the code whether to rejoin, so the two sides must agree.
 */
export const CLOSE = {
  normal: 1000,
  /** The page is going away (reload, navigation, a test cutting the socket): it may rejoin. */
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  tooBig: 1009,
  /** Coordinator → page: the job ended; the tab can close. */
  jobDone: 4000,
  /** Coordinator → page: evicted for failing repeatedly or missing deadlines; it may rejoin. */
  evicted: 4001,
  /** Coordinator → page: a well-formed result that does not fit its batch (item count, class range, top-k). */
  badResult: 4002,
  /** Page → coordinator: the tab's worker crashed; the page rejoins as a new actor. */
  workerCrashed: 4003,
  /** Coordinator → page: its answers disagreed with the trusted reference; it (or its whole host) is barred from the job. */
  barred: 4004,
  /** Coordinator → standing pool: the job hands this actor back at a batch boundary (the pool gives it to another job). */
  released: 4005,
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/** After these the page does not rejoin: it broke the protocol, or the job is over. */
export const NO_REJOIN_CODES: ReadonlySet<number> = new Set([
  CLOSE.policyViolation,
  CLOSE.badResult,
  CLOSE.jobDone,
  CLOSE.unsupportedData,
  CLOSE.tooBig,
  CLOSE.barred,
]);
