"""Run by tests/python/distributed/test_distributed.py under `mpirun -np 2`: python worker.py SCENARIO OUTDIR [options].

Scenarios:
  fit [--overlap]  data-parallel fits (see data()); each rank saves its initial and final weights and History to
                   OUTDIR/rank<r>.npz; also checks that mismatched data on one rank is a clear error everywhere.
  die              rank 1 exits (os._exit) after the first epoch, mid-fit; rank 0 must not hang.
  hang             rank 1 sleeps after the first epoch; rank 0 must time out (init(timeout=3)) with a clear error.
"""

import os
import sys
import time

import numpy as np

import fastann
import fastann.distributed as dist
from fastann import callbacks
from fastann.layers import Dense
from fastann.models import Sequential


def data(n=1100, seed=7):
    """1100 rows; validation_split=0.1 leaves 990 for training: with batch_size 32 on 2 ranks (global batches of 64)
    the last global batch has 30 rows, all on rank 0 (rank 1 takes an empty share)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) + 0.3 * rng.normal(size=n) > 0).astype(np.float32).reshape(-1, 1)
    return x, y


def model(regularizer=None):
    m = Sequential([Dense(16, input_dim=10, activation="relu", kernel_regularizer=regularizer),
                    Dense(8, activation="tanh"),
                    Dense(1, activation="sigmoid", kernel_regularizer=regularizer, bias_regularizer=regularizer)])
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return m


FIT = dict(batch_size=32, epochs=3, seed=123, validation_split=0.1, verbose=2)


def scenario_fit(out, overlap):
    dist.init(overlap=overlap)
    r = dist.rank()
    fastann.set_num_threads(1)
    x, y = data()
    m = model()  # unseeded: the ranks start from different weights; fit broadcasts rank 0's
    init_w = m.get_weights()
    ckpt = callbacks.ModelCheckpoint(os.path.join(out, f"ckpt-r{r}-{{epoch}}.fastann"))
    csv = callbacks.CSVLogger(os.path.join(out, f"log-r{r}.csv"))
    h = m.fit(x, y, callbacks=[ckpt, csv], distributed=True, **FIT)
    arrays = {f"init_{i}": w for i, w in enumerate(init_w)}
    arrays.update({f"final_{i}": w for i, w in enumerate(m.get_weights())})
    arrays.update({f"hist_{k}": np.array(v) for k, v in h.history.items()})
    # A rank that passes other data is a clear error on every rank (before any training step).
    try:
        m.fit(x[: 1000 if r == 1 else 1100], y[: 1000 if r == 1 else 1100], distributed=True, verbose=0)
        mismatch = "no error"
    except ValueError as e:
        mismatch = str(e)
    arrays["mismatch"] = np.array(mismatch)
    np.savez(os.path.join(out, f"rank{r}.npz"), **arrays)
    print(f"rank {r} done", flush=True)


def scenario_fault(out, kind):
    dist.init(timeout=3.0 if kind == "hang" else 20.0)
    r = dist.rank()
    fastann.set_num_threads(1)
    x, y = data()

    class Fault(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if r == 1 and epoch == 0:
                print(f"rank 1: simulating a {'crash' if kind == 'die' else 'hang'}", flush=True)
                if kind == "die":
                    os._exit(3)
                time.sleep(120)

    start = time.monotonic()
    try:
        model().fit(x, y, batch_size=32, epochs=20, seed=1, verbose=0, callbacks=[Fault()], distributed=True)
    except RuntimeError as e:
        print(f"rank {r} caught after {time.monotonic() - start:.1f} s: {e}", flush=True)
        raise
    print(f"rank {r} finished without noticing", flush=True)


if __name__ == "__main__":
    scenario, outdir = sys.argv[1], sys.argv[2]
    if scenario == "fit":
        scenario_fit(outdir, "--overlap" in sys.argv)
    elif scenario in ("die", "hang"):
        scenario_fault(outdir, scenario)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
