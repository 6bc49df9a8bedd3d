"""Progress reporting: the C++ progress and per-batch hooks of fit/evaluate (rate bound, running means, stop/abort),
and the Keras 3 progress output of fit/evaluate/predict for verbose 0/1/2, on a terminal and not.

Keras 3's layout, as printed by Keras 3.15 (final line of an epoch; `━` x 20):
  verbose=1: `25/25 ━━━━━━━━━━━━━━━━━━━━ 1s 9ms/step - accuracy: 0.4963 - loss: 0.7027 - val_accuracy: ...`
  verbose=2: `25/25 - 1s - 24ms/step - accuracy: 0.4512 - loss: 0.7111 - val_accuracy: 0.4550 - val_loss: 0.7085`
preceded by `Epoch i/N` when N > 1; logs in name order. Times vary, so tests match them with regexes.
"""

import io
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import fastann
from fastann import callbacks
from fastann.callbacks import ProgbarLogger
from fastann.callbacks.progress import _format_eta, _format_step_time, _format_value
from fastann.initializers import GlorotUniform
from fastann.layers import Dense
from fastann.models import Sequential


def small_model(seed=0, metrics=("accuracy",)):
    m = Sequential([Dense(8, input_dim=4, activation="relu", kernel_initializer=GlorotUniform(seed=seed)),
                    Dense(1, activation="sigmoid", kernel_initializer=GlorotUniform(seed=seed + 1))])
    m.compile(loss="binary_crossentropy", optimizer="sgd", metrics=list(metrics))
    return m


def data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:2] > 1).astype(np.float32)
    return x, y


def core_fit(m, x, y, batch_size, epochs=1, shuffle=False, val=None, **hooks):
    vx, vy = val if val is not None else (None, None)
    return m._core.fit(x, y, batch_size, epochs, 0, shuffle, 0, 0.0, vx, vy, None, hooks.pop("on_epoch_end", None),
                       **hooks)


# --- the C++ hooks -------------------------------------------------------------------------------------------------

def test_progress_every_batch_gives_the_running_means_of_the_batch_losses():
    """With interval 0 the hook sees every step; its logs are the running means, computed in C++, and equal the
    means of the per-batch values that train_on_batch reports on a twin model."""
    x, y = data(100)
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    seen = []
    epoch_logs = []
    core_fit(a, x, y, 32, on_progress=lambda step, logs: seen.append((step, dict(logs))), progress_interval_ms=0,
             on_epoch_end=lambda e, logs: epoch_logs.append(dict(logs)))
    assert [s for s, _ in seen] == [1, 2, 3, 4]
    sizes = [32, 32, 32, 4]
    per_batch = [b.train_on_batch(x[i * 32:(i + 1) * 32], y[i * 32:(i + 1) * 32]) for i in range(4)]
    for k, (_step, logs) in enumerate(seen):
        w = np.array(sizes[:k + 1], np.float64)
        want_loss = np.dot(w, [p[0] for p in per_batch[:k + 1]]) / w.sum()
        want_acc = np.dot(w, [p[1] for p in per_batch[:k + 1]]) / w.sum()
        assert list(logs) == ["accuracy", "loss"]
        np.testing.assert_allclose(logs["loss"], want_loss, rtol=1e-6)
        np.testing.assert_allclose(logs["accuracy"], want_acc, rtol=1e-6)
    assert seen[-1][1] == epoch_logs[0]  # the last report is the epoch's training logs, bit for bit


def test_progress_calls_are_bounded_by_elapsed_time_over_the_interval():
    """A long epoch of tiny batches: the hook runs after the first batch, at most once per interval, and after the
    last batch -- its count is bounded by elapsed/interval + a small constant, whatever the number of batches."""
    x, y = data(20000)
    m = small_model()
    calls = []
    interval_ms = 20
    start = time.perf_counter()
    core_fit(m, x, y, 1, epochs=2, on_progress=lambda step, logs: calls.append(step),
             progress_interval_ms=interval_ms)
    elapsed = time.perf_counter() - start
    assert calls[0] == 1 and calls[-1] == 20000 and calls.count(1) == 2
    assert len(calls) <= 2 * 2 + elapsed / (interval_ms / 1000) + 2
    assert len(calls) < 40000 / 100  # far fewer than one per batch


def test_batch_hooks_are_called_for_every_batch_with_running_logs():
    x, y = data(100)
    m = small_model()
    begins, ends, progress = [], [], []
    core_fit(m, x, y, 32, epochs=2, on_train_batch_begin=begins.append,
             on_train_batch_end=lambda b, logs: ends.append((b, logs["loss"])),
             on_progress=lambda step, logs: progress.append((step, logs["loss"])), progress_interval_ms=0)
    assert begins == [0, 1, 2, 3] * 2
    assert [b for b, _ in ends] == [0, 1, 2, 3] * 2
    assert [lg for _, lg in ends] == [lg for _, lg in progress]  # the same running means


