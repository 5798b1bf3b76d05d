#!/usr/bin/env bash
# Cold start of the whole facility: from `dotnet run --project aspire/Shoppe.AppHost` to every service
# answering 200 on /health, measured RUNS times (default 3) with a fresh data root each time; prints each
# run and the median. The build is brought up to date first and is not part of the figure.
# Usage: eng/measure-startup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
ports=(5100 5101 5102 5103 5104 5105 5106) # portal delivery cache transfer workflow pushdown logs (launchSettings.json)

dotnet build aspire/Shoppe.AppHost -nologo -clp:ErrorsOnly >/dev/null

times=()
for run in $(seq 1 "$runs"); do
  data=$(mktemp -d -t shoppe-start.XXXXXX)
  start=$(date +%s.%N)
  setsid dotnet run --project aspire/Shoppe.AppHost -- "--Shoppe:DataRoot=$data" >"$data.log" 2>&1 &
  pid=$!
  deadline=$(( $(date +%s) + 180 ))
  while :; do
    up=0
    for p in "${ports[@]}"; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$p/health" || true)
      [ "$code" = 200 ] && up=$((up + 1))
    done
    [ "$up" -eq "${#ports[@]}" ] && break
    if [ "$(date +%s)" -gt "$deadline" ]; then echo "run $run: not all healthy after 180 s (log: $data.log)" >&2; kill -- -"$pid"; exit 1; fi
    sleep 0.1
  done
  end=$(date +%s.%N)
  t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  times+=("$t")
  printf 'run %d: %.1f s\n' "$run" "$t"
  # TERM, not INT: a background job of a non-interactive shell starts with SIGINT ignored.
  kill -TERM -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Let the run end before the next begins: DCP releases the fixed ports at once but stops the services and pilots
  # over the next ~9 s, and a run started beside that shutdown shares the cores with it.
  for _ in $(seq 1 150); do
    ss -ltn | grep -q ':5100 ' || pgrep -f "$PWD/(services|stack)/.*/bin/|/tools/dcp |Aspire.Dashboard" >/dev/null || break
    sleep 0.2
  done
  rm -rf "$data" "$data.log"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
printf 'median of %d: %.1f s  (%d cores, %s)\n' "$runs" "$median" "$(nproc)" "$(date -u +%Y-%m-%d)"
