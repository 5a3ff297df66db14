/**
 * The coordinator's URL space, as the server routes it and the pages and clients address it.
 * Every route but the worker page's static files needs the job token in `?token=`.
 */
export const ROUTES = {
  /** The status page (a person's view of the job). */
  statusPage: '/',
  /** The status API: `JobStatus` as JSON (shared/status.ts). */
  statusApi: '/api/status',
  /** The worker page: open it in a browser to join the pool. */
  workerPage: '/worker/',
  /** The WebSocket an actor speaks the protocol over. */
  socket: '/ws',
  /** Hashed build assets of both pages (scripts, workers, wasm). */
  assets: '/assets/',
  /** A file of the job's (a model, its weights, a tokenizer: `ctx.models`), by sha256. */
  modelPrefix: '/model/',
  /** A user's actor module (bundled), by sha256. */
  actorPrefix: '/actor/',
  // A standing pool's head (tabpool serve) also has these; they take the submit token, never the join token.
  /** The WebSocket a submitting process (`tabpool run --on`) speaks shared/poolProtocol.ts over. */
  submitSocket: '/submit',
  /** `GET`: the head's jobs (`JobRecord[]`); `POST /api/jobs/ID/cancel`: drains one. */
  jobsApi: '/api/jobs',
  /** `HEAD`/`PUT /api/files/SHA256`: a job's model or actor module, uploaded once and kept by content. */
  filesApi: '/api/files/',
} as const;

/** The query parameter that carries the job token. */
export const TOKEN_PARAM = 'token';

export function modelPath(sha256: string): string {
  return `${ROUTES.modelPrefix}${sha256}`;
}

export function actorPath(sha256: string): string {
  return `${ROUTES.actorPrefix}${sha256}.js`;
}

/** `http(s)://host:port/…` → the actor socket's `ws(s)://host:port/ws?token=…`. */
export function socketUrl(pageOrigin: string, token: string): string {
  const secure = pageOrigin.startsWith('https:');
  const host = pageOrigin.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return `${secure ? 'wss' : 'ws'}://${host}${ROUTES.socket}?${TOKEN_PARAM}=${encodeURIComponent(token)}`;
}

/** A route's URL with the token, from the server's origin (`https://host:port`). */
export function withToken(origin: string, route: string, token: string): string {
  return `${origin}${route}?${TOKEN_PARAM}=${encodeURIComponent(token)}`;
}
