#!/usr/bin/env bash
# Runs the whole-stack loopback benchmark (benches/loopback.rs) and prints
# its table, then a summary of the ratios against their targets. See
# docs/performance.md ("Loopback (whole stack)"). Arguments go to the bench
# binary: section names to run only some of them (inbound, round_trip,
# memory, reconnect).
#
# Loopback only, bounded loops: about a minute on 2 cores (plus the build).
# The memory section opens 1,000 links in one process and 1,000 connections
# in its connector child, so the soft open-files limit is raised here to
# 4096 when it is lower (the bench has no libc dependency to call
# setrlimit itself). Extra cargo flags come from CARGO_BENCH_FLAGS.
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
log="$target/bench-loopback.log"
mkdir -p "$target"

if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
    echo "open files limit raised to $(ulimit -n)"
fi

# shellcheck disable=SC2086 # CARGO_BENCH_FLAGS is a list of flags
cargo bench -p relay-link --bench loopback ${CARGO_BENCH_FLAGS:-} --no-run
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
cargo bench -p relay-link --bench loopback ${CARGO_BENCH_FLAGS:-} -- "$@" 2>&1 | tee "$log"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

env="$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(rustc --version), load avg before $load_before / after $load_after"
python3 - "$log" "$env" <<'PY'
import sys

log, env = sys.argv[1], sys.argv[2]
results = {}
for line in open(log, encoding="utf-8"):
    if line.startswith("result "):
        name, *pairs = line.split()[1:]
        results[name] = {k: float(v) for k, v in (p.split("=") for p in pairs)}

rows = []
def row(label, value, note=""):
    rows.append((label, value, note))

def verdict(ok):
    return "met" if ok else "MISSED"

r = results.get("inbound")
if r:
    row("(a) inbound, relay-link", f"{r['link']:,.0f} frames/s")
    row("(a) inbound, bare receive + split", f"{r['bare']:,.0f} frames/s")
    row("(a) ratio", f"{r['ratio']:.2f}", "target >= 0.60: " + verdict(r["ratio"] >= 0.6))
    row("    vs bare + serde_json::Value parse", f"{r['link'] / r['bare_parsed']:.2f}",
        f"(bare+parse {r['bare_parsed']:,.0f}/s, core alone {r['core']:,.0f}/s)")
for window in (1, 64):
    r = results.get(f"round_trip_{window}")
    if r:
        row(f"(b) round trips, {window} in flight", f"{r['link']:,.0f} /s", f"bare {r['bare']:,.0f} /s")
        row("(b) ratio", f"{r['ratio']:.2f}", "target >= 0.60: " + verdict(r["ratio"] >= 0.6))
r = results.get("memory")
if r:
    row("(c) RSS per idle link", f"{r['per_link_kib']:.1f} KiB",
        "target <= 64 KiB: " + verdict(r["per_link_kib"] <= 64) + f" (bare connection {r['bare_kib']:.1f} KiB)")
r = results.get("reconnect")
if r:
    row("(d) reconnect minus backoff, median", f"{r['median_ms']:.2f} ms",
        "target <= 5 ms: " + verdict(r["median_ms"] <= 5) + f" (p90 {r['p90_ms']:.2f} ms)")

if not rows:
    sys.exit("no result lines in " + log)
width = max(len(r[0]) for r in rows)
print()
print("relay-link loopback benchmark: summary")
print(f"  {env}")
for label, value, note in rows:
    print(f"  {label:<{width}}  {value:>16}  {note}".rstrip())
PY
