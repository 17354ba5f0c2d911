#!/usr/bin/env bash
# Records the golden outputs of the render test corpus.
#
# For every case folder next to this script (or only the case names given as
# arguments), runs `kubectl kustomize <case>/in/<render-path>` (render-path is
# read from <case>/render-path, default: in/ itself) and writes:
#   - <case>/expected.yaml       kubectl's stdout, when kubectl succeeds
#                                (a stale kubectl-error.txt is removed);
#   - <case>/kubectl-error.txt   kubectl's stderr, when kubectl fails
#                                (a stale expected.yaml is removed).
# Prints a one-line summary per case.
#
# Requires: kubectl with built-in kustomize v5.5 (kubectl 1.32). Each kubectl
# run is limited to 20 seconds (a case with a remote resource must fail
# offline instead of hanging).
#
# The tests themselves do NOT need kubectl: they only read the committed
# expected.yaml / kubectl-error.txt files. Run this script by hand only when
# adding or changing cases.
#
# Usage: tests/data/render/record.sh [case-name ...]   (works from any cwd)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
timeout_secs=20

if ! command -v kubectl >/dev/null 2>&1; then
  echo "record.sh: kubectl not found in PATH" >&2
  exit 2
fi
kversion="$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')"
case "$kversion" in
  v5.5.*) ;;
  *) echo "record.sh: warning: expected kustomize v5.5.x, found '${kversion:-unknown}'" >&2 ;;
esac

cases=()
if [ "$#" -gt 0 ]; then
  for name in "$@"; do
    name="${name%/}"
    name="${name##*/}"
    if [ ! -d "$here/$name/in" ]; then
      echo "record.sh: no such case: $name" >&2
      exit 2
    fi
    cases+=("$name")
  done
else
  for dir in "$here"/*/; do
    dir="${dir%/}"
    [ -d "$dir/in" ] || continue
    cases+=("${dir##*/}")
  done
fi

ok=0
failed=0
for name in "${cases[@]}"; do
  cdir="$here/$name"
  target="in"
  if [ -f "$cdir/render-path" ]; then
    rp="$(head -n 1 "$cdir/render-path" | tr -d '\r')"
    rp="${rp%/}"
    if [ -n "$rp" ]; then
      target="in/$rp"
    fi
  fi
  out="$(mktemp)"
  err="$(mktemp)"
  rc=0
  # Run from the case folder with a relative path, so that paths in error
  # messages stay as short and stable as possible.
  (cd "$cdir" && timeout "$timeout_secs" kubectl kustomize "$target") >"$out" 2>"$err" || rc=$?
  if [ "$rc" -eq 0 ]; then
    mv "$out" "$cdir/expected.yaml"
    rm -f "$cdir/kubectl-error.txt" "$err"
    ok=$((ok + 1))
    printf '%-50s ok     (%s docs)\n' "$name" "$(grep -c '^kind:' "$cdir/expected.yaml" || true)"
  else
    # Keep the file stable across runs and machines: absolute paths of this
    # checkout, klog timestamps/pids and Go pointer values are normalized.
    sed -E \
      -e "s|$here/|<render>/|g" \
      -e 's/^([EWIF])[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} +[0-9]+ /\1MMDD hh:mm:ss.uuuuuu PID /' \
      -e 's/0xc[0-9a-f]{9}/0xc000000000/g' \
      "$err" >"$cdir/kubectl-error.txt"
    rm -f "$cdir/expected.yaml" "$out" "$err"
    failed=$((failed + 1))
    if [ "$rc" -eq 124 ]; then
      printf '%-50s ERROR  (timeout after %ss)\n' "$name" "$timeout_secs"
    else
      first="$(grep -v '^#' "$cdir/kubectl-error.txt" | head -n 1 | sed -E 's/^[EWIF]MMDD [^]]*\] //' || true)"
      printf '%-50s ERROR  %s\n' "$name" "${first:0:110}"
    fi
  fi
done

echo "recorded ${#cases[@]} cases: $ok ok, $failed kubectl errors"
