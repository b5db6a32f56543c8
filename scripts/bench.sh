#!/usr/bin/env bash
# Training speed of the guide's four networks: bnx's backends against PyTorch and Keras, on this
# machine, same thread count, interleaved runs, median of several. Prints a Markdown table
# (also written to results/bench.md) and keeps every sample in results/bench-samples.jsonl.
#
#   scripts/bench.sh                                  # flex, ndarray, PyTorch, Keras; 3 rounds
#   scripts/bench.sh --frameworks flex,wgpu,pytorch --batches 32 --rounds 5
#
# Arguments go to scripts/bench.py (see --help there). The first run installs the reference
# frameworks (scripts/reference/requirements.txt: PyTorch, TensorFlow, Keras; about 4 GB) into
# scripts/reference/.venv from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

venv=scripts/reference/.venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s scripts/reference/requirements.txt "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/reference/requirements.txt
    cp scripts/reference/requirements.txt "$venv/requirements.txt"
fi

cargo build --release --quiet
rm -f results/bench-samples.jsonl
BNX_BENCH_COMMAND="scripts/bench.sh${*:+ $*}" exec python3 scripts/bench.py --bnx "$target/release/bnx" --python "$venv/bin/python" \
    --markdown results/bench.md --samples results/bench-samples.jsonl "$@"