def test_a_batch_hook_asking_to_stop_ends_the_epoch_normally():
    """As Keras with model.stop_training set in a batch hook: the batch finishes, the epoch's logs cover the batches
    done, validation runs, on_epoch_end is called, and no further epoch starts."""
    x, y = data(100)
    m = small_model()
    epochs = []
    out = core_fit(m, x, y, 10, epochs=5, val=(x[:20], y[:20]),
                   on_train_batch_end=lambda b, logs: b == 2,
                   on_epoch_end=lambda e, logs: epochs.append((e, dict(logs))) and False)
    assert m.optimizer.iterations == 3
    assert out["epoch"] == [0] and [e for e, _ in epochs] == [0]
    assert set(epochs[0][1]) == {"accuracy", "loss", "val_accuracy", "val_loss"}


def test_a_batch_begin_hook_asking_to_stop_still_runs_that_batch():
    x, y = data(100)
    m = small_model()
    core_fit(m, x, y, 10, epochs=3, on_train_batch_begin=lambda b: b == 4)
    assert m.optimizer.iterations == 5


def test_nonfinite_loss_hook_is_called_once_when_the_loss_stops_being_finite():
    x, y = data(100)
    x[35] = np.inf
    m = small_model()
    calls = []
    fastann.set_check_finite(False)  # let the infinity reach training (fit rejects it up front by default)
    try:
        out = core_fit(m, x, y, 10, epochs=3,
                       on_nonfinite_loss=lambda b, logs: calls.append((b, logs["loss"])) or True)
    finally:
        fastann.set_check_finite(True)
    assert len(calls) == 1 and calls[0][0] == 3 and not math.isfinite(calls[0][1])
    assert m.optimizer.iterations == 4 and out["epoch"] == [0]


def test_an_exception_in_a_progress_or_batch_hook_stops_after_that_batch_and_propagates():
    x, y = data(100)
    def fail_at(k):
        return lambda i, logs=None: None if i != k else 1 / 0

    for hooks in ({"on_progress": fail_at(3), "progress_interval_ms": 0},
                  {"on_train_batch_end": fail_at(2)},
                  {"on_train_batch_begin": fail_at(3)}):
        m = small_model()
        epochs = []
        with pytest.raises(ZeroDivisionError):
            core_fit(m, x, y, 10, epochs=2, on_epoch_end=lambda e, logs, record=epochs.append: record(e), **hooks)
        assert m.optimizer.iterations == 3
        assert epochs == []  # an error aborts: no on_epoch_end for the unfinished epoch


def test_evaluate_progress_reports_running_means_and_the_final_values():
    x, y = data(100)
    m = small_model()
    seen = []
    values = m._core.evaluate(x, y, 32, lambda step, logs: seen.append((step, dict(logs))), 0)
    assert [s for s, _ in seen] == [1, 2, 3, 4]
    assert seen[-1][1] == {"accuracy": values[1], "loss": values[0]}
    assert values == m._core.evaluate(x, y, 32)
    with pytest.raises(ValueError, match="progress_interval_ms"):
        m._core.evaluate(x, y, 32, lambda step, logs: None, -1)
    with pytest.raises(ZeroDivisionError):
        m._core.evaluate(x, y, 32, lambda step, logs: 1 / 0, 0)


# --- the progress output -------------------------------------------------------------------------------------------

BAR = "\u2501" * 20
TIME = r"\d+s"
STEP_TIME = r"\d+(?:s|ms|us)/step"
VALUE = r"-?\d+\.\d{4}(?:e[-+]\d\d)?|nan|inf"


def v1_line(count, keys):
    """Keras 3's verbose=1 final line: `4/4 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.5000 - loss: 0.6931`."""
    return re.compile(rf"{count}/{count} {BAR} {TIME} {STEP_TIME}" + "".join(rf" - {k}: (?:{VALUE})" for k in keys)
                      + "$")


def v2_line(count, keys):
    """Keras 3's verbose=2 line: `4/4 - 0s - 2ms/step - accuracy: 0.5000 - loss: 0.6931`."""
    return re.compile(rf"{count}/{count} - {TIME} - {STEP_TIME}" + "".join(rf" - {k}: (?:{VALUE})" for k in keys)
                      + "$")


