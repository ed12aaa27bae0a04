#!/usr/bin/env bash
# Runs the whole-stack loopback benchmark (benches/loopback/) and prints
# its table, then a summary of the ratios against their targets. See
# docs/performance.md ("Loopback (whole stack)"). Arguments go to the bench
# binary: section names to run only some of them (inbound, round_trip,
# memory, reconnect). With CARGO_BENCH_FLAGS="--features tokio" the tokio
# runtime is measured too (against a bare tokio-tungstenite client).
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

VARIANTS = (("smol", "smol driver"), ("own", "own executor"), ("tokio", "tokio"))
rows = []
def row(figure, variant, value, baseline, ratio, target, met):
    rows.append((figure, variant, value, baseline, ratio, target, "met" if met else "MISSED"))

for key, variant in VARIANTS:
    r = results.get(f"inbound_{key}")
    if r:
        row("(a) inbound frames/s vs bare split", variant, f"{r['link']:,.0f}",
            f"{r['bare']:,.0f}", f"{r['ratio']:.3f}", ">= 0.33", r["ratio"] >= 0.33)
        row("(a) inbound frames/s vs bare + Value", variant, f"{r['link']:,.0f}",
            f"{r['bare_parsed']:,.0f}", f"{r['ratio_parsed']:.3f}", ">= 1.3", r["ratio_parsed"] >= 1.3)
for window in (1, 64):
    for key, variant in VARIANTS:
        r = results.get(f"round_trip_{window}_{key}")
        if not r:
            continue
        row(f"(b) round trips/s, {window} in flight, other thread", variant, f"{r['other']:,.0f}",
            f"{r['bare']:,.0f}", f"{r['ratio_other']:.3f}", ">= 0.85", r["ratio_other"] >= 0.85)
        own_target = 0.95 if window == 1 else 0.85
        row(f"(b) round trips/s, {window} in flight, own executor", variant, f"{r['own']:,.0f}",
            f"{r['bare']:,.0f}", f"{r['ratio_own']:.3f}", f">= {own_target}", r["ratio_own"] >= own_target)
        if window == 1:
            row("(b) ctx switches/round trip, other thread", variant, f"{r['switches_other']:.1f}",
                f"{r['switches_bare']:.1f}", "", "<= 3", r["switches_other"] <= 3)
            row("(b) ctx switches/round trip, own executor", variant, f"{r['switches_own']:.1f}",
                f"{r['switches_bare']:.1f}", "", "<= 3", r["switches_own"] <= 3)
for key, variant in VARIANTS:
    r = results.get(f"memory_{key}")
    if r:
        row("(c) RSS KiB per idle link (1,000)", variant, f"{r['per_link_kib']:.1f}",
            f"{r['bare_kib']:.1f}", f"{r['ratio']:.3f}", "<= 32 KiB", r["per_link_kib"] <= 32)
for key, variant in VARIANTS:
    r = results.get(f"reconnect_{key}")
    if r:
        row("(d) reconnect ms beyond backoff, median", variant, f"{r['median_ms']:.2f}",
            "", "", "<= 1 ms", r["median_ms"] <= 1)

if not rows:
    sys.exit("no result lines in " + log)
header = ("figure", "variant", "relay-link", "bare", "ratio", "target", "")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
print()
print("relay-link loopback benchmark: summary")
print(f"  {env}")
for r in [header] + rows:
    cells = [str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
    print("  " + "  ".join(cells).rstrip())
PY
