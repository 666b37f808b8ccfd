// The status page: one static HTML document with its CSS and script inline, so no front-end
// toolchain is needed and the page cannot go out of step with the server that serves it. It
// polls /status.json every second; rates are the difference between two polls. The charts are
// drawn by the page as inline SVG from the polls it has made (the last five minutes of them):
// no script or font comes from the network.
#include "observe/http_endpoint.hpp"

namespace plexus::observe {

std::string_view status_page_html() {
  static constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plexus status</title>
<style>
  :root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --ok:#12805c; --bad:#b42318; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
  header { background:#fff; border-bottom:1px solid var(--line); padding:14px 24px; display:flex; align-items:baseline; gap:16px; flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; }
  .pill { padding:2px 10px; border-radius:999px; font-size:12px; font-weight:600; color:#fff; background:var(--ok); }
  .pill.bad { background:var(--bad); }
  .muted { color:var(--muted); }
  main { padding:16px 24px; display:grid; gap:16px; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
  .cards { display:flex; gap:12px; flex-wrap:wrap; padding:16px 24px 0; }
  .card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 16px; min-width:140px; }
  .card .v { font-size:20px; font-weight:600; font-variant-numeric: tabular-nums; }
  .card .k { font-size:12px; color:var(--muted); }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; overflow-x:auto; }
  section h2 { font-size:14px; margin:0 0 8px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
  table { border-collapse:collapse; width:100%; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { font-weight:600; font-size:12px; color:var(--muted); }
  td.n, th.n { text-align:right; }
  td[data-col="address"] { white-space:normal; word-break:break-all; }
  td.state-open { color:var(--bad); font-weight:600; }
  td.state-half_open { color:#b54708; font-weight:600; }
  .none { color:var(--muted); font-style:italic; padding:4px 0; }
  #charts, #recent_errors { grid-column: 1 / -1; }
  td[data-col="message"] { white-space:normal; max-width:420px; }
  td[data-col="trace"] { font-family:ui-monospace, monospace; font-size:12px; }
  #charts .grid { display:grid; gap:12px; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); }
  figure { margin:0; }
  figcaption { font-size:12px; color:var(--muted); display:flex; justify-content:space-between; }
  figure svg { width:100%; height:120px; background:#fcfcfd; border:1px solid var(--line); border-radius:4px; }
  .legend { font-size:12px; display:flex; gap:10px; flex-wrap:wrap; min-height:18px; }
  .legend i { display:inline-block; width:10px; height:3px; margin-right:4px; vertical-align:middle; }
</style>
</head>
<body>
<header>
  <h1 id="name">plexus</h1>
  <span id="state" class="pill">…</span>
  <span class="muted" id="meta"></span>
</header>
<div class="cards" id="cards"></div>
<main>
  <section id="charts"><h2>Last minutes</h2><div class="grid">
    <figure id="chart-calls"></figure><figure id="chart-errors"></figure>
    <figure id="chart-p99"></figure><figure id="chart-connections"></figure>
    <figure id="chart-pubsub"></figure>
  </div></section>
  <section id="recent_errors"><h2>Recent errors</h2><div class="body"><div class="none">none</div></div></section>
  <section id="methods"><h2>Methods</h2><div class="body"><div class="none">none</div></div></section>
  <section id="connections"><h2>Connections</h2><div class="body"><div class="none">none</div></div></section>
  <section id="topics"><h2>Topics and subscribers</h2><div class="body"><div class="none">none</div></div></section>
  <section id="queues"><h2>Durable queues</h2><div class="body"><div class="none">none</div></div></section>
  <section id="breakers"><h2>Breakers</h2><div class="body"><div class="none">none</div></div></section>
  <section id="caches"><h2>Caches</h2><div class="body"><div class="none">none</div></div></section>
  <section id="rate_limits"><h2>Rate limits</h2><div class="body"><div class="none">none</div></div></section>
</main>
<script>
"use strict";
let previous = null;  // {t, calls: {method: n}}
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
const us = s => s == null ? "—" : (s * 1e6 < 1000 ? (s * 1e6).toFixed(1) + " µs" : (s * 1e3).toFixed(2) + " ms");
const bytes = b => b < 1024 ? b + " B" : b < 1048576 ? (b / 1024).toFixed(1) + " KiB" : (b / 1048576).toFixed(1) + " MiB";
function table(el, columns, rows) {
  const body = document.querySelector("#" + el + " .body");
  if (!rows || rows.length === 0) { body.innerHTML = '<div class="none">none</div>'; return; }
  if (!columns) columns = Object.keys(rows[0]).map(k => [k, k, false]);
  let h = "<table><thead><tr>" + columns.map(c => `<th class="${c[2] ? "n" : ""}">${esc(c[1])}</th>`).join("") + "</tr></thead><tbody>";
  for (const r of rows) {
    h += "<tr>" + columns.map(c => {
      const v = r[c[0]];
      const text = v == null ? "—" : (typeof v === "object" ? JSON.stringify(v) : v);
      const cls = (c[2] ? "n" : "") + (c[0] === "state" ? " state-" + esc(text) : "");
      return `<td class="${cls.trim()}" data-col="${esc(c[0])}">${esc(text)}</td>`;
    }).join("") + "</tr>";
  }
  body.innerHTML = h + "</tbody></table>";
}
// Samples of the polls, oldest first, for the charts: five minutes at one per second.
const history = [];
const kHistorySeconds = 300;
const palette = ["#2563eb", "#d92d20", "#12805c", "#b54708", "#7a5af8", "#0e9384", "#c11574", "#667085"];
function remember(s, now) {
  const m = {};
  for (const x of s.methods) {
    m[x.method] = {calls: x.calls, errors: Object.values(x.errors).reduce((a, b) => a + b, 0), p99: x.calls ? x.p99_seconds : null};
  }
  history.push({t: now, m: m, conns: s.connections.open, delivered: s.pubsub.delivered, dropped: s.pubsub.dropped});
  while (history.length > 1 && now - history[0].t > kHistorySeconds) history.shift();
}
// Per second between consecutive samples: [[t, rate]] for value(sample) (null: no point).
function rates(value) {
  const out = [];
  for (let i = 1; i < history.length; ++i) {
    const a = value(history[i - 1]), b = value(history[i]), dt = history[i].t - history[i - 1].t;
    if (a != null && b != null && dt > 0) out.push([history[i].t, Math.max(0, (b - a) / dt)]);
  }
  return out;
}
function levels(value) {
  return history.map(h => [h.t, value(h)]).filter(p => p[1] != null);
}
// One chart: `series` is [{name, points: [[t, v]]}], drawn as polylines over the window.
function chart(id, title, unit, series) {
  const w = 600, h = 120, pad = 4;
  // The window grows with the history, up to five minutes (at least 30 s wide).
  const now = history.length ? history[history.length - 1].t : 0;
  const span = Math.min(kHistorySeconds, Math.max(30, now - (history.length ? history[0].t : now)));
  const t0 = now - span;
  let max = 0;
  for (const s of series) for (const p of s.points) max = Math.max(max, p[1]);
  const top = max > 0 ? max * 1.1 : 1;
  const x = t => pad + (w - 2 * pad) * (t - t0) / span;
  const y = v => h - pad - (h - 2 * pad) * v / top;
  let svg = `<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(title)}">`;
  for (const f of [0.25, 0.5, 0.75]) svg += `<line x1="0" x2="${w}" y1="${y(top * f)}" y2="${y(top * f)}" stroke="#eaecf0"/>`;
  series.forEach((s, i) => {
    const pts = s.points.map(p => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
    svg += `<polyline fill="none" stroke-width="1.5" stroke="${palette[i % palette.length]}" points="${pts}" data-series="${esc(s.name)}" data-points="${s.points.length}"/>`;
  });
  svg += "</svg>";
  const shown = max > 0 ? (unit === "s" ? us(max) : max.toFixed(max < 10 ? 1 : 0) + unit) : "0";
  const legend = series.map((s, i) => `<span><i style="background:${palette[i % palette.length]}"></i>${esc(s.name)}</span>`).join("");
  document.getElementById(id).innerHTML =
    `<figcaption><span>${esc(title)}</span><span>max ${esc(shown)} · last ${Math.round(span)} s</span></figcaption>${svg}<div class="legend">${legend}</div>`;
}
function draw_charts() {
  const names = new Set();
  // Methods that were called (the rest would be flat lines at zero).
  for (const h of history) for (const [n, v] of Object.entries(h.m)) if (v.calls > 0) names.add(n);
  const methods = [...names].sort().slice(0, palette.length);
  chart("chart-calls", "calls per second, per method", "/s",
        methods.map(n => ({name: n, points: rates(h => h.m[n] ? h.m[n].calls : null)})));
  chart("chart-errors", "errors per second, per method", "/s",
        methods.map(n => ({name: n, points: rates(h => h.m[n] ? h.m[n].errors : null)})));
  chart("chart-p99", "p99 latency, per method", "s",
        methods.map(n => ({name: n, points: levels(h => h.m[n] ? h.m[n].p99 : null)})));
  chart("chart-connections", "connections open", "", [{name: "open", points: levels(h => h.conns)}]);
  chart("chart-pubsub", "pub/sub per second", "/s",
        [{name: "delivered", points: rates(h => h.delivered)}, {name: "dropped", points: rates(h => h.dropped)}]);
}
function render(s) {
  const now = performance.now() / 1000;
  document.getElementById("name").textContent = s.name;
  const state = document.getElementById("state");
  state.textContent = s.status;
  state.className = "pill" + (s.status === "serving" ? "" : " bad");
  document.getElementById("meta").textContent =
    `plexus ${s.version} · up ${Math.floor(s.uptime_seconds)} s · pid ${s.pid}`;
  const t = s.transport;
  const cards = [
    ["connections open", s.connections.open], ["accepted", s.connections.accepted],
    ["refused", s.connections.refused], ["calls", s.totals.calls], ["errors", s.totals.errors],
    ["bytes in / out", bytes(t.bytes_in) + " / " + bytes(t.bytes_out)],
    ["frames per write", t.frames_per_batch.toFixed(2)], ["memory (RSS)", bytes(s.process.rss_bytes)],
    ["published / delivered", s.pubsub.published + " / " + s.pubsub.delivered],
    ["pub/sub dropped", s.pubsub.dropped], ["streams open", s.streams.open]];
  document.getElementById("cards").innerHTML = cards.map(c =>
    `<div class="card"><div class="v">${esc(c[1])}</div><div class="k">${esc(c[0])}</div></div>`).join("");
  const calls = {};
  const methods = s.methods.map(m => {
    calls[m.method] = m.calls;
    let rate = null;
    if (previous && now > previous.t) rate = ((m.calls - (previous.calls[m.method] || 0)) / (now - previous.t)).toFixed(1) + "/s";
    const errs = Object.entries(m.errors).map(([k, v]) => k + " " + v).join(", ");
    return {method: m.method, calls: m.calls, rate: rate, errors: errs || "0", p50: m.calls ? us(m.p50_seconds) : "—", p99: m.calls ? us(m.p99_seconds) : "—"};
  });
  previous = {t: now, calls: calls};
  remember(s, now);
  draw_charts();
  table("methods", [["method","method"],["calls","calls",1],["rate","rate",1],["errors","errors"],["p50","p50",1],["p99","p99",1]], methods);
  const failed = (s.recent_errors || []).map(e => Object.assign({}, e, {when: new Date(e.at * 1000).toLocaleTimeString(), trace: e.trace_id || "—"}));
  table("recent_errors", [["when","time"],["method","method"],["code","status"],["message","message"],["peer","peer"],["trace","trace id"]], failed);
  const peers = s.peers.map(p => Object.assign({}, p, {bytes: bytes(p.bytes_in) + " / " + bytes(p.bytes_out)}));
  table("connections", [["name","peer"],["address","address"],["pid","pid",1],["uid","uid",1],["executable","executable"],["subject","token subject"],["calls_in","calls in",1],["bytes","in / out",1]], peers);
  const topics = s.sections.topics.map(r => Object.assign({}, r, {queue: r.queued + " / " + r.queue_limit}));
  table("topics", [["pattern","pattern"],["subscriber","subscriber"],["policy","policy"],["queue","queued / limit",1],["delivered","delivered",1],["dropped","dropped",1]], topics);
  const age = v => v > 0 ? (v < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(1) + " s") : "—";
  const queues = (s.sections.queues || []).map(r => Object.assign({}, r, {size: bytes(r.bytes), oldest: age(r.oldest_ready_age_seconds), dead_age: age(r.oldest_dead_letter_age_seconds)}));
  table("queues", [["queue","queue"],["ready","ready",1],["delayed","delayed",1],["in_flight","in flight",1],["size","size",1],["oldest","oldest ready",1],["dead_letters","dead letters",1],["dead_age","oldest dead letter",1]], queues);
  table("breakers", [["method","method"],["side","side"],["target","target"],["state","state"],["opened","opened",1],["rejected","rejected",1],["failures","failures",1]], s.sections.breakers);
  const caches = s.sections.caches.map(r => Object.assign({}, r, {ratio: (r.hit_ratio * 100).toFixed(1) + " %", size: bytes(r.bytes)}));
  table("caches", [["method","method"],["entries","entries",1],["size","size",1],["hits","hits",1],["misses","misses",1],["ratio","hit ratio",1],["evicted","evicted",1]], caches);
  table("rate_limits", [["method","method"],["per_handler","per handler"],["per_client","per client"],["allowed","allowed",1],["rejected_handler","refused (handler)",1],["rejected_client","refused (client)",1]], s.sections.rate_limits);
}
async function poll() {
  try {
    const r = await fetch("/status.json", {cache: "no-store"});
    render(await r.json());
  } catch (e) {
    const state = document.getElementById("state");
    state.textContent = "unreachable";
    state.className = "pill bad";
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)html";
  return kPage;
}

}  // namespace plexus::observe
