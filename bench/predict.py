"""Inference: one-row latency and 10000-row throughput, fastann `predict` vs PyTorch eager vs Keras 3.

Models (untrained: weights do not change dense-MLP timing): `seed` 10-32 relu-32 relu-1 sigmoid and `mnist_mlp`
784-512 relu-256 relu-10 softmax. Each library runs in a fresh interpreter with the same thread count.

Latency: one float32 row, each call timed on its own (median over `calls`, after 20 warm-up calls):
  fastann  model.predict(x)                                  (returns a NumPy array)
  torch    with torch.no_grad(): model(torch.from_numpy(x)).numpy()
  keras    model.predict(x, verbose=0)   (fewer calls: it costs milliseconds)   and   model(x, training=False)
Throughput: 10000 rows on mnist_mlp, rows/s from the median of several whole calls:
  fastann  model.predict(x) (default: 4096-row chunks) and model.predict(x, batch_size=32)
  torch    one call on all rows under torch.no_grad()
  keras    model.predict(x, verbose=0) (default batch_size=32) and model.predict(x, batch_size=4096, verbose=0)
"""

from __future__ import annotations

import os

import numpy as np

from . import common

MODELS = {"seed": (10, [32, 32], 1, "sigmoid"), "mnist_mlp": (784, [512, 256], 10, "softmax")}
THROUGHPUT_ROWS = 10000
LIBS = ("fastann", "torch", "keras")


def _inputs():
    rng = np.random.default_rng(7)
    one = {name: rng.random((1, d), dtype=np.float32) for name, (d, _, _, _) in MODELS.items()}
    many = rng.random((THROUGHPUT_ROWS, MODELS["mnist_mlp"][0]), dtype=np.float32)
    return one, many


def worker(p: dict) -> dict:
    lib, threads, calls, repeats = p["lib"], p["threads"], p["calls"], p["repeats"]
    keras_calls = p["keras_predict_calls"]
    one, many = _inputs()
    lat, thr = {}, {}  # mode -> {model -> timing} ; mode -> timing
    if lib == "fastann":
        import fastann
        from fastann.layers import Dense
        from fastann.models import Sequential
        fastann.set_num_threads(threads)
        fastann.utils.set_random_seed(0)
        models = {}
        for name, (d, hidden, out, act) in MODELS.items():
            m = Sequential()
            m.add(Dense(hidden[0], input_dim=d, activation="relu"))
            for h in hidden[1:]:
                m.add(Dense(h, activation="relu"))
            m.add(Dense(out, activation=act))
            models[name] = m
        lat["predict"] = {name: common.time_each(lambda m=m, x=one[name]: m.predict(x, verbose=0), calls)
                          for name, m in models.items()}
        mm = models["mnist_mlp"]
        thr["predict"] = common.measure(lambda: mm.predict(many, verbose=0), repeats=repeats, min_time=0).as_dict()
        thr["predict(batch_size=32)"] = common.measure(lambda: mm.predict(many, batch_size=32, verbose=0),
                                                       repeats=repeats, min_time=0).as_dict()
    elif lib == "torch":
        import torch
        from torch import nn
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        models = {}
        for name, (d, hidden, out, act) in MODELS.items():
            layers, prev = [], d
            for h in hidden:
                layers += [nn.Linear(prev, h), nn.ReLU()]
                prev = h
            layers += [nn.Linear(prev, out), nn.Sigmoid() if act == "sigmoid" else nn.Softmax(dim=1)]
            models[name] = nn.Sequential(*layers).eval()

        def call(m, x):
            with torch.no_grad():
                return m(torch.from_numpy(x)).numpy()

        lat["model(x)"] = {name: common.time_each(lambda m=m, x=one[name]: call(m, x), calls)
                           for name, m in models.items()}
        mm = models["mnist_mlp"]
        thr["model(x)"] = common.measure(lambda: call(mm, many), repeats=repeats, min_time=0).as_dict()
    elif lib == "keras":
        tf, keras = common.setup_keras(threads)
        keras.utils.set_random_seed(0)
        models = {name: keras.Sequential([keras.Input((d,))]
                                         + [keras.layers.Dense(h, activation="relu") for h in hidden]
                                         + [keras.layers.Dense(out, activation=act)])
                  for name, (d, hidden, out, act) in MODELS.items()}
        lat["predict"] = {name: common.time_each(lambda m=m, x=one[name]: m.predict(x, verbose=0), keras_calls,
                                                 warmup_calls=5)
                          for name, m in models.items()}
        lat["model(x, training=False)"] = {
            name: common.time_each(lambda m=m, x=one[name]: m(x, training=False), calls)
            for name, m in models.items()}
        mm = models["mnist_mlp"]
        thr["predict"] = common.measure(lambda: mm.predict(many, verbose=0), repeats=repeats, min_time=0).as_dict()
        thr["predict(batch_size=4096)"] = common.measure(lambda: mm.predict(many, batch_size=4096, verbose=0),
                                                         repeats=repeats, min_time=0).as_dict()
    else:
        raise ValueError(lib)
    for t in thr.values():
        t["rows_per_s"] = THROUGHPUT_ROWS / t["median_s"]
    return {"lib": lib, "latency": lat, "throughput": thr}


