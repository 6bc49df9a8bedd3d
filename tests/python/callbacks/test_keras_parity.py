"""Parity with Keras 3 itself, where it is installed: the same model with the same weights gives the same evaluate
numbers, the same History (keys and values), the same progress-output layout, and the same EarlyStopping /
ReduceLROnPlateau decisions for the same monitored values.

Keras runs in a separate Python (it needs TensorFlow or another backend, and importing it here would also bring its
warnings into this process): FASTANN_KERAS_PYTHON, else this interpreter, else `python3` on PATH -- the first that
can import keras. Without one the tests skip.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_progress import render

from fastann import callbacks
from fastann.layers import Dense
from fastann.models import Sequential
from fastann.optimizers import SGD

KERAS_SCRIPT = textwrap.dedent(r"""
    import contextlib, io, json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import keras

    d = np.load(sys.argv[1])
    x, y, weights = d["x"], d["y"], [d[f"w{i}"] for i in range(4)]

    def model():
        m = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
        m.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
        m.set_weights(weights)
        return m

    def captured(fn):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            result = fn()
        return result, buf.getvalue()

    out = {"keras": keras.__version__}
    m = model()
    out["evaluate"] = m.evaluate(x, y, batch_size=32, verbose=0)
    h = m.fit(x, y, epochs=2, batch_size=32, shuffle=False, validation_split=0.2, verbose=0)
    out["history"] = [[k, [float(v) for v in vs]] for k, vs in h.history.items()]
    out["epoch"] = h.epoch
    for verbose in (1, 2):
        _, out[f"fit{verbose}"] = captured(lambda: model().fit(x, y, epochs=2, batch_size=32, shuffle=False,
                                                                validation_split=0.2, verbose=verbose))
        _, out[f"evaluate{verbose}"] = captured(lambda: model().evaluate(x, y, batch_size=32, verbose=verbose))
        _, out[f"predict{verbose}"] = captured(lambda: model().predict(x, batch_size=32, verbose=verbose))

    # The callbacks' decisions, driven as Keras's fit drives them (without the cost of a fit per scenario).
    scenarios = json.loads(sys.argv[2])
    results = []
    m = model()
    for kind, kwargs, seq in scenarios:
        m.optimizer.learning_rate = 0.01
        cb = getattr(keras.callbacks, kind)(monitor="score", **kwargs)
        cb.set_model(m)
        m.stop_training = False
        cb.on_train_begin()
        epochs, lrs = 0, []
        for epoch, value in enumerate(seq):
            logs = {"loss": 0.5, "score": value}
            cb.on_epoch_end(epoch, logs)
            epochs += 1
            if "learning_rate" in logs:
                lrs.append(float(logs["learning_rate"]))
            if m.stop_training:
                break
        cb.on_train_end()
        r = {"epochs": epochs, "lr": lrs}
        if kind == "EarlyStopping":
            r.update(stopped_epoch=cb.stopped_epoch, best_epoch=getattr(cb, "best_epoch", None))
        results.append(r)
    out["scenarios"] = results
    with open(sys.argv[3], "w") as f:
        json.dump(out, f)
