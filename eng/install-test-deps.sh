#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently: each step checks first.
# The .NET SDK and Node.js come with the machine; everything else is installed here, never by hand.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/install.sh
. "$here/lib/install.sh"

need_apt=()
# python3 runs the notebook helper's tests and the tutorials (tutorials/python).
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# The cache's interoperability tests read through the cache from an nginx origin and an XRootD HTTP origin
# (xrootd-server-plugins carries XrdHttp), with curl and davix-get as the clients.
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
command -v xrootd >/dev/null 2>&1 || need_apt+=(xrootd-server xrootd-server-plugins)
command -v davix-get >/dev/null 2>&1 || need_apt+=(davix)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# XRootD has no listen-address setting: eng/peers/bindlo.c keeps it on loopback, built here.
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
# The delivery service's state store is tested against a real PostgreSQL: a throwaway cluster per test run,
# started by the tests themselves (initdb/pg_ctl, as the postgres user, on 127.0.0.1).
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need_apt+=(postgresql)
# The transfer service's HTTP-TPC interop tests: gfal-copy (gfal2 with its HTTP plugin) drives copies; the XRootD
# server above (xrootd-server-plugins carries XrdHttpTPC) is the other endpoint; openssl makes its throwaway CA.
command -v gfal-copy >/dev/null 2>&1 || need_apt+=(gfal2 gfal2-plugin-http gfal2-plugin-file gfal2-util-scripts python3-gfal2-util)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# The cache benchmark's wrk phase (docs/performance.md, "Cache") drives every system with wrk and a Lua script.
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
# The portal's tests drive Debian's Chromium with Playwright (never a browser Playwright downloads).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# A release's images are exported and pushed with skopeo (shoppe release images push), tested against a real
# registry on loopback (docker-registry, below: its daemon must not start on install).
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)

if [ "${#need_apt[@]}" -gt 0 ]; then
  apt_install "${need_apt[@]}"
fi

# Daemons the tests start themselves, never the packages'. The workflow service launches its pilots as Slurm jobs
# through slurmrestd: its tests start a private one-node
# cluster with its own munged, configuration and ports (eng/slurm-cluster.sh). The packages' own daemons would
# start on install (munged with /etc/munge's key; slurmctld and slurmd fail without /etc/slurm/slurm.conf): a
# policy-rc.d that says no (101) keeps invoke-rc.d and deb-systemd-invoke from starting them, and where systemd
# runs they are disabled too, so that none comes back at boot.
need_slurm=()
[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/bin/scontrol ] || need_slurm+=(slurm-wlm)
[ -x /usr/sbin/slurmrestd ] || need_slurm+=(slurmrestd)
# auth/jwt, which slurmctld needs to take slurmrestd's tokens, is a package of its own.
ls /usr/lib/*/slurm-wlm/auth_jwt.so >/dev/null 2>&1 || need_slurm+=(slurm-wlm-jwt-plugin)
[ -x /usr/sbin/munged ] || need_slurm+=(munge)
# The distribution registry the image push is tested against; the tests start their own, on loopback.
[ -x /usr/bin/docker-registry ] || need_slurm+=(docker-registry)
if [ "${#need_slurm[@]}" -gt 0 ]; then
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\n# eng/install-test-deps.sh: no daemon starts while Slurm, munge and the registry install.\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    apt_install "${need_slurm[@]}"
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  else
    apt_install "${need_slurm[@]}"
  fi
  if [ -d /run/systemd/system ]; then
    systemctl disable --now munge slurmctld slurmd slurmrestd docker-registry >/dev/null 2>&1 || true
  fi
fi

mkdir -p "$here/peers/bin"
if [ ! -f "$here/peers/bin/bindlo.so" ] || [ "$here/peers/bindlo.c" -nt "$here/peers/bin/bindlo.so" ]; then
  gcc -shared -fPIC -O2 -o "$here/peers/bin/bindlo.so" "$here/peers/bindlo.c" -ldl
fi

# Release publication and the portal's problem reports are tested against recorded real GitHub API exchanges (@octokit/fixtures-server on loopback),
# installed from npm's lock file beside the replay server.
replay="$here/../services/Common/Shoppe.Testing/Peers/github-replay"
if [ ! -d "$replay/node_modules/@octokit/fixtures-server" ] || [ "$replay/package-lock.json" -nt "$replay/node_modules/.package-lock.json" ]; then
  (cd "$replay" && retry 4 10 npm ci --silent --no-audit --no-fund)
fi

# The Pulumi program's offline tests (infra/): Pulumi's SDK, the Kubernetes provider's types, kubernetes-models and
# TypeScript, from npm's lock file. Their install scripts (the provider plugin's download) are not run: the tests use
# Pulumi's mocks, which need neither the engine nor the plugin.
infra="$here/../infra"
if [ ! -d "$infra/node_modules/@pulumi/kubernetes" ] || [ "$infra/package-lock.json" -nt "$infra/node_modules/.package-lock.json" ]; then
  (cd "$infra" && retry 4 10 npm ci --silent --no-audit --no-fund --ignore-scripts)
fi
