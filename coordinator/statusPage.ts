/** The coordinator's own root page: the pool, hosts and actors, refreshed live from /api/status. */
export function statusPageHtml(token: string, workerUrl: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tabpool · job status</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.3rem;margin:0 0 .5rem} h2{font-size:1.05rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;background:#fff;min-width:40rem} td,th{padding:.3rem .7rem;border-bottom:1px solid #e3e6eb;text-align:left;font-variant-numeric:tabular-nums}
th{color:#6a7385;font-weight:600} .bar{background:#e3e6eb;border-radius:4px;height:10px;width:24rem} .bar>div{background:#2f7de1;height:10px;border-radius:4px}
code{background:#eef1f5;padding:.1rem .3rem;border-radius:4px} .muted{color:#6a7385}
</style></head><body>
<h1>tabpool job</h1>
<p>Join from another browser: <code id="join"></code></p>
<div id="progress"></div>
<h2>Pool</h2><div id="pool"></div>
<h2>Hosts</h2><table id="hosts"></table>
<h2>Actors</h2><table id="actors"></table>
<script>
const token = ${JSON.stringify(token)};
document.getElementById('join').textContent = ${JSON.stringify(workerUrl)};
const esc = (s) => String(s ?? '–').replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const gib = (b) => b == null ? 'unknown' : (b / 2 ** 30).toFixed(1) + ' GiB';
async function tick() {
  try {
    const s = await (await fetch('/api/status?token=' + encodeURIComponent(token))).json();
    const p = s.progress, pct = p.total ? Math.min(100, 100 * p.done / p.total) : 0;
    document.getElementById('progress').innerHTML = '<div class="bar"><div style="width:' + pct + '%"></div></div><p>' + p.done + (p.total != null ? ' / ' + p.total : '') + ' rows, ' + p.errors + ' errors, ' + (p.imagesPerSecond ? p.imagesPerSecond.toFixed(2) : '–') + ' img/s, ' + p.elapsedSeconds.toFixed(0) + ' s</p>';
    document.getElementById('pool').innerHTML = '<p>min ' + s.pool.min + ', max ' + s.pool.max + ' — <b>' + s.pool.active + ' active</b>, ' + s.pool.standby + ' standby, ' + s.pool.rejected + ' rejected</p>';
    document.getElementById('hosts').innerHTML = '<tr><th>Host</th><th>GPU used / total</th><th>CPU used / total</th><th>Memory used / total</th></tr>' + s.hosts.map((h) => '<tr><td>' + esc(h.id) + '</td><td>' + h.used.gpus + ' / ' + h.capacity.gpus + '</td><td>' + h.used.cpus + ' / ' + h.capacity.cpus + '</td><td>' + gib(h.used.memoryBytes) + ' / ' + gib(h.capacity.memoryBytes) + '</td></tr>').join('');
    document.getElementById('actors').innerHTML = '<tr><th>Actor</th><th>Host</th><th>State</th><th>EP</th><th>Adapter</th><th>Batches</th><th>Images</th><th>img/s</th><th>In flight</th><th>Reason</th></tr>' + s.actors.map((a) => '<tr><td>' + esc(a.id) + '</td><td>' + esc(a.host) + '</td><td>' + esc(a.state) + '</td><td>' + esc(a.ep) + '</td><td>' + esc(a.adapter) + '</td><td>' + a.batchesDone + '</td><td>' + a.imagesDone + '</td><td>' + (a.imagesPerSecond ? a.imagesPerSecond.toFixed(2) : '–') + '</td><td>' + a.inFlight + '</td><td class="muted">' + esc(a.reason) + '</td></tr>').join('');
  } catch (e) { document.getElementById('progress').textContent = 'coordinator unreachable: ' + e.message; }
}
tick(); setInterval(tick, 1000);
</script></body></html>`;
}