def run(threads: int, quick: bool, keras: bool = True) -> dict:
    meta = common.env_info(threads)
    meta["foreign_load_at_start"] = common.wait_for_quiet(common.CONFIG["wait_quiet"])
    libs = [lib for lib in LIBS if (lib != "torch" or common.has_module("torch"))
            and (lib != "keras" or (keras and common.keras_available()))]
    payload = {"threads": threads, "calls": 300 if quick else 2000, "keras_predict_calls": 30 if quick else 200,
               "repeats": 3 if quick else 7}
    results = []
    for lib in libs:
        common.wait_for_quiet(common.CONFIG["wait_quiet"])
        r = common.run_worker("bench.predict", dict(payload, lib=lib), threads)
        r.setdefault("lib", lib)
        results.append(r)
        common.log(f"  {lib}: " + (r["error"] if "error" in r else ", ".join(
            f"{mode} {m} {v['median_us']:.1f} us" for mode, d in r["latency"].items() for m, v in d.items())))
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["libs"] = libs
    meta["calls"] = payload
    return {"suite": "predict", "meta": meta, "results": results}


def tables(res: dict) -> list:
    by = {r["lib"]: r for r in res["results"] if "error" not in r}
    ref_lat = by.get("fastann", {}).get("latency", {}).get("predict", {})
    ref_thr = by.get("fastann", {}).get("throughput", {}).get("predict", {}).get("rows_per_s")
    lat_rows, thr_rows = [], []
    for lib in LIBS:
        r = by.get(lib)
        if r is None:
            err = next((x.get("error", "not run") for x in res["results"] if x["lib"] == lib), "not run")
            lat_rows.append([lib, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"])
            thr_rows.append([lib, "n/a", "n/a", err])
            continue
        for mode, d in r["latency"].items():
            s, m = d["seed"], d["mnist_mlp"]
            speedup = [common.fmt_ratio(d[k]["median_us"], ref_lat[k]["median_us"]) if ref_lat else "n/a"
                       for k in ("seed", "mnist_mlp")]
            lat_rows.append([f"{lib} {mode}", f"{s['median_us']:.1f}{common.flag(s)}", f"{s['min_us']:.1f}",
                             f"{m['median_us']:.1f}{common.flag(m)}", f"{m['min_us']:.1f}", *speedup])
        for mode, t in r["throughput"].items():
            thr_rows.append([f"{lib} {mode}", f"{t['rows_per_s']:,.0f}{common.flag(t)}", f"{t['median_s'] * 1e3:.2f}",
                             common.fmt_ratio(ref_thr, t["rows_per_s"])])
    return [
        ("one-row latency (microseconds; median and min over the calls)",
         ["library / call", "seed median", "seed min", "mnist_mlp median", "mnist_mlp min", "fastann speedup (seed)",
          "fastann speedup (mnist_mlp)"], lat_rows),
        (f"throughput, mnist_mlp, {THROUGHPUT_ROWS} rows",
         ["library / call", "rows/s", "ms per call (median)", "fastann predict speedup"], thr_rows),
    ]


NOTES = [
    "speedup = the reference's time / fastann model.predict's time (median); >1 means fastann is faster.",
    "Keras model.predict builds a data pipeline on every call (milliseconds): it is the Keras API for batches, "
    "model(x, training=False) is the Keras way to run one row. Keras predict's default batch_size is 32; fastann "
    "predict's default processes 4096-row chunks, torch runs all 10000 rows in one call.",
    common.FLAG_NOTE,
]


if __name__ == "__main__":
    common.worker_main(worker)
