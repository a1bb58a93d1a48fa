#!/usr/bin/env bash
# Scaffold one EF Core migration for a service's DbContext, for both providers (SQLite and
# PostgreSQL): scripts/add-migration.sh <gateway-admin|rollout|telemetry-ingest> <MigrationName>
# Needs the dotnet-ef tool (dotnet tool install --global dotnet-ef --version 10.0.15).
# Every schema change is one such pair of migrations plus the upgrade test (docs/operations.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
service=${1:?service: gateway-admin, rollout or telemetry-ingest}
name=${2:?migration name, e.g. AddFeedback}
case "$service" in
  gateway-admin) context=LedgerDbContext; dir=Ledger ;;
  rollout) context=RegistryDbContext; dir=Registry ;;
  telemetry-ingest) context=TelemetryDbContext; dir=Store ;;
  *) echo "unknown service '$service'" >&2; exit 2 ;;
esac
export PATH="$PATH:$HOME/.dotnet/tools"
# dotnet ef overwrites any file of the project named like the snapshot it writes
# ({Context}ModelSnapshot.cs), so the other provider's snapshot is set aside while it runs.
root="services/$service/$dir/Migrations"
for provider in Sqlite PostgreSql; do
  other=$([[ $provider == Sqlite ]] && echo PostgreSql || echo Sqlite)
  hidden="$root/$other/${context}ModelSnapshot.cs"
  [[ -f $hidden ]] && mv "$hidden" "$hidden.aside"
  trap '[[ -f "$hidden.aside" ]] && mv "$hidden.aside" "$hidden"' EXIT
  ROUTEIQ_EF_PROVIDER=${provider,,} dotnet ef migrations add "$name" --configuration Debug \
    --project "services/$service" --context "$context" --output-dir "$dir/Migrations/$provider"
  [[ -f "$hidden.aside" ]] && mv "$hidden.aside" "$hidden"
done
