"""GPU suite: fastann's CUDA kernels against cuBLAS (through torch.matmul) and PyTorch CUDA, measured in the same run on
the same GPU. Skips cleanly (a note, no error) without a CUDA device for fastann or without a CUDA build of torch.

- sgemm: C = A @ B, float32, square n in 1024..8192, TF32 off on both sides (torch.backends.cuda.matmul.allow_tf32
  = False); GFLOPS = 2 n^3 / time, operands resident on the GPU, synchronised timing.
- batched: (batch, m, k) @ (batch, k, n) stacks.
- training (samples/s of an epoch, data resident on the GPU): fastann `fit` on device='cuda' vs a plain PyTorch CUDA
  loop, same model, same data, same optimizer settings:
    mnist_mlp: bench/train.py's synthetic MNIST (its make_data: 60000 x 784), 784-512 relu-512 relu-10 softmax (the
               train suite's CPU workload is 784-512-256-10 at batch 128), sparse categorical cross-entropy, Adam
               (lr 1e-3, eps 1e-7), batch 1024, shuffled every epoch.
    mlp64_b65536: 2^20 x 64 normal inputs, 5 hidden relu layers of width 64, 1 linear output, MSE on a random
               teacher, Adam, batch 65536 (16 steps an epoch): small GEMMs over huge batches, bandwidth-bound.
  Each library: one warm-up epoch (allocator, workspaces, library heuristics), then `repeats` timed epochs; the
  median epoch is reported. fastann runs one fit of repeats + 1 epochs timed at its epoch ends (the end-of-epoch
  logs are read from the GPU: a synchronisation point) and drops the first, which includes fit's one copy of the
  dataset to the GPU (torch's loop starts with the data there); the JSON also has fastann_fit_samples_per_s, the
  whole timed fit with that copy. The torch loop per epoch: perm = torch.randperm(n, device='cuda'); per batch
  loss = loss_fn(model(X[idx]), Y[idx]); loss.backward(); opt.step(); opt.zero_grad(); the epoch's loss is summed on
  the GPU and read once at its end (as fastann's History is); torch.cuda.synchronize() before the clock stops. Its
  last layer is linear and CrossEntropyLoss takes the logits (fastann fuses softmax + cross-entropy the same way).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from . import common

SIZES = [1024, 2048, 4096, 8192]
BATCHED = [(256, 64, 64, 64), (32, 256, 256, 256), (8, 1024, 1024, 1024)]
TRAINING = {
    "mnist_mlp": dict(d=784, hidden=[512, 512], out=10, out_act="softmax", loss="sparse_categorical_crossentropy",
                      batch=1024, repeats=5),
    "mlp64_b65536": dict(n=1 << 20, d=64, hidden=[64] * 5, out=1, out_act="linear", loss="mse", batch=65536,
                         repeats=5),
}
NOTES = ("TF32 off on both sides; fastann times exclude host<->device copies, as torch's do.",
         "training: samples/s of the timed epochs after a warm-up epoch (median; fastann's one copy of the dataset "
         "to the GPU per fit is not in it, fastann_fit_samples_per_s in the JSON includes it); ratio = fastann / "
         "torch (> 1: fastann is faster); the losses are the last timed epoch's mean loss (both libraries train the "
         "same model on the same data from different initial weights, so they agree only roughly).")


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
    res = {"suite": "gpu", "meta": meta, "sgemm": [], "batched": [], "training": [], "skipped": None}
    if not fastann.cuda.is_available():
        res["skipped"] = "no CUDA device for fastann (fastann.cuda.is_available() is False)"
        common.log(f"  skipped: {res['skipped']}")
        return res
    meta["gpu"] = fastann.cuda.get_device_name(0)
    if fastann.cuda.build_info().get("option") == "EMULATOR":
        # The test-only emulator runs the CPU kernels: a smoke test of this suite's code, not a GPU measurement.
        meta["gpu"] += " -- EMULATED: these are CPU numbers, not GPU ones"
        common.log("  note: fastann's CUDA device is the test-only emulator: the numbers below are not GPU numbers")
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
            row["torch_gflops"] = flop / _time_torch(torch, lambda a=a, b=b: torch.matmul(a, b), iters) / 1e9
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
            row["torch_gflops"] = flop / _time_torch(torch, lambda a=a, b=b: torch.bmm(a, b), iters) / 1e9
            row["ratio"] = row["fastann_gflops"] / row["torch_gflops"]
        res["batched"].append(row)
    res["training"] = [_training_row(name, TRAINING[name], torch, quick) for name in TRAINING]
    return res


def _training_data(name: str, w: dict, quick: bool):
    if name == "mnist_mlp":
        from .train import make_data
        x, y = make_data("mnist_mlp")  # the train suite's synthetic MNIST: same arrays
        return x, y.astype(np.int64)
    rng = np.random.default_rng(1234)
    n = w["n"] // 4 if quick else w["n"]
    x = rng.standard_normal((n, w["d"]), dtype=np.float32)
    teacher = rng.standard_normal((w["d"], 1), dtype=np.float32) / np.sqrt(w["d"])
    y = (np.tanh(x @ teacher) + 0.1 * rng.standard_normal((n, 1), dtype=np.float32)).astype(np.float32)
    return x, y


def _fastann_epochs(w: dict, x, y, repeats: int):
    """fit on device='cuda': a warm-up fit of one epoch, then one fit of repeats + 1 epochs timed at its epoch ends
    (the end-of-epoch logs are read from the GPU, so each is a synchronisation point). The epochs after the first of
    the timed fit are returned: the first includes fit's one copy of the dataset to the GPU, which torch's loop (data
    already there) does not pay; the whole timed fit, copy included, is returned too. Returns (epoch times, whole
    fit seconds, loss)."""
    import fastann
    from fastann import optimizers
    from fastann.callbacks import Callback
    from fastann.layers import Dense
    from fastann.models import Sequential
    fastann.utils.set_random_seed(0)
    model = Sequential([Dense(w["hidden"][0], input_dim=w["d"], activation="relu")]
                       + [Dense(h, activation="relu") for h in w["hidden"][1:]]
                       + [Dense(w["out"], activation=w["out_act"])])
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3, epsilon=1e-7), loss=w["loss"], device="cuda")
    model.fit(x, y, batch_size=w["batch"], epochs=1, shuffle=True, verbose=0)  # warm-up

    class EpochEnds(Callback):
        def __init__(self):
            super().__init__()
            self.t = []

        def on_epoch_end(self, epoch, logs=None):
            self.t.append(time.perf_counter())

    ends = EpochEnds()
    fastann.cuda.synchronize(0)
    t0 = time.perf_counter()
    h = model.fit(x, y, batch_size=w["batch"], epochs=repeats + 1, shuffle=True, verbose=0, callbacks=[ends])
    fastann.cuda.synchronize(0)
    whole = time.perf_counter() - t0
    times = [b - a for a, b in zip(ends.t, ends.t[1:])]
    del model
    return times, whole, float(h.history["loss"][-1])


def _torch_epochs(torch, w: dict, x, y, repeats: int):
    """The plain PyTorch CUDA loop (module docstring). Returns (epoch times, loss)."""
    from torch import nn
    torch.manual_seed(0)
    dev = torch.device("cuda")
    layers, prev = [], w["d"]
    for h in w["hidden"]:
        layers += [nn.Linear(prev, h), nn.ReLU()]
        prev = h
    layers.append(nn.Linear(prev, w["out"]))  # logits for CrossEntropyLoss; the regression output is linear anyway
    model = nn.Sequential(*layers).to(dev)
    loss_fn = nn.CrossEntropyLoss() if w["loss"] == "sparse_categorical_crossentropy" else nn.MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    X, Y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    n, bs = x.shape[0], w["batch"]

    def epoch():
        perm = torch.randperm(n, device=dev)
        running = torch.zeros((), device=dev)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            running += loss.detach() * idx.numel()
        return float(running.item() / n)

    times, loss = [], float("nan")
    for i in range(repeats + 1):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = epoch()
        torch.cuda.synchronize()
        if i:  # epoch 0 is the warm-up
            times.append(time.perf_counter() - t0)
    model = opt = X = Y = None  # free the GPU memory the closure `epoch` holds
    torch.cuda.empty_cache()
    return times, loss


def _training_row(name: str, w: dict, torch, quick: bool) -> dict:
    x, y = _training_data(name, w, quick)
    repeats = 1 if quick else w["repeats"]
    row = {"workload": name, "n": int(x.shape[0]), "batch": w["batch"]}
    try:
        times, whole, loss = _fastann_epochs(w, x, y, repeats)
    except (RuntimeError, NotImplementedError) as e:  # a build or version that cannot train on CUDA
        row["skipped"] = f"fastann: {e}"
        common.log(f"  {name}: skipped ({row['skipped']})")
        return row
    row["fastann_samples_per_s"] = x.shape[0] / statistics.median(times)
    row["fastann_fit_samples_per_s"] = x.shape[0] * (repeats + 1) / whole  # the timed fit, dataset copy included
    row["fastann_loss"] = loss
    if torch is not None:
        times, loss = _torch_epochs(torch, w, x, y.reshape(-1) if w["out_act"] == "softmax" else y, repeats)
        row["torch_samples_per_s"] = x.shape[0] / statistics.median(times)
        row["torch_loss"] = loss
        row["ratio"] = row["fastann_samples_per_s"] / row["torch_samples_per_s"]
    import fastann
    fastann.cuda.empty_cache()
    common.log(f"  {name}: " + ", ".join(f"{k} {v:,.4g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in row.items() if k != "workload"))
    return row


def tables(res):
    if res.get("skipped"):
        return [("gpu", ["skipped"], [[res["skipped"]]])]
    out = []
    def gflops_row(r, keys):
        return [r[k] for k in keys] + [common.fmt(r.get("fastann_gflops")), common.fmt(r.get("torch_gflops")),
                                       common.fmt_ratio(r.get("fastann_gflops"), r.get("torch_gflops"))]

    cols = ["n", "fastann_gflops", "torch_gflops", "ratio"]
    out.append(("sgemm (GFLOPS, FP32, TF32 off)", cols, [gflops_row(r, ["n"]) for r in res["sgemm"]]))
    cols = ["batch", "m", "k", "n", "fastann_gflops", "torch_gflops", "ratio"]
    out.append(("batched matmul (GFLOPS)", cols,
                [gflops_row(r, ["batch", "m", "k", "n"]) for r in res["batched"]]))
    if "training" in res:
        cols = ["workload", "n", "batch", "fastann_samples_per_s", "torch_samples_per_s", "ratio", "fastann_loss",
                "torch_loss"]
        rows = []
        for r in res["training"]:
            if "skipped" in r:
                rows.append([r["workload"], r["n"], r["batch"], r["skipped"], "-", "-", "-", "-"])
                continue
            rows.append([r["workload"], r["n"], r["batch"], f"{r['fastann_samples_per_s']:,.0f}",
                         f"{r['torch_samples_per_s']:,.0f}" if "torch_samples_per_s" in r else "n/a",
                         common.fmt_ratio(r["fastann_samples_per_s"], r.get("torch_samples_per_s")),
                         f"{r['fastann_loss']:.4f}", f"{r['torch_loss']:.4f}" if "torch_loss" in r else "n/a"])
        out.append(("training on the GPU (samples/s; ratio = fastann / torch)", cols, rows))
    elif res.get("mnist_mlp"):  # results saved by an older version of this suite
        out.append(("mnist_mlp", ["status"], [[res["mnist_mlp"]["skipped"]]]))
    return out
