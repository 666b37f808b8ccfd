#!/usr/bin/env python3
"""Writes docs/BENCHMARKS.md from the JSON files the benchmarks write.

`make bench` runs the benchmark programs, each writing one JSON file into
build/bench-results/ (rr.json, pubsub.json, stream.json, shm.json and shm.json.one_way.json,
conns.json, durable.json, nats.json, and node.json from the Node.js benchmark
bench/node/node_bench.js),
then runs this script. It reads those files and writes one markdown page: the machine, the date,
the git commit, the options of the run, and per benchmark a table of its rows with p50/p99 and
throughput where the benchmark measures them, and their ratios to the baseline rows of the same
run. A file that is missing is reported as not run. Standard library only.

usage: scripts/bench_table.py [--results DIR] [--out FILE] [--options "ARGS"]
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import textwrap

FILES = ("rr.json", "pubsub.json", "stream.json", "shm.json", "conns.json", "durable.json",
         "nats.json", "node.json")


# ---- reading --------------------------------------------------------------------------------


def load(path):
    """The parsed file, None when it does not exist, or the error text when it does not parse."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return "cannot read %s: %s" % (path, e)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git(*args):
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit_label():
    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    subject = git("log", "-1", "--format=%s")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    label = "`%s`" % commit[:12]
    if subject:
        label += " (%s)" % subject
    if dirty:
        label += ", with uncommitted changes in the tree"
    return label


# ---- formatting -----------------------------------------------------------------------------


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def fmt_us(v):
    """Microseconds with three significant figures."""
    if not num(v):
        return "—"
    if v >= 1000:
        return "{:,.0f}".format(v)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def fmt_rate(v):
    if not num(v) or v <= 0:
        return "—"
    return "{:,.0f}".format(v)


def fmt_ratio(v):
    if not num(v) or v <= 0:
        return "—"
    if v >= 10:
        return "%.1fx" % v
    if v >= 0.1:
        return "%.2fx" % v
    return "%.3fx" % v


def ratio(a, b):
    if not num(a) or not num(b) or b <= 0 or a <= 0:
        return None
    return a / b


