#!/usr/bin/env bash
# Training throughput of the four networks on each CPU backend: samples/s, ms/step and the
# projected seconds of one 60,000-sample epoch, over a fixed number of steps after a warm-up.
#
#   scripts/bench.sh                      # 100 timed steps, batch 32, flex and ndarray
#   STEPS=300 scripts/bench.sh --batch-size 128
#
# Extra arguments go to `bnx bench` (see `bnx bench --help`). The Markdown table is also
# written to results/bench.md.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-100}"
WARMUP="${WARMUP:-10}"
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)"
cargo run --release --quiet -- bench --steps "$STEPS" --warmup "$WARMUP" --markdown results/bench.md "$@"
