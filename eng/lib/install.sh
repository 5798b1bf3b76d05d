# Sourced by the install scripts (eng/install-test-deps.sh, eng/docker-engine.sh): installs that survive a fresh
# machine's weather. Another apt-get or unattended-upgrades may hold the dpkg or lists lock (the release
# walk-through once failed on it), and the network may drop a download: waits and retries instead of failing.

# retry TRIES DELAY COMMAND...: runs COMMAND until it succeeds, at most TRIES times, doubling DELAY between tries.
retry() {
  local tries=$1 delay=$2 n=1
  shift 2
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then
      echo "install: gave up after $n tries: $*" >&2
      return 1
    fi
    echo "install: try $n of $tries failed, again in ${delay}s: $*" >&2
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2))
  done
}

# apt_install PACKAGE...: apt-get update and install, waiting up to 10 minutes for another apt/dpkg's locks
# (DPkg::Lock::Timeout), retrying each download (Acquire::Retries) and each whole step (a lists lock that
# update does not wait for, a mirror that hung up).
apt_install() {
  local opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=5 -o Acquire::http::Timeout=60)
  export DEBIAN_FRONTEND=noninteractive
  retry 5 10 apt-get "${opts[@]}" update -qq &&
    retry 5 10 apt-get "${opts[@]}" install -y -qq --no-install-recommends "$@"
}
