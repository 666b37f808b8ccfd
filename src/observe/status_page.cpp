// The status page: one static HTML document with its CSS and script inline, so no front-end
// toolchain is needed and the page cannot go out of step with the server that serves it. It
// polls /status.json every second; rates are the difference between two polls.
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
  <section id="methods"><h2>Methods</h2><div class="body"><div class="none">none</div></div></section>
  <section id="connections"><h2>Connections</h2><div class="body"><div class="none">none</div></div></section>
  <section id="topics"><h2>Topics and subscribers</h2><div class="body"><div class="none">none</div></div></section>
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
  table("methods", [["method","method"],["calls","calls",1],["rate","rate",1],["errors","errors"],["p50","p50",1],["p99","p99",1]], methods);
  const peers = s.peers.map(p => Object.assign({}, p, {bytes: bytes(p.bytes_in) + " / " + bytes(p.bytes_out)}));
  table("connections", [["name","peer"],["address","address"],["pid","pid",1],["calls_in","calls in",1],["bytes","in / out",1]], peers);
  const topics = s.sections.topics.map(r => Object.assign({}, r, {queue: r.queued + " / " + r.queue_limit}));
  table("topics", [["pattern","pattern"],["subscriber","subscriber"],["policy","policy"],["queue","queued / limit",1],["delivered","delivered",1],["dropped","dropped",1]], topics);
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
