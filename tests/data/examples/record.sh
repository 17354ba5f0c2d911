#!/usr/bin/env bash
# Records what `kubectl kustomize` (kustomize 5.5) prints for every kustomization folder under
# examples/retail-fleet, one file per folder (path with / turned into __). The tests compare
# `pull-agent render` with these files and do not need kubectl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
rm -f "$here"/*.yaml
cd "$root/examples/retail-fleet"
find . -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization | sort | while read -r k; do
  dir="$(dirname "$k")"; dir="${dir#./}"
  if grep -q '^kind: Component' "$k"; then continue; fi
  out="$here/$(echo "$dir" | sed 's#/#__#g').yaml"
  kubectl kustomize "$dir" > "$out" 2>/dev/null
  echo "recorded $dir"
done