def render(raw: str) -> list:
    """What a terminal shows for `raw`: colours dropped, `\r` back to the line's start, `\b` one column left."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    lines, col = [[]], 0
    for ch in text:
        if ch == "\n":
            lines.append([])
            col = 0
        elif ch == "\r":
            col = 0
        elif ch == "\b":
            col = max(col - 1, 0)
        else:
            line = lines[-1]
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    out = ["".join(line).rstrip() for line in lines]
    return out[:-1] if out and out[-1] == "" else out


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def use_terminal(monkeypatch):
    """sys.stdout becomes a fake terminal (set inside the test: pytest re-installs its capture between phases)."""
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", term)
    return term


TRAIN_KEYS = ("accuracy", "loss")
FIT_KEYS = ("accuracy", "loss", "val_accuracy", "val_loss")


def fit_verbose(verbose, epochs=2, **kw):
    x, y = data(100)
    m = small_model()
    h = m.fit(x, y, epochs=epochs, batch_size=32, verbose=verbose, validation_split=0.2, shuffle=False, **kw)
    return m, h


def test_verbose_0_prints_nothing(capsys, monkeypatch):
    tty = use_terminal(monkeypatch)
    m, _ = fit_verbose(0)
    x, y = data(100)
    m.evaluate(x, y, verbose=0)
    m.predict(x, verbose=0)
    assert tty.getvalue() == "" and capsys.readouterr().out == ""


@pytest.mark.parametrize("terminal", [False, True])
def test_verbose_2_prints_one_line_per_epoch(capsys, monkeypatch, terminal):
    if terminal:
        use_terminal(monkeypatch)
    _, h = fit_verbose(2)
    out = sys.stdout.getvalue() if terminal else capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 4 and lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for i, line in enumerate(lines[1::2]):
        assert v2_line(3, FIT_KEYS).match(line), line
        assert f"- loss: {h.history['loss'][i]:.4f} -" in line
        assert line.endswith(f"- val_loss: {h.history['val_loss'][i]:.4f}")
    assert "\r" not in out and "\x1b" not in out and "\b" not in out


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_verbose_1_without_a_terminal_prints_plain_final_lines(capsys, verbose):
    _, h = fit_verbose(verbose)
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out and "\b" not in out
    lines = out.splitlines()
    assert len(lines) == 4 and lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for i, line in enumerate(lines[1::2]):
        assert v1_line(3, FIT_KEYS).match(line), line
        assert f" - accuracy: {h.history['accuracy'][i]:.4f} - loss: {h.history['loss'][i]:.4f}" in line


def test_verbose_1_on_a_terminal_updates_the_bar_in_place(monkeypatch):
    tty = use_terminal(monkeypatch)
    _, h = fit_verbose(1, callbacks=[ProgbarLogger(interval=0)])  # interval 0: a redraw after every batch
    raw = tty.getvalue()
    # Keras's control sequences: back to the line start, bold count, green done part, gray rest, bold time.
    assert "\r\x1b[1m1/3\x1b[0m \x1b[32m" + "\u2501" * 6 + "\x1b[0m\x1b[37m" + "\u2501" * 14 + "\x1b[0m \x1b[1m" in raw
    assert "\r\x1b[1m3/3\x1b[0m \x1b[32m" + BAR + "\x1b[0m\x1b[37m\x1b[0m \x1b[1m" in raw
    assert raw.count("\n") == 4
    # Each epoch: three running updates (with an ETA), then the final line (elapsed time, validation values).
    updates = re.findall(r"\x1b\[1m(\d)/3\x1b\[0m", raw)
    assert updates == ["1", "2", "3", "3"] * 2
    assert re.search(r"\x1b\[1m1/3\x1b\[0m .*\x1b\[1m\d+s\x1b\[0m " + STEP_TIME + " - accuracy: ", raw)
    shown = render(raw)
    assert shown[0] == "Epoch 1/2" and shown[2] == "Epoch 2/2" and len(shown) == 4
    for i, line in enumerate(shown[1::2]):
        assert v1_line(3, FIT_KEYS).match(line), line
        assert line.endswith(f" - val_loss: {h.history['val_loss'][i]:.4f}")


def test_one_epoch_prints_no_epoch_header(capsys):
    fit_verbose(1, epochs=1)
    fit_verbose(2, epochs=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and v1_line(3, FIT_KEYS).match(lines[0]) and v2_line(3, FIT_KEYS).match(lines[1])


def test_evaluate_prints_keras_lines(capsys, monkeypatch):
    m = small_model(metrics=["mae", "accuracy"])
    x, y = data(100)
    loss, mae, acc = m.evaluate(x, y, batch_size=10, verbose=1)
    m.evaluate(x, y, batch_size=10, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    keys = ("accuracy", "loss", "mae")  # Keras orders the logs by name
    assert len(lines) == 2
    assert v1_line(10, keys).match(lines[0]) and v2_line(10, keys).match(lines[1]), lines
    assert lines[0].endswith(f" - accuracy: {acc:.4f} - loss: {loss:.4f} - mae: {mae:.4f}")
    term = use_terminal(monkeypatch)
    m.evaluate(x, y, batch_size=10, verbose=1, callbacks=[ProgbarLogger(interval=0)])
    assert re.findall(r"\x1b\[1m\s*(\d+)/10\x1b\[0m", term.getvalue()) == [str(i) for i in range(1, 11)] + ["10"]
    shown = render(term.getvalue())
    assert len(shown) == 1 and v1_line(10, keys).match(shown[0])
    assert shown[0].split("/step")[1] == lines[0].split("/step")[1]  # the same values as without a terminal


def test_predict_prints_keras_lines(capsys, monkeypatch):
    m = small_model()
    x, _ = data(1000)
    p1 = m.predict(x, verbose=1)
    p2 = m.predict(x, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(rf"32/32 {BAR} {TIME} {STEP_TIME}", lines[0]), lines
    assert re.fullmatch(rf"32/32 - {TIME} - {STEP_TIME}", lines[1]), lines
    # On a terminal the rows go through in chunks to drive the live bar: the same numbers.
    term = use_terminal(monkeypatch)
    p3 = m.predict(x, batch_size=10, verbose=1)
    raw = term.getvalue()
    assert raw.startswith("\r\x1b[1m  1/100\x1b[0m ")
    shown = render(raw)
    assert len(shown) == 1 and re.fullmatch(rf"100/100 {BAR} {TIME} {STEP_TIME}", shown[0]), shown
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(p1, p3)


def test_a_real_terminal(tmp_path):
    """Under a pseudo-terminal (the isatty path for real), fit draws the live bar and ends with Keras's lines."""
    pty = pytest.importorskip("pty")
    script = tmp_path / "run.py"
    script.write_text(
        "import numpy as np\n"
        "from fastann.models import Sequential\nfrom fastann.layers import Dense\n"
        "m = Sequential([Dense(4, input_dim=3, activation='relu'), Dense(1, activation='sigmoid')])\n"
        "m.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])\n"
        "x = np.random.default_rng(0).random((64, 3))\n"
        "m.fit(x, x[:, :1] > 0.5, epochs=2, batch_size=16)\n")
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    text = raw.decode().replace("\r\n", "\n")
    assert "\x1b[1m1/4\x1b[0m" in text and "\x1b[32m" in text
    shown = render(text)
    assert shown[0] == "Epoch 1/2" and shown[2] == "Epoch 2/2" and len(shown) == 4
    assert all(v1_line(4, TRAIN_KEYS).match(line) for line in shown[1::2]), shown


