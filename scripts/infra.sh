#!/usr/bin/env bash
# Local test infrastructure for RouteIQ: RabbitMQ, PostgreSQL 15, s3rver (S3), Docker Engine
# and a tiny offline busybox test image. Idempotent; everything is bound to loopback only.
# Usage: scripts/infra.sh            (writes scripts/.infra.env)
# Optional env: ROUTEIQ_RABBITMQ_MANAGEMENT=1  (enable management UI on 127.0.0.1:15672)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
ENV_FILE="$SCRIPT_DIR/.infra.env"

export DEBIAN_FRONTEND=noninteractive
export ERL_EPMD_ADDRESS=127.0.0.1

RABBIT_PORT=5672
PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
S3_PORT=9090
S3_BUCKET=routeiq
S3_PREFIX=/opt/routeiq-s3rver
S3_DATA=/var/lib/routeiq-s3rver
S3_LOG=/var/log/routeiq-s3rver.log
S3_PID=/var/run/routeiq-s3rver.pid
DOCKERD_LOG=/var/log/routeiq-dockerd.log
DOCKERD_PID=/var/run/docker.pid
DOCKER_STATE_DIR=/var/lib/routeiq-infra
TEST_IMAGE=routeiq/busybox:test

log()  { echo "[infra] $*"; }
warn() { echo "[infra] WARNING: $*" >&2; }
die()  { echo "[infra] ERROR: $*" >&2; exit 1; }

# die with the tail of one or more log files
die_log() {
  local msg="$1"; shift
  echo "[infra] ERROR: $msg" >&2
  local f
  for f in "$@"; do
    if [[ -f "$f" ]]; then
      echo "[infra] ---- last 40 lines of $f ----" >&2
      tail -n 40 "$f" >&2 || true
    fi
  done
  exit 1
}

if [[ $EUID -ne 0 ]]; then
  die "must run as root (installs packages and starts system services)"
fi

