"""Model integrity under faults, threads and processes (issue 17's classes; docs/reliability.md):

- the strong guarantee: every mutating call that fails (an allocation failure injected at each of its tensor
  allocations in turn, as SQLite tests its out-of-memory paths) leaves the weights, the configuration, the
  optimizer state and the History as they were, and the model still trains and saves;
- the concurrency contract: readers run together and beside a fit; a structural change or a second fit while
  another call is in flight raises RuntimeError naming both calls, at once (no deadlock, no use after free);
- fork: a child forked while another thread fits can predict, evaluate, fit and save the inherited model;
- Ctrl-C during evaluate and predict raises KeyboardInterrupt promptly, the model unchanged.

The thread and fork cases run in subprocesses with a timeout: a hang or a crash there fails the test instead of
stopping the suite."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import numpy as np
import pytest

import fastann
import fastann.utils
from fastann import _core
from fastann.layers import Dense, Dropout
from fastann.models import load_model

RNG = np.random.default_rng(17)
X = RNG.standard_normal((64, 5)).astype(np.float32)
Y = (X[:, :1] > 0).astype(np.float32)


def _model(compiled=True, optimizer="adam", trained=True):
    fastann.utils.set_random_seed(3)
    m = fastann.Sequential([Dense(8, activation="relu", input_dim=5, name="h"), Dropout(0.0, name="d"),
                            Dense(1, activation="sigmoid", name="out")])
    if compiled:
        m.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    if compiled and trained:
        m.train_on_batch(X[:8], Y[:8])  # optimizer state that is not the initial one
    return m


def _snapshot(m, path):
    """Everything a failed call must leave as it was: the model file (architecture, weights, compile configuration
    and optimizer state, bitwise), the History object and the layer list."""
    m.save(path)
    with open(path, "rb") as f:
        data = f.read()
    return data, m.history, [lyr.name for lyr in m.layers], m.built


def _still_works(m, path):
    if m._core.compiled:
        loss = m.train_on_batch(X, Y)
        assert np.all(np.isfinite(loss))
    if m.built:
        m.save(path)
        np.testing.assert_array_equal(load_model(path).predict(X, verbose=0), m.predict(X, verbose=0))


def _with_failure_at(n, call):
    """Runs call() with the (n+1)-th tensor allocation failing; True when the failure happened (the call must then
    have raised MemoryError)."""
    _core._fail_allocation_after(n)
    try:
        call()
    except MemoryError:
        assert not _core._allocation_failure_pending()
        return True
    finally:
        pending = _core._allocation_failure_pending()
        _core._fail_allocation_after(-1)
    assert pending, "the injected failure happened but the call did not raise MemoryError"
    return False


# Each mutating call: (name, make the model, the call). Every allocation of the call is made to fail in turn.
MUTATIONS = [
    ("add_to_built", lambda: _model(), lambda m: m.add(Dense(4, name="extra"))),
    ("add_first_layer", lambda: fastann.Sequential(), lambda m: m.add(Dense(4, input_dim=3))),
    ("pop", lambda: _model(), lambda m: m.pop()),
    ("add_first_layer_with_nd_input", lambda: fastann.Sequential(), lambda m: m.add(Dense(4, input_shape=(3, 2)))),
    ("build", lambda: fastann.Sequential([Dense(4), Dense(2)]), lambda m: m.build((None, 6))),
    ("compile_first", lambda: _model(compiled=False), lambda m: m.compile("rmsprop", "mse", metrics=["mae"])),
    ("compile_again", lambda: _model(), lambda m: m.compile("rmsprop", "mse", metrics=["accuracy", "mae"])),
    ("compile_same_optimizer", lambda: _model(), lambda m: m.compile(m.optimizer, "binary_crossentropy")),
    ("set_weights", lambda: _model(), lambda m: m.set_weights([w + 1 for w in m.get_weights()])),
    ("layer_set_weights", lambda: _model(), lambda m: m.layers[0].set_weights([w * 2 for w in
                                                                              m.layers[0].get_weights()])),
    ("fit", lambda: _model(), lambda m: m.fit(X, Y, epochs=1, batch_size=16, verbose=0)),
    ("fit_validation", lambda: _model(), lambda m: m.fit(X, Y, epochs=1, batch_size=32, verbose=0,
                                                         validation_split=0.25)),
    ("fit_unbuilt", lambda: fastann.Sequential([Dense(3), Dense(1)]),
     lambda m: (m.compile("adam", "mse"), m.fit(X, Y, epochs=1, verbose=0))),
    ("train_on_batch", lambda: _model(), lambda m: m.train_on_batch(X, Y)),
    ("evaluate", lambda: _model(), lambda m: m.evaluate(X, Y, verbose=0)),
    ("predict", lambda: _model(), lambda m: m.predict(X, verbose=0)),
]


@pytest.mark.parametrize("name,make,call", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_call_that_runs_out_of_memory_leaves_the_model_as_it_was(tmp_path, name, make, call):
    failures = 0
    for n in range(10_000):
        m = make()
        before = _snapshot(m, tmp_path / "before.fastann") if m.built else None
        layers_before = [lyr.name for lyr in m.layers]
        history_before = m.history
        if not _with_failure_at(n, lambda m=m: call(m)):
            break  # the call made fewer than n + 1 tensor allocations: every one has been failed once
        failures += 1
        assert [lyr.name for lyr in m.layers] == layers_before, f"{name}: the layers changed at allocation {n}"
        assert m.history is history_before, f"{name}: the History changed at allocation {n}"
        if before is not None:
            after = _snapshot(m, tmp_path / "after.fastann")
            assert after[0] == before[0], f"{name}: weights, configuration or optimizer state changed ({n})"
        _still_works(m, tmp_path / "works.fastann")
    assert failures > 0, f"{name}: the call made no tensor allocation to fail"


def test_pop_removes_the_last_layer_and_keeps_the_others_weights():
    m = _model()
    w = m.get_weights()
    m.pop()
    assert [lyr.name for lyr in m.layers] == ["h", "d"]
    kept = m.get_weights()
    assert len(kept) == 2
    for a, b in zip(kept, w[:2]):
        np.testing.assert_array_equal(a, b)
    want = np.maximum(X.astype(np.float64) @ w[0].astype(np.float64) + w[1], 0.0)
    np.testing.assert_allclose(m.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    m.add(Dense(2, name="new"))
    m.compile("adam", "mse")
    m.fit(X, np.zeros((len(X), 2)), epochs=1, verbose=0)
    m.pop(), m.pop(), m.pop()
    assert not m.built and m.get_weights() == []
    with pytest.raises(TypeError, match="There are no layers in the model"):
        m.pop()


def test_an_add_that_fails_leaves_no_input_shape_behind():
    m = fastann.Sequential()
    assert _with_failure_at(0, lambda: m.add(Dense(4, input_shape=(3, 2))))
    assert m.layers == [] and not m.built and m._core.input_shape == ()
    m.add(Dense(2, input_dim=5))  # another input shape: the failed add left none behind
    assert m.predict(X, verbose=0).shape == (len(X), 2)


def test_fit_that_fails_in_its_setup_keeps_the_previous_history():
    m = _model()
    h = m.fit(X, Y, epochs=1, verbose=0)
    assert m.history is h
    assert _with_failure_at(0, lambda: m.fit(X, Y, epochs=2, batch_size=64, verbose=0))
    assert m.history is h and h.epoch == [0]


def _run(code, timeout=120):
    """Runs code in a fresh Python; returns its stdout. A crash, a hang (timeout) or an error fails the test."""
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the subprocess hung (killed after {timeout} s): {e.stdout!r} {e.stderr!r}")
    assert r.returncode == 0, f"exit {r.returncode} (a negative code is a signal):\n{r.stdout}\n{r.stderr}"
    return r.stdout


PRELUDE = """
import threading, time, sys
import numpy as np
import fastann
import fastann.utils
from fastann.layers import Dense
rng = np.random.default_rng(0)
x = rng.standard_normal((4096, 64)).astype(np.float32)
y = (x[:, :1] > 0).astype(np.float32)
def model():
    m = fastann.Sequential([Dense(256, activation="relu", input_dim=64), Dense(256, activation="relu"),
                            Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    return m
"""


def test_structural_changes_beside_predict_raise_instead_of_corrupting():
    """One thread predicts in a loop while another adds layers: each add either happens between predicts or raises
    RuntimeError naming both calls; each predict sees a whole model (never a crash, never a garbage error)."""
    out = _run(PRELUDE + """
m = model()
m.predict(x[:8], verbose=0)
stop = threading.Event()
errors, refused, done = [], [0], [0]
def predictor():
    while not stop.is_set():
        try:
            p = m.predict(x, verbose=0)
            assert p.shape[0] == len(x) and np.all(np.isfinite(p)), p.shape
            done[0] += 1
        except RuntimeError as e:
            if "add" not in str(e) or "predict" not in str(e):
                errors.append(repr(e))
        except BaseException as e:
            errors.append(repr(e))
t = threading.Thread(target=predictor)
t.start()
added = 0
deadline = time.monotonic() + 4
try:
    while time.monotonic() < deadline and added < 200:
        try:
            m.add(Dense(1))
            added += 1
        except RuntimeError as e:
            msg = str(e)
            assert msg.startswith("add is not allowed while predict() is running on this model"), msg
            refused[0] += 1
finally:
    stop.set()
    t.join()
assert not errors, errors[:3]
print(added, refused[0], done[0])
""")
    added, refused, done = map(int, out.split())
    assert done > 0 and refused > 0, (added, refused, done)


@pytest.mark.parametrize("call", ["compile", "add", "fit", "build", "to", "train_on_batch"])
def test_changes_and_a_second_fit_during_fit_raise_at_once(call):
    """The deadlock class: from a second thread while fit runs (its callbacks need the GIL), each call raises
    RuntimeError naming both calls within seconds instead of waiting forever."""
    out = _run(PRELUDE + f"""
m = model()
started = threading.Event()
class Signal(fastann.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        started.set()
result = {{}}
def fitter():
    result["h"] = m.fit(x, y, epochs=6, batch_size=32, verbose=0, callbacks=[Signal()])
t = threading.Thread(target=fitter)
t.start()
assert started.wait(60)
calls = {{"compile": lambda: m.compile("sgd", "mse"), "add": lambda: m.add(Dense(1)),
          "fit": lambda: m.fit(x, y, epochs=1, verbose=0), "build": lambda: m.build((None, 64)),
          "to": lambda: m._core.to("cpu"),
          "train_on_batch": lambda: m.train_on_batch(x[:32], y[:32])}}
t0 = time.monotonic()
try:
    calls["{call}"]()
    print("no error")
except RuntimeError as e:
    print("elapsed", time.monotonic() - t0)
    print(e)
t.join()
assert len(result["h"].epoch) == 6
print("weights finite", all(np.all(np.isfinite(w)) for w in m.get_weights()))
""")
    assert "no error" not in out, out
    assert "fit()" in out and "another thread" in out, out
    assert float(out.split("elapsed ")[1].split()[0]) < 5.0
    assert "weights finite True" in out


def test_readers_run_together_beside_a_fit():
    """predict, evaluate, get_weights, save and summary from other threads while fit runs: all succeed; two evaluates
    at once give the serial result."""
    out = _run(PRELUDE + """
import os, tempfile
m = model()
m.fit(x, y, epochs=1, verbose=0)
ref = m.evaluate(x, y, batch_size=64, verbose=0)
res = [None, None]
def ev(i):
    res[i] = m.evaluate(x, y, batch_size=64, verbose=0)
ts = [threading.Thread(target=ev, args=(i,)) for i in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
assert res[0] == ref and res[1] == ref, (res, ref)
started = threading.Event()
class Signal(fastann.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        started.set()
t = threading.Thread(target=lambda: m.fit(x, y, epochs=4, verbose=0, callbacks=[Signal()]))
t.start()
assert started.wait(60)
d = tempfile.mkdtemp()
n = 0
while t.is_alive() and n < 50:
    m.predict(x[:100], verbose=0)
    m.evaluate(x[:256], y[:256], verbose=0)
    m.get_weights()
    m.save(os.path.join(d, "m.fastann"))
    m.summary(print_fn=lambda *a, **k: None)
    n += 1
t.join()
fastann.models.load_model(os.path.join(d, "m.fastann"))
print("rounds", n)
""")
    assert int(out.split("rounds ")[1]) >= 1


def test_weights_read_beside_a_fit_are_those_between_two_updates():
    """Every weight of this model gets the same gradient (equal input columns, equal starting weights), so after
    each step all are equal; get_weights in the middle of an update would return two steps' values (~1e-5 apart)."""
    out = _run("""
import threading
import numpy as np
import fastann
from fastann.layers import Dense
n, d = 64, 65536
v = np.random.default_rng(3).standard_normal((n, 1)).astype(np.float32)
x = np.repeat(v / d, d, axis=1)
m = fastann.Sequential([Dense(1, use_bias=False, kernel_initializer="zeros", input_dim=d)])
m.compile(optimizer="sgd", loss="mse")
t = threading.Thread(target=lambda: m.fit(x, 2 * v, epochs=40, batch_size=8, shuffle=False, verbose=0))
t.start()
snapshots, torn, seen = 0, 0, set()
while t.is_alive() or snapshots == 0:
    k = m.get_weights()[0]
    torn += int(k.max() - k.min() > 1e-7 * max(1.0, abs(float(k.max()))))
    seen.add(float(k[0, 0]))
    snapshots += 1
t.join()
print(snapshots, torn, len(seen))
""")
    snapshots, torn, distinct = map(int, out.split())
    assert torn == 0, f"{torn} of {snapshots} snapshots mixed two steps"
    assert distinct > 1  # the weights moved while they were read


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_a_fit_can_use_the_model():
    """The child inherits a model that another thread of the parent was fitting (its gate held by a thread the child
    does not have): it predicts, evaluates, fits and saves it."""
    out = _run(PRELUDE + """
import os, tempfile, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # os.fork() in a process with threads
m = model()
started = threading.Event()
class Signal(fastann.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        started.set()
t = threading.Thread(target=lambda: m.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[Signal()]))
t.start()
assert started.wait(60)
time.sleep(0.05)  # inside the epoch loop
d = tempfile.mkdtemp()
pid = os.fork()
if pid == 0:
    try:
        p = m.predict(x[:10], verbose=0)
        e = m.evaluate(x, y, verbose=0)
        h = m.fit(x[:256], y[:256], epochs=1, verbose=0)
        m.save(os.path.join(d, "child.fastann"))
        ok = np.all(np.isfinite(p)) and np.isfinite(e) and len(h.epoch) == 1
        os._exit(0 if ok else 3)
    except BaseException as exc:
        print("child:", repr(exc), flush=True)
        os._exit(4)
deadline = time.monotonic() + 60
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        raise SystemExit("the child hung")
    time.sleep(0.05)
t.join()
print("child status", os.waitstatus_to_exitcode(status))
fastann.models.load_model(os.path.join(d, "child.fastann"))
""")
    assert "child status 0" in out, out


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGINT delivery to the process")
@pytest.mark.parametrize("call", ["evaluate", "predict"])
def test_ctrl_c_during_evaluate_and_predict_raises_promptly(call):
    """SIGINT while the C++ loop runs (GIL released): KeyboardInterrupt soon after, not when the whole call ends;
    the model is unchanged."""
    m = fastann.Sequential([Dense(512, activation="relu", input_dim=256), Dense(512, activation="relu"),
                            Dense(1, activation="sigmoid")])
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    x = np.random.default_rng(1).standard_normal((40_000, 256)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        before = _snapshot(m, os.path.join(d, "a.fastann"))[0]
        t0 = time.monotonic()
        (m.predict(x[:4000], verbose=0) if call == "predict" else m.evaluate(x[:4000], y[:4000], verbose=0))
        per_row = (time.monotonic() - t0) / 4000
        reps = max(1, int(3.0 / (per_row * len(x))))  # at least ~3 s of work
        xs, ys = np.concatenate([x] * reps), np.concatenate([y] * reps)
        sent = []
        timer = threading.Timer(0.5, lambda: (sent.append(time.monotonic()), os.kill(os.getpid(), signal.SIGINT)))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            m.predict(xs, verbose=0) if call == "predict" else m.evaluate(xs, ys, verbose=0)
        latency = time.monotonic() - sent[0]
        timer.cancel()
        assert latency < 0.2, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
        assert _snapshot(m, os.path.join(d, "b.fastann"))[0] == before
        m.predict(x[:10], verbose=0)
