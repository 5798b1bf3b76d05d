#!/usr/bin/env bash
# Starts a Docker engine on this machine for the conformance suite's container environment, with no registry:
# installs docker.io and debootstrap from Debian, starts dockerd (state under $SHOPPE_DOCKER_ROOT, default
# /var/lib/shoppe-docker for root), and builds the Debian image with .NET's runtime dependencies that the service images are built on (shoppe/runtime-deps:bookworm,
# debootstrap | docker import) when it is missing. Prints the variables to export; idempotent.
#   eval "$(eng/docker-engine.sh)"      then: shoppe release certify 0.1.0 --target containers
#   eng/docker-engine.sh stop
set -euo pipefail
# The engine's state: a root-owned system folder for root, the user's own otherwise (never a shared /tmp path that
# another user could create first).
if [ "$(id -u)" = 0 ]; then default_root=/var/lib/shoppe-docker; else default_root="$HOME/.local/share/shoppe-docker"; fi
root="${SHOPPE_DOCKER_ROOT:-$default_root}"
if [ -e "$root" ] && [ ! -O "$root" ]; then echo "$root is not yours: refusing to run an engine from it" >&2; exit 1; fi
sock="$root/docker.sock"
image="${SHOPPE_BASE_IMAGE:-shoppe/runtime-deps:bookworm}"
export DOCKER_HOST="unix://$sock" DOCKER_API_VERSION=1.41
# shellcheck source=lib/install.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/install.sh"

if [ "${1:-}" = "stop" ]; then
  [ -f "$root/dockerd.pid" ] && kill "$(cat "$root/dockerd.pid")" 2>/dev/null || true
  exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  apt_install "${need[@]}" >&2
fi

mkdir -p "$root"
if ! docker info >/dev/null 2>&1; then
  dockerd --data-root "$root/data" --host "$DOCKER_HOST" --exec-root "$root/exec" --pidfile "$root/dockerd.pid" >"$root/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $root/dockerd.log" >&2; exit 1; }
  echo "# started dockerd (pid $(cat "$root/dockerd.pid")): eng/docker-engine.sh stop"
fi

if ! docker image inspect "$image" >/dev/null 2>&1; then
  # The mirror apt uses here (no registry is reachable, Debian's mirror is).
  mirror=$( { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'; \
             grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } | grep -v security | head -1 || true)
  # What a self-contained .NET app needs beside itself (as Microsoft's runtime-deps images carry). A dropped
  # download fails debootstrap as a whole: it starts again from an empty folder.
  bootstrap() {
    rm -rf "$root/rootfs"
    debootstrap --variant=minbase --include=ca-certificates,libssl3,tzdata,zlib1g,libstdc++6,libgcc-s1 \
      bookworm "$root/rootfs" "${mirror:-http://deb.debian.org/debian}" >&2
  }
  retry 3 15 bootstrap >&2
  tar -C "$root/rootfs" -c . | docker import - "$image" >&2
  rm -rf "$root/rootfs"
fi

echo "export DOCKER_HOST=$DOCKER_HOST DOCKER_API_VERSION=1.41 TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 SHOPPE_BASE_IMAGE=$image"
