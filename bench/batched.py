"""Batched matmul GFLOPS (2*batch*m*n*k / time): fastann.ops.matmul vs np.matmul vs torch.bmm, float32, C-contiguous
(batch, m, k) @ (batch, k, n) stacks. Every call allocates its result."""

from __future__ import annotations

import os

import numpy as np

from . import common
from .gemm import rel_err

SHAPES = [(1000, 16, 16, 16), (256, 64, 64, 64), (32, 256, 256, 256)]  # batch, m, k, n
LIBS = ("fastann", "numpy", "torch")


def run(threads: int, quick: bool) -> dict:
    import fastann
    common.set_threads(threads)
    repeats, min_time, warmup, settle_s = (2, 0.01, 0.01, 0.05) if quick else (7, 0.05, 0.05, common.SETTLE_S)
    meta = common.env_info(threads)
    meta["foreign_load_at_start"] = common.wait_for_quiet(common.CONFIG["wait_quiet"])
    rng = np.random.default_rng(0)
    results = []
    for (bsz, m, k, n) in SHAPES:
        a = rng.standard_normal((bsz, m, k), dtype=np.float32)
        b = rng.standard_normal((bsz, k, n), dtype=np.float32)
        fns = {"fastann": lambda a=a, b=b: fastann.ops.matmul(a, b), "numpy": lambda a=a, b=b: np.matmul(a, b)}
        if common.has_module("torch"):
            import torch
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            fns["torch"] = lambda ta=ta, tb=tb: torch.bmm(ta, tb)
        flop = 2.0 * bsz * m * n * k
        row = {"batch": bsz, "m": m, "k": k, "n": n, "flop": flop,
               "fastann_rel_err_vs_numpy": rel_err(fns["fastann"](), fns["numpy"]())}
        row.update(common.time_gflops(fns, LIBS, flop, settle_s=settle_s, repeats=repeats, min_time=min_time,
                                          warmup=warmup, quick=quick))
        results.append(row)
        common.log(f"  ({bsz},{m},{k})@({bsz},{k},{n}): " + ", ".join(
            f"{lib} {row[lib]['gflops']:.1f}" for lib in LIBS if lib in row) + " GFLOPS")
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return {"suite": "batched", "meta": meta, "results": results}


def tables(res: dict) -> list:
    rows = []
    for r in res["results"]:
        cell = common.gflops_cells(r, LIBS)
        ours = r["fastann"]["gflops"]
        rows.append([f"({r['batch']},{r['m']},{r['k']})@({r['batch']},{r['k']},{r['n']})", cell["fastann"],
                     cell["numpy"], cell["torch"], common.fmt_ratio(ours, r["numpy"]["gflops"]),
                     common.fmt_ratio(ours, r["torch"]["gflops"]) if "torch" in r else "n/a"])
    headers = ["shape", "fastann.ops.matmul", "np.matmul", "torch.bmm", "vs numpy", "vs torch"]
    return [("batched matmul, GFLOPS at the median time (at the best time)", headers, rows)]


NOTES = [
    "ratios are fastann GFLOPS / reference GFLOPS (median times); >1 means fastann is faster.",
    common.FLAG_NOTE,
]
