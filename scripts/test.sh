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

if [[ -f ./scripts/build-images.sh ]]; then
  echo "[test] building images (scripts/build-images.sh)"
  bash ./scripts/build-images.sh
fi

echo "[test] dotnet build RouteIQ.sln -c Release"
dotnet build RouteIQ.sln -c Release

echo "[test] dotnet test RouteIQ.sln -c Release --no-build $*"
log=$(mktemp -t routeiq-test-XXXXXX.log)
set +e
dotnet test RouteIQ.sln -c Release --no-build --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# One closing line with the totals over every test project ("N passed, N failed, N skipped").
totals=$(grep -E '^(Passed|Failed)! +- +Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' "$log" \
  | sed -E 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\1 \2 \3/' \
  | awk '{f+=$1; p+=$2; s+=$3} END {printf "%d passed, %d failed, %d skipped", p, f, s}')
echo "Tests: ${totals:-0 passed, 0 failed, 0 skipped}"

if (( rc == 0 )); then
  echo "[test] SUMMARY: build ok, all tests passed ($((SECONDS - start))s)"
else
  echo "[test] SUMMARY: tests FAILED (dotnet test exit code $rc, $((SECONDS - start))s)"
fi
exit "$rc"
