#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently: each step checks first.
# The .NET SDK and Node.js come with the machine; everything else is installed here, never by hand.
set -euo pipefail

need_apt=()
# (later issues add their peers here: chromium, xrootd-server, nginx, davix, gfal2, postgresql...)

if [ "${#need_apt[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
