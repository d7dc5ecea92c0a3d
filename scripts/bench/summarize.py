#!/usr/bin/env python3
"""Tables of medians [min..max] from the JSON files scripts/bench.sh wrote.

usage: summarize.py OUTDIR RUNS DURATION THREADS [DOC]
Prints the Markdown section; with DOC, also replaces the text between
<!-- bench-results:begin --> and <!-- bench-results:end --> in DOC.
"""
import glob
import json
import os
import re
import statistics
import sys
import time

out, runs, duration, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
doc = sys.argv[5] if len(sys.argv) > 5 else None
SYSTEMS = ["sluice", "nchan", "nats", "mosquitto"]

runs_by = {}  # (tag, system) -> [json]
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    m = re.match(r"(.+)-(sluice|nchan|nats|mosquitto)-(\d+)\.json$", os.path.basename(path))
    if not m:
        continue
    try:
        d = json.load(open(path))
    except ValueError:
        d = {"error": "no JSON (the benchmark crashed or was interrupted)"}
    d["_run"] = int(m.group(3))
    runs_by.setdefault((m.group(1), m.group(2)), []).append(d)


def get(d, path):
    if path == "cpu_us_per_event":
        # Server CPU per delivered event: comparable even when the machine, not
        # the server, set the rate. The CPU window also holds the 1 s quiet wait
        # after the last delivery, so this slightly overstates.
        cpu, rate = get(d, "server.cpu_pct"), d.get("delivered_per_s")
        return cpu / 100.0 / rate * 1e6 if cpu and rate else None
    if path == "client_us_per_event":
        # The benchmark's own CPU per delivered event (subscriber threads and
        # publisher): on a machine shared with the server, what any server
        # leaves to the client bounds its rate.
        cpu, rate = get(d, "client.cpu_pct"), d.get("delivered_per_s")
        return cpu / 100.0 / rate * 1e6 if cpu and rate else None
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def vals(tag, sysname, path):
    return [v for v in (get(d, path) for d in runs_by.get((tag, sysname), [])) if isinstance(v, (int, float))]


def med(tag, sysname, path):
    v = vals(tag, sysname, path)
    return statistics.median(v) if v else None


def fmt(tag, sysname, path, scale=1.0, digits=0):
    v = [x * scale for x in vals(tag, sysname, path)]
    if not v:
        return "—"
    f = "{:,.%df}" % digits
    if len(v) == 1:
        return f.format(v[0])
    return "%s [%s–%s]" % (f.format(statistics.median(v)), f.format(min(v)), f.format(max(v)))


def loss_pct(tag, sysname):
    v = []
    for d in runs_by.get((tag, sysname), []):
        if d.get("expected"):
            v.append(100.0 * d["loss"] / d["expected"])
    if not v:
        return "—"
    s = "%.2f%%" % statistics.median(v)
    return s if len(v) == 1 else "%s [%.2f–%.2f]" % (s, min(v), max(v))


def notes(tag, sysname):
    n = []
    for d in runs_by.get((tag, sysname), []):
        if d.get("error"):
            n.append(d["error"])
        elif d.get("first_error"):
            n.append(d["first_error"])
        if get(d, "client.bound"):
            n.append("client-bound")
        if d.get("drain_timeout"):
            n.append("backlog still draining after 20 s")
        c = d.get("connections", {})
        if c.get("failed"):
            n.append("%d connections failed" % c["failed"])
        if c.get("closed"):
            n.append("%d closed by server" % c["closed"])
    seen = []
    for x in n:
        if x not in seen:
            seen.append(x)
    return "; ".join(seen)[:160]


present = [s for s in SYSTEMS if any(k[1] == s for k in runs_by)]
lines = []
w = lines.append
w("Measured %s with `scripts/bench.sh` (BENCH_RUNS=%d, BENCH_DURATION=%s s, "
  "BENCH_THREADS=%s). Cells: median [min–max] over the runs." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(max([os.path.getmtime(p) for p in glob.glob(os.path.join(out, "*.json"))] or [time.time()]))), runs, duration, threads))
w("")
try:
    w("Versions: " + "; ".join(l.strip() for l in open(os.path.join(out, "versions.txt")) if l.strip()) + ".")
    w("")
except OSError:
    pass


