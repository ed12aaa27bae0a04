#!/usr/bin/env bash
# Runs the whole-stack loopback benchmark (benches/loopback/) and prints
# its output, then every figure against its target as the Markdown table of
# docs/performance.md ("Loopback (whole stack)"), with the date, machine,
# compiler, load average and command under it. Arguments go to the bench
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

when="$(date -u +%Y-%m-%dT%H:%MZ)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
env="$when, $(nproc) cores ($cpu), $(rustc --version)"
python3 - "$log" "$env" "$load_before" "$load_after" "${CARGO_BENCH_FLAGS:-}" <<'PY'
"""Prints the figures as the Markdown table of docs/performance.md."""
import sys

log, env, load_before, load_after, flags = sys.argv[1:6]
results = {}
for line in open(log, encoding="utf-8"):
    if line.startswith("result "):
        name, *pairs = line.split()[1:]
        results[name] = {k: float(v) for k, v in (p.split("=") for p in pairs)}

VARIANTS = ("smol", "own", "tokio")
HEADER = ("figure", "smol driver (`RelayLink::spawn`)", "driver on the caller's executor",
          "tokio (`Runtime::Tokio`)", "target")


def short(x):
    """A rate in k or M, three significant digits."""
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.0f}"


def mark(met):
    return "" if met else " ✗"


rows = []


def row(figure, target, cell):
    """`cell(result_key)` gives a variant's cell, or None without figures."""
    cells = [cell(key) for key in VARIANTS]
    if any(c is not None for c in cells):
        rows.append((figure, *[c if c is not None else "—" for c in cells], target))


def ratio_cell(prefix, value, baseline, ratio, target):
    def cell(key):
        r = results.get(f"{prefix}_{key}")
        if not r:
            return None
        return f"{r[ratio]:.2f} ({short(r[value])} / {short(r[baseline])}){mark(r[ratio] >= target)}"
    return cell


row("(a) inbound frames/s to the app, ratio to the bare receive-and-split client",
    "≥ 0.33", ratio_cell("inbound", "link", "bare", "ratio", 0.33))
row("(a) same, ratio to the bare client that also parses each line into a `Value`",
    "≥ 1.3", ratio_cell("inbound", "link", "bare_parsed", "ratio_parsed", 1.3))
for window in (1, 64):
    own_target = 0.95 if window == 1 else 0.85
    row(f"(b) round trips/s, {window} in flight, callers on another thread",
        "≥ 0.85", ratio_cell(f"round_trip_{window}", "other", "bare", "ratio_other", 0.85))
    row(f"(b) round trips/s, {window} in flight, callers on the link's executor",
        f"≥ {own_target}", ratio_cell(f"round_trip_{window}", "own", "bare", "ratio_own", own_target))
for place, key in (("another thread", "other"), ("the link's executor", "own")):
    def switches(variant, key=key):
        r = results.get(f"round_trip_1_{variant}")
        if not r:
            return None
        value = r[f"switches_{key}"]
        return f"{value:.1f} (bare {r['switches_bare']:.1f}){mark(value <= 3)}"
    row(f"(b) context switches per round trip, 1 in flight, callers on {place}", "≤ 3", switches)


def absolute_cell(prefix, text, met):
    """A figure with no ratio: `text(r)` and `met(r)` of the result line."""
    def cell(key):
        r = results.get(f"{prefix}_{key}")
        return None if not r else text(r) + mark(met(r))
    return cell


row("(c) RSS per idle handshaken link, 1,000 links", "≤ 32 KiB", absolute_cell(
    "memory", lambda r: f"{r['per_link_kib']:.1f} KiB (bare {r['bare_kib']:.1f})",
    lambda r: r["per_link_kib"] <= 32))
row("(d) reconnect latency beyond the backoff, median", "≤ 1 ms", absolute_cell(
    "reconnect", lambda r: f"{r['median_ms']:.2f} ms (p90 {r['p90_ms']:.2f}; bare client "
                           f"{r['bare_ms']:.2f})",
    lambda r: r["median_ms"] <= 1))

if not rows:
    sys.exit("no result lines in " + log)
command = "scripts/bench-loopback.sh"
if flags:
    command = f'CARGO_BENCH_FLAGS="{flags}" {command}'
print()
print("relay-link loopback benchmark: the table of docs/performance.md")
print()
print("| " + " | ".join(HEADER) + " |")
print("|" + "---|" * len(HEADER))
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print(f"{env}; load average {load_before} before, {load_after} after; "
      f"`{command}`. Ratios are relay-link / bare in the same run "
      "(rates in parentheses); ✗ marks a missed target.")
PY
