"""Training wall time: fastann `fit` vs an idiomatic PyTorch eager loop vs Keras 3 `fit` (TensorFlow backend).

Each (workload, library) runs in a fresh interpreter (so one library's thread pools, allocator state or imports
cannot disturb another's, and so its memory can be measured): build the data (same seed, same arrays for every
library), build and compile the model, then time the first fit (what a user sees, including one-time costs such as
Keras's graph tracing) and `repeats` further fits of the same model (training continues; the median is the steady
state). Peak RSS (ru_maxrss) is read before and after the first fit.

Workloads (float32 data, no metrics compiled anywhere, loss only):
  seed             1000x10 uniform, Dense 32 relu -> 32 relu -> 1 sigmoid, binary cross-entropy, Adam, batch 32,
                   10 epochs
  mnist_mlp        60000x784 synthetic MNIST (values in [0, 1), half zeros; labels = argmax of a random linear
                   teacher), 784-512 relu-256 relu-10 softmax, sparse categorical cross-entropy, Adam, batch 128,
                   1 epoch
  wide_regression  20000x100 normal, 100-1024 relu-1024 relu-1 linear, MSE, SGD(lr 0.01, momentum 0.9), batch 256,
                   2 epochs
PyTorch loop per epoch: perm = torch.randperm(n); per batch idx = perm[i:i+b]; xb, yb = X[idx], Y[idx];
loss = loss_fn(model(xb), yb); loss.backward(); opt.step(); opt.zero_grad(); running += loss.item() * len(idx).
Its last layer is linear and the loss takes logits (BCEWithLogitsLoss, CrossEntropyLoss), the idiomatic form (fastann
and Keras fuse sigmoid/softmax + cross-entropy the same way).
"""

from __future__ import annotations

import gc
import os
import statistics
import time

import numpy as np

from . import common

WORKLOADS = {
    "seed": dict(n=1000, d=10, hidden=[32, 32], out=1, out_act="sigmoid", loss="binary_crossentropy",
                 opt="adam", batch=32, epochs=10, repeats=3),
    "mnist_mlp": dict(n=60000, d=784, hidden=[512, 256], out=10, out_act="softmax",
                      loss="sparse_categorical_crossentropy", opt="adam", batch=128, epochs=1, repeats=2),
    "wide_regression": dict(n=20000, d=100, hidden=[1024, 1024], out=1, out_act="linear", loss="mse",
                            opt="sgd_momentum", batch=256, epochs=2, repeats=2),
}
LIBS = ("fastann", "torch", "keras")
MEMORY_WORKLOAD = "mnist_mlp"


def make_data(name: str):
    """The workload's (x, y), identical for every library (seeded). Generated without large temporaries."""
    rng = np.random.default_rng(1234)
    if name == "seed":
        x = rng.random((1000, 10), dtype=np.float32)
        y = rng.integers(0, 2, size=(1000, 1)).astype(np.float32)
    elif name == "mnist_mlp":
        # MNIST-like: values in [0, 1), about half of them exactly 0; learnable labels from a random linear teacher
        # (random labels kill almost every ReLU unit within an epoch: an unrepresentative, degenerate workload)
        x = rng.random((60000, 784), dtype=np.float32)
        x *= 2
        x -= 1
        np.maximum(x, 0, out=x)
        scores = x @ rng.standard_normal((784, 10), dtype=np.float32)
        scores -= scores.mean(axis=0)  # roughly balanced classes
        y = np.argmax(scores, axis=1)  # int64 class indices
    elif name == "wide_regression":
        x = rng.standard_normal((20000, 100), dtype=np.float32)
        w = rng.standard_normal((100, 1), dtype=np.float32) / 10
        y = (x @ w + 0.1 * rng.standard_normal((20000, 1), dtype=np.float32)).astype(np.float32)
    else:
        raise ValueError(f"unknown workload {name!r}")
    return x, y


# ---------------------------------------------------------------------------------------------------------------
# per-library model builders: each returns fit() -> last epoch's mean loss, and a dict of facts
# ---------------------------------------------------------------------------------------------------------------
def build_fastann(w: dict, x, y, threads: int):
    import fastann
    from fastann import optimizers
    from fastann.layers import Dense
    from fastann.models import Sequential
    fastann.set_num_threads(threads)
    fastann.utils.set_random_seed(0)
    model = Sequential()
    model.add(Dense(w["hidden"][0], input_dim=w["d"], activation="relu"))
    for h in w["hidden"][1:]:
        model.add(Dense(h, activation="relu"))
    model.add(Dense(w["out"], activation=w["out_act"]))
    opt = optimizers.Adam() if w["opt"] == "adam" else optimizers.SGD(learning_rate=0.01, momentum=0.9)
    model.compile(optimizer=opt, loss=w["loss"])

    def fit():
        h = model.fit(x, y, batch_size=w["batch"], epochs=w["epochs"], verbose=0, shuffle=True)
        return float(h.history["loss"][-1])

    return fit, {"threads": fastann.get_num_threads(), "isa": fastann._core.cpu_isa()}


