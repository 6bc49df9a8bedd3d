"""Data-parallel fit (fastann.distributed, GradientReducer; docs/distributed.md).

In-process: fit's reducer hook and sharding, with a GradientReducer written in Python that averages two models
training in two threads (no MPI needed). Under MPI: `mpirun -np 2` (loopback only) runs tests/distributed/worker.py;
these tests skip with a reason where mpirun or fastann._mpi (built when CMake finds MPI) is missing.
"""

import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastann
from fastann import _core

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
sys.path.insert(0, os.path.join(TESTS, "distributed"))
import worker  # noqa: E402  (tests/distributed/worker.py: the data and model of the MPI runs)

sys.path.pop(0)


# --- the hook, in one process -----------------------------------------------------------------------------------------

class ThreadMean(_core.GradientReducer):
    """Averages the gradients (and sums the epoch sums) of `n` models fitting in `n` threads: what an MPI reducer
    does across processes, as (sum of all) * (1/n)."""

    def __init__(self, shared, index):
        super().__init__()
        self.shared, self.index = shared, index
        self.calls = {"reduce": 0, "reduce_sums": 0, "ready": []}

    def _all(self, buf, dtype, scale):
        a = np.asarray(buf).view(dtype)
        s = self.shared
        s["bufs"][self.index] = a.copy()
        s["barrier"].wait()
        total = s["bufs"][0].copy()
        for b in s["bufs"][1:]:
            total += b
        a[:] = total * dtype(scale) if scale != 1 else total
        s["barrier"].wait()

    def reduce(self, grads):
        self.calls["reduce"] += 1
        self._all(grads, np.float32, 1.0 / len(self.shared["bufs"]))

    def reduce_sums(self, values):
        self.calls["reduce_sums"] += 1
        self._all(values, np.float64, 1)

    def gradients_ready(self, grads, begin, end):
        if not self.calls["ready"]:
            self.calls["ready"].append((begin, end, len(np.asarray(grads))))


def _two_thread_fit(init_weights, x, y, regularizer=None, **fit_kwargs):
    shared = {"bufs": [None, None], "barrier": threading.Barrier(2, timeout=60)}
    models, reducers, hists, errors = [], [], [None, None], []
    for i in range(2):
        m = worker.model(regularizer)
        m.set_weights(init_weights)
        r = ThreadMean(shared, i)
        m._core.set_gradient_reducer(r)
        models.append(m)
        reducers.append(r)

    def run(i):
        try:
            hists[i] = models[i]._core.fit(x, y, fit_kwargs["batch_size"], fit_kwargs["epochs"], 0, True,
                                           fit_kwargs["seed"], 0.0, None, None, None, None,
                                           shard_index=i, shard_count=2)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            shared["barrier"].abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return models, reducers, hists


