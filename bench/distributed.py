"""Data-parallel fit over MPI (fastann.distributed): samples/s of `mnist_mlp` on 1 and 2 ranks, and the parallel
efficiency.

Workload: bench/train.py's mnist_mlp (60000x784 synthetic MNIST, 784-512 relu-256 relu-10 softmax, sparse
categorical cross-entropy, Adam), batch 128 per rank (so 2 ranks take global batches of 256, as Horovod-style
training does), 1 epoch per fit. Each configuration runs under `mpirun -np R` (loopback only, oversubscription
allowed) with FASTANN_NUM_THREADS=1 per rank unless stated: every rank loads the same data; rank 0 times a warm-up
fit and then `repeats` fits of fit(..., distributed=True) (each starts with a barrier; the start-of-fit weight
broadcast is included). samples/s = training rows per epoch / seconds per fit (global throughput); parallel
efficiency = samples/s(2 ranks) / (2 x samples/s(1 rank)). The 1-rank run goes through the same code (a reducer of
size 1 skips the collectives). For context, the last row is one process with 2 threads (no MPI).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from . import common

CONFIGS = [  # (ranks, threads per rank, overlap)
    (1, 1, False),
    (2, 1, False),
    (2, 1, True),
    (1, 2, False),
]
NOTES = [
    "samples/s: training rows of one epoch / median seconds per fit, measured on rank 0 (global throughput).",
    "efficiency: samples/s with 2 ranks / (2 x samples/s with 1 rank), both at 1 thread per rank.",
    "overlap: fastann.distributed.init(overlap=True), the last layer's gradients reduced during the backward pass.",
    "Batch 128 per rank: 2 ranks train on global batches of 256 (half the optimizer steps per epoch).",
    common.FLAG_NOTE,
]


def mpirun_cmd(ranks: int) -> list:
    return [shutil.which("mpirun") or "mpirun", "-np", str(ranks), "--oversubscribe", "--allow-run-as-root",
            "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]


def worker(p: dict) -> dict:
    import fastann
    import fastann.distributed as dist
    from fastann.layers import Dense
    from fastann.models import Sequential

    from .train import WORKLOADS, make_data

    w = WORKLOADS["mnist_mlp"]
    fastann.set_num_threads(p["threads"])
    mpi = p["ranks"] > 1 or p["mpi"]
    if mpi:
        dist.init(overlap=p["overlap"])
    x, y = make_data("mnist_mlp")
    fastann.utils.set_random_seed(0)
    model = Sequential([Dense(w["hidden"][0], input_dim=w["d"], activation="relu")] +
                       [Dense(h, activation="relu") for h in w["hidden"][1:]] +
                       [Dense(w["out"], activation=w["out_act"])])
    model.compile(optimizer="adam", loss=w["loss"])

    def fit():
        h = model.fit(x, y, batch_size=w["batch"], epochs=1, verbose=0, distributed=mpi)
        return float(h.history["loss"][-1])

    import numpy as np

    fit()  # warm-up
    times, loads, loss = [], [], None
    for _ in range(p["repeats"]):
        if mpi:
            dist.barrier()
        busy, own, t0 = common._cpu_busy_s(), time.process_time(), time.perf_counter()
        loss = fit()
        wall = time.perf_counter() - t0
        # CPU used by other processes meanwhile: the machine's busy time minus every rank's own CPU time
        ours = np.array([time.process_time() - own], dtype=np.float64)
        if mpi:
            dist._require("bench").reducer.allreduce_sum(ours)
        times.append(wall)
        loads.append(max(0.0, min(1.0, (common._cpu_busy_s() - busy - ours[0]) / (wall * (os.cpu_count() or 1)))))
    if mpi and dist.rank() != 0:
        return None
    med = statistics.median(times)
    return {"ranks": p["ranks"], "threads": fastann.get_num_threads(), "overlap": p["overlap"], "mpi": mpi,
            "fit_s": med, "fit_min_s": min(times), "times": times,
            "foreign_load": statistics.median(loads), "foreign_loads": loads, "samples_per_s": x.shape[0] / med,
            "loss": loss,
            "mpi_library": dist._module().library_version().splitlines()[0] if mpi else None}


def run_config(ranks: int, threads: int, overlap: bool, repeats: int) -> dict:
    payload = {"ranks": ranks, "threads": threads, "overlap": overlap, "repeats": repeats, "mpi": True}
    cmd = [sys.executable, "-m", "bench.distributed", "--worker", json.dumps(payload)]
    if threads > 1 and ranks == 1:
        payload["mpi"] = False
        cmd[-1] = json.dumps(payload)  # the no-MPI reference
    else:
        cmd = mpirun_cmd(ranks) + cmd
    try:
        p = subprocess.run(cmd, cwd=common.REPO_ROOT, env=common.thread_env(threads), capture_output=True,
                           text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 900 s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith(common.RESULT_MARK):
            return json.loads(line[len(common.RESULT_MARK):])
    tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"exited with {p.returncode}: {tail}"}


def run(threads: int, quick: bool) -> dict:
    del threads  # each configuration sets its own
    meta = common.env_info(1)
    meta["foreign_load_at_start"] = common.wait_for_quiet(common.CONFIG["wait_quiet"])
    results = []
    if shutil.which("mpirun") is None:
        common.log("  mpirun not found: install Open MPI (Debian: openmpi-bin libopenmpi-dev)")
    for ranks, threads_per_rank, overlap in CONFIGS:
        common.wait_for_quiet(common.CONFIG["wait_quiet"])
        r = run_config(ranks, threads_per_rank, overlap, 1 if quick else 3)
        r.update({"ranks": ranks, "threads": threads_per_rank, "overlap": overlap})
        results.append(r)
        if "error" in r:
            common.log(f"  ranks={ranks} threads={threads_per_rank} overlap={overlap}: ERROR {r['error']}")
        else:
            common.log(f"  ranks={ranks} threads={threads_per_rank} overlap={overlap}: {r['fit_s']:.2f} s/epoch, "
                       f"{r['samples_per_s']:,.0f} samples/s, loss {r['loss']:.4f}")
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["mpi_library"] = next((r.get("mpi_library") for r in results if r.get("mpi_library")), None)
    return {"suite": "distributed", "meta": meta, "results": results}


def _base(res):
    return next((r for r in res["results"] if r["ranks"] == 1 and r["threads"] == 1 and "error" not in r), None)


def tables(res: dict) -> list:
    base = _base(res)
    rows = []
    for r in res["results"]:
        plural = ("s" if r["ranks"] > 1 else "", "s" if r["threads"] > 1 else "")
        setup = f"{r['ranks']} rank{plural[0]} x {r['threads']} thread{plural[1]}"
        setup += " (overlap)" if r.get("overlap") else ""
        setup += "" if r.get("mpi", True) else " (no MPI)"
        if "error" in r:
            rows.append([setup, "n/a", "n/a", "n/a", r["error"]])
            continue
        eff = "n/a"
        if base and r["threads"] == 1:
            eff = f"{r['samples_per_s'] / (r['ranks'] * base['samples_per_s']):.0%}"
        rows.append([setup, common.fmt_s(r["fit_s"]) + common.flag(r), f"{r['samples_per_s']:,.0f}", eff,
                     f"{r['loss']:.4f}"])
    return [("mnist_mlp, 1 epoch, batch 128 per rank" + (f" ({res['meta']['mpi_library']})"
                                                          if res["meta"].get("mpi_library") else ""),
             ["setup", "s / epoch", "samples/s", "parallel efficiency", "loss after the last fit"], rows)]


if __name__ == "__main__" and "--worker" in sys.argv:
    payload = json.loads(sys.argv[sys.argv.index("--worker") + 1])
    result = worker(payload)
    if result is not None:
        sys.stdout.flush()
        print(common.RESULT_MARK + json.dumps(result), flush=True)
