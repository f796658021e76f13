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
if [[ ! -d "$snap/pkg/edgec" ]]; then  # built aside and renamed: two runs may start at once
  tmp="$(mktemp -d "$snap.XXXXXX")"
  mkdir -p "$tmp/src" "$tmp/pkg"
  git -C "$repo" archive "$sha" | tar -x -C "$tmp/src"
  cp -r "$tmp/src/edgec" "$tmp/pkg/edgec"
  for d in compiler runtime models targets; do ln -s "$snap/src/$d" "$tmp/pkg/edgec/$d"; done
  mv -T "$tmp" "$snap" 2>/dev/null || rm -rf "$tmp"  # the other run won: use its copy
fi
echo "difftest on commit $sha (snapshot $snap)" >&2
PYTHONPATH="$snap/pkg" exec "$repo/.venv/bin/python" "$snap/src/tools/difftest.py" "$@"
