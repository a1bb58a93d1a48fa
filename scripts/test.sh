#!/usr/bin/env bash
# Build and test RouteIQ against local infrastructure (see scripts/infra.sh).
# Extra arguments are passed to `dotnet test`, e.g. scripts/test.sh --filter "Category=Integration"
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

start=$SECONDS

echo "[test] starting infrastructure"
./scripts/infra.sh </dev/null

# shellcheck disable=SC1091
source ./scripts/.infra.env

# Databases and vhosts that earlier runs' test classes created (marked "routeiq-test" by
# RouteIQ.Testing.TestInfra) are dropped first; nothing unmarked is touched. Best effort.
echo "[test] dropping test databases and vhosts left by earlier runs"
for db in $(PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qAtc \
    "SELECT d.datname FROM pg_database d JOIN pg_shdescription s ON s.objoid = d.oid AND s.classoid = 'pg_database'::regclass WHERE s.description = 'routeiq-test'" 2>/dev/null); do
  PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
done
for vhost in $(rabbitmqctl list_vhosts -q name description 2>/dev/null | awk -F'\t' '$2 == "routeiq-test" {print $1}'); do
  rabbitmqctl delete_vhost -q "$vhost" >/dev/null 2>&1 || true
done

if [[ -f ./scripts/build-images.sh ]]; then
  echo "[test] building images (scripts/build-images.sh)"
  bash ./scripts/build-images.sh
fi

echo "[test] dotnet build RouteIQ.sln -c Release"
dotnet build RouteIQ.sln -c Release

log=$(mktemp -t routeiq-test-XXXXXX.log)
set +e
if (( $# == 0 )); then
  # Two passes. The unit tests first, alone: ROUTEIQ_TEST_UNIT_ONLY=1 makes a test that reaches for a server or a
  # child process fail (RouteIQ.Testing.TestInfra.RequireIntegration), so a missing Integration trait is caught here.
  echo "[test] unit pass: dotnet test RouteIQ.sln -c Release --no-build --filter Category!=Integration"
  unit_start=$SECONDS
  ROUTEIQ_TEST_UNIT_ONLY=1 dotnet test RouteIQ.sln -c Release --no-build --logger "console;verbosity=normal" \
    --filter "Category!=Integration" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  echo "[test] unit pass: exit code $rc in $((SECONDS - unit_start))s"
  echo "[test] integration pass: dotnet test RouteIQ.sln -c Release --no-build --filter Category=Integration"
  dotnet test RouteIQ.sln -c Release --no-build --logger "console;verbosity=normal" \
    --filter "Category=Integration" 2>&1 | tee -a "$log"
  irc=${PIPESTATUS[0]}
  (( rc != 0 )) || rc=$irc
else
  echo "[test] dotnet test RouteIQ.sln -c Release --no-build $*"
  dotnet test RouteIQ.sln -c Release --no-build --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
fi
set -e

# The README's and docs' commands, literally (scripts/doctest.sh): a drifted command fails the run.
echo "[test] scripts/doctest.sh (README.md, docs/*.md)"
if ! ./scripts/doctest.sh; then
  echo "[test] FAILED: scripts/doctest.sh (a documented command does not work as written; see [doctest] FAIL above)"
  (( rc != 0 )) || rc=1
fi

# One closing line with the totals over every test project ("N passed, N failed, N skipped"),
# from the per-project summaries ("Passed: N" / "Failed: N" / "Skipped: N" lines). grep -a: the
# fuzz tests log invalid UTF-8, which would make grep take the log for binary and print nothing.
count() { { grep -a -E "^\s+$1: [0-9]+\s*$" "$log" || true; } | awk '{s+=$2} END {print s+0}'; }
totals="$(count Passed) passed, $(count Failed) failed, $(count Skipped) skipped"
echo "Tests: $totals"

# CI keeps only the tail of the output: repeat each failed test's name and error message here.
if (( rc != 0 )); then
  awk '
    /^[[:space:]]+Failed [^ ]+ \[/ { show = 1; lines = 0; print "[test] FAILED:" $0; next }
    show && /^[[:space:]]+Stack Trace:/ { show = 0; next }
    show && /^[[:space:]]+(Passed|Failed|Skipped) / { show = 0 }
    show && lines < 25 { print "[test]   " $0; lines++ }
  ' "$log"
fi

if (( rc == 0 )); then
  echo "[test] SUMMARY: build ok, all tests passed ($((SECONDS - start))s)"
else
  echo "[test] SUMMARY: tests FAILED (dotnet test exit code $rc, $((SECONDS - start))s)"
fi
exit "$rc"