def table(title, tag, cols):
    if not any((tag, s) in runs_by for s in SYSTEMS):
        return
    w("#### " + title)
    w("")
    w("| system | " + " | ".join(c[0] for c in cols) + " | notes |")
    w("|---|" + "---|" * len(cols) + "---|")
    for s in present:
        if (tag, s) not in runs_by:
            continue
        cells = [c[1](tag, s) for c in cols]
        w("| %s | %s | %s |" % (s, " | ".join(cells), notes(tag, s)))
    w("")


F = lambda path, scale=1.0, digits=0: (lambda t, s: fmt(t, s, path, scale, digits))
table("S1 fan-out: 1,000 subscribers, one topic, 256 B, publisher flat out", "S1", [
    ("delivered/s", F("delivered_per_s")),
    ("delivered/s while publishing", F("window_delivered_per_s")),
    ("published/s", F("published_per_s")),
    ("loss", loss_pct),
    ("server CPU %", F("server.cpu_pct")),
    ("server CPU µs per delivered event", F("cpu_us_per_event", 1, 2)),
    ("client CPU %", F("client.cpu_pct")),
])
table("S2 latency: 1,000 subscribers, 1,000 events/s (1 M deliveries/s offered)", "S2", [
    ("delivered/s", F("delivered_per_s")),
    ("p50 ms", F("latency_us.p50", 1e-3, 2)),
    ("p99 ms", F("latency_us.p99", 1e-3, 2)),
    ("max ms", F("latency_us.max", 1e-3, 1)),
    ("loss", loss_pct),
    ("server CPU %", F("server.cpu_pct")),
    ("server CPU µs per delivered event", F("cpu_us_per_event", 1, 2)),
])
table("S3 many topics: 10,000 subscribers over 1,000 topics, 1 event/s per topic", "S3", [
    ("subscribed", F("connections.ready")),
    ("delivered/s", F("delivered_per_s")),
    ("p50 ms", F("latency_us.p50", 1e-3, 2)),
    ("p99 ms", F("latency_us.p99", 1e-3, 2)),
    ("loss", loss_pct),
    ("server CPU %", F("server.cpu_pct")),
])
table("S4 idle: 10,000 idle WebSocket subscribers", "S4", [
    ("subscribed", F("connections.ready")),
    ("server RSS per connection, bytes", F("server.rss_per_sub_bytes")),
    ("server RSS before, KiB", F("server.rss_start_kib")),
    ("server RSS with 10,000, KiB", F("server.rss_ready_kib")),
])
table("S6 slow consumers: S1 plus 10 subscribers that stop reading", "S6", [
    ("delivered/s (the 1,000 others)", F("delivered_per_s")),
    ("delivered/s while publishing", F("window_delivered_per_s")),
    ("loss (others)", loss_pct),
    ("slow ones closed by the server (of 10)", F("connections.slow_closed")),
    ("server RSS max, KiB", F("server.rss_max_kib")),
    ("server CPU %", F("server.cpu_pct")),
])

if any(k[0].startswith("S5-") for k in runs_by):
    w("#### S5 metering tax: sluice with the kernel meter (`bpf: on`), with the sk_msg path but a no-op program (floor), and without (`bpf: off`), back to back")
    w("")
    w("The floor column is `bpf: on` with the meter's sk_msg program swapped for one that only "
      "returns SK_PASS (`sluice-bench meter-floor`): what the kernel's sk_msg send path costs "
      "before the meter does any work.")
    w("")
    w("| measure | bpf: on | floor | bpf: off | on/off | floor/off |")
    w("|---|---|---|---|---|---|")
    for label, tag, path, scale, digits in [
        ("S1 delivered/s", "S1", "delivered_per_s", 1, 0),
        ("S1 delivered/s while publishing", "S1", "window_delivered_per_s", 1, 0),
        ("S1 server CPU %", "S1", "server.cpu_pct", 1, 0),
        ("S1 server CPU µs per delivered event", "S1", "cpu_us_per_event", 1, 3),
        # The readers' state ("Known limits" in docs/BENCHMARKS.md): a round whose
        # client paid far more per event fell behind, whatever the server did.
        ("S1 client CPU µs per delivered event", "S1", "client_us_per_event", 1, 3),
        ("S2 delivered/s", "S2", "delivered_per_s", 1, 0),
        ("S2 server CPU %", "S2", "server.cpu_pct", 1, 1),
        ("S2 server CPU µs per delivered event", "S2", "cpu_us_per_event", 1, 3),
        ("S2 p50 ms", "S2", "latency_us.p50", 1e-3, 2),
        ("S2 p99 ms", "S2", "latency_us.p99", 1e-3, 2),
    ]:
        on = med("S5-on-" + tag, "sluice", path)
        floor = med("S5-floor-" + tag, "sluice", path)
        off = med("S5-off-" + tag, "sluice", path)
        ratio = "%.3f" % (on / off) if on is not None and off else "—"
        fratio = "%.3f" % (floor / off) if floor is not None and off else "—"
        w("| %s | %s | %s | %s | %s | %s |" % (
            label, fmt("S5-on-" + tag, "sluice", path, scale, digits),
            fmt("S5-floor-" + tag, "sluice", path, scale, digits),
            fmt("S5-off-" + tag, "sluice", path, scale, digits), ratio, fratio))
    w("")

