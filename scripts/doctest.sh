#!/usr/bin/env bash
# The doc-test runner: every fenced ```bash block of README.md and docs/*.md is checked, so a
# README that drifts from the code fails CI. Each block is preceded by a marker line:
#
#   <!-- doctest: run -->      the block is executed, literally, with bash -euo pipefail from the
#                              repository root (HOME is a scratch folder), against the
#                              infrastructure scripts/infra.sh starts; it must exit 0
#   <!-- doctest: syntax -->   the block needs what this machine lacks (image pulls, a GPU,
#                              Kubernetes) or never ends by design: bash -n, plus
#                              `docker compose -f F config -q` for each compose file it names and
#                              `kubectl apply --dry-run=client` for each manifest when kubectl exists
#
# A ```bash block without a marker fails. Markers are HTML comments, invisible on GitHub.
#
#   scripts/doctest.sh [FILE.md ...]        (default: README.md docs/*.md)
#   DOCTEST_TIMEOUT=900                     seconds per runnable block
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
TIMEOUT=${DOCTEST_TIMEOUT:-900}
SCRATCH=$(mktemp -d -t routeiq-doctest-XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
log() { echo "[doctest] $*" >&2; }

if (( $# > 0 )); then files=("$@"); else files=(README.md docs/*.md); fi

failed=0 ran=0 checked=0 n=0
for file in "${files[@]}"; do
  [[ -f "$file" ]] || { log "FAIL $file: no such file"; failed=$((failed + 1)); continue; }
  marker="" in_block=0 start=0 lineno=0 block=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    lineno=$((lineno + 1))
    if (( in_block )); then
      if [[ "$line" =~ ^[[:space:]]*\`\`\`[[:space:]]*$ ]]; then
        in_block=0 n=$((n + 1))
        script="$SCRATCH/block-$n.sh"
        printf '%s' "$block" > "$script"
        where="$file:$start"
        case "$marker" in
          run)
            ran=$((ran + 1))
            log "run    $where"
            out="$SCRATCH/block-$n.out"
            mkdir -p "$SCRATCH/home-$n"
            NUGET_PACKAGES="${NUGET_PACKAGES:-$HOME/.nuget/packages}" HOME="$SCRATCH/home-$n" ROUTEIQ_DOCTEST=1 timeout "$TIMEOUT" bash -euo pipefail "$script" > "$out" 2>&1 < /dev/null
            rc=$?
            if (( rc != 0 )); then
              failed=$((failed + 1))
              log "FAIL   $where: exit $rc$( (( rc == 124 )) && echo " (timed out after $TIMEOUT s)")"
              sed 's/^/[doctest]   | /' "$script" >&2
              log "  last output:"
              tail -n 40 "$out" | sed 's/^/[doctest]   > /' >&2
            fi
            ;;
          syntax)
            checked=$((checked + 1))
            log "syntax $where"
            if ! err=$(bash -n "$script" 2>&1); then
              failed=$((failed + 1)); log "FAIL   $where: $err"
            fi
            for compose in $(grep -oE 'docker compose -f [^ ]+' "$script" | awk '{print $4}' | sort -u); do
              if docker compose version >/dev/null 2>&1; then
                if ! err=$(ROUTEIQ_ADMIN_API_KEY=doctest ROUTEIQ_MANIFEST_HMAC_KEY=doctest docker compose -f "$compose" --profile images config -q 2>&1); then
                  failed=$((failed + 1)); log "FAIL   $where: docker compose -f $compose config: $err"
                fi
              else
                log "       (docker compose not installed: $compose checked by tests/RouteIQ.EndToEnd.Tests DeployManifestTests only)"
              fi
            done
            for manifest in $(grep -oE 'kubectl apply -f [^ ]+' "$script" | awk '{print $4}' | sort -u); do
              if command -v kubectl >/dev/null 2>&1; then
                if ! err=$(kubectl apply --dry-run=client -f "$manifest" 2>&1); then
                  failed=$((failed + 1)); log "FAIL   $where: kubectl apply --dry-run=client -f $manifest: $err"
                fi
              else
                log "       (kubectl not installed: $manifest not dry-run)"
              fi
            done
            ;;
          *)
            failed=$((failed + 1))
            log "FAIL   $where: a bash block without <!-- doctest: run --> or <!-- doctest: syntax --> before it"
            ;;
        esac
        marker="" block=""
      else
        block+="$line"$'\n'
      fi
      continue
    fi
    if [[ "$line" =~ ^[[:space:]]*\<\!--[[:space:]]*doctest:[[:space:]]*(run|syntax)[[:space:]]*--\>[[:space:]]*$ ]]; then
      marker=${BASH_REMATCH[1]}
    elif [[ "$line" =~ ^[[:space:]]*\`\`\`(bash|sh|shell)[[:space:]]*$ ]]; then
      in_block=1 start=$lineno block=""
    elif [[ -n "${line// /}" ]]; then
      marker=""
    fi
  done < "$file"
  if (( in_block )); then
    failed=$((failed + 1)); log "FAIL   $file:$start: the bash block is never closed"
  fi
done

log "$ran block(s) run, $checked syntax-checked, $failed failed"
(( failed == 0 ))