@pytest.mark.parametrize("n", [1000, 990, 20])  # last global batch (64 rows): 40 = 32 + 8; 30 = 30 + 0; 20 = 20 + 0
@pytest.mark.parametrize("regularizer", [None, "l1_l2"])  # weight penalties: each worker adds them, the mean keeps one
def test_sharded_fit_with_a_reducer_equals_one_fit_on_the_double_batch(n, regularizer):
    x, y = worker.data(n)
    fastann.utils.set_random_seed(5)
    init = worker.model(regularizer).get_weights()
    models, reducers, hists = _two_thread_fit(init, x, y, regularizer, batch_size=32, epochs=2, seed=11)
    w0, w1 = models[0].get_weights(), models[1].get_weights()
    for a, b in zip(w0, w1):
        assert np.array_equal(a, b)  # every worker applies the same averaged update
    ref = worker.model(regularizer)
    ref.set_weights(init)
    h = ref.fit(x, y, batch_size=64, epochs=2, seed=11, verbose=0)
    for a, b in zip(w0, ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for hist in hists:  # global epoch means on every worker
        for k, v in h.history.items():
            np.testing.assert_allclose(hist["history"][k], v, rtol=1e-6, atol=1e-7)
    steps = 2 * -(-n // 64)
    for r in reducers:
        assert r.calls["reduce"] == steps and r.calls["reduce_sums"] == 2
        if regularizer is None:
            # the last Dense layer's gradients (8*1 + 1, each tensor padded to 16 floats) are the buffer's tail
            begin, end, total = r.calls["ready"][0]
            assert end == total and total - begin == 32
        else:  # no overlap: the weight penalties join the gradients after the backward pass
            assert r.calls["ready"] == []


def test_shard_options_are_checked():
    x, y = worker.data(100)
    m = worker.model()
    with pytest.raises(RuntimeError, match="needs a gradient reducer"):
        m._core.fit(x, y, 32, 1, 0, True, 1, 0.0, None, None, None, None, shard_index=0, shard_count=2)
    with pytest.raises(ValueError, match="shard_index must be in"):
        m._core.fit(x, y, 32, 1, 0, True, 1, 0.0, None, None, None, None, shard_index=2, shard_count=2)


def test_distributed_fit_needs_init():
    import fastann.distributed as dist
    assert not dist.is_initialized()
    x, y = worker.data(100)
    with pytest.raises(RuntimeError, match=r"fastann.distributed.init\(\) first"):
        worker.model().fit(x, y, verbose=0, distributed=True)
    with pytest.raises(RuntimeError, match="init"):
        dist.rank()


def test_without_a_reducer_fit_is_unchanged():
    x, y = worker.data(300)
    fastann.utils.set_random_seed(3)
    init = worker.model().get_weights()
    out = []
    for _ in range(2):
        m = worker.model()
        m.set_weights(init)
        m._core.set_gradient_reducer(None)
        assert m._core.gradient_reducer is None
        m.fit(x, y, batch_size=32, epochs=2, seed=4, verbose=0)
        out.append(m.get_weights())
    for a, b in zip(*out):
        assert np.array_equal(a, b)


# --- under mpirun -----------------------------------------------------------------------------------------------------

MPIRUN = shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(MPIRUN is None or not __import__("fastann.distributed").distributed.is_available(),
                               reason="needs mpirun (Debian: openmpi-bin) and fastann._mpi (built when CMake finds "
                                      "MPI: libopenmpi-dev)")


def mpirun(scenario, outdir, *args, timeout=120):
    # Loopback only, oversubscribed (2 ranks may exceed the cores), allowed as root (CI containers).
    cmd = [MPIRUN, "-np", "2", "--oversubscribe", "--allow-run-as-root", "--mca", "btl", "self,tcp",
           "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
           sys.executable, os.path.join(TESTS, "distributed", "worker.py"), scenario, str(outdir), *args]
    env = dict(os.environ, FASTANN_NUM_THREADS="1")
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return p, time.monotonic() - start


@needs_mpi
@pytest.mark.parametrize("overlap", [False, True])
def test_mpi_two_ranks_equal_one_process_on_the_double_batch(tmp_path, overlap):
    p, _ = mpirun("fit", tmp_path, *(["--overlap"] if overlap else []))
    assert p.returncode == 0, p.stdout + p.stderr
    d = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    nw = len([k for k in d[0] if k.startswith("final_")])
    for i in range(nw):
        assert np.array_equal(d[0][f"final_{i}"], d[1][f"final_{i}"])  # bitwise identical on both ranks
    # One process, batch 2x, same data order (seed), from rank 0's initial weights (fit broadcast them).
    threads = fastann.get_num_threads()
    fastann.set_num_threads(1)
    try:
        x, y = worker.data()
        ref = worker.model()
        ref.set_weights([d[0][f"init_{i}"] for i in range(nw)])
        fit = dict(worker.FIT, batch_size=2 * worker.FIT["batch_size"], verbose=0)
        h = ref.fit(x, y, **fit)
    finally:
        fastann.set_num_threads(threads)
    for i, w in enumerate(ref.get_weights()):
        np.testing.assert_allclose(d[0][f"final_{i}"], w, rtol=1e-5, atol=1e-6)
    assert sorted(h.history) == sorted(k[5:] for k in d[0] if k.startswith("hist_"))
    for k, v in h.history.items():
        for r in range(2):
            np.testing.assert_allclose(d[r][f"hist_{k}"], v, rtol=1e-6, atol=1e-7)
    # Only rank 0 prints and writes files.
    assert p.stdout.count("Epoch 1/3") == 1 and p.stdout.count("val_loss") == 3, p.stdout
    assert sorted(os.listdir(tmp_path)) == ["ckpt-r0-1.fastann", "ckpt-r0-2.fastann", "ckpt-r0-3.fastann",
                                            "log-r0.csv", "rank0.npz", "rank1.npz"]
    # Data of another size on one rank: a ValueError on every rank, naming the difference where it is.
    assert "x rows (1000 here, 1100 on rank 0)" in str(d[1]["mismatch"])
    assert "ranks [1] differ from rank 0" in str(d[0]["mismatch"])


@needs_mpi
def test_mpi_a_rank_that_dies_ends_the_job(tmp_path):
    p, elapsed = mpirun("die", tmp_path, timeout=90)
    out = p.stdout + p.stderr
    assert "rank 1: simulating a crash" in out
    assert p.returncode != 0 and elapsed < 60, out
    assert "finished without noticing" not in out
    # Open MPI ends the job naming the process that exited; without it, rank 0's collective times out (next test).
    assert "exit code" in out.lower() or "did not complete within" in out, out


@needs_mpi
def test_mpi_a_rank_that_hangs_times_out_with_a_clear_error(tmp_path):
    p, elapsed = mpirun("hang", tmp_path, timeout=90)
    out = p.stdout + p.stderr
    assert "rank 1: simulating a hang" in out
    assert p.returncode != 0 and elapsed < 60, out
    assert "RuntimeError: fastann.distributed: MPI_Iallreduce of the gradients" in out, out
    assert "on rank 0 of 2 did not complete within 3 s" in out, out
    # The job ended (non-zero, well before the 90 s limit) instead of waiting for the hung rank; Open MPI's own abort
    # banner is not asserted: its help-text lookup sometimes fails ("ORTE_ERROR_LOG: Out of resource").
