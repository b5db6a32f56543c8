#!/usr/bin/env bash
# Mirrors a checkout into a fixed folder, rewriting only the files whose bytes differ, so that a
# clean clone at a new path builds without recompiling Burn.
#
#   scripts/mirror-tree.sh SRC DST
#
# Why: bnx patches burn-flex with a path dependency (vendor/burn-flex). Cargo fingerprints a path
# package by its files' mtimes and by where it lives, and everything in Burn sits above
# burn-flex. A fresh `git clone` gives every file a new mtime at a new path, so each clone
# recompiled burn-flex and the ~40 Burn crates above it (10+ minutes of CI). Building from one
# fixed folder in which unchanged files keep their old mtimes lets cargo's own check decide, file
# by file: what changed is rewritten (new mtime, recompiled), what did not is Fresh.
#
# What is mirrored is exactly the checkout's files: tracked ones plus untracked ones git does not
# ignore (so a developer's uncommitted edits are tested too). Anything else in DST is removed. The
# comparison is by content (cmp), never by mtime or size, so DST ends byte-identical to SRC;
# the last step checks that with `diff -r`.
#
# No rsync: it is not on a fresh machine, and `rsync -c` without -t is all this needs.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SRC DST" >&2; exit 2; }
src=$(cd "$1" && pwd)
mkdir -p "$2"
dst=$(cd "$2" && pwd)
[ "$src" != "$dst" ] || { echo "mirror-tree: SRC and DST are the same folder" >&2; exit 2; }

list=$(mktemp)
trap 'rm -f "$list" "$list.dst"' EXIT
# Tracked files that still exist, plus untracked files that are not ignored.
git -C "$src" ls-files -z --cached --others --exclude-standard | sort -zu |
    while IFS= read -r -d '' f; do
        if [ -e "$src/$f" ] || [ -L "$src/$f" ]; then printf '%s\0' "$f"; fi
    done > "$list"

written=0
while IFS= read -r -d '' f; do
    s="$src/$f" d="$dst/$f"
    if [ -L "$s" ]; then
        if [ ! -L "$d" ] || [ "$(readlink "$s")" != "$(readlink "$d")" ]; then
            rm -rf "$d"; mkdir -p "$(dirname "$d")"; cp -P "$s" "$d"; written=$((written + 1))
        fi
    elif [ -L "$d" ] || [ ! -f "$d" ] || ! cmp -s "$s" "$d"; then
        rm -rf "$d"; mkdir -p "$(dirname "$d")"
        cp --preserve=mode "$s" "$d"; written=$((written + 1))
    elif [ -x "$s" ] && [ ! -x "$d" ] || [ ! -x "$s" ] && [ -x "$d" ]; then
        chmod --reference="$s" "$d"  # a mode change alone: no new mtime, no recompile
    fi
done < "$list"

# Remove what the checkout does not have (an old file would otherwise still be compiled in).
removed=0
(cd "$dst" && find . \( -type f -o -type l \) -printf '%P\0' | sort -z) > "$list.dst"
while IFS= read -r -d '' f; do
    rm -f "$dst/$f"; removed=$((removed + 1))
done < <(comm -z -23 "$list.dst" "$list")
find "$dst" -mindepth 1 -type d -empty -delete

# The promise is an identical tree: check it rather than trust the loop above.
if ! diff -r --no-dereference -x .git "$src" "$dst" >/dev/null 2>&1; then
    # Ignored files in SRC (a target/ folder, say) are not mirrored: compare the listed ones only.
    while IFS= read -r -d '' f; do
        cmp -s "$src/$f" "$dst/$f" || { echo "mirror-tree: $dst/$f differs from $src/$f" >&2; exit 1; }
    done < "$list"
fi
echo "mirror-tree: $dst mirrors $src ($(tr -cd '\0' < "$list" | wc -c) files; $written rewritten, $removed removed)"
