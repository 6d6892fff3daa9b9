/**
 * The `/status` page, served from the package itself (no CDN, no framework): a table with one
 * row per server and a chart of sessions and throughput over the history `/status.json` keeps,
 * polled every `intervalMs`. Plain text cells and line styles (solid, dashed) so that it reads
 * without colour; the table becomes one block per server on a phone-width screen. The script only
 * ever sets `textContent`, so a service name cannot inject markup.
 */

/** The HTML document. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard status</title>
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header>
<h1>Switchboard status</h1>
<p id="summary" aria-live="polite">Loading\u2026</p>
</header>
<main>
<section aria-labelledby="chart-title">
<h2 id="chart-title">Sessions and throughput</h2>
<p id="chart-scale" class="legend">Waiting for data\u2026</p>
<svg id="chart" viewBox="0 0 600 170" role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="none">
<desc id="chart-desc">Open sessions (solid line) and bytes per second in plus out (dashed line) over the last minutes.</desc>
<line class="axis" x1="0" y1="160" x2="600" y2="160"></line>
<line class="axis" x1="0" y1="10" x2="0" y2="160"></line>
<polyline id="line-sessions" class="sessions" points=""></polyline>
<polyline id="line-throughput" class="throughput" points=""></polyline>
</svg>
<p class="legend"><span class="key solid" aria-hidden="true"></span> sessions open \u00b7 <span class="key dashed" aria-hidden="true"></span> bytes/s (in + out)</p>
</section>
<section aria-labelledby="servers-title">
<h2 id="servers-title">Servers</h2>
<div class="scroll">
<table id="servers">
<thead><tr>
<th scope="col">Service</th><th scope="col">Listener</th><th scope="col">State</th><th scope="col">Uptime</th>
<th scope="col">Sessions now / max / limit</th><th scope="col">Total</th><th scope="col">Rejected</th>
<th scope="col">Bytes in</th><th scope="col">Bytes out</th><th scope="col">TLS failures</th><th scope="col">PROXY failures</th><th scope="col">UDP drops</th><th scope="col">Last error</th>
</tr></thead>
<tbody></tbody>
</table>
</div>
</section>
</main>
</body>
</html>
`;

/** The stylesheet. */
export const STATUS_PAGE_CSS = `:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0 auto; padding: 0.5rem 1rem 2rem; max-width: 100rem; line-height: 1.4; }
h1 { font-size: 1.4rem; margin: 0.5rem 0; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 0.4rem; }
#summary { font-weight: 600; }
svg { width: 100%; height: 12rem; border: 1px solid currentColor; box-sizing: border-box; }
.axis { stroke: currentColor; stroke-width: 1; }
polyline { fill: none; stroke: currentColor; vector-effect: non-scaling-stroke; }
.sessions { stroke-width: 2.5; }
.throughput { stroke-width: 1.5; stroke-dasharray: 6 4; }
.legend { font-size: 0.9rem; }
.key { display: inline-block; width: 2rem; vertical-align: middle; border-top: 3px solid currentColor; }
.key.dashed { border-top: 2px dashed currentColor; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid currentColor; padding: 0.2rem 0.35rem; text-align: left; vertical-align: top; }
td.number { text-align: right; white-space: nowrap; }
tr.not-ready td:first-child::after { content: " (not ready)"; font-weight: 600; }
@media (max-width: 700px) {
  thead { position: absolute; left: -9999px; }
  table, tbody, tr, td { display: block; width: 100%; box-sizing: border-box; }
  tr { margin-bottom: 0.8rem; border: 2px solid currentColor; }
  td { border: none; border-bottom: 1px dotted currentColor; }
  td.number { text-align: left; }
  td::before { content: attr(data-label) ": "; font-weight: 600; }
}
`;

