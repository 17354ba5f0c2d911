#!/usr/bin/env bash
# Records what kubectl, the reference, makes of every case in this folder: for each
# <case>/{original.yaml,patch.json,type} it writes <case>/expected.json (kubectl's output) or,
# when kubectl fails, <case>/expected-error (its message). The tests read these files and never
# run kubectl. See README.md. Usage: record.sh [case...]   (default: every case)
set -euo pipefail
cd "$(dirname "$0")"

if [[ $# -gt 0 ]]; then cases=("$@"); else cases=(*/); fi

kubectl version --client 2>/dev/null | head -n 1 > kubectl-version

for dir in "${cases[@]}"; do
  case_name=${dir%/}
  [[ -f "$case_name/type" ]] || continue
  type=$(tr -d '[:space:]' < "$case_name/type")
  rm -f "$case_name/expected.json" "$case_name/expected-error"
  stderr=$(mktemp)
  # --show-managed-fields: without it kubectl drops metadata.managedFields from what it prints.
  if kubectl patch --local -o json --show-managed-fields \
      -f "$case_name/original.yaml" --type "$type" --patch-file "$case_name/patch.json" \
      > "$case_name/expected.json" 2> "$stderr"; then
    echo "ok     $case_name"
  else
    rm -f "$case_name/expected.json"
    sed -e 's/^error: //' "$stderr" > "$case_name/expected-error"
    echo "error  $case_name: $(head -n 1 "$case_name/expected-error")"
  fi
  rm -f "$stderr"
done
