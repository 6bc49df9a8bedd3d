"""GPU suite: fastann's CUDA kernels against cuBLAS (through torch.matmul) and PyTorch CUDA, measured in the same run on
the same GPU. Skips cleanly (a note, no error) without a CUDA device for fastann or without a CUDA build of torch.

- sgemm: C = A @ B, float32, square n in 1024..8192, TF32 off on both sides (torch.backends.cuda.matmul.allow_tf32
  = False); GFLOPS = 2 n^3 / time, operands resident on the GPU, synchronised timing.
- batched: (batch, m, k) @ (batch, k, n) stacks.
- mnist_mlp: training a 784-512-512-10 MLP at batch 1024 -- needs Sequential on CUDA, which this version of fastann
  does not have yet: reported as skipped.
"""

from __future__ import annotations

import time

from . import common

SIZES = [1024, 2048, 4096, 8192]
BATCHED = [(256, 64, 64, 64), (32, 256, 256, 256), (8, 1024, 1024, 1024)]
NOTES = ("TF32 off on both sides; fastann times exclude host<->device copies, as torch's do.",)


def _torch_cuda():
    if not common.has_module("torch"):
        return None
    import torch
    return torch if torch.cuda.is_available() else None


def _time_torch(torch, fn, iters):
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def run(threads: int, quick: bool) -> dict:
    import fastann
    meta = common.env_info(threads)
    res = {"suite": "gpu", "meta": meta, "sgemm": [], "batched": [], "mnist_mlp": None, "skipped": None}
    if not fastann.cuda.is_available():
        res["skipped"] = "no CUDA device for fastann (fastann.cuda.is_available() is False)"
        common.log(f"  skipped: {res['skipped']}")
        return res
    meta["gpu"] = fastann.cuda.get_device_name(0)
    torch = _torch_cuda()
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
    from fastann import _core
    sizes = SIZES[:2] if quick else SIZES
    for n in sizes:
        iters = 3 if quick else max(3, int(2e11 / (2.0 * n ** 3)))
        flop = 2.0 * n ** 3
        row = {"n": n, "fastann_gflops": flop / _core.cuda.time_gemm(n, n, n, False, False, iters, "cuda:0") / 1e9}
        if torch is not None:
            a = torch.randn(n, n, device="cuda")
            b = torch.randn(n, n, device="cuda")
            row["torch_gflops"] = flop / _time_torch(torch, lambda: torch.matmul(a, b), iters) / 1e9
            row["ratio"] = row["fastann_gflops"] / row["torch_gflops"]
        res["sgemm"].append(row)
        common.log(f"  sgemm {n}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items() if k != "n"))
    for (bsz, m, k, n) in (BATCHED[:2] if quick else BATCHED):
        flop = 2.0 * bsz * m * n * k
        iters = 3 if quick else 20
        row = {"batch": bsz, "m": m, "k": k, "n": n,
               "fastann_gflops": flop / _core.cuda.time_matmul(bsz, m, k, n, iters, "cuda:0") / 1e9}
        if torch is not None:
            a = torch.randn(bsz, m, k, device="cuda")
            b = torch.randn(bsz, k, n, device="cuda")
            row["torch_gflops"] = flop / _time_torch(torch, lambda: torch.bmm(a, b), iters) / 1e9
            row["ratio"] = row["fastann_gflops"] / row["torch_gflops"]
        res["batched"].append(row)
    res["mnist_mlp"] = {"skipped": "Sequential.compile(device='cuda') is not implemented yet"}
    return res


def tables(res):
    if res.get("skipped"):
        return [("gpu", ["skipped"], [[res["skipped"]]])]
    out = []
    cols = ["n", "fastann_gflops", "torch_gflops", "ratio"]
    out.append(("sgemm (GFLOPS, FP32, TF32 off)", cols, [[r.get(c, "-") for c in cols] for r in res["sgemm"]]))
    cols = ["batch", "m", "k", "n", "fastann_gflops", "torch_gflops", "ratio"]
    out.append(("batched matmul (GFLOPS)", cols, [[r.get(c, "-") for c in cols] for r in res["batched"]]))
    out.append(("mnist_mlp", ["status"], [[res["mnist_mlp"]["skipped"]]]))
    return out
