#!/usr/bin/env bash
# Writes vendor/burn-flex.patch: what bnx's copy of burn-flex changes against the published
# burn-flex 0.22.1 (taken from cargo's registry cache), as a patch that applies to Burn's
# repository (`git apply` in tracel-ai/burn at v0.22.1).
#
#   scripts/vendor-diff.sh           # rewrite the patch
#   scripts/vendor-diff.sh --check   # fail if the patch is out of date (scripts/test.sh runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
upstream=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/burn-flex-0.22.1 2>/dev/null | head -1 || true)
if [ -z "$upstream" ]; then
    echo "vendor-diff: burn-flex 0.22.1 is not in cargo's registry cache (cargo fetch --manifest-path vendor/burn-flex/Cargo.toml); not checked" >&2
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/a/crates" "$work/b/crates"
cp -r "$upstream" "$work/a/crates/burn-flex"
cp -r vendor/burn-flex "$work/b/crates/burn-flex"
rm -rf "$work"/b/crates/burn-flex/target
(cd "$work" && diff -ruN a/crates/burn-flex/src b/crates/burn-flex/src || true) \
    | sed -E 's/^(---|\+\+\+) ([^\t]*)\t.*/\1 \2/' > "$work/patch"
if [ "${1:-}" = "--check" ]; then
    if ! cmp -s "$work/patch" vendor/burn-flex.patch; then
        echo "vendor/burn-flex.patch is out of date: run scripts/vendor-diff.sh" >&2
        exit 1
    fi
    # Outside src/ the copy must be the published crate, byte for byte.
    diff -r -x src -x target "$upstream" vendor/burn-flex >/dev/null \
        || { echo "vendor/burn-flex differs from burn-flex 0.22.1 outside src/" >&2; exit 1; }
    echo "vendor/burn-flex.patch is up to date"
else
    cp "$work/patch" vendor/burn-flex.patch
    echo "wrote vendor/burn-flex.patch ($(grep -c '^+++ ' vendor/burn-flex.patch) files)"
fi