""")

SCENARIOS = [
    ["EarlyStopping", {"mode": "min", "patience": 2}, [5, 4, 3, 3.5, 3.2, 2.0, 1.0, 1.0]],
    ["EarlyStopping", {"mode": "min", "patience": 0}, [5, 6, 4, 3]],
    ["EarlyStopping", {"mode": "max", "patience": 1, "min_delta": 0.1}, [0.5, 0.55, 0.9, 0.95, 0.97]],
    ["EarlyStopping", {"mode": "min", "patience": 2, "baseline": 1.0}, [3, 3, 3, 3, 3]],
    ["EarlyStopping", {"mode": "min", "patience": 2, "baseline": 1.0}, [0.5, 0.6, 0.7, 0.8, 0.9]],
    ["EarlyStopping", {"mode": "min", "patience": 1, "start_from_epoch": 3}, [1, 2, 3, 4, 5, 6]],
    ["EarlyStopping", {"mode": "min", "patience": 10, "restore_best_weights": True}, [5, 1, 3, 4]],
    ["EarlyStopping", {"mode": "min", "patience": 1, "restore_best_weights": True}, [3, 2, 2.5, 2.6, 1]],
    ["ReduceLROnPlateau", {"mode": "min", "factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.003},
     [5, 4, 4, 4, 4, 4, 4, 4, 4]],
    ["ReduceLROnPlateau", {"mode": "max", "factor": 0.2, "patience": 1}, [0.1, 0.1, 0.2, 0.2, 0.2, 0.3]],
]


def keras_python():
    candidates = [os.environ.get("FASTANN_KERAS_PYTHON")]
    if importlib.util.find_spec("keras") is not None:
        candidates.append(sys.executable)
    candidates.append(shutil.which("python3"))
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('keras') is None)"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for python in candidates:
        if python and subprocess.run([python, "-c", probe], env=env, capture_output=True).returncode == 0:
            return python, env
    return None, None


def weights_and_data():
    rng = np.random.default_rng(42)
    x = rng.random((200, 6)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:2] > 1).astype(np.float32)
    w = [rng.normal(0, 0.5, (6, 8)), rng.normal(0, 0.1, 8), rng.normal(0, 0.5, (8, 1)), rng.normal(0, 0.1, 1)]
    return x, y, [a.astype(np.float32) for a in w]


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory):
    python, env = keras_python()
    if python is None:
        pytest.skip("Keras 3 is not installed (set FASTANN_KERAS_PYTHON to a Python that has it)")
    tmp = tmp_path_factory.mktemp("keras")
    x, y, w = weights_and_data()
    np.savez(tmp / "data.npz", x=x, y=y, **{f"w{i}": a for i, a in enumerate(w)})
    (tmp / "run.py").write_text(KERAS_SCRIPT)
    proc = subprocess.run([python, str(tmp / "run.py"), str(tmp / "data.npz"), json.dumps(SCENARIOS),
                           str(tmp / "out.json")], env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"the Keras reference run failed:\n{proc.stderr[-3000:]}")
    out = json.loads((tmp / "out.json").read_text())
    if not out["keras"].startswith("3."):
        pytest.skip(f"Keras {out['keras']} is not Keras 3")
    return out


def model():
    x, y, w = weights_and_data()
    m = Sequential([Dense(8, input_dim=6, activation="relu"), Dense(1, activation="sigmoid")])
    m.compile(loss="binary_crossentropy", optimizer=SGD(0.01), metrics=["accuracy"])
    m.set_weights(w)
    return m, x, y


def test_evaluate_numbers_match_keras(keras_run):
    m, x, y = model()
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=32, verbose=0), keras_run["evaluate"], rtol=1e-5)


def test_history_keys_and_values_match_keras(keras_run):
    m, x, y = model()
    h = m.fit(x, y, epochs=2, batch_size=32, shuffle=False, validation_split=0.2, verbose=0)
    assert list(h.history) == [k for k, _ in keras_run["history"]]
    assert h.epoch == keras_run["epoch"]
    for k, values in keras_run["history"]:
        np.testing.assert_allclose(h.history[k], values, rtol=1e-4, atol=1e-6, err_msg=k)


def layout(text):
    """The visible lines with times and values replaced by placeholders (they differ from run to run)."""
    lines = render(text)
    lines = [re.sub(r"\d+(?:s|ms|us)/step", "T/step", line) for line in lines]
    lines = [re.sub(r"(?<= )\d+s(?= )", "Ns", line) for line in lines]
    lines = [re.sub(r": -?\d+\.\d{4}(?:e[-+]\d\d)?", ": V", line) for line in lines]
    return lines


@pytest.mark.parametrize("what", ["fit1", "fit2", "evaluate1", "evaluate2", "predict1", "predict2"])
def test_progress_output_has_keras_layout(keras_run, what, capsys):
    m, x, y = model()
    verbose = int(what[-1])
    if what.startswith("fit"):
        m.fit(x, y, epochs=2, batch_size=32, shuffle=False, validation_split=0.2, verbose=verbose)
    elif what.startswith("evaluate"):
        m.evaluate(x, y, batch_size=32, verbose=verbose)
    else:
        m.predict(x, batch_size=32, verbose=verbose)
    ours = layout(capsys.readouterr().out)
    assert ours == layout(keras_run[what])
    assert ours  # something was printed


def test_early_stopping_and_reduce_lr_decide_as_keras(keras_run):
    for (kind, kwargs, seq), want in zip(SCENARIOS, keras_run["scenarios"]):
        m, x, y = model()

        class Script(callbacks.Callback):
            scores = seq

            def on_epoch_end(self, epoch, logs=None):
                logs["score"] = self.scores[epoch]

        cb = getattr(callbacks, kind)(monitor="score", **kwargs)
        h = m.fit(x, y, epochs=len(seq), batch_size=32, verbose=0, callbacks=[Script(), cb])
        assert len(h.epoch) == want["epochs"], (kind, kwargs, seq)
        np.testing.assert_allclose(h.history.get("learning_rate", []), want["lr"], rtol=1e-6)
        if kind == "EarlyStopping":
            assert (cb.stopped_epoch, cb.best_epoch) == (want["stopped_epoch"], want["best_epoch"]), (kwargs, seq)
