"""sgemm GFLOPS (2*m*n*k / time): fastann.ops.gemm vs NumPy (OpenBLAS) vs torch.matmul, float32.

Shapes are m x k x n (C is m x n, the inner dimension is k). Forms, with the operands passed as they are stored:
  NN  C = A @ B        A (m, k), B (k, n)
  NT  C = A @ B^T      A (m, k), B stored (n, k)   (backward: dX = dY @ W^T)
  TN  C = A^T @ B      A stored (k, m), B (k, n)   (backward: dW = X^T @ dY)
fastann: fastann.ops.gemm(a, b, trans_a, trans_b); NumPy: `a @ b.T` / `a.T @ b` on views (NumPy hands the transpose
to BLAS, no copy); PyTorch: torch.matmul on .T views of torch.from_numpy tensors. Every call allocates its result
(fastann.ops.gemm returns a fresh array, as NumPy and torch.matmul do).
"""

from __future__ import annotations

import os

import numpy as np

from . import common

SQUARE = [32, 64, 128, 256, 512, 1024, 2048]
MLP = [(128, 784, 512), (128, 512, 256), (256, 1024, 1024), (32, 10, 32), (32, 32, 32), (256, 512, 512)]
FORMS = ("NN", "NT", "TN")
LIBS = ("fastann", "numpy", "torch")


def shapes() -> list:
    out = [(s, s, s) for s in SQUARE]
    return out + [s for s in MLP if s not in out]  # 32x32x32 is both square and an MLP shape: measured once


def operands(m: int, k: int, n: int, form: str, rng):
    a = rng.standard_normal((k, m) if form[0] == "T" else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if form[1] == "T" else (k, n), dtype=np.float32)
    return a, b


def calls(form: str, a, b) -> dict:
    """The three libraries' calls computing op(a) @ op(b), as zero-argument functions."""
    import fastann
    gemm = fastann.ops.gemm
    ta_, tb_ = form[0] == "T", form[1] == "T"
    out = {"fastann": lambda: gemm(a, b, ta_, tb_)}
    if form == "NN":
        out["numpy"] = lambda: a @ b
    elif form == "NT":
        out["numpy"] = lambda: a @ b.T
    else:
        out["numpy"] = lambda: a.T @ b
    if common.has_module("torch"):
        import torch
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        if form == "NN":
            out["torch"] = lambda: torch.matmul(ta, tb)
        elif form == "NT":
            out["torch"] = lambda: torch.matmul(ta, tb.T)
        else:
            out["torch"] = lambda: torch.matmul(ta.T, tb)
    return out


def rel_err(x, ref) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(np.asarray(x, dtype=np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))


def run(threads: int, quick: bool) -> dict:
    common.set_threads(threads)
    repeats, min_time, warmup, settle_s = (2, 0.01, 0.01, 0.05) if quick else (5, 0.05, 0.05, common.SETTLE_S)
    meta = common.env_info(threads)
    meta["foreign_load_at_start"] = common.wait_for_quiet(common.CONFIG["wait_quiet"])
    rng = np.random.default_rng(0)
    results = []
    for (m, k, n) in shapes():
        for form in FORMS:
            a, b = operands(m, k, n, form, rng)
            fns = calls(form, a, b)
            flop = 2.0 * m * n * k
            row = {"m": m, "k": k, "n": n, "form": form, "flop": flop}
            err = rel_err(fns["fastann"](), fns["numpy"]())
            row["fastann_rel_err_vs_numpy"] = err
            if err > 1e-3:
                common.log(f"  WARNING: fastann {m}x{k}x{n} {form} differs from NumPy: max rel err {err:.2e}")
            row.update(common.time_gflops(fns, LIBS, flop, settle_s=settle_s, repeats=repeats, min_time=min_time,
                                              warmup=warmup, quick=quick))
            results.append(row)
            common.log(f"  {m}x{k}x{n} {form}: " + ", ".join(
                f"{lib} {row[lib]['gflops']:.1f}" for lib in LIBS if lib in row) + " GFLOPS")
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return {"suite": "gemm", "meta": meta, "results": results}


def tables(res: dict) -> list:
    rows = []
    for r in res["results"]:
        cell = common.gflops_cells(r, LIBS)
        refs = [r[lib]["gflops"] for lib in ("numpy", "torch") if lib in r]
        ratio = common.fmt_ratio(r["fastann"]["gflops"], max(refs) if refs else None)
        rows.append([f"{r['m']}x{r['k']}x{r['n']}", r["form"], cell["fastann"], cell["numpy"], cell["torch"], ratio])
    headers = ["m x k x n", "form", "fastann GFLOPS", "numpy GFLOPS", "torch GFLOPS", "fastann / best"]
    return [("sgemm, GFLOPS at the median time (at the best time)", headers, rows)]


NOTES = [
    "ratio = fastann GFLOPS / the better of numpy and torch (median times); >1 means fastann is faster.",
    "every call allocates its output; small shapes (32x32x32, 32x10x32) are dominated by per-call overhead "
    "(Python binding, argument checks, allocation), not by the kernel.",
    common.FLAG_NOTE,
]