# Against the targets.
w("#### Against the targets")
w("")


def best_peer(tag, path, lower_is_better=False):
    best = None
    for s in present:
        if s == "sluice":
            continue
        v = med(tag, s, path)
        if v is None or v == 0:
            continue
        if best is None or (v < best[1] if lower_is_better else v > best[1]):
            best = (s, v)
    return best


for tag, label in [("S1", "S1 events/s"), ("S2", "S2 delivered/s")]:
    sl, bp = med(tag, "sluice", "delivered_per_s"), best_peer(tag, "delivered_per_s")
    if sl is not None and bp:
        w("- %s: sluice %.0f vs best peer %s %.0f = **%.2f×** (target ≥ 2×, no loss; sluice loss %s)"
          % (label, sl, bp[0], bp[1], sl / bp[1], loss_pct(tag, "sluice")))
client_us, bp = med("S1", "sluice", "client_us_per_event"), best_peer("S1", "delivered_per_s")
server_pct, server_us = med("S1", "sluice", "server.cpu_pct"), med("S1", "sluice", "cpu_us_per_event")
ncpu = os.cpu_count() or 1
if client_us and server_us and bp:
    # Flat out, S1's rate is bounded by the CPUs the server and the client share, whatever
    # either's threading (sluiced: one event loop and its writer threads).
    shared = ncpu / ((client_us + server_us) * 1e-6)
    w("- S1 ceiling on this machine: per event sluice delivered, sluiced used %.2f µs of CPU "
      "(%.0f%% of a CPU: its loop and writer threads) and the client (subscriber threads and "
      "publisher) %.2f µs; %d shared CPUs allow at most %.0f events/s at that cost (%.2f× the "
      "best peer %s)"
      % (server_us, server_pct or 0, client_us, ncpu, shared, shared / bp[1], bp[0]))
for tag in ("S2", "S3"):
    sl, bp = med(tag, "sluice", "latency_us.p99"), best_peer(tag, "latency_us.p99", True)
    if sl is not None and bp:
        w("- %s p99: sluice %.2f ms vs best peer %s %.2f ms (target: ≤ best peer): **%s**"
          % (tag, sl / 1e3, bp[0], bp[1] / 1e3, "met" if sl <= bp[1] else "not met"))
v = med("S4", "sluice", "server.rss_per_sub_bytes")
if v is not None:
    w("- S4: sluice %.0f bytes of RSS per idle WebSocket subscriber (target ≤ 2,048): **%s**"
      % (v, "met" if v <= 2048 else "not met"))


def paired_ratios(tag, beside):
    """sluice's delivered/s in each run of tag over the run of beside with the same number."""
    by_run = {d["_run"]: d.get("delivered_per_s") for d in runs_by.get((beside, "sluice"), [])}
    return [d["delivered_per_s"] / by_run[d["_run"]]
            for d in sorted(runs_by.get((tag, "sluice"), []), key=lambda d: d["_run"])
            if d.get("delivered_per_s") and by_run.get(d["_run"])]


on, off = med("S5-on-S1", "sluice", "delivered_per_s"), med("S5-off-S1", "sluice", "delivered_per_s")
if on and off:
    per_round = ["%.2f" % r for r in paired_ratios("S5-on-S1", "S5-off-S1")]
    w("- S5: S1 throughput with the meter is %.1f%% %s than without (medians; target: meter "
      "costs ≤ 5%%); on/off round by round %s"
      % (abs(100 * (1 - on / off)), "lower" if on < off else "higher", ", ".join(per_round) or "-"))
