#!/usr/bin/env bash
# The test suite, as CI runs it: unit tests, end-to-end CLI tests on tiny real-format data, the
# patched flex kernels against Burn's upstream path (tests/e2e/kernels.rs), the cross-backend
# agreement tests (flex, ndarray and wgpu train the same losses), and the vendored burn-flex's
# own unit tests.
#
# The wgpu test needs a Vulkan driver. Where there is none, this installs Mesa's software one
# (lavapipe, Debian package mesa-vulkan-drivers), so wgpu runs on the CPU. On a machine that
# cannot have one, BNX_SKIP_WGPU=1 skips that single test.
#
# Last, TensorBoard's own reader (the `tensorboard` Python package, installed once into a venv
# under ~/.cache/bnx) reads back the event files of a small `compare --seeds 2 --tensorboard` run
# and checks every value against metrics.json (scripts/check_tensorboard.py).
set -euo pipefail
cd "$(dirname "$0")/.."

has_vulkan_driver() {
    compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null || compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null
}
if [ "${BNX_SKIP_WGPU:-0}" != 1 ] && ! has_vulkan_driver; then
    if command -v apt-get >/dev/null; then
        echo "no Vulkan driver: installing Mesa's software driver (mesa-vulkan-drivers) for the wgpu test"
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null ||
            { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null; }
    else
        echo "no Vulkan driver and no apt-get: install one, or set BNX_SKIP_WGPU=1" >&2
    fi
fi

# bnx's copy of burn-flex (vendor/) is the published crate plus the change in its patch file.
scripts/vendor-diff.sh --check

# --locked: a Cargo.lock that no longer matches Cargo.toml fails here rather than being rewritten
# in the clone unseen (it had gone stale once: three dependencies added without their lock lines).
cargo test --release --locked "$@"
# The vendored crate's own tests, upstream's, run against the patch: as its own package, with the
# lockfile it was published with (not a member of bnx's workspace, so `cargo fmt` and bnx's
# lockfile leave the vendored files alone).
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" \
    cargo test --release --locked --manifest-path vendor/burn-flex/Cargo.toml --lib -q
# And without rayon, as flex builds for targets without threads: the patch's kernels have a
# sequential branch of their own (max pooling's fast path once went untested, and unused, there).
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" \
    cargo test --release --locked --manifest-path vendor/burn-flex/Cargo.toml --lib -q \
    --no-default-features --features std,simd
# The binary `cargo test` just built: the steps below run it, not a second build.
export BNX_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/bnx"

# TensorBoard export, read back by TensorBoard's own event reader (pinned, in a venv kept outside
# the clone so that it is installed once per machine).
tb_venv="${BNX_TENSORBOARD_VENV:-$HOME/.cache/bnx/tensorboard-venv}"
if ! "$tb_venv/bin/python" -c "import tensorboard" 2>/dev/null; then
    echo "installing tensorboard==2.21.0 into $tb_venv for the event-file read-back"
    python3 -m venv "$tb_venv"
    "$tb_venv/bin/pip" install -q "tensorboard==2.21.0"
fi
tb_tmp=$(mktemp -d)
trap 'rm -rf "$tb_tmp"' EXIT
"$BNX_BIN" compare --seeds 2 --jobs 2 --epochs 2 --limit-train 320 --limit-test 100 \
    --tensorboard "$tb_tmp/logs" --tensorboard-steps -q --out "$tb_tmp/compare" >/dev/null
runs=()
for variant in no-bn bn; do
    for seed in 42 43; do
        runs+=("mlp/$variant/seed-$seed=$tb_tmp/compare/$variant/seed-$seed")
    done
done
"$tb_venv/bin/python" scripts/check_tensorboard.py "$tb_tmp/logs" "${runs[@]}" --steps

# Studies sharded over Slurm: a single-node cluster from Debian's packages, a two-task job array
# and its report, compared with the unsharded study (about 20 s once the packages are in). It
# needs root to start the daemons; BNX_SKIP_SLURM=1 skips it.
if [ "${BNX_SKIP_SLURM:-0}" = 1 ]; then
    echo "slurm: skipped (BNX_SKIP_SLURM=1)"
elif [ "$(id -u)" != 0 ]; then
    echo "slurm: skipped (scripts/slurm-test.sh needs root to start munged, slurmctld and slurmd)"
else
    scripts/slurm-test.sh
fi
