#!/usr/bin/python3
"""Dask distributed peer for the workflow benchmark (issue 17, item 7b).

What it measures: how fast Dask distributed runs a layered random DAG of no-op tasks on this machine's
cores, and how much memory its scheduler takes per task. The workflow service's load driver generates the
very same DAG (same jobs, same edges; the edge count and checksum printed here let it check that) and
compares its jobs/s and scheduler memory per job with the figures printed here.

Run it with Debian's Python and Debian's `python3-distributed` (apt-get install -y python3-distributed);
the first `python3` on PATH may be another interpreter without Dask, so name /usr/bin/python3:

    /usr/bin/python3 dask_dag.py --jobs 100000 --width 1000 --fanin 2 --seed 1 --workers 2 --threads-per-worker 1
    /usr/bin/python3 dask_dag.py --jobs 100000 --width 1000 --json           # one JSON line instead of text
    /usr/bin/python3 dask_dag.py --jobs 1000 --width 10 --seed 1 --edges-only  # jobs, edges, checksum; no Dask

The DAG (a C# generator reproduces it bit for bit):
  * N jobs in L = N / W layers of width W; job i is in layer i // W at position i % W.
  * For job i in layer l >= 1 and k in 0..F-1 (F = fan-in): p = (l-1)*W + splitmix64((seed ^ (i*F + k)) mod 2^64) mod W.
    The job's parents are the distinct values of p, ascending. Layer-0 jobs have no parents.
  * Every job is a no-op: it takes its parents' results and returns None.
  * Edge checksum: sum over edges (child, parent) of (child*1000003 + parent), mod 2^64.
  Note on the seed: it is XORed into the hash's input, so it only permutes which job gets which pair of draws.
  With F = 2, seeds 2s and 2s+1 give the same DAG (XOR with 1 swaps k = 0 and 1), and the edge count hardly
  depends on the seed (often not at all); the checksum, weighted by the child, does tell seeds apart.

How it runs: a distributed LocalCluster (worker processes, the given workers and threads per worker, no
dashboard, bound to 127.0.0.1). The graph is a plain task-graph dict, key "j-<i>" -> (noop, parent keys...),
plus one sink task "sink" that depends on every job of the last layer (so the one result that travels back to
the client is the sink's None). It is submitted with client.get(graph, "sink"), which blocks until the sink is
done; a raw dict sent through client.get is neither culled nor fused, so every job is a scheduler task.
(--submit compute sends the same dict as client.compute(Delayed("sink", dsk)): the same work plus a cull pass
on the client; at 20,000 jobs the two were within noise of each other, so get, the plainer one, is the default.)
A small warm-up graph runs first so worker start-up and the first pickling of noop are not timed.

What it reports:
  * jobs, layers, edges, checksum (also with --edges-only, which stops there) and edges_s, the time to draw
    every job's parents and count the edges.
  * build_s: turning those parent lists into the task-graph dict of tuples.
  * run_s: from client.get being called to its return (send graph, schedule, run, sink result back).
  * jobs_per_s: N / run_s.
  * scheduler memory: with LocalCluster the scheduler lives in this (the client's) process, so the figure is
    this process's RSS, sampled every --sample-ms during the run: peak minus the value just before submit
    (after gc), in total and per job. It holds the scheduler's task states and the client's side of the
    submission (the packed graph, the futures); the graph dict itself was built before the baseline.
  * workers' RSS: each worker process's RSS before submit and its sampled peak during the run.
  * python and dask/distributed versions.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import threading
import time

MASK64 = (1 << 64) - 1
CHECKSUM_MULTIPLIER = 1000003
SUBMIT_MODES = {
    "get": "client.get(graph dict, 'sink')",
    "compute": "client.compute(Delayed('sink', graph dict)).result()",
}


# ----------------------------------------------------------------------------------------------------------
# The DAG (pure Python, no Dask: --edges-only needs nothing else)
# ----------------------------------------------------------------------------------------------------------

def splitmix64(x: int) -> int:
    """splitmix64 finaliser over unsigned 64-bit integers (the step of Vigna's SplitMix64 generator)."""
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def parents_of(i: int, width: int, fanin: int, seed: int) -> list[int]:
    """The distinct parents of job i, ascending; [] for a job of layer 0."""
    layer = i // width
    if layer == 0:
        return []
    base = (layer - 1) * width
    ps = {base + splitmix64((seed ^ (i * fanin + k)) & MASK64) % width for k in range(fanin)}
    return sorted(ps)


def all_parents(jobs: int, width: int, fanin: int, seed: int) -> list[list[int]]:
    """parents[i] for every job i."""
    return [parents_of(i, width, fanin, seed) for i in range(jobs)]


def edge_stats(parents: list[list[int]]) -> tuple[int, int]:
    """(edge count, checksum) where checksum = sum over edges of (child*1000003 + parent) mod 2^64."""
    edges = 0
    total = 0
    for child, ps in enumerate(parents):
        edges += len(ps)
        for p in ps:
            total += child * CHECKSUM_MULTIPLIER + p
    return edges, total & MASK64


# ----------------------------------------------------------------------------------------------------------
# The Dask side
# ----------------------------------------------------------------------------------------------------------

def noop(*parent_results):
    """A job: takes its parents' results, does nothing, returns None."""
    return None


def job_key(i: int) -> str:
    # String keys: distributed stringifies tuple keys anyway, so strings spare it that work.
    return f"j-{i}"


def build_graph(parents: list[list[int]], width: int) -> tuple[dict, str]:
    """A plain Dask task graph: "j-<i>" -> (noop, *parent keys), and "sink" over the last layer."""
    dsk = {}
    for i, ps in enumerate(parents):
        dsk[job_key(i)] = (noop, *[job_key(p) for p in ps])
    jobs = len(parents)
    last_layer_start = ((jobs - 1) // width) * width
    dsk["sink"] = (noop, *[job_key(i) for i in range(last_layer_start, jobs)])
    return dsk, "sink"


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process from /proc (cheap enough to sample often)."""
    with open(f"/proc/{pid or 'self'}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler(threading.Thread):
    """Samples the RSS of this process and of the worker processes every interval until stopped;
    keeps each one's peak."""

    def __init__(self, worker_pids: list[int], interval_s: float):
        super().__init__(daemon=True)
        self.pids = [None] + list(worker_pids)  # None = this process
        self.interval_s = interval_s
        self.peaks = {pid: rss_bytes(pid) for pid in self.pids}
        self.samples = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(self.interval_s):
            self.sample()

    def sample(self):
        for pid in self.pids:
            try:
                self.peaks[pid] = max(self.peaks[pid], rss_bytes(pid))
            except OSError:
                pass  # a worker that went away
        self.samples += 1

    def stop(self):
        self._halt.set()
        self.join()
        self.sample()  # one last sample at the end of the run


def run_dask(args, parents: list[list[int]]) -> dict:
    import dask
    import distributed
    from dask.delayed import Delayed
    from distributed import Client, LocalCluster

    # Build the graph before starting anything, so its time is measured alone.
    t0 = time.perf_counter()
    dsk, sink = build_graph(parents, args.width)
    build_s = time.perf_counter() - t0

    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=40,  # logging.ERROR
    )
    client = Client(cluster)
    try:
        client.wait_for_workers(args.workers)
        worker_pids = sorted(client.run(os.getpid).values())

        # Warm-up: a small graph of the same shape, so worker start-up and the first pickling of noop
        # are not in the timed run. Its keys differ from the real run's.
        warm = {f"w-{i}": (noop,) for i in range(100)}
        warm["w-sink"] = (noop, *warm.keys())
        client.get(warm, "w-sink")
        del warm

        gc.collect()
        sampler = RssSampler(worker_pids, args.sample_ms / 1000.0)
        client_before = sampler.peaks[None]
        workers_before = [sampler.peaks[pid] for pid in worker_pids]
        sampler.start()

        t1 = time.perf_counter()
        if args.submit == "get":
            client.get(dsk, sink)  # sends the dict as is, blocks until the sink's result is back
        else:
            client.compute(Delayed(sink, dsk)).result()  # the same graph as a Delayed collection
        run_s = time.perf_counter() - t1

        sampler.stop()
        client_peak = sampler.peaks[None]
        workers_peak = [sampler.peaks[pid] for pid in worker_pids]
    finally:
        client.close()
        cluster.close()

    jobs = len(parents)
    increase = max(0, client_peak - client_before)
    return {
        "build_s": round(build_s, 3),
        "run_s": round(run_s, 3),
        "jobs_per_s": round(jobs / run_s, 1),
        "submit": SUBMIT_MODES[args.submit],
        "scheduler_rss_before_bytes": client_before,
        "scheduler_rss_peak_bytes": client_peak,
        "scheduler_rss_increase_bytes": increase,
        "scheduler_bytes_per_job": round(increase / jobs, 1),
        "workers_rss_before_bytes": workers_before,
        "workers_rss_peak_bytes": workers_peak,
        "rss_samples": sampler.samples,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
    }


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000, help="N, the number of jobs (default 100000)")
    ap.add_argument("--width", type=int, default=1000, help="W, jobs per layer (default 1000)")
    ap.add_argument("--fanin", type=int, default=2, help="F, parent draws per job (default 2)")
    ap.add_argument("--seed", type=int, default=1, help="S, the DAG's seed (default 1)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--threads-per-worker", type=int, default=1, help="threads per worker (default 1)")
    ap.add_argument("--submit", choices=sorted(SUBMIT_MODES), default="get",
                    help="get: client.get of the graph dict (default); compute: client.compute of a Delayed")
    ap.add_argument("--sample-ms", type=float, default=20.0, help="RSS sampling interval (default 20 ms)")
    ap.add_argument("--edges-only", action="store_true", help="print jobs, edges and checksum; no Dask")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.width < 1 or args.fanin < 1:
        ap.error("--jobs, --width and --fanin must be at least 1")
    if args.jobs % args.width != 0:
        ap.error("--jobs must be a multiple of --width (N = L*W)")
    if args.seed < 0 or args.seed > MASK64:
        ap.error("--seed must be an unsigned 64-bit integer")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    t0 = time.perf_counter()
    parents = all_parents(args.jobs, args.width, args.fanin, args.seed)
    edges, checksum = edge_stats(parents)
    edges_s = time.perf_counter() - t0

    result = {
        "jobs": args.jobs,
        "width": args.width,
        "layers": args.jobs // args.width,
        "fanin": args.fanin,
        "seed": args.seed,
        "edges": edges,
        "checksum": checksum,
        "edges_s": round(edges_s, 3),
    }
    if not args.edges_only:
        result["workers"] = args.workers
        result["threads_per_worker"] = args.threads_per_worker
        result.update(run_dask(args, parents))
    result["python"] = platform.python_version()

    if args.json:
        print(json.dumps(result), flush=True)
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":  # worker processes are spawned and import this file: start nothing at import
    sys.exit(main())
