#!/usr/bin/env bash
# Run tools/difftest.py on a snapshot of a commit, not on the working tree: a long run imports
# edgec lazily, and in a tree shared with other engineers an uncommitted edit made mid-run becomes
# part of it (three int8 "schedule-crash" cases on 2026-12-01 came from such an edit and passed
# on the commit). The snapshot is `git archive` (no .git changes); edgec is put on PYTHONPATH
# with the folder layout of pyproject.toml's package-dir.
#   tools/difftest_snapshot.sh [COMMIT] -- --seed 40000 --minutes 120 --save out/difftest/fp32 --json
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
commit=HEAD
if [[ $# -gt 0 && "$1" != "--" ]]; then commit="$1"; shift; fi
[[ $# -gt 0 && "$1" == "--" ]] && shift
sha="$(git -C "$repo" rev-parse --short "$commit")"
snap="${TMPDIR:-/tmp}/edgec-dtsnap-$sha"
if [[ ! -d "$snap/pkg/edgec" ]]; then
  rm -rf "$snap.tmp" && mkdir -p "$snap.tmp/src" "$snap.tmp/pkg"
  git -C "$repo" archive "$sha" | tar -x -C "$snap.tmp/src"
  cp -r "$snap.tmp/src/edgec" "$snap.tmp/pkg/edgec"
  for d in compiler runtime models targets; do ln -s "$snap/src/$d" "$snap.tmp/pkg/edgec/$d"; done
  rm -rf "$snap" && mv "$snap.tmp" "$snap"
fi
echo "difftest on commit $sha (snapshot $snap)" >&2
PYTHONPATH="$snap/pkg" exec "$repo/.venv/bin/python" "$snap/src/tools/difftest.py" "$@"