# true if something accepts TCP connections on host:port
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# alive and not a zombie (PID 1 in this container does not always reap orphans,
# so a killed daemon can linger as <defunct> and still pass kill -0)
pid_alive() {
  local pid="$1" state
  [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# wait_until <seconds> <command...>
wait_until() {
  local secs="$1"; shift
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    (( SECONDS >= deadline )) && return 1
    sleep 0.5
  done
}

# detach <logfile> <pidfile or ""> <cmd...>: start a daemon in its own session, fully
# detached from our stdout/stderr (so callers piping our output don't hang), cwd /
detach() {
  local logf="$1" pidf="$2"; shift 2
  ( cd / && exec setsid nohup "$@" ) >>"$logf" 2>&1 </dev/null &
  local pid=$!
  [[ -z "$pidf" ]] || echo "$pid" > "$pidf"
  disown "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- packages
# Install all missing apt packages in one apt-get call (much faster than several).
apt_install() {
  (( $# )) || return 0
  log "apt: installing $*"
  local created_policy=0
  # no service may be auto-started by dpkg (they would bind 0.0.0.0 with default config)
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  local rc=0
  apt-get install "${opts[@]}" "$@" </dev/null >/var/log/routeiq-apt.log 2>&1 || rc=$?
  if (( rc != 0 )); then
    log "apt: install failed (rc=$rc), running apt-get update and retrying"
    rc=0
    { apt-get update -q && apt-get install "${opts[@]}" "$@"; } </dev/null >>/var/log/routeiq-apt.log 2>&1 || rc=$?
    (( rc == 0 )) || { (( created_policy )) && rm -f /usr/sbin/policy-rc.d; die_log "apt-get install $* failed" /var/log/routeiq-apt.log; }
  fi
  (( created_policy )) && rm -f /usr/sbin/policy-rc.d
  return 0
}

ensure_packages() {
  local missing=()
  command -v rabbitmq-server >/dev/null 2>&1 || [[ -x /usr/sbin/rabbitmq-server ]] || missing+=(rabbitmq-server)
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  [[ -x /bin/busybox ]] || missing+=(busybox-static)
  # The dashboard's browser tests (tests/RouteIQ.Ui.Tests) drive Debian's Chromium through Playwright.
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  if [[ ! -x /usr/lib/postgresql/$PG_VERSION/bin/postgres ]]; then
    missing+=(postgresql-$PG_VERSION)
  fi
  apt_install "${missing[@]}"
}

# npm install of s3rver; can run in the background while apt works
s3rver_bin() { echo "$S3_PREFIX/node_modules/.bin/s3rver"; }
install_s3rver() {
  [[ -x "$(s3rver_bin)" ]] && return 0
  command -v npm >/dev/null 2>&1 || die "npm not found (node 20 expected)"
  mkdir -p "$S3_PREFIX"
  [[ -f "$S3_PREFIX/package.json" ]] || echo '{"name":"routeiq-s3rver","private":true}' > "$S3_PREFIX/package.json"
  if ! npm install --prefix "$S3_PREFIX" --no-audit --no-fund --loglevel=error s3rver@3.7.1 \
        </dev/null >/var/log/routeiq-s3rver-npm.log 2>&1; then
    return 1
  fi
  [[ -x "$(s3rver_bin)" ]]
}

# ---------------------------------------------------------------- rabbitmq
rabbitmq_configure() {
  mkdir -p /etc/rabbitmq
  local conf=/etc/rabbitmq/rabbitmq.conf
  local want
  want="# managed by routeiq scripts/infra.sh - loopback only
listeners.tcp.default = 127.0.0.1:${RABBIT_PORT}
loopback_users.guest = true
management.tcp.ip = 127.0.0.1
management.tcp.port = 15672"
  [[ -f "$conf" && "$(cat "$conf")" == "$want" ]] || printf '%s\n' "$want" > "$conf"

  local envconf=/etc/rabbitmq/rabbitmq-env.conf
  local wantenv
  wantenv="# managed by routeiq scripts/infra.sh - loopback only
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=${RABBIT_PORT}
DIST_PORT=25672
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS
SERVER_ADDITIONAL_ERL_ARGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"
CTL_ERL_ARGS=\"-kernel inet_dist_use_interface {127,0,0,1}\""
  [[ -f "$envconf" && "$(cat "$envconf")" == "$wantenv" ]] || printf '%s\n' "$wantenv" > "$envconf"

  local plugins=/etc/rabbitmq/enabled_plugins
  if [[ "${ROUTEIQ_RABBITMQ_MANAGEMENT:-0}" == 1 ]]; then
    [[ "$(cat "$plugins" 2>/dev/null)" == "[rabbitmq_management]." ]] || echo "[rabbitmq_management]." > "$plugins"
  elif [[ ! -f "$plugins" ]]; then
    echo "[]." > "$plugins"
  fi
  chown rabbitmq:rabbitmq "$plugins" 2>/dev/null || true
}

rabbitmq_pid() {
  cat /var/lib/rabbitmq/mnesia/rabbit@localhost.pid 2>/dev/null || true
}

# launch without waiting (rabbit boots slowly; other services start meanwhile)
RABBIT_STARTED=0
start_rabbitmq_async() {
  port_open 127.0.0.1 "$RABBIT_PORT" && return 0
  rabbitmq_configure
  mkdir -p /var/log/rabbitmq
  chown rabbitmq:rabbitmq /var/log/rabbitmq 2>/dev/null || true
  if pid_alive "$(rabbitmq_pid)"; then
    log "rabbitmq: node process alive (pid $(rabbitmq_pid)), waiting for listener"
  else
    log "rabbitmq: starting"
    # /usr/sbin/rabbitmq-server drops privileges to the rabbitmq user itself
    : > /var/log/rabbitmq/routeiq-start.log
    detach /var/log/rabbitmq/routeiq-start.log "" /usr/sbin/rabbitmq-server
    RABBIT_STARTED=1
  fi
}

wait_rabbitmq() {
  if ! wait_until 120 port_open 127.0.0.1 "$RABBIT_PORT"; then
    die_log "rabbitmq did not open 127.0.0.1:$RABBIT_PORT within 120s" \
      /var/log/rabbitmq/routeiq-start.log /var/log/rabbitmq/rabbit@localhost.log
  fi
  log "rabbitmq: running on 127.0.0.1:$RABBIT_PORT (guest/guest)"
}

# ---------------------------------------------------------------- postgres
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
pg_auth_ok() { PGPASSWORD=postgres PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtc 'select 1' >/dev/null 2>&1; }

start_postgres() {
  local confd=/etc/postgresql/$PG_VERSION/$PG_CLUSTER/conf.d
  local hba=/etc/postgresql/$PG_VERSION/$PG_CLUSTER/pg_hba.conf
  [[ -d /etc/postgresql/$PG_VERSION/$PG_CLUSTER ]] || pg_createcluster "$PG_VERSION" "$PG_CLUSTER" >/dev/null
  local changed=0
  mkdir -p "$confd"
  local want="# managed by routeiq scripts/infra.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
# The integration tests run several test assemblies at once, each with hosts holding connection pools.
max_connections = 400"
  if [[ ! -f "$confd/routeiq.conf" || "$(cat "$confd/routeiq.conf")" != "$want" ]]; then
    printf '%s\n' "$want" > "$confd/routeiq.conf"; changed=1
  fi
  if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+(md5|scram-sha-256)' "$hba"; then
    # prepend so it wins over any earlier reject/trust rule
    { echo "host all all 127.0.0.1/32 scram-sha-256  # routeiq infra"; cat "$hba"; } > "$hba.tmp"
    cat "$hba.tmp" > "$hba"; rm -f "$hba.tmp"; changed=1
  fi

  if pg_ready; then
    if (( changed )); then
      log "postgres: config changed, restarting"
      pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" restart
    fi
  else
    log "postgres: starting cluster $PG_VERSION/$PG_CLUSTER"
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start </dev/null \
      || die_log "pg_ctlcluster $PG_VERSION $PG_CLUSTER start failed" /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log
  fi
  wait_until 60 pg_ready \
    || die_log "postgres not ready on 127.0.0.1:$PG_PORT" /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log
  if ! pg_auth_ok; then
    log "postgres: setting password for role postgres"
    (cd / && runuser -u postgres -- psql -p "$PG_PORT" -qAtc "ALTER USER postgres WITH PASSWORD 'postgres'") >/dev/null
    pg_auth_ok || die_log "postgres: password login as postgres/postgres on 127.0.0.1 fails" /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log
  fi
  log "postgres: running on 127.0.0.1:$PG_PORT (postgres/postgres)"
}

# ---------------------------------------------------------------- s3rver
s3_bucket_ok() { curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$S3_PORT/$S3_BUCKET"; }

start_s3rver() {
  if port_open 127.0.0.1 "$S3_PORT" && s3_bucket_ok; then
    log "s3rver: running on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET)"
    return 0
  fi
  if port_open 127.0.0.1 "$S3_PORT"; then
    if pid_alive "$(cat "$S3_PID" 2>/dev/null || true)"; then
      log "s3rver: port open but bucket missing, restarting"
      kill "$(cat "$S3_PID")" 2>/dev/null || true
      wait_until 10 bash -c "! kill -0 $(cat "$S3_PID") 2>/dev/null" || kill -9 "$(cat "$S3_PID")" 2>/dev/null || true
    else
      die "port 127.0.0.1:$S3_PORT is taken by something that is not our s3rver (no $S3_BUCKET bucket)"
    fi
  fi
  [[ -x "$(s3rver_bin)" ]] || install_s3rver || die_log "npm install s3rver failed" /var/log/routeiq-s3rver-npm.log
  mkdir -p "$S3_DATA"
  log "s3rver: starting"
  : > "$S3_LOG"
  detach "$S3_LOG" "$S3_PID" "$(s3rver_bin)" --address 127.0.0.1 --port "$S3_PORT" --directory "$S3_DATA" \
      --configure-bucket "$S3_BUCKET" --no-vhost-buckets
  wait_until 30 port_open 127.0.0.1 "$S3_PORT" || die_log "s3rver did not open 127.0.0.1:$S3_PORT" "$S3_LOG"
  wait_until 15 s3_bucket_ok || die_log "s3rver: GET http://127.0.0.1:$S3_PORT/$S3_BUCKET fails" "$S3_LOG"
  log "s3rver: running on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET)"
}

# ---------------------------------------------------------------- docker
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }

dockerd_launch() {
  local driver="$1"
  local args=(--bridge=none --iptables=false --ip-masq=false -H unix:///var/run/docker.sock --pidfile "$DOCKERD_PID")
  [[ -n "$driver" ]] && args+=(--storage-driver="$driver")
  echo "=== $(date -Is) starting dockerd ${args[*]}" >>"$DOCKERD_LOG"
  detach "$DOCKERD_LOG" "$DOCKER_STATE_DIR/dockerd.launch-pid" dockerd "${args[@]}"
}

# wait for docker info; fail early when the launched dockerd died
dockerd_wait() {
  local lpid deadline=$((SECONDS + 60))
  lpid="$(cat "$DOCKER_STATE_DIR/dockerd.launch-pid" 2>/dev/null || true)"
  while ! docker_ok; do
    pid_alive "$lpid" || { sleep 1; docker_ok && return 0; return 1; }
    (( SECONDS >= deadline )) && return 1
    sleep 0.5
  done
}

start_docker() {
  mkdir -p "$DOCKER_STATE_DIR"
  if docker_ok; then
    log "docker: running ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}' 2>/dev/null), unix:///var/run/docker.sock)"
    return 0
  fi
  # stale pid file (dockerd killed) -> dockerd refuses to start
  if [[ -f "$DOCKERD_PID" ]]; then
    local old; old="$(cat "$DOCKERD_PID" 2>/dev/null || true)"
    if pid_alive "$old" && [[ "$(cat /proc/"$old"/comm 2>/dev/null)" == dockerd ]]; then
      log "docker: dockerd (pid $old) alive but not answering yet, waiting"
      echo "$old" > "$DOCKER_STATE_DIR/dockerd.launch-pid"
      if dockerd_wait; then
        log "docker: running ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}' 2>/dev/null))"
        return 0
      fi
      die_log "dockerd pid $old is alive but docker info fails" "$DOCKERD_LOG"
    fi
    log "docker: removing stale pid file $DOCKERD_PID (pid '$old' not running)"
    rm -f "$DOCKERD_PID"
  fi
  # same for dockerd's managed containerd
  local cpidf=/var/run/docker/containerd/containerd.pid
  if [[ -f "$cpidf" ]] && ! pid_alive "$(cat "$cpidf" 2>/dev/null || true)"; then
    rm -f "$cpidf"
  fi

  local driver_file="$DOCKER_STATE_DIR/dockerd-storage-driver"
  local driver=""
  [[ -f "$driver_file" ]] && driver="$(cat "$driver_file")"
  log "docker: starting dockerd${driver:+ (storage $driver)}"
  dockerd_launch "$driver"
  if ! dockerd_wait; then
    if [[ -z "$driver" || "$driver" == overlay2 ]]; then
      warn "docker: dockerd with default storage driver failed, retrying with vfs (see $DOCKERD_LOG)"
      local lpid; lpid="$(cat "$DOCKER_STATE_DIR/dockerd.launch-pid" 2>/dev/null || true)"
      if pid_alive "$lpid"; then kill "$lpid" 2>/dev/null || true; wait_until 15 bash -c "! kill -0 $lpid 2>/dev/null" || kill -9 "$lpid" 2>/dev/null || true; fi
      rm -f "$DOCKERD_PID"
      dockerd_launch vfs
      dockerd_wait || die_log "dockerd failed to start (also with --storage-driver=vfs)" "$DOCKERD_LOG"
    else
      die_log "dockerd failed to start" "$DOCKERD_LOG"
    fi
  fi
  # remember the driver that works so later starts skip the probe
  docker info --format '{{.Driver}}' > "$driver_file" 2>/dev/null || true
  log "docker: running ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}' 2>/dev/null), unix:///var/run/docker.sock)"
}

# ---------------------------------------------------------------- test image
build_test_image() {
  if ! docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
    log "image: building $TEST_IMAGE from busybox-static (no pull)"
    local root; root="$(mktemp -d /tmp/routeiq-rootfs.XXXXXX)"
    mkdir -p "$root"/{bin,usr,etc,tmp,output,root,proc,sys,dev,var/tmp,work}
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 0777 "$root/output"
    ln -s bin "$root/sbin"; ln -s ../bin "$root/usr/bin"; ln -s ../bin "$root/usr/sbin"
    cp /bin/busybox "$root/bin/busybox"
    # relative applet symlinks (busybox --install -s would point at the host's /usr/bin/busybox)
    local applet
    for applet in $(/bin/busybox --list); do
      [[ "$applet" == busybox || -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    tar -C "$root" -c . | docker import -c 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' -c 'CMD ["/bin/sh"]' - "$TEST_IMAGE" >/dev/null \
      || { rm -rf "$root"; die "docker import of $TEST_IMAGE failed"; }
    rm -rf "$root"
  fi
  local out
  out="$(timeout 60 docker run --rm --network host "$TEST_IMAGE" /bin/sh -c 'echo ok' 2>&1)" \
    || die_log "docker run $TEST_IMAGE failed: $out" "$DOCKERD_LOG"
  [[ "$out" == ok ]] || die "docker run $TEST_IMAGE printed '$out' instead of 'ok'"
  log "image: $TEST_IMAGE ok"
}

# ---------------------------------------------------------------- env file
write_env() {
  local content
  content="export ROUTEIQ_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:${RABBIT_PORT}/
export ROUTEIQ_TEST_POSTGRES='Host=127.0.0.1;Port=${PG_PORT};Username=postgres;Password=postgres'
export ROUTEIQ_TEST_S3_URL=http://127.0.0.1:${S3_PORT}
export ROUTEIQ_TEST_S3_BUCKET=${S3_BUCKET}
export AWS_ACCESS_KEY_ID=S3RVER
export AWS_SECRET_ACCESS_KEY=S3RVER
export ROUTEIQ_TEST_DOCKER=unix:///var/run/docker.sock
export ROUTEIQ_TEST_IMAGE=${TEST_IMAGE}"
  [[ -f "$ENV_FILE" && "$(cat "$ENV_FILE")" == "$content" ]] || printf '%s\n' "$content" > "$ENV_FILE"
  local gi="$REPO_ROOT/.gitignore"
  if ! grep -qxF 'scripts/.infra.env' "$gi" 2>/dev/null; then
    # append only; keep whatever else is there
    [[ -s "$gi" && -n "$(tail -c1 "$gi")" ]] && echo >> "$gi"
    echo 'scripts/.infra.env' >> "$gi"
  fi
  log "env written to $ENV_FILE:"
  sed 's/^/  /' "$ENV_FILE"
}

# ---------------------------------------------------------------- main
main() {
  local t0=$SECONDS
  # s3rver npm install runs in parallel with apt
  local npm_pid=""
  if [[ ! -x "$(s3rver_bin)" ]]; then
    log "s3rver: installing via npm into $S3_PREFIX (background)"
    install_s3rver & npm_pid=$!
  fi
  ensure_packages
  if [[ -n "$npm_pid" ]]; then
    wait "$npm_pid" || die_log "npm install s3rver failed" /var/log/routeiq-s3rver-npm.log
  fi
  start_rabbitmq_async
  start_postgres
  start_s3rver
  start_docker
  build_test_image
  wait_rabbitmq
  write_env
  log "all services up ($((SECONDS - t0))s)"
}

main "$@"
