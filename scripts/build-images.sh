#!/usr/bin/env bash
# Builds routeiq/router-trainer:dev and routeiq/router-server:dev with no registry and no pull:
# a self-contained `dotnet publish` (linux-x64) laid on a rootfs of busybox-static plus the
# glibc libraries the app links (found with ldd on the host), `tar | docker import`.
# Idempotent: an image whose routeiq.source-hash label matches the sources is kept.
#
#   scripts/build-images.sh [trainer|server ...]     (default: both)
#   ROUTEIQ_IMAGE_TAG=dev  ROUTEIQ_IMAGE_USER=10001  ROUTEIQ_IMAGE_FORCE=1 (rebuild anyway)
#
# Needs: dotnet SDK, docker, busybox-static (scripts/infra.sh installs the last two).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TAG=${ROUTEIQ_IMAGE_TAG:-dev}
IMAGE_USER=${ROUTEIQ_IMAGE_USER:-10001}
WORK=${ROUTEIQ_IMAGE_WORK:-${TMPDIR:-/tmp}/routeiq-images-$(id -u)}
BUSYBOX=${ROUTEIQ_BUSYBOX:-/bin/busybox}
log() { echo "[build-images] $*" >&2; }

[[ -x "$BUSYBOX" ]] || { log "busybox-static not found at $BUSYBOX (apt-get install busybox-static, or run scripts/infra.sh)"; exit 1; }
command -v docker >/dev/null || { log "docker CLI not found"; exit 1; }
docker info >/dev/null 2>&1 || { log "the Docker Engine is not reachable"; exit 1; }

# Everything that goes into an image: the projects it is built from, central build files and this script.
source_hash() {
  local project=$1
  (cd "$ROOT" && find "$project" shared/RouteIQ.Routing shared/RouteIQ.Artifacts shared/RouteIQ.Contracts \
      -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.json' \) -not -path '*/bin/*' -not -path '*/obj/*' -print0 \
    | sort -z | xargs -0 sha256sum; sha256sum Directory.Build.props Directory.Packages.props scripts/build-images.sh) \
    | sha256sum | cut -c1-32
}

build_one() {
  local name=$1 project=$2 entry=$3; shift 3
  local image="routeiq/$name:$TAG"
  local hash; hash=$(source_hash "$project")
  local current; current=$(docker image inspect -f '{{ index .Config.Labels "routeiq.source-hash" }}' "$image" 2>/dev/null || true)
  if [[ "$current" == "$hash" && -z "${ROUTEIQ_IMAGE_FORCE:-}" ]]; then
    log "$image is up to date (sources $hash)"
    return
  fi
  log "$image: publishing $project (self-contained linux-x64)"
  local out="$WORK/$name"
  rm -rf "$out"
  mkdir -p "$out/rootfs/app" "$out/rootfs/bin" "$out/rootfs/tmp" "$out/rootfs/output" "$out/rootfs/etc"
  dotnet publish "$ROOT/$project" -c Release -r linux-x64 --self-contained true \
    -p:DebugType=none -p:GenerateDocumentationFile=false -o "$out/rootfs/app" --nologo -v quiet >&2

  # busybox: a shell and the usual tools, as relative applet links.
  cp "$BUSYBOX" "$out/rootfs/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [[ "$applet" == busybox || -e "$out/rootfs/bin/$applet" ]] || ln -s busybox "$out/rootfs/bin/$applet"
  done

  # glibc and friends: whatever the app host and its native libraries link, copied from this machine.
  local libs
  libs=$(find "$out/rootfs/app" -maxdepth 1 -type f \( -name '*.so' -o -name "${project##*/}" \) -exec ldd {} \; 2>/dev/null \
    | awk '/=> \// {print $3} /^\s*\/.*ld-linux/ {print $1}' | sort -u)
  for extra in libssl.so.3 libcrypto.so.3 libz.so.1; do
    # awk reads to the end (no early exit): an early exit could SIGPIPE ldconfig and fail the pipeline.
    local p; p=$(ldconfig -p | awk -v l="$extra" '$1 == l && /x86-64/ && !found {print $NF; found = 1}')
    [[ -n "$p" ]] && libs+=$'\n'"$p"
  done
  while read -r lib; do
    [[ -z "$lib" ]] && continue
    mkdir -p "$out/rootfs$(dirname "$lib")"
    cp -L "$lib" "$out/rootfs$lib"
  done <<< "$libs"
  # The loader is looked up at its canonical path whatever ldd printed.
  if [[ -e /lib64/ld-linux-x86-64.so.2 ]]; then
    mkdir -p "$out/rootfs/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$out/rootfs/lib64/"
  fi

  printf 'root:x:0:0:root:/root:/bin/sh\nrouteiq:x:%s:%s:routeiq:/tmp:/bin/sh\n' "$IMAGE_USER" "$IMAGE_USER" > "$out/rootfs/etc/passwd"
  printf 'root:x:0:\nrouteiq:x:%s:\n' "$IMAGE_USER" > "$out/rootfs/etc/group"
  chmod 1777 "$out/rootfs/tmp" "$out/rootfs/output"

  local changes=(
    --change "ENTRYPOINT [\"/app/$entry\"]"
    --change "WORKDIR /app"
    --change "USER $IMAGE_USER"
    --change "ENV HOME=/tmp TMPDIR=/tmp DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_gcServer=0"
    --change "LABEL routeiq.source-hash=$hash org.opencontainers.image.title=$name"
  )
  for c in "$@"; do changes+=(--change "$c"); done
  log "$image: importing rootfs ($(du -sh "$out/rootfs" | cut -f1))"
  tar -C "$out/rootfs" --numeric-owner --owner=0 --group=0 -c . | docker import "${changes[@]}" - "$image" >/dev/null
  rm -rf "$out"
  log "$image: built (sources $hash)"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(trainer server)
for t in "${targets[@]}"; do
  case "$t" in
    trainer) build_one router-trainer workloads/RouteIQ.RouterTrainer RouteIQ.RouterTrainer "ENV ROUTEIQ_OUTPUT_DIR=/output" ;;
    server)  build_one router-server workloads/RouteIQ.RouterServer RouteIQ.RouterServer "ENV SERVE_PORT=8080 MODEL_CACHE_DIR=/tmp/routeiq-model-cache" "EXPOSE 8080" ;;
    *) log "unknown target '$t' (trainer|server)"; exit 2 ;;
  esac
done
