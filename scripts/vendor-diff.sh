#!/usr/bin/env bash
# bnx's copy of burn-flex (vendor/burn-flex) is the published burn-flex 0.22.1 plus exactly the
# change in vendor/burn-flex.patch. Two files hold that promise:
#   vendor/burn-flex.patch   the change, as a patch that applies to Burn's repository
#                            (`git apply` in tracel-ai/burn at v0.22.1);
#   vendor/burn-flex.sha256  the SHA-256 of every file of the published crate, pinned once from
#                            the .crate whose checksum crates.io's index records (first line).
#
#   scripts/vendor-diff.sh           # rewrite both from the vendored tree (needs crates.io once)
#   scripts/vendor-diff.sh --check   # fail unless vendor/burn-flex minus the patch is,
#                                    # byte for byte, the pinned published crate
#
# The check needs no network and no cargo cache: it copies the vendored tree, reverses the patch
# in the copy, and compares every file with the pinned hashes. A vendored line changed without
# the patch (or the patch without the tree) fails it, and so does a file added or removed.
set -euo pipefail
cd "$(dirname "$0")/.."
crate=burn-flex version=0.22.1
patch_file=vendor/burn-flex.patch hashes=vendor/burn-flex.sha256
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "${1:-}" = "--check" ]; then
    [ -f "$hashes" ] || { echo "vendor-diff: $hashes is missing" >&2; exit 1; }
    cp -r vendor/$crate "$work/tree"
    rm -rf "$work/tree/target"
    # -E: files the patch adds are removed when it is reversed.
    if ! (cd "$work/tree" && patch -R -p3 -E -s -f --no-backup-if-mismatch -r - < "$OLDPWD/$patch_file" >"$work/log" 2>&1); then
        echo "vendor-diff: $patch_file does not reverse cleanly on vendor/$crate (the patch and the tree disagree):" >&2
        sed 's/^/  /' "$work/log" >&2
        exit 1
    fi
    (cd "$work/tree" && find . -type f -printf '%P\n' | sort) > "$work/have"
    grep -v '^#' "$hashes" | sed -E 's/^[0-9a-f]{64}  //' | sort > "$work/want"
    if ! cmp -s "$work/have" "$work/want"; then
        echo "vendor-diff: vendor/$crate minus the patch does not have the published crate's files:" >&2
        diff "$work/want" "$work/have" | grep '^[<>]' | sed 's/^</  missing:/; s/^>/  extra:  /' >&2
        exit 1
    fi
    if ! (cd "$work/tree" && grep -v '^#' "$OLDPWD/$hashes" | sha256sum --quiet -c - >"$work/log" 2>&1); then
        echo "vendor-diff: vendor/$crate minus $patch_file differs from $crate $version as published:" >&2
        sed 's/^/  /' "$work/log" >&2
        exit 1
    fi
    echo "vendor-diff: vendor/$crate is $crate $version as published (files pinned in $hashes) plus $patch_file ($(grep -c '^+++ ' "$patch_file") files)"
    exit 0
fi

# Rewrite: the published crate, through cargo, from crates.io (checksum-verified against the index).
mkdir -p "$work/fetch/src"
printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
    "$crate" "$version" > "$work/fetch/Cargo.toml"
touch "$work/fetch/src/lib.rs"
cargo fetch -q --manifest-path "$work/fetch/Cargo.toml"
checksum=$(grep -A3 "^name = \"$crate\"" "$work/fetch/Cargo.lock" | sed -n 's/^checksum = "\(.*\)"/\1/p')
upstream=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/$crate-$version | head -1)
mkdir -p "$work/a/crates" "$work/b/crates"
cp -r "$upstream" "$work/a/crates/$crate"
cp -r vendor/$crate "$work/b/crates/$crate"
rm -rf "$work/b/crates/$crate/target"
(cd "$work" && diff -ruN a/crates/$crate/src b/crates/$crate/src || true) |
    sed -E 's/^(---|\+\+\+) ([^\t]*)\t.*/\1 \2/' > "$patch_file"
# Outside src/ the copy must be the published crate, byte for byte.
diff -r -x src "$work/a/crates/$crate" "$work/b/crates/$crate" >/dev/null ||
    { echo "vendor-diff: vendor/$crate differs from $crate $version outside src/" >&2; exit 1; }
{
    echo "# $crate $version as published on crates.io: .crate SHA-256 $checksum (the index's checksum)"
    (cd "$upstream" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum)
} > "$hashes"
echo "wrote $patch_file ($(grep -c '^+++ ' "$patch_file") files) and $hashes ($(grep -vc '^#' "$hashes") files)"
