#!/usr/bin/env bash
# The distributed quick start, start to finish, on this machine: the four services as processes on RabbitMQ,
# PostgreSQL, S3 (s3rver) and Docker Engine (all from scripts/infra.sh, no image pulls), trainers and router
# servers in locally built containers, then the README's CLI commands against them:
#   ingest a sample of routing telemetry → build a dataset → train knn-router and roll it out →
#   print the gateway's routing config → route a query through the stable endpoint.
# scripts/doctest.sh runs it (README "Running the distributed stack"); a user can run it as it is.
# Everything it starts is stopped on exit; its state lives in a fresh RabbitMQ vhost, database and S3 prefix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
say() { printf '\n[quickstart] %s\n' "$*"; }

./scripts/infra.sh </dev/null >/dev/null
# shellcheck disable=SC1091
source ./scripts/.infra.env

run_id="qs$(date +%s)$$"
state="${TMPDIR:-/tmp}/routeiq-quickstart/$run_id"
mkdir -p "$state"
vhost="routeiq-quickstart-$run_id"
database="routeiq_quickstart_$run_id"
rabbitmqctl add_vhost "$vhost" --description routeiq-test >/dev/null
rabbitmqctl set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null
PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"$database\"" >/dev/null
PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "COMMENT ON DATABASE \"$database\" IS 'routeiq-test'" >/dev/null

admin_key=$(openssl rand -hex 24)
hmac_key=$(openssl rand -hex 32)
node="quickstart-$run_id"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for label in "$node" "$node/serve"; do
    ids=$(docker ps -aq --filter "label=routeiq.node=$label" 2>/dev/null || true)
    [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
  done
  rabbitmqctl delete_vhost "$vhost" >/dev/null 2>&1 || true
  PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
  if (( rc != 0 )); then
    for log in "$state"/*.log; do echo "--- $(basename "$log") (last 30 lines)"; tail -n 30 "$log"; done
  fi
  exit "$rc"
}
trap cleanup EXIT

# What test.sh already built is reused; a fresh checkout builds the services, the CLI and the two images.
config=Release
for project in services/gateway-admin/RouteIQ.GatewayAdmin services/trainer-runner/RouteIQ.TrainerRunner \
               services/rollout/RouteIQ.Rollout services/telemetry-ingest/RouteIQ.TelemetryIngest cli/RouteIQ.Cli/RouteIQ.Cli; do
  dll="$(dirname "$project")/bin/$config/net10.0/$(basename "$project").dll"
  [[ "$project" != cli/* ]] || dll="cli/RouteIQ.Cli/bin/$config/net10.0/routeiq.dll"
  [[ -f "$dll" ]] || { say "building $project"; dotnet build "$project.csproj" -c "$config" -v q >/dev/null; }
done
if ! docker image inspect routeiq/router-trainer:dev routeiq/router-server:dev >/dev/null 2>&1; then
  say "building the trainer and router-server images (scripts/build-images.sh)"
  bash ./scripts/build-images.sh >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
admin_port=$(free_port); ingest_port=$(free_port); rollout_port=$(free_port); runner_port=$(free_port); stable_port=$(free_port)

export ConnectionStrings__RabbitMq="amqp://guest:guest@127.0.0.1:5672/$vhost"
export ConnectionStrings__RouteIQ="Host=127.0.0.1;Port=5432;Database=$database;Username=postgres;Password=postgres"
export RouteIQ__Artifacts__Uri="s3://$ROUTEIQ_TEST_S3_BUCKET/quickstart-$run_id/"
export RouteIQ__Artifacts__ServiceUrl="$ROUTEIQ_TEST_S3_URL"
export RouteIQ__Admin__ApiKeys__0="$admin_key"
export RouteIQ__NodeName="$node"
export RouteIQ__Workloads__Launcher=Docker RouteIQ__Workloads__NetworkMode=host
export Logging__LogLevel__Default=Warning

start() { # name dll port [KEY=VALUE...]
  local name=$1 dll=$2 port=$3; shift 3
  env ASPNETCORE_URLS="http://127.0.0.1:$port" RouteIQ__DataDir="$state/$name" "$@" \
    dotnet "$dll" >"$state/$name.log" 2>&1 &
  pids+=("$!")
}
say "starting gateway-admin, trainer-runner, rollout and telemetry-ingest (logs in $state)"
start gateway-admin services/gateway-admin/bin/$config/net10.0/RouteIQ.GatewayAdmin.dll "$admin_port" \
  RouteIQ__Specs__Path="$PWD/deploy/trainer-specs"
start trainer-runner services/trainer-runner/bin/$config/net10.0/RouteIQ.TrainerRunner.dll "$runner_port"
start rollout services/rollout/bin/$config/net10.0/RouteIQ.Rollout.dll "$rollout_port" \
  RouteIQ__Rollout__PublicUrl="http://127.0.0.1:$stable_port" \
  RouteIQ__Rollout__Signing__HmacKey="$hmac_key" \
  RouteIQ__Rollout__ServeEnvironment__AWS_ENDPOINT_URL_S3="$ROUTEIQ_TEST_S3_URL" \
  RouteIQ__Rollout__ServeEnvironment__AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  RouteIQ__Rollout__ServeEnvironment__AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
start telemetry-ingest services/telemetry-ingest/bin/$config/net10.0/RouteIQ.TelemetryIngest.dll "$ingest_port" \
  RouteIQ__Telemetry__StoreQueryText=true \
  RouteIQ__Telemetry__ModelCatalogPath="$PWD/deploy/samples/llm-catalogue.json"
for port in "$admin_port" "$ingest_port" "$rollout_port" "$runner_port"; do
  for _ in $(seq 1 240); do
    curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null
done

routeiq() { dotnet "cli/RouteIQ.Cli/bin/$config/net10.0/routeiq.dll" "$@"; }
export ROUTEIQ_API_KEY="$admin_key"
admin="http://127.0.0.1:$admin_port" telemetry="http://127.0.0.1:$ingest_port"

say "routeiq status"
routeiq --server "$admin" status
say "routeiq ingest file deploy/samples/router-decisions.jsonl   (telemetry-ingest)"
routeiq --server "$telemetry" ingest file deploy/samples/router-decisions.jsonl
say "routeiq dataset build   (telemetry-ingest)"
routeiq --server "$telemetry" dataset build --test-split 0.2
say "routeiq train knn-router --then-roll   (trains on the latest dataset, in a container; rolls it out)"
routeiq --server "$admin" train knn-router --then-roll --wait-seconds 900
say "routeiq routing config knn-router   (what the gateway's config gets)"
routeiq --server "$admin" routing config knn-router
say "a routing request through the stable endpoint http://127.0.0.1:$stable_port"
curl -fsS -X POST "http://127.0.0.1:$stable_port/knn-router/invocations" -H 'Content-Type: application/json' \
  -d '{"query": "Write a Python function that checks whether a number is prime."}'
echo
say "done: the distributed loop ran end to end"