def payload_label(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%d MiB" % (n >> 20)
    if n >= 1024 and n % 1024 == 0:
        return "%d KiB" % (n >> 10)
    return "%d B" % n


def table(header, rows):
    """A markdown table; columns that hold nothing in any row are left out."""
    keep = [i for i in range(len(header))
            if not rows or any(i < len(r) and str(r[i]) not in ("", "—") for r in rows)]
    header = [header[i] for i in keep]
    rows = [[r[i] if i < len(r) else "" for i in keep] for r in rows]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return out


def config_line(cfg):
    if not isinstance(cfg, dict):
        return ""
    keys = [k for k in ("quick", "repetitions", "window", "filter") if k in cfg]
    parts = []
    for k in keys:
        v = cfg[k]
        if isinstance(v, bool):
            v = "yes" if v else "no"
        elif v == "":
            v = "(none)"
        parts.append("%s %s" % (k, v))
    if num(cfg.get("wall_seconds")):
        parts.append("%.0f s" % cfg["wall_seconds"])
    return ", ".join(parts)


# ---- the sections ---------------------------------------------------------------------------


def round_trip_table(results, extra_baseline=None):
    """Rows of the request/response harness (rr.json, shm.json)."""
    by_key = {(r.get("case"), r.get("payload_bytes")): r for r in results}
    header = ["case", "payload", "rt p50 µs (range)", "rt p99 µs", "x raw-unix", "x raw-unix-busypoll"]
    if extra_baseline:
        header.append("x " + extra_baseline)
    header += ["pipelined calls/s", "calls/s x raw-unix"]
    rows = []
    for r in results:
        name, size = r.get("case"), r.get("payload_bytes", 0)
        if r.get("error"):
            rows.append([name, payload_label(size), "error: " + r["error"]] + [""] * (len(header) - 3))
            continue
        rt = r.get("rt_us", {})
        pipe = r.get("pipelined", {})
        to_raw = r.get("ratio_to_raw-unix", {})
        to_busy = r.get("ratio_to_raw-unix-busypoll", {})
        p50 = fmt_us(rt.get("p50"))
        if num(rt.get("p50_min")) and num(rt.get("p50_max")) and rt["p50_min"] != rt["p50_max"]:
            p50 += " (%s–%s)" % (fmt_us(rt["p50_min"]), fmt_us(rt["p50_max"]))
        row = [name, payload_label(size), p50, fmt_us(rt.get("p99")),
               fmt_ratio(to_raw.get("rt_p50")), fmt_ratio(to_busy.get("rt_p50"))]
        if extra_baseline:
            base = by_key.get((extra_baseline, size))
            base_p50 = base.get("rt_us", {}).get("p50") if base and not base.get("error") else None
            row.append(fmt_ratio(ratio(rt.get("p50"), base_p50)))
        calls = fmt_rate(pipe.get("calls_per_s"))
        if r.get("pipeline_mode") == "sequential" and calls != "—":
            calls += " (seq)"
        row += [calls, fmt_ratio(to_raw.get("calls_per_s"))]
        rows.append(row)
    return table(header, rows)


def policy_table(results):
    rows = []
    for r in results:
        base = r.get("ratio_to_policy-bare")
        if not base or r.get("case") == "policy-bare" or r.get("error"):
            continue
        paired = r.get("paired") or {}
        delta = paired.get("delta_us_median")
        share = paired.get("shorter_share")
        rows.append([r["case"], payload_label(r.get("payload_bytes", 0)),
                     fmt_ratio(base.get("rt_p50")), fmt_ratio(base.get("calls_per_s")),
                     ("%+.2f" % delta) if num(delta) else "—",
                     ("%.0f %%" % (100 * share)) if num(share) else "—"])
    if not rows:
        return []
    return table(["case", "payload", "p50 x policy-bare", "calls/s x policy-bare",
                  "paired Δ µs (median)", "rounds shorter"], rows)


def bus_table(results):
    by = {(r.get("case"), r.get("payload_bytes")): r for r in results if not r.get("error")}
    rows = []
    for (case, size), bus in sorted(by.items(), key=lambda kv: kv[0][1] or 0):
        direct = by.get(("plexus-bus-direct", size))
        if case != "plexus-bus" or not direct:
            continue
        rt = ratio(bus.get("rt_us", {}).get("p50"), direct.get("rt_us", {}).get("p50"))
        rate = ratio(bus.get("pipelined", {}).get("calls_per_s"),
                     direct.get("pipelined", {}).get("calls_per_s"))
        dbus = by.get(("dbus-sdbus", size))
        rows.append([payload_label(size), fmt_us(direct.get("rt_us", {}).get("p50")),
                     fmt_us(bus.get("rt_us", {}).get("p50")),
                     fmt_us(dbus.get("rt_us", {}).get("p50")) if dbus else "—",
                     fmt_ratio(rt), "met" if num(rt) and rt <= 1.3 else "**not met**",
                     fmt_ratio(rate), "met" if num(rate) and rate >= 0.7 else "**not met**"])
    if not rows:
        return []
    return table(["payload", "direct p50 µs", "bus p50 µs", "D-Bus p50 µs", "bus x direct (rt)",
                  "≤ 1.3x", "bus x direct (calls/s)", "≥ 0.7x"], rows)


# Issue 25's target: a 64 B TLS round trip (plexus-tls) within this of plain TCP (plexus-tcp). The two
# rows are measured together, their calls in slices that take turns (bench/plexus_rr_cases.cpp).
TLS_TARGET = 1.3


def tls_lines(results):
    by_key = {(r.get("case"), r.get("payload_bytes")): r for r in results}
    lines = []
    for r in results:
        if r.get("case") != "plexus-tls" or r.get("error"):
            continue
        size = r.get("payload_bytes", 0)
        tcp = by_key.get(("plexus-tcp", size))
        if not tcp or tcp.get("error"):
            continue
        v = ratio(r.get("rt_us", {}).get("p50"), tcp.get("rt_us", {}).get("p50"))
        if not num(v):
            continue
        delta = (r.get("paired") or {}).get("delta_us_median")
        target = (" (target: ≤ %.1fx, %s in this run)" %
                  (TLS_TARGET, "met" if v <= TLS_TARGET else "not met")) if size == 64 else ""
        lines.append("- %s: TLS round trip p50 %s plain TCP's%s%s." %
                     (payload_label(size), fmt_ratio(v),
                      (", %+.2f µs round by round (median)" % delta) if num(delta) else "", target))
    return lines


def section_rr(data, out):
    out += ["## Request/response (`plexus_bench_rr`)", ""]
    if data is None:
        out += ["Not run (no `rr.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    out += ["Round trips one call at a time (p50/p99), and calls per second with a window of calls "
            "in flight (`(seq)`: one at a time). Ratios are to the same run's raw Unix-socket "
            "ping-pong, sleeping in `recv` (`raw-unix`) and polling it (`raw-unix-busypoll`). "
            "Run: " + config_line(data.get("config")) + ".", ""]
    out += round_trip_table(data.get("results", []), extra_baseline="raw-shm-busypoll")
    policy = policy_table(data.get("results", []))
    if policy:
        out += ["", "Handler policies against the same handler without them (`policy-bare`), "
                "calls taking turns; the paired figure is the median over rounds of this row's "
                "round trip minus the bare one's in the same round:", ""]
        out += policy
    bus = bus_table(data.get("results", []))
    if bus:
        out += ["", "The local bus: a call by service name through `plexus serve` (`plexus-bus`: "
                "caller -> daemon -> provider and back) against a direct call between the same two "
                "processes (`plexus-bus-direct`), in turns; D-Bus (`dbus-sdbus`, sd-bus through a "
                "private `dbus-daemon`) as the local anchor. Targets: the bus adds at most 30 % to "
                "the direct round trip, and keeps at least 70 % of its pipelined calls/s:", ""]
        out += bus
    tls = tls_lines(data.get("results", []))
    if tls:
        out += ["", "TLS against plain TCP (`plexus-tls`, `plexus-tcp`: one server, calls taking "
                "turns in slices):", ""] + tls
    figures = data.get("figures") or []
    if figures:
        out += ["", "Connections: how many a client opens and closes per second, one after another "
                "(TLS: each a full handshake).", "", "| figure | per second | what |",
                "| --- | ---: | --- |"]
        for f in figures:
            value = f.get("value")
            shown = f"{value:,.0f}" if isinstance(value, (int, float)) else (f.get("error") or "-")
            out.append(f"| {f.get('name')} | {shown} | {f.get('unit', '')} |")
    out.append("")


def section_shm(data, one_way, out):
    out += ["## Shared memory (`plexus_bench_shm`)", ""]
    if data is None:
        out += ["Not run (no `shm.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    out += ["Round trips at 64 B and 1 MiB beside the shared-memory limit (`raw-shm-busypoll`: two "
            "processes spinning on one mapping) and iceoryx, in the same run. "
            "Run: " + config_line(data.get("config")) + ".", ""]
    out += round_trip_table(data.get("results", []), extra_baseline="raw-shm-busypoll")
    if isinstance(one_way, list) and one_way:
        base = next((o.get("msgs_per_s") for o in one_way
                     if o.get("case") == "raw-shm-ring" and o.get("ok")), None)
        rows = []
        for o in one_way:
            if not o.get("ok"):
                rows.append([o.get("case"), "failed", ""])
                continue
            rows.append([o.get("case"), "%.2f" % (o.get("msgs_per_s", 0) / 1e6),
                         fmt_ratio(ratio(o.get("msgs_per_s"), base))])
        out += ["", "One-way 64 B messages:", ""]
        out += table(["case", "M msgs/s", "x raw-shm-ring"], rows)
    elif isinstance(one_way, str):
        out += ["", one_way]
    out.append("")


def section_pubsub(data, out):
    out += ["## Publish/subscribe fan-out (`plexus_bench_pubsub`)", ""]
    if data is None:
        out += ["Not run (no `pubsub.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    out += ["One publisher, %s-byte messages, to 1, 10 and 100 subscribers: deliveries per second "
            "(a burst) and delivery latency (paced messages); medians of %s repetition(s)%s. "
            "\"x zmq\" is the median over repetitions of plexus's deliveries/s over ZeroMQ's "
            "PUB/SUB (`ipc://`) in the same repetition, with its range and the repetitions "
            "plexus was ahead in."
            % (data.get("payload_bytes", "?"), data.get("repetitions", "?"),
               ", quick" if data.get("quick") else ""), ""]
    rows = []
    for r in data.get("rows", []):
        if r.get("error"):
            rows.append([r.get("system"), r.get("fanout"), "error: " + r["error"], "", "", ""])
            continue
        vs = r.get("vs_zmq")
        cell = "—"
        if vs and vs.get("reps"):
            cell = "%s (%s–%s, %d of %d)" % (fmt_ratio(vs.get("median")), fmt_ratio(vs.get("min")),
                                            fmt_ratio(vs.get("max")), vs.get("ahead", 0),
                                            vs.get("reps", 0))
        rows.append([r.get("system"), r.get("fanout"), fmt_rate(r.get("msgs_per_s")),
                     fmt_us(r.get("p50_us")), fmt_us(r.get("p99_us")), cell])
    out += table(["system", "subscribers", "delivered/s", "p50 µs", "p99 µs", "x zmq"], rows)
    out.append("")


def section_stream(data, out):
    out += ["## One-way streams and messages (`plexus_bench_stream`)", ""]
    if data is None:
        out += ["Not run (no `stream.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    rows_in = data.get("rows", [])
    reps = sorted({r.get("reps") for r in rows_in if num(r.get("reps"))})
    out += ["Items per second from one process to another (median of %s repetition(s), rows taking "
            "turns): a plexus stream (credit window %s items) written with `try_write` and "
            "awaiting every item, lanes and NOTIFYs from an application thread, beside ZeroMQ "
            "PUSH/PULL over `ipc://`; \"x zmq\" is items/s over `zmq-push-pull-ipc`'s at the same "
            "item size." % ("/".join(str(r) for r in reps) or "?", data.get("window_items", "?")), ""]
    zmq = {r.get("item_size"): r.get("items_per_s") for r in rows_in
           if r.get("name") == "zmq-push-pull-ipc"}
    rows = []
    for r in rows_in:
        rows.append([r.get("name"), payload_label(r.get("item_size", 0)), fmt_rate(r.get("items")),
                     fmt_rate(r.get("items_per_s")),
                     ("%.1f" % r["mb_per_s"]) if num(r.get("mb_per_s")) else "—",
                     fmt_ratio(ratio(r.get("items_per_s"), zmq.get(r.get("item_size"))))])
    out += table(["row", "item", "items", "items/s", "MB/s", "x zmq"], rows)
    out.append("")


# The end-to-end row the others of that table (and the spool directory's) are compared with.
DURABLE_BASE = "queue-async-group-commit"
# Issue 24's target for it, durable 64 B messages per second.
DURABLE_TARGET = 50000


def durable_rows(rows_in, base_rows, out, ratio_label, notes):
    """One table of durable rows; `base_rows` are where their baselines are looked up."""
    by_name = {r.get("name"): r for r in base_rows if isinstance(r, dict)}
    rows = []
    for r in rows_in:
        if r.get("not_run"):
            notes.append("`%s` did not run: %s" % (r.get("name"), r.get("not_run")))
            rows.append([r.get("name"), r.get("what", ""), r.get("durability", ""),
                         fmt_rate(r.get("messages")), "not run", "", "", "", ""])
            continue
        base = by_name.get(r.get("baseline") or r.get("name"), {})
        per_commit = r.get("messages_per_commit")
        rows.append([r.get("name"), r.get("what", ""), r.get("durability", ""),
                     fmt_rate(r.get("messages")), fmt_rate(r.get("messages_per_s")),
                     "%s–%s" % (fmt_rate(r.get("messages_per_s_lo")),
                                fmt_rate(r.get("messages_per_s_hi"))),
                     fmt_ratio(ratio(r.get("messages_per_s"), base.get("messages_per_s"))),
                     fmt_us(r.get("cpu_us_per_message")),
                     "%.0f" % per_commit if num(per_commit) else ""])
    out += table(["row", "what", "durability when the sender is told", "messages", "msgs/s",
                  "lo–hi", ratio_label, "CPU µs/msg", "msgs per commit"], rows)
    out.append("")


def section_durable(data, out, spool=None):
    """`spool`: spool.json of a separate spool-directory benchmark, if any; its rows (and those
    of durable.json's "spool" list) join the end-to-end table."""
    out += ["## Durable messages (`plexus_bench_durable`)", ""]
    if data is None:
        out += ["Not run (no `durable.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    rows_in = [r for r in data.get("rows", []) if isinstance(r, dict)]
    spool_rows = [r for r in data.get("spool", []) if isinstance(r, dict)]
    if isinstance(spool, dict):
        spool_rows += [r for r in spool.get("rows", []) if isinstance(r, dict)]
    store = [r for r in rows_in if r.get("group", "store") == "store"]
    e2e = [r for r in rows_in if r.get("group") == "end_to_end"] + spool_rows
    out += ["%s B messages, each row on its own empty database (or stream), median of %s "
            "repetition(s), lo/hi the slowest and fastest. CPU µs/msg is the CPU time of both "
            "sides per message (the sending threads, the server with its queue thread, and for "
            "JetStream the nats-server process too); it includes the time I/O threads spend "
            "polling while they wait, so rows that wait for an fsync per message show high "
            "figures there." % (data.get("payload_bytes", "?"), data.get("reps", "?")), ""]
    notes = []
    if e2e:
        out += ["### End to end: through a server", "",
                "An in-process `plexus::Server` keeping durable queues (`ServerOptions::durable`) "
                "on a Runtime of its own, and a `plexus::Client` on another, over a Unix socket. "
                "`send_async` rows keep %s messages in flight (`QueueClient::send_async`) and end "
                "when the last is stored; `send()` rows are the blocking call an application "
                "writes first. The consume row times a `Consumer` (prefetch %s) handling messages "
                "sent before it started, until the server has counted the last acknowledgement. "
                "The notify row is the same server without durability: one-way messages to a "
                "handler that counts them. Msgs per commit: messages the server stored per "
                "transaction (its group commit merges sends that arrive together)."
                % (data.get("window", "?"), data.get("prefetch", "?")), "",
                "What the durability levels promise: `group_commit` and `every_message` fsync "
                "before the sender is told (group commit shares one fsync among the sends that "
                "arrive together); `none` has the message in the operating system's page cache "
                "(SQLite WAL, no fsync): it survives kill -9 of any process but not an OS crash or "
                "power cut. NATS JetStream 2.9 with a file-storage stream writes each message to "
                "its file before the PubAck and fsyncs on a timer (every 2 minutes): its "
                "durability is that of `none`, not of `group_commit`.", ""]
        base = next((r for r in e2e if r.get("name") == DURABLE_BASE), None)
        if base and num(base.get("messages_per_s")):
            v = base["messages_per_s"]
            out += ["Group commit through the server, `send_async`: %s durable messages/s "
                    "(target: %s; %s in this run)." % (fmt_rate(v), "{:,}".format(DURABLE_TARGET),
                                                      "met" if v >= DURABLE_TARGET else "not met"),
                    ""]
        durable_rows(e2e, rows_in + spool_rows, out, "vs group commit", notes)
    if store:
        out += ["### The store used directly", "",
                "The durable store (`src/durable/`, SQLite in WAL mode) without a server, beside "
                "plain SQLite inserts of the same bytes with the same fsync level. \"vs sqlite\" "
                "is msgs/s over the row's plain-SQLite baseline.", ""]
        durable_rows(store, rows_in, out, "vs sqlite", notes)
    for n in notes:
        out.append("- " + n)
    if notes:
        out.append("")


def section_nats(data, out):
    out += ["## Across hosts: the NATS bridge (`plexus_bench_nats`)", ""]
    if data is None:
        out += ["Not run (no `nats.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    out += ["One call at a time through one local `nats-server`: `nats-request` is the NATS C "
            "client's request/reply to a responder on another connection (the baseline); "
            "`plexus-nats-bridge` is a plexus client calling, on one `plexus serve`, a method "
            "that a second `plexus serve` exports through the bridge (client -> daemon -> NATS -> "
            "daemon -> handler and back), with the daemons' default `--idle-wait adaptive`; "
            "`plexus-nats-bridge-block` the same through two daemons started with `--idle-wait "
            "block`; `plexus-direct` calls the handler on its daemon directly. Target: the bridge within 1.30 x of `nats-request`. Run: " +
            config_line(data.get("config")) + ".", ""]
    rows = []
    for r in data.get("results", []):
        if r.get("error"):
            rows.append([r.get("case"), payload_label(r.get("payload_bytes", 0)),
                         "error: " + r["error"], "", ""])
            continue
        rt = r.get("rt_us", {})
        p50 = fmt_us(rt.get("p50"))
        if num(rt.get("p50_min")) and num(rt.get("p50_max")) and rt["p50_min"] != rt["p50_max"]:
            p50 += " (%s–%s)" % (fmt_us(rt["p50_min"]), fmt_us(rt["p50_max"]))
        rows.append([r.get("case"), payload_label(r.get("payload_bytes", 0)), p50,
                     fmt_us(rt.get("p99")),
                     fmt_ratio(r.get("ratio_to_nats-request", {}).get("rt_p50"))])
    out += table(["case", "payload", "rt p50 µs (range)", "rt p99 µs", "x nats-request"], rows)
    out.append("")


def section_node(data, out):
    out += ["## Node.js (`bench/node/node_bench.js`)", ""]
    if data is None:
        out += ["Not run (no `node.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    packages = data.get("packages") or {}
    versions = ", ".join("%s %s" % (k, v or "not installed") for k, v in packages.items())
    node = (data.get("machine") or {}).get("node")
    out += ["Calls from Node.js%s: the binding's client to the C++ `plexus serve --demo` (`echo`) "
            "beside the C++ client to the same server (`-adaptive`: the binding with "
            "`PLEXUS_NODE_IDLE_WAIT=adaptive`), the binding's client to a Node.js plexus "
            "server, and the npm packages a Node.js developer would otherwise pick (%s), each "
            "with its server in a child process; `net-ndjson` (Node's `net`, newline-delimited "
            "JSON) is the floor. Round trips one call at a time (p50/p99); pipelined calls/s with "
            "a window in flight. `x c++`: the Node row against the C++ client on the same "
            "transport; `x node-plexus-unix`: against the binding over a Unix socket. "
            "Run: %s." % (" " + node if node else "", versions or "none recorded",
                          config_line(data.get("config"))), ""]
    header = ["case", "client → server", "payload", "rt p50 µs (range)", "rt p99 µs", "x c++",
              "x node-plexus-unix", "pipelined calls/s", "calls/s x node-plexus-unix"]
    rows = []
    for r in data.get("results", []):
        name, size = r.get("case"), r.get("payload_bytes", 0)
        who = "%s → %s (%s)" % (r.get("client"), r.get("server"), r.get("transport"))
        if r.get("error") or not r.get("rt_us"):
            rows.append([name, who, payload_label(size), "not run: " + str(r.get("error"))]
                        + [""] * (len(header) - 4))
            continue
        rt = r.get("rt_us", {})
        pipe = r.get("pipelined", {})
        to_cpp = r.get("ratio_to_cpp-plexus") or {}
        to_node = r.get("ratio_to_node-plexus-unix") or {}
        p50 = fmt_us(rt.get("p50"))
        if num(rt.get("p50_min")) and num(rt.get("p50_max")) and rt["p50_min"] != rt["p50_max"]:
            p50 += " (%s–%s)" % (fmt_us(rt["p50_min"]), fmt_us(rt["p50_max"]))
        rows.append([name, who, payload_label(size), p50, fmt_us(rt.get("p99")),
                     fmt_ratio(to_cpp.get("rt_p50")), fmt_ratio(to_node.get("rt_p50")),
                     fmt_rate(pipe.get("calls_per_s")), fmt_ratio(to_node.get("calls_per_s"))])
    out += table(header, rows)
    targets = data.get("targets") or []
    if targets:
        out += ["", "The targets (Node → C++ round trip within 1.5x of C++ → C++ on the same "
                "transport; ahead of every npm peer on round trip and on pipelined calls/s):", ""]
        trows = []
        for t in targets:
            met = t.get("met")
            trows.append([t.get("target"), payload_label(t.get("payload_bytes", 0)),
                          fmt_ratio(t.get("value")),
                          "(the floor)" if met is None else ("met" if met else "**not met**")])
        out += table(["target", "payload", "ratio", ""], trows)
    out.append("")


def section_conns(data, out):
    out += ["## Many idle connections (`plexus_bench_conns`)", ""]
    if data is None:
        out += ["Not run (no `conns.json`).", ""]
        return
    if isinstance(data, str):
        out += [data, ""]
        return
    cfg = data.get("config", {})
    n = cfg.get("conns")
    n_label = "{:,}".format(n) if num(n) else "?"
    out += ["One server holding N = %s idle connections, one pass (no repetitions): "
            "`plexus serve --demo` over a Unix socket "
            "(sessions opened by hand from the benchmark: HELLO, WELCOME, then PONGs) beside a "
            "ZeroMQ ROUTER over `ipc://` with one DEALER per connection. Accept rate: connections "
            "per second while opening them (plexus: WELCOME received; ZeroMQ: the DEALER's first "
            "message received), and the server's CPU time per connection meanwhile. RSS per "
            "connection: (the server's VmRSS with them held − before) / count. Echo: %s blocking "
            "round trips of %s B from one more client, before the crowd and while it is held "
            "(\"x zmq\" compares the p50s). The run fails unless each server reports all N "
            "held.%s" % (n_label, cfg.get("echo_calls", "?"), cfg.get("echo_payload_bytes", "?"),
                         " Run: %s." % config_line(cfg) if config_line(cfg) else ""), ""]
    rows_in = [r for r in data.get("rows", []) if isinstance(r, dict)]
    if not rows_in:
        out += ["No rows.", ""]
        return

    def held(i, key):
        return lambda r: ((r.get("held") or [])[i:i + 1] or [{}])[0].get(key)

    def rss_mib(key):
        def value(r):
            kib = r.get("server_rss_kib", {}).get(key)
            return kib / 1024 if num(kib) else None
        return value

    def echo(when, q):
        return lambda r: (r.get("echo_us", {}).get(when) or {}).get(q)

    def latency_cell(when):
        return lambda r: "%s / %s" % (fmt_us(echo(when, "p50")(r)), fmt_us(echo(when, "p99")(r)))

    def plain(label, value, fmt):
        return (label, value, lambda r: fmt(value(r)))

    # (label, the figure the ratio column compares, the cell of a row)
    levels = cfg.get("levels") or []
    metrics = [plain("accept rate, conns/s", lambda r: r.get("accept_per_s"), fmt_rate),
               plain("server CPU per accept, µs", lambda r: r.get("server_cpu_us_per_accept"),
                     fmt_us),
               plain("server RSS before, MiB", rss_mib("before"), fmt_mib)]
    metrics += [plain("server RSS per conn @%s, KiB" % "{:,}".format(level),
                      held(i, "server_kib_per_conn"), fmt_kib) for i, level in enumerate(levels)]
    metrics += [plain("server RSS after all closed, MiB", rss_mib("after_close"), fmt_mib),
                ("echo µs p50 / p99, no idle conns", echo("alone", "p50"), latency_cell("alone")),
                ("echo µs p50 / p99, N held", echo("held", "p50"), latency_cell("held")),
                plain("client side RSS per conn @N, KiB",
                      held(len(levels) - 1, "client_kib_per_conn"), fmt_kib)]
    with_ratio = len(rows_in) == 2  # plexus first, ZeroMQ second
    rows = []
    for label, value, cell in metrics:
        row = [label] + [cell(r) for r in rows_in]
        if with_ratio:
            row.append(fmt_ratio(ratio(value(rows_in[0]), value(rows_in[1]))))
        rows.append(row)
    header = ["N = %s" % n_label] + [r.get("name", "?") for r in rows_in]
    if with_ratio:
        header.append("x zmq")
    out += table(header, rows)
    notes = ["- `%s`: %s" % (r.get("name"), r.get("note")) for r in rows_in if r.get("note")]
    if notes:
        out += [""] + notes
    out.append("")


def fmt_mib(v):
    return "%.1f" % v if num(v) else "—"


def fmt_kib(v):
    if not num(v):
        return "—"
    return "%.2f" % v if abs(v) < 100 else "%.0f" % v


# ---- the page -------------------------------------------------------------------------------


def machine_lines(datas):
    """The machine the benchmarks recorded (rr.json, shm.json), else this one."""
    recorded = next((d.get("machine") for d in datas if isinstance(d, dict) and d.get("machine")), {})
    uname = platform.uname()
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        "- CPU: %s" % (recorded.get("cpu_model") or cpu_model()),
        "- nproc: %s" % (recorded.get("nproc") or nproc),
        "- kernel: %s (%s)" % (recorded.get("kernel") or "%s %s" % (uname.system, uname.release),
                               recorded.get("arch") or uname.machine),
    ]
    if recorded.get("compiler"):
        lines.append("- compiler: %s" % recorded["compiler"])
    return lines


def make_command(options):
    options = options.strip()
    if not options:
        return "make bench"
    quoted = options if " " not in options else "'%s'" % options
    return "make bench BENCH_ARGS=%s" % quoted


def render(results_dir, options):
    data = {name: load(os.path.join(results_dir, name)) for name in FILES}
    one_way = load(os.path.join(results_dir, "shm.json.one_way.json"))
    recorded = [d for d in data.values() if isinstance(d, dict)]
    run_date = next((d["machine"]["date"] for d in recorded
                     if isinstance(d.get("machine"), dict) and d["machine"].get("date")), None)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (scripts/bench_table.py from build/bench-results/*.json);",
        "     do not edit by hand: run `make bench` again. -->",
        "",
        "Generated by `%s`, which runs `plexus_bench_rr`, `plexus_bench_pubsub`, "
        "`plexus_bench_stream`, `plexus_bench_shm`, `plexus_bench_conns`, `plexus_bench_durable`, "
        "`plexus_bench_nats` and the Node.js benchmark `bench/node/node_bench.js` (each with the "
        "options below) and then "
        "`scripts/bench_table.py`. " % make_command(options) +
        "What each row measures: [ARCHITECTURE.md §20](ARCHITECTURE.md#20-benchmarks). "
        "Each figure is a median over repetitions; compare rows of this run with each other "
        "(the ratio columns), not absolute times across machines or runs.",
        "",
        "- options: `%s`%s" % (options.strip() or "(none: full runs)",
                               " (few iterations, one repetition per row where the program"
                               " allows it: the tables' shape, not stable figures)"
                               if "--quick" in options.split() else ""),
        "- date: %s (benchmarks started %s)" % (now, run_date or "unknown"),
        "- git commit: %s" % commit_label(),
    ]
    out += machine_lines(recorded)
    out.append("")
    section_rr(data["rr.json"], out)
    section_shm(data["shm.json"], one_way, out)
    section_pubsub(data["pubsub.json"], out)
    section_stream(data["stream.json"], out)
    section_conns(data["conns.json"], out)
    section_durable(data["durable.json"], out, load(os.path.join(results_dir, "spool.json")))
    section_nats(data["nats.json"], out)
    section_node(data["node.json"], out)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(wrap(line) for line in out) + "\n"


def wrap(line, width=100):
    """Prose and bullets wrapped at `width`; tables, headings and comments as they are."""
    if len(line) <= width or line.startswith(("|", "#", "<!--", " ")):
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(line, width=width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="build/bench-results", help="directory of the JSON files")
    ap.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to write ('-': stdout)")
    ap.add_argument("--options", default="", help="the options the benchmarks ran with")
    args = ap.parse_args()
    if not any(os.path.exists(os.path.join(args.results, f)) for f in FILES):
        print("bench_table.py: no benchmark results in %s" % args.results, file=sys.stderr)
        return 1
    text = render(args.results, args.options)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print("bench_table.py: wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
