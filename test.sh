#!/usr/bin/env bash
# Runs every test of Coffea Shoppe on this machine, installing what the tests need first (idempotent).
# Ends with the line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"

eng/install-test-deps.sh || { echo "test.sh: installing the test dependencies failed" >&2; echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp -t shoppe-test.XXXXXX)
trap 'rm -f "$log"' EXIT

# Build once, then test without rebuilding each project.
if ! dotnet build Shoppe.sln -c Release -nologo -clp:ErrorsOnly 2>&1 | tee "$log"; then
  echo "test.sh: the build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

dotnet test --solution Shoppe.sln -c Release --no-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Microsoft.Testing.Platform prints one "Test run summary" block; turn it into the plain closing line.
read -r passed failed skipped < <(awk '
  /^Test run summary/                  { summary = 1 }
  summary && /^[[:space:]]*failed:/    { f += $2 }
  summary && /^[[:space:]]*succeeded:/ { p += $2 }
  summary && /^[[:space:]]*skipped:/   { s += $2 }
  END { print p+0, f+0, s+0 }' "$log")

# The Pulumi program's tests (infra/, offline under Pulumi's mocks): node's test runner ends with "# pass N" lines.
infra_log=$(mktemp -t shoppe-infra.XXXXXX)
(cd infra && npm test --silent) 2>&1 | tee "$infra_log"
infra_status=${PIPESTATUS[0]}
read -r infra_passed infra_failed infra_skipped < <(awk '/^# pass /{p=$3} /^# fail /{f=$3} /^# skipped /{s=$3} END { print p+0, f+0, s+0 }' "$infra_log")
if [ "$infra_status" -ne 0 ] && [ "$infra_failed" -eq 0 ]; then
  infra_failed=1 # tsc or the runner failed before counting a test
fi
infra_failures=""
if [ "$infra_failed" -ne 0 ]; then
  infra_failures=$(grep -E -A12 '^not ok' "$infra_log" || tail -40 "$infra_log")
  status=1
fi
passed=$((passed + infra_passed)); failed=$((failed + infra_failed)); skipped=$((skipped + infra_skipped))
rm -f "$infra_log"

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the runner failed without counting a test failure (a crash, a build break): never report green
fi
if [ "$failed" -ne 0 ]; then
  # Repeat each failure's message at the end, where a CI log's tail shows it.
  echo "Failures:"
  awk '/^failed / { show = 1; n = 0 } show && n < 40 { print; n++ } show && /^[[:space:]]+from / { show = 0 }' "$log"
  [ -n "$infra_failures" ] && echo "$infra_failures"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