for tag in ("S1", "S2"):
    on = med("S5-on-" + tag, "sluice", "cpu_us_per_event")
    off = med("S5-off-" + tag, "sluice", "cpu_us_per_event")
    if on and off:
        w("- S5: %s server CPU per delivered event with the meter / without = %.2f (%+.0f%%): "
          "the meter's cost where the server is not the bottleneck" % (tag, on / off, 100 * (on / off - 1)))
    floor = med("S5-floor-" + tag, "sluice", "cpu_us_per_event")
    if on and off and floor:
        w("- S5: %s of that, the kernel's sk_msg path with a no-op program: %.3f → %.3f µs "
          "(%+.0f%%); the meter's own work on top: %+.3f µs (%+.0f%%)"
          % (tag, off, floor, 100 * (floor / off - 1), on - floor, 100 * (on - floor) / off))
for tag in ("S1", "S2"):
    sl, bp = med(tag, "sluice", "cpu_us_per_event"), best_peer(tag, "cpu_us_per_event", True)
    if sl and bp:
        w("- %s server CPU per delivered event: sluice %.2f µs vs most efficient peer %s %.2f µs"
          % (tag, sl, bp[0], bp[1]))
s6 = med("S6", "sluice", "delivered_per_s")
# bench.sh runs an S1 beside each sluice S6 run (tag S6-S1): the S1 phase ran many minutes
# earlier, and the VM's speed drifts between them more than the 10% judged.
beside = "S6-S1" if ("S6-S1", "sluice") in runs_by else "S1"
s1 = med(beside, "sluice", "delivered_per_s")
if s6 and s1:
    per_run = paired_ratios("S6", beside)
    phase = med("S1", "sluice", "delivered_per_s")
    # Each S6 run has its S1 beside it, under the same host: the pair's ratio is the measure,
    # and their median the result. The medians' ratio mixes runs of different pairs.
    if beside == "S6-S1" and per_run:
        w("- S6: sluice's other subscribers got %.0f%% of its S1 rate (median of the runs' ratios "
          "to the S1 beside each, run by run %s; target ≥ 90%%); the medians' ratio %.0f%% "
          "(S6 %s against S1 %s)%s, RSS max %s KiB"
          % (100 * statistics.median(per_run), ", ".join("%.0f%%" % (100 * r) for r in per_run),
             100 * s6 / s1, "{:,.0f}".format(s6), "{:,.0f}".format(s1),
             "; against the S1 phase's median %.0f%%" % (100 * s6 / phase) if phase else "",
             fmt("S6", "sluice", "server.rss_max_kib")))
    else:
        w("- S6: sluice's other subscribers got %.0f%% of its S1 rate (medians, S6 %s against "
          "S1 %s in the S1 phase; target ≥ 90%%), RSS max %s KiB"
          % (100 * s6 / s1, "{:,.0f}".format(s6), "{:,.0f}".format(s1),
             fmt("S6", "sluice", "server.rss_max_kib")))
w("")
cmds = sorted(glob.glob(os.path.join(out, "*-1.cmd")))
if cmds:
    w("<details><summary>Exact commands (run 1; the other runs differ only in order; each also had `--server-pid PIDS --json --quiet`)</summary>")
    w("")
    w("```")
    for path in cmds:
        w("%-26s %s" % (os.path.basename(path)[:-6] + ":", open(path).read().strip()))
    w("```")
    w("</details>")
    w("")
w("Every run's command and full JSON: `%s/*.cmd`, `%s/*.json`." % (out, out))

text = "\n".join(lines) + "\n"
sys.stdout.write(text)
if doc:
    begin, end = "<!-- bench-results:begin -->", "<!-- bench-results:end -->"
    body = open(doc).read()
    if begin in body and end in body:
        body = body[:body.index(begin) + len(begin)] + "\n" + text + body[body.index(end):]
    else:
        body += "\n" + begin + "\n" + text + end + "\n"
    open(doc, "w").write(body)
    print("bench.sh: wrote the tables into %s" % doc, file=sys.stderr)
