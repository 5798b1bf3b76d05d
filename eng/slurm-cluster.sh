#!/usr/bin/env bash
# A private one-node Slurm cluster under one folder, for tests (the workflow service's pilots) and by hand:
#
#   eng/slurm-cluster.sh start  FOLDER [CTLD_PORT SLURMD_PORT REST_PORT]   (ports: free ones when not given)
#   eng/slurm-cluster.sh status FOLDER
#   eng/slurm-cluster.sh stop   FOLDER
#
# Everything it runs keeps its files under FOLDER and listens on 127.0.0.1 only: munged on its own socket with its
# own key, slurmctld and slurmd from FOLDER/etc/slurm.conf (SLURM_CONF), slurmrestd (JWT, openapi/v0.0.38) as the
# unprivileged user shoppe-slurm (slurmrestd refuses root and SlurmUser). No system daemon or /etc file is used,
# so it runs beside a machine's own Slurm. Run as root (CI is): slurmd must be root to start jobs as their users,
# and jobs may run as root (tokens for root are minted with scontrol; see FOLDER/cluster.env).
# eng/install-test-deps.sh installs what it runs: slurm-wlm, slurmrestd, slurm-wlm-jwt-plugin, munge.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rest_user=shoppe-slurm

usage() { echo "usage: $0 start|stop|status FOLDER [CTLD_PORT SLURMD_PORT REST_PORT]" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1
folder=$(realpath -m "$2")
conf="$folder/etc/slurm.conf"
run="$folder/run"

# pid_of NAME: the pid in run/NAME.pid when that process still lives, else nothing.
pid_of() {
  local pid
  pid=$(cat "$run/$1.pid" 2>/dev/null) || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  return 0
}

# free_port [TAKEN...]: a random port that nothing accepts connections on now, and not one of TAKEN.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    case " $* " in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# rest_url: from the cluster.env start wrote.
rest_url() { sed -n 's/^SLURM_REST_URL=//p' "$folder/cluster.env"; }

ping_rest() {
  local token
  token=$(SLURM_CONF="$conf" timeout 5 scontrol token username="$rest_user" lifespan=60 2>/dev/null | sed -n 's/^SLURM_JWT=//p') || return 1
  [ -n "$token" ] || return 1
  curl -fsS -m 5 -H "X-SLURM-USER-NAME: $rest_user" -H "X-SLURM-USER-TOKEN: $token" "$(rest_url)/slurm/v0.0.38/ping" 2>/dev/null |
    grep -q '"ping": *"UP"'
}

# ours: the pids of processes started with this cluster's SLURM_CONF (slurmd passes it on to each job's slurmstepd).
ours() {
  grep -lzxF "SLURM_CONF=$conf" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
  return 0
}

stop() {
  # Jobs first, while slurmctld can still end them (a job's slurmstepd outlives slurmd).
  if [ -n "$(pid_of slurmctld)" ]; then
    export SLURM_CONF="$conf"
    timeout 10 scancel --quiet --partition=main 2>/dev/null || true
    for _ in $(seq 50); do
      [ -z "$(timeout 5 squeue --noheader --states=RUNNING,COMPLETING,SUSPENDED 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  # Then the daemons together, munged last (the others authenticate through it).
  local name pid pids=()
  for name in slurmrestd slurmd slurmctld; do
    pid=$(pid_of "$name")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  wait_gone "${pids[@]}"
  pid=$(pid_of munged)
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait_gone "$pid"; }
  # Whatever of ours is left (a job slurmctld could not end) ends here.
  for pid in $(ours); do
    [ "$pid" = "$$" ] || kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$run"/*.pid
  return 0
}

# wait_gone PID...: waits up to 10 s for the processes to end, then kills what is left.
wait_gone() {
  local pid
  for _ in $(seq 100); do
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && break; pid=""; done
    [ -z "${pid:-}" ] && return 0
    sleep 0.1
  done
  for pid in "$@"; do kill -9 "$pid" 2>/dev/null || true; done
}

status() {
  local name pid down=0
  for name in munged slurmctld slurmd slurmrestd; do
    pid=$(pid_of "$name")
    if [ -n "$pid" ]; then echo "$name: running ($pid)"; else echo "$name: stopped"; down=1; fi
  done
  if [ "$down" -eq 0 ] && ping_rest; then echo "slurmrestd: $(rest_url) answers ping"; else down=1; fi
  return "$down"
}

fail() {
  echo "slurm-cluster: $*" >&2
  for log in "$folder"/log/*.log; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
  done
  stop
  exit 1
}

start() {
  [ "$(id -u)" -eq 0 ] || { echo "slurm-cluster: run as root (slurmd starts jobs as their users)" >&2; exit 1; }
  for tool in munged slurmctld slurmd slurmrestd scontrol curl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "slurm-cluster: $tool is missing: eng/install-test-deps.sh installs it" >&2; exit 1; }
  done
  if [ -n "$(pid_of slurmctld)" ]; then
    echo "slurm-cluster: already running in $folder" >&2
    exit 1
  fi
  # The REST daemon's user: a system user with no login, made once per machine. Two starts at once may race to
  # create it; the loser finds it there.
  id -u "$rest_user" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$rest_user" 2>/dev/null ||
    id -u "$rest_user" >/dev/null

  local ctld_port slurmd_port rest_port
  ctld_port=${3:-$(free_port)}
  slurmd_port=${4:-$(free_port "$ctld_port")}
  rest_port=${5:-$(free_port "$ctld_port" "$slurmd_port")}
  mkdir -p "$folder"/{etc,munge,state,spool,log,run}
  # slurmrestd (as shoppe-slurm) reads the configuration; nothing else here is for it.
  chmod 755 "$folder" "$folder/etc"
  chmod 700 "$folder"/{state,spool,log,run}
  # munged wants every user able to reach its socket (only the key is secret).
  chmod 755 "$folder/munge"

  # Slurm daemons and XRootD alike bind the wildcard address: the project's loopback shim keeps them on 127.0.0.1.
  local shim="$here/peers/bin/bindlo.so"
  if [ ! -f "$shim" ]; then
    shim="$folder/run/bindlo.so"
    gcc -shared -fPIC -O2 -o "$shim" "$here/peers/bindlo.c" -ldl
  fi

  # munge: its own key, socket, pid, log and seed, so that no /etc/munge or /run/munge is read or written.
  [ -f "$folder/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$folder/munge/munge.key"; chmod 400 "$folder/munge/munge.key"; }
  local socket="$folder/munge/munge.sock"
  munged --force --socket="$socket" --key-file="$folder/munge/munge.key" --pid-file="$run/munged.pid" \
    --log-file="$folder/log/munged.log" --seed-file="$folder/munge/munged.seed" </dev/null >/dev/null 2>&1 || fail "munged did not start"

  # JWT: the key slurmctld signs and checks tokens with (slurmrestd never sees it).
  [ -f "$folder/state/jwt.key" ] || { head -c 32 /dev/urandom >"$folder/state/jwt.key"; chmod 600 "$folder/state/jwt.key"; }

  local cpus memory
  cpus=$(nproc)
  memory=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
  cat >"$conf" <<EOF
# Written by eng/slurm-cluster.sh: a private one-node cluster, every file under $folder.
ClusterName=shoppe
SlurmctldHost=localhost
SlurmctldAddr=127.0.0.1
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$folder/state/jwt.key
StateSaveLocation=$folder/state
SlurmdSpoolDir=$folder/spool
SlurmctldPidFile=$run/slurmctld.pid
SlurmdPidFile=$run/slurmd.pid
SlurmctldLogFile=$folder/log/slurmctld.log
SlurmdLogFile=$folder/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
PlugStackConfig=$folder/etc/plugstack.conf
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
# CPUs and memory are what jobs are given: a job asks for them (cpus_per_task, memory_per_node) or gets 1 CPU and
# DefMemPerCPU; without that default a job would hold all the node's memory and jobs would run one at a time.
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=256
# GPU requests (--gres=gpu:N) are understood, as on a facility with GPU nodes; this node has none, so Slurm refuses
# them at submission ("Requested node configuration is not available", error 2014) and records the job FAILED.
GresTypes=gpu
ReturnToService=2
# Throughput for many short jobs. Slurm 22.05 starts a submitted batch job on slurmctld's background pass, which
# runs once a second and, by default, schedules batch jobs only if 3 s passed since it last did (batch_sched_delay):
# with 0 every pass schedules. Measured here through slurmrestd (2 CPUs, 2026-12-04): a trivial job goes from submit
# to COMPLETED in 1.0 s (median; 3.0 s with the defaults), and 50 trivial jobs submitted one by one all end in 22-25 s,
# 2.0-2.25 jobs/s (0.83 with the defaults): 1-CPU jobs start at about (CPUs) per second, the pass being the limit.
# sched_min_interval=0 lets the scheduler run again at once when an event asks for it. A cancelled job's processes
# get SIGKILL 2 s after SIGTERM, not 30. Ended jobs stay readable (GET /job/ID) for MinJobAge seconds.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
KillWait=2
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$folder/etc/plugstack.conf"
  chmod 644 "$conf" "$folder/etc/plugstack.conf"
  setpriv --reuid="$rest_user" --regid="$rest_user" --init-groups test -r "$conf" ||
    fail "$rest_user cannot read $conf: FOLDER must be where every user may enter (not under /root)"

  export SLURM_CONF="$conf"
  # Daemons keep no stdio of the caller's (a test reading this script's output to its end would wait for them).
  LD_PRELOAD="$shim" slurmctld -i </dev/null >/dev/null 2>&1 || fail "slurmctld did not start"
  LD_PRELOAD="$shim" slurmd -N localhost </dev/null >/dev/null 2>&1 || fail "slurmd did not start"

  # slurmrestd stays in the foreground: started in the background as shoppe-slurm (setpriv execs, so $! is
  # slurmrestd itself), its pid written here.
  touch "$folder/log/slurmrestd.log"
  SLURM_JWT=daemon setsid setpriv --reuid="$rest_user" --regid="$rest_user" --init-groups \
    slurmrestd -a rest_auth/jwt -s openapi/v0.0.38 "127.0.0.1:$rest_port" </dev/null >>"$folder/log/slurmrestd.log" 2>&1 &
  echo $! >"$run/slurmrestd.pid"

  cat >"$folder/cluster.env" <<EOF
# Written by eng/slurm-cluster.sh start. Mint a token: SLURM_CONF=\$SLURM_CONF scontrol token username=NAME lifespan=SECONDS
# (prints SLURM_JWT=...); send it as X-SLURM-USER-TOKEN with X-SLURM-USER-NAME: NAME to \$SLURM_REST_URL.
SLURM_CONF=$conf
SLURM_REST_URL=http://127.0.0.1:$rest_port
SLURM_REST_USER=$rest_user
SLURM_TOKEN_COMMAND='scontrol token username=NAME lifespan=SECONDS'
SLURMCTLD_PORT=$ctld_port
SLURMD_PORT=$slurmd_port
EOF

  # Up: slurmrestd answers ping (slurmctld UP behind it) and the node takes jobs.
  local name deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ping_rest && timeout 5 scontrol show node localhost 2>/dev/null | grep -Eq 'State=IDLE|State=MIXED|State=ALLOCATED'; then
      echo "slurm-cluster: up in $folder; $(rest_url)"
      return 0
    fi
    for name in munged slurmctld slurmd slurmrestd; do
      [ -n "$(pid_of "$name")" ] || fail "$name exited"
    done
    sleep 0.1
  done
  fail "not up after 30 s"
}

case "$action" in
  start) start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