def test_keras_number_formats():
    # values: 4 decimals unless small (Keras: |v| > 1e-3 for verbose=1, v > 1e-3 for verbose=2)
    assert _format_value(0.69314) == "0.6931"
    assert _format_value(0.0) == "0.0000e+00"
    assert _format_value(0.0005) == "5.0000e-04"
    assert _format_value(-0.5) == "-0.5000"
    assert _format_value(-0.5, signed=False) == "-5.0000e-01"
    assert _format_value(float("nan")) == "nan"
    assert _format_value("text") == "text"
    # time per step
    assert _format_step_time(0) == "0s/step"
    assert _format_step_time(2.4) == "2s/step"
    assert _format_step_time(0.0015) == "2ms/step"
    assert _format_step_time(2.5e-6) == "2us/step" or _format_step_time(2.5e-6) == "3us/step"
    # ETA
    assert _format_eta(5.9) == "5s"
    assert _format_eta(75) == "1:15"
    assert _format_eta(3725) == "1:02:05"


def test_progress_costs_no_per_batch_python_call(monkeypatch):
    """fit hands C++ no per-batch hook unless a callback overrides one; progress is rate-bounded in C++."""
    m = small_model()
    seen = {}
    real_fit = m._core.fit

    class Spy:
        def __getattr__(self, name):
            return getattr(m._core_real, name)

        def __setattr__(self, name, value):
            setattr(m._core_real, name, value)

        def fit(self, *args, **kwargs):
            seen.update(kwargs)
            hook = kwargs["on_nonfinite_loss"]
            seen["nonfinite_calls"] = 0

            def counting(*a):  # fires only when the loss stops being finite (at most once an epoch)
                seen["nonfinite_calls"] += 1
                return hook(*a)
            kwargs["on_nonfinite_loss"] = counting
            return real_fit(*args, **kwargs)

    m._core_real = m._core
    m._core = Spy()
    x, y = data(100)
    m.fit(x, y, epochs=2, verbose=1, callbacks=[callbacks.EarlyStopping(monitor="loss"), callbacks.History()])
    assert seen["on_train_batch_begin"] is None and seen["on_train_batch_end"] is None
    assert seen["nonfinite_calls"] == 0 and seen["progress_interval_ms"] == 50
