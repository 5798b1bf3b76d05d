#!/usr/bin/env bash
# Refreshes the portal's screenshots in docs/images (docs/portal.md shows them): a small facility from this build,
# a few deliveries, each page read in Debian's Chromium. Run after `dotnet build Shoppe.sln -c Release`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/chromium ] || { echo "portal-screenshots: /usr/bin/chromium is missing (eng/install-test-deps.sh installs it)" >&2; exit 1; }
dotnet run -c Release --no-build --project services/Portal/Shoppe.Portal.Benchmarks -- screenshots docs/images
