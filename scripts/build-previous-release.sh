#!/usr/bin/env bash
# Builds the previous release's CLI for the upgrade test (RouteIQ.EndToEnd.Tests UpgradeTests) and
# prints the path of its routeiq.dll. The release is the commit in tests/RouteIQ.EndToEnd.Tests/previous-release
# (or $1): move it forward to the last commit before each new migration, so every schema change is
# upgraded from the release that users run. Built once per commit under $ROUTEIQ_PREVIOUS_RELEASE_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
commit=${1:-$(tr -d '[:space:]' < tests/RouteIQ.EndToEnd.Tests/previous-release)}
root=${ROUTEIQ_PREVIOUS_RELEASE_DIR:-${TMPDIR:-/tmp}/routeiq-previous-release}
out="$root/$commit"
dll="$out/cli/RouteIQ.Cli/bin/Release/net10.0/routeiq.dll"
if [[ -f "$out/.built" && -f "$dll" ]]; then
  echo "$dll"
  exit 0
fi
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "previous release $commit is not in this clone's history (git fetch --unshallow)" >&2
  exit 2
fi
rm -rf "$out"
mkdir -p "$out"
git archive "$commit" | tar -x -C "$out"
DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet build "$out/cli/RouteIQ.Cli" -c Release -v q -nologo >&2
touch "$out/.built"
echo "$dll"