/** The script: polls `/status.json`, fills the table, redraws the chart. */
export const STATUS_PAGE_JS = `'use strict';
(() => {
  const COLUMNS = ['Service', 'Listener', 'State', 'Uptime', 'Sessions now / max / limit', 'Total', 'Rejected', 'Bytes in', 'Bytes out', 'TLS failures', 'PROXY failures', 'UDP drops', 'Last error'];
  const $ = (id) => document.getElementById(id);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const bytes = (n) => {
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  };
  const duration = (s) => {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d > 0 ? d + 'd ' + h + 'h' : h > 0 ? h + 'h ' + m + 'm' : m > 0 ? m + 'm ' + (s % 60) + 's' : (s % 60) + 's';
  };
  const nonZero = (counts) => Object.entries(counts || {}).filter(([, n]) => n > 0);
  const sum = (counts) => Object.values(counts || {}).reduce((a, n) => a + n, 0);
  const reasons = (counts) => { const list = nonZero(counts); return list.length === 0 ? '0' : sum(counts) + ' (' + list.map(([r, n]) => r + ' ' + n).join(', ') + ')'; };

  function cell(row, column, text, field, value, number) {
    const td = document.createElement('td');
    td.dataset.label = COLUMNS[column];
    td.dataset.field = field;
    if (value !== undefined) td.dataset.value = String(value);
    if (number) td.className = 'number';
    td.textContent = text;
    row.appendChild(td);
  }

  function render(doc) {
    const tbody = $('servers').tBodies[0];
    const rows = [];
    for (const s of doc.servers) {
      const st = s.stats;
      const tcp = s.transport === 'tcp';
      const tr = document.createElement('tr');
      tr.dataset.service = s.service;
      tr.dataset.transport = s.transport;
      tr.dataset.listener = s.listener;
      if (!s.ready) tr.className = 'not-ready';
      cell(tr, 0, s.service + ' (' + s.transport + (s.worker === undefined ? '' : ', worker ' + s.worker) + ')', 'service');
      cell(tr, 1, s.listener || '(not bound)', 'listener');
      cell(tr, 2, s.suspended ? 'suspended' : s.state, 'state');
      cell(tr, 3, duration(s.uptimeSeconds), 'uptime', undefined, true);
      if (tcp) {
        cell(tr, 4, st.sessions + ' / ' + st.peakSessions + ' / ' + (s.limit === 0 ? 'none' : s.limit), 'sessions', st.sessions + '/' + st.peakSessions + '/' + s.limit, true);
        cell(tr, 5, st.opened + ' sessions, ' + st.accepted + ' accepted', 'total', st.opened, true);
        cell(tr, 6, reasons(st.rejectedBy), 'rejected', st.rejected, true);
      } else {
        cell(tr, 4, st.inFlight + ' in flight, ' + st.queued + ' queued', 'sessions', st.inFlight + '/' + st.queued, true);
        cell(tr, 5, st.datagramsIn + ' datagrams in, ' + st.datagramsOut + ' out', 'total', st.datagramsIn, true);
        cell(tr, 6, '-', 'rejected', undefined, true);
      }
      cell(tr, 7, bytes(st.bytesIn), 'bytesIn', st.bytesIn, true);
      cell(tr, 8, bytes(st.bytesOut), 'bytesOut', st.bytesOut, true);
      cell(tr, 9, tcp && st.tls ? reasons(st.tls.failures) : '-', 'tlsFailures', tcp && st.tls ? st.tls.failed : undefined, true);
      cell(tr, 10, st.proxy ? reasons(st.proxy.failures) : '-', 'proxyFailures', st.proxy ? sum(st.proxy.failures) : undefined, true);
      cell(tr, 11, tcp ? '-' : reasons(st.dropped), 'drops', tcp ? undefined : sum(st.dropped), true);
      cell(tr, 12, s.lastError ? s.lastError.code + ': ' + s.lastError.message + ' (' + s.lastError.at + ')' : 'none', 'lastError');
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);
    const ready = doc.ready && doc.servers.length > 0;
    $('summary').textContent = (ready ? 'READY' : 'NOT READY' + (doc.draining ? ' (draining)' : '')) + ' \u00b7 ' + (doc.healthy ? 'healthy' : 'UNHEALTHY') +
      ' \u00b7 event loop delay ' + Math.round(doc.eventLoopDelaySeconds * 1000) + ' ms \u00b7 process up ' + duration(doc.processUptimeSeconds) + ' \u00b7 updated ' + doc.time;
    document.body.dataset.time = doc.time;
    chart(doc.history, doc.intervalMs);
  }

  function chart(history, intervalMs) {
    const left = 2, right = 598, top = 14, bottom = 158;
    const points = history.length;
    const sessions = history.map((h) => h.sessions);
    const rates = history.map((h, i) => (i === 0 ? 0 : Math.max(0, (h.bytesIn + h.bytesOut - history[i - 1].bytesIn - history[i - 1].bytesOut) / Math.max(0.001, (h.t - history[i - 1].t) / 1000))));
    const draw = (values, id) => {
      const max = Math.max(1, ...values);
      const step = points > 1 ? (right - left) / (points - 1) : 0;
      $(id).setAttribute('points', values.map((v, i) => (left + i * step).toFixed(1) + ',' + (bottom - (v / max) * (bottom - top)).toFixed(1)).join(' '));
      return max;
    };
    const maxSessions = draw(sessions, 'line-sessions');
    const maxRate = draw(rates, 'line-throughput');
    $('chart-scale').textContent = 'Top of the chart: ' + maxSessions + ' sessions (solid), ' + bytes(Math.round(maxRate)) + '/s (dashed) \u00b7 the last ' +
      duration(Math.max(0, points - 1) * intervalMs / 1000) + ', one point every ' + (intervalMs / 1000) + ' s; now ' + (sessions[points - 1] || 0) + ' sessions, ' + bytes(Math.round(rates[points - 1] || 0)) + '/s';
  }

  let delay = 2000;
  async function poll() {
    try {
      const response = await fetch('/status.json', { cache: 'no-store' });
      if (response.ok) {
        const doc = await response.json();
        delay = doc.intervalMs || delay;
        render(doc);
      } else {
        $('summary').textContent = 'status.json answered ' + response.status;
      }
    } catch (error) {
      $('summary').textContent = 'cannot reach the server: ' + error.message;
    }
    setTimeout(poll, delay);
  }
  poll();
})();
`;
