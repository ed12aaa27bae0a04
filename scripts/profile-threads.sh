#!/usr/bin/env bash
# CPU time per thread of one workload of the loopback bench's profiling
# mode (RELAY_LINK_BENCH_PROFILE, benches/loopback/profile.rs), per unit
# of work: per frame for the inbound-* workloads, per round trip for the
# round-trip-* ones. Reads utime/stime of /proc/PID/task/*/stat over a
# 6 s window in the middle of the workload's 10 s; prints the load with
# the figures. Linux only.
#
#   scripts/profile-threads.sh round-trip-bare round-trip-own
#   CARGO_BENCH_FLAGS="--features tokio" scripts/profile-threads.sh round-trip-tokio-own
set -euo pipefail

cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 WORKLOAD..." >&2; exit 2; }

# shellcheck disable=SC2086 # CARGO_BENCH_FLAGS is a list of flags
bin="$(cargo bench -p relay-link --bench loopback ${CARGO_BENCH_FLAGS:-} --no-run \
    --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*loopback[^"]*\)".*/\1/p' | tail -n 1)"
[ -x "$bin" ] || { echo "the loopback bench did not build" >&2; exit 1; }
ticks="$(getconf CLK_TCK)"

snapshot() { # pid -> "name utime stime" per thread
    for task in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(tr ' ' '_' <"$task/comm")" \
            "$(sed 's/.*) //' "$task/stat" | cut -d' ' -f12,13)"
    done 2>/dev/null
}

for workload in "$@"; do
    out="$(mktemp)"
    RELAY_LINK_BENCH_PROFILE="$workload" "$bin" --bench >"$out" 2>&1 &
    pid=$!
    sleep 2
    before="$(snapshot "$pid")"
    t0="$(date +%s.%N)"
    sleep 6
    after="$(snapshot "$pid")"
    t1="$(date +%s.%N)"
    wait "$pid"
    line="$(grep "^profile $workload:" "$out")"
    rm -f "$out"
    python3 - "$workload" "$line" "$t0" "$t1" "$ticks" "$before" "$after" \
        "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
"""Per-thread CPU share and µs per unit of work."""
import re
import sys

workload, line, t0, t1, ticks, before, after, load = sys.argv[1:9]
window, ticks = float(t1) - float(t0), float(ticks)
m = re.search(r"(\d+) repetitions(?: in ([\d.]+) s)?", line)
reps, secs = int(m.group(1)), float(m.group(2) or 10.0)
per_rep, unit = (100_000, "frame") if workload.startswith("inbound") else (2_000, "round trip")
rate = reps * per_rep / secs


def parse(text):
    return {f"{name}#{i}": (int(u), int(s))
            for i, (name, u, s) in enumerate(l.split() for l in text.splitlines())}


b, a = parse(before), parse(after)
print(f"{workload}: {rate:,.0f} {unit}s/s ({reps} repetitions in {secs:.1f} s); load {load}")
for key, (u1, s1) in a.items():
    u0, s0 = b.get(key, (u1, s1))
    user, system = (u1 - u0) / ticks / window, (s1 - s0) / ticks / window
    if user + system < 0.005:
        continue
    print(f"  {key.split('#')[0]:<16} busy {100 * (user + system):5.1f} %   "
          f"user {1e6 * user / rate:6.2f} µs, kernel {1e6 * system / rate:6.2f} µs per {unit}")
PY
done
