#!/usr/bin/env bash
# Runs the core benchmark (benches/core.rs) and prints the figures that
# matter: decoder vs serde_json::Value throughput and the machine's cost per
# input. See docs/performance.md. Extra arguments go to the bench binary
# (e.g. a criterion filter such as `decoder`).
#
# Extra cargo flags come from CARGO_BENCH_FLAGS. The benchmark measures the
# sans-IO core only, so CARGO_BENCH_FLAGS=--no-default-features (no socket
# shell or TLS to compile) gives the same figures with a faster build. The
# bench belongs to the library package (`-p relay-link`), so the CLI crate
# of the workspace neither builds nor adds its features.
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
log="$target/bench-core.log"
mkdir -p "$target"

# Stale estimates must not be reported as this run's.
rm -rf "$target/criterion/decoder" "$target/criterion/machine"

# shellcheck disable=SC2086 # CARGO_BENCH_FLAGS is a list of flags
cargo bench -p relay-link --bench core ${CARGO_BENCH_FLAGS:-} --no-run
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
cargo bench -p relay-link --bench core ${CARGO_BENCH_FLAGS:-} -- "$@" 2>&1 | tee "$log"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

env="$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(rustc --version), load avg before $load_before / after $load_after"
python3 - "$target" "$log" "$env" <<'EOF'
import json, os, sys

target, log, env = sys.argv[1], sys.argv[2], sys.argv[3]
workload, paired = {}, {}
for line in open(log, encoding="utf-8"):
    if line.startswith(("workload ", "paired ")):
        kind, name, *pairs = line.split()
        into = workload if kind == "workload" else paired
        into[name] = {k: float(v) for k, v in (p.split("=") for p in pairs)}

def median_ns(bench):
    path = os.path.join(target, "criterion", bench, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]

rows = []
def row(label, value, target_text=""):
    rows.append((label, value, target_text))

dec, val = median_ns("decoder/line_decoder"), median_ns("decoder/serde_value")
if dec and val:
    size = workload["decoder"]["bytes"]
    dec_mbs, val_mbs = size / dec * 1e3, size / val * 1e3  # bytes/ns -> MB/s (1e6 B)
    row("decoder (LineDecoder::push)", f"{dec_mbs:8.1f} MB/s")
    row("baseline (lines -> serde_json::Value)", f"{val_mbs:8.1f} MB/s")
    ratio = dec_mbs / val_mbs
    row("ratio decoder / Value", f"{ratio:8.2f}", "target >= 1.00: " + ("met" if ratio >= 1.0 else "MISSED"))
    p = paired.get("decoder/line_decoder")
    if p:
        verdict = "met" if p["ratio_median"] >= 1.0 else "MISSED"
        row("  same, paired passes (median)", f"{p['ratio_median']:8.2f}",
            f"IQR {p['ratio_q1']:.2f}-{p['ratio_q3']:.2f}, target >= 1.00: {verdict}")
    last = median_ns("decoder/line_decoder_type_last")
    if last:
        row("decoder, `type` as last key", f"{size / last * 1e3:8.1f} MB/s", f"ratio {val / last:.2f}")
    p = paired.get("decoder/line_decoder_type_last")
    if p:
        row("  same, paired passes (median)", f"{p['ratio_median']:8.2f}",
            f"IQR {p['ratio_q1']:.2f}-{p['ratio_q3']:.2f}")

for name in ("mixed", "inbound", "round_trip"):
    ns = median_ns(f"machine/{name}")
    w = workload.get(f"machine/{name}")
    if ns is None or w is None:
        continue
    per_input = ns / w["inputs"]
    per_frame = ns / w["frames"]
    verdict = "met" if per_frame <= 1000 else "MISSED"
    row(f"machine/{name}: per input", f"{per_input:8.0f} ns")
    row(f"machine/{name}: per wire frame", f"{per_frame:8.0f} ns", f"target <= 1000 ns: {verdict}")

if not rows:
    sys.exit("no criterion estimates found under " + os.path.join(target, "criterion"))
width = max(len(r[0]) for r in rows)
print()
print("relay-link core benchmark (criterion medians)")
print(f"  {env}")
for label, value, note in rows:
    print(f"  {label:<{width}}  {value:>12}  {note}".rstrip())
EOF