def build_torch(w: dict, x, y, threads: int):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers, prev = [], w["d"]
    for h in w["hidden"]:
        layers += [nn.Linear(prev, h), nn.ReLU()]
        prev = h
    layers.append(nn.Linear(prev, w["out"]))  # logits: the loss below applies sigmoid / softmax
    model = nn.Sequential(*layers)
    loss_fn = {"binary_crossentropy": nn.BCEWithLogitsLoss, "sparse_categorical_crossentropy": nn.CrossEntropyLoss,
               "mse": nn.MSELoss}[w["loss"]]()
    if w["opt"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    n, bs = w["n"], w["batch"]

    def fit():
        model.train()
        for _ in range(w["epochs"]):
            perm = torch.randperm(n)
            running = 0.0
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                xb, yb = X[idx], Y[idx]
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                opt.zero_grad()
                running += loss.item() * len(idx)
        return running / n

    return fit, {"threads": torch.get_num_threads()}


def build_keras(w: dict, x, y, threads: int):
    tf, keras = common.setup_keras(threads)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((w["d"],))]
                             + [keras.layers.Dense(h, activation="relu") for h in w["hidden"]]
                             + [keras.layers.Dense(w["out"], activation=w["out_act"])])
    opt = keras.optimizers.Adam() if w["opt"] == "adam" else keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    model.compile(optimizer=opt, loss=w["loss"])

    def fit():
        h = model.fit(x, y, batch_size=w["batch"], epochs=w["epochs"], verbose=0, shuffle=True)
        return float(h.history["loss"][-1])

    facts = {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
             "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}
    return fit, facts, model


def worker(p: dict) -> dict:
    lib, name, threads, repeats = p["lib"], p["workload"], p["threads"], p["repeats"]
    w = WORKLOADS[name]
    x, y = make_data(name)
    model = None
    if lib == "fastann":
        fit, facts = build_fastann(w, x, y, threads)
    elif lib == "torch":
        fit, facts = build_torch(w, x, y, threads)
    elif lib == "keras":
        fit, facts, model = build_keras(w, x, y, threads)
    else:
        raise ValueError(lib)
    gc.collect()
    rss_before, peak_before = common.rss_mib(), common.peak_rss_mib()
    peak_reset = common.reset_peak_rss()  # so the peak read after the fit is the fit's own
    probe = common.LoadProbe()
    t0 = time.perf_counter()
    loss_first = fit()
    first = time.perf_counter() - t0
    first_foreign = probe.foreign()
    peak_after = common.peak_rss_mib()
    later, later_foreign = [], []
    loss = loss_first

    # At least `repeats` later fits undisturbed by other processes (up to 3 x repeats in all), and more while they
    # add up to less than min_total seconds (short workloads).
    def clean():
        return [t for t, f in zip(later, later_foreign) if not f > common.FOREIGN_LIMIT]

    while ((len(clean()) < repeats and len(later) < 3 * repeats)
           or (sum(later) < p["min_total"] and len(later) < 100)):
        probe = common.LoadProbe()
        t0 = time.perf_counter()
        loss = fit()
        later.append(time.perf_counter() - t0)
        later_foreign.append(probe.foreign())
    if model is not None:
        facts["jit_compile"] = str(getattr(model, "jit_compile", "?"))
    samples = w["n"] * w["epochs"]
    steady_set = clean() or later or [first]  # the median of the undisturbed later fits where there are any
    steady = statistics.median(steady_set)
    return {"lib": lib, "workload": name, "first_s": first, "later_s": later, "steady_s": steady,
            "steady_min_s": min(steady_set), "steady_fits": len(steady_set), "steady_clean": bool(clean()),
            "samples_per_s": samples / steady,
            "first_samples_per_s": samples / first, "loss_first_fit": loss_first, "loss_last_fit": loss,
            "first_foreign_load": first_foreign, "later_foreign_load": later_foreign,
            "foreign_load": max([f for f in [first_foreign] + later_foreign if f == f] or [float("nan")]),
            "rss_before_fit_mib": rss_before, "peak_rss_before_fit_mib": peak_before,
            "peak_rss_after_fit_mib": peak_after, "peak_rss_reset": peak_reset,
            "fit_peak_extra_mib": peak_after - rss_before if peak_reset or peak_after > peak_before else None,
            "facts": facts}


# ---------------------------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------------------------
def run(threads: int, quick: bool, keras: bool = True) -> dict:
    meta = common.env_info(threads)
    meta["foreign_load_at_start"] = common.wait_for_quiet(common.CONFIG["wait_quiet"])
    libs = [lib for lib in LIBS if (lib != "torch" or common.has_module("torch"))
            and (lib != "keras" or (keras and common.keras_available()))]
    results = []
    for name, w in WORKLOADS.items():
        for lib in libs:
            repeats = 1 if quick or lib == "keras" else w["repeats"]  # Keras: the first fit and a second fit
            common.wait_for_quiet(common.CONFIG["wait_quiet"])
            t0 = time.perf_counter()
            r = common.run_worker("bench.train", {"lib": lib, "workload": name, "threads": threads,
                                                  "repeats": repeats, "min_total": 0.5 if quick else 2.0}, threads)
            r.setdefault("lib", lib)
            r.setdefault("workload", name)
            results.append(r)
            if "error" in r:
                common.log(f"  {name} {lib}: ERROR {r['error']}")
            else:
                common.log(f"  {name} {lib}: first fit {r['first_s']:.2f} s, later {r['steady_s']:.2f} s, "
                           f"loss {r['loss_last_fit']:.4f} ({time.perf_counter() - t0:.0f} s with start-up)")
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["libs"] = libs
    return {"suite": "train", "meta": meta, "workloads": WORKLOADS, "results": results}


def _get(res, name, lib):
    for r in res["results"]:
        if r["workload"] == name and r["lib"] == lib and "error" not in r:
            return r
    return None


def tables(res: dict) -> list:
    summary, detail = [], []
    for name, _w in res["workloads"].items():
        f, t, k = (_get(res, name, lib) for lib in LIBS)
        def cell(r, key):
            if r is None:
                return "n/a"
            disturbed = (r["first_foreign_load"] > common.FOREIGN_LIMIT if key == "first_s"
                         else not r.get("steady_clean", True))
            return f"{common.fmt_s(r[key])}{'*' if disturbed else ''}"

        summary.append([
            name, cell(f, "steady_s"), cell(t, "steady_s"), cell(k, "first_s"), cell(k, "steady_s"),
            common.fmt_ratio(f and f["samples_per_s"], t and t["samples_per_s"]),
            common.fmt_ratio(f and f["first_samples_per_s"], k and k["first_samples_per_s"]),
            common.fmt_ratio(f and f["samples_per_s"], k and k["samples_per_s"]),
        ])
        for lib, r in zip(LIBS, (f, t, k)):
            if r is None:
                err = next((x.get("error") for x in res["results"] if x["workload"] == name and x["lib"] == lib),
                           "not run")
                detail.append([name, lib, "n/a", "n/a", "n/a", "n/a", err])
                continue
            later = (f"{common.fmt_s(r['steady_s'])} ({common.fmt_s(r['steady_min_s'])}) "
                     f"x{r.get('steady_fits', len(r['later_s']))}/{len(r['later_s'])}"
                     f"{'' if r.get('steady_clean', True) else '*'}")
            first = f"{common.fmt_s(r['first_s'])}{common.flag(r['first_foreign_load'])}"
            detail.append([name, lib, first, later, f"{r['samples_per_s']:,.0f}", f"{r['first_samples_per_s']:,.0f}",
                           f"{r['loss_first_fit']:.4f}"])
    mem = []
    for lib in LIBS:
        r = _get(res, MEMORY_WORKLOAD, lib)
        if r:
            mem.append([lib, f"{r['rss_before_fit_mib']:.0f}", f"{r['peak_rss_after_fit_mib']:.0f}",
                        common.fmt(r["fit_peak_extra_mib"], 0)])
        else:
            mem.append([lib, "n/a", "n/a", "n/a"])
    return [
        ("training wall time (s): fastann, torch and keras 2nd+ = median of the undisturbed fits after the first; "
         "ratios = fastann speed / reference speed",
         ["workload", "fastann", "torch", "keras 1st fit", "keras 2nd+ fits", "vs torch", "vs keras (1st fits)",
          "vs keras (2nd+ fits)"], summary),
        ("per library: first fit, later fits (median (min) x undisturbed/all), samples/s, loss of the first fit",
         ["workload", "library", "1st fit s", "later fits s", "samples/s (later)", "samples/s (1st)", "1st fit loss"],
         detail),
        (f"memory, {MEMORY_WORKLOAD} fit (fresh process per library; MiB)",
         ["library", "RSS before fit", "peak RSS during 1st fit", "fit peak - RSS before"], mem),
    ]


NOTES = [
    "samples/s = samples x epochs / fit wall time. Every library trains the same float32 arrays with the same "
    "thread count; the first-fit losses (last epoch of the first fit) show all three trained alike "
    "(seed has random labels: ln 2 = 0.693).",
    "Keras's first fit includes tf.function tracing; later fits reuse the traced function. The 1st-fit ratio "
    "compares fastann's first fit with Keras's first fit.",
    "RSS: the peak RSS is reset (/proc/self/clear_refs) just before the first fit and read (ru_maxrss) after it; "
    "minus VmRSS just before the fit (data and model already allocated), in a fresh interpreter per library. "
    "Keras's includes what its tf.data pipeline copies inside fit.",
    common.FLAG_NOTE,
]


if __name__ == "__main__":
    common.worker_main(worker)
