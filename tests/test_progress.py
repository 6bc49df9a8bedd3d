"""Progress reporting: the C++ progress and per-batch hooks of fit/evaluate (rate bound, running means, stop/abort),
and the Keras 3 progress output of fit/evaluate/predict for verbose 0/1/2, on a terminal and not.

Keras 3's layout, as printed by Keras 3.15 (final line of an epoch; `━` x 20):
  verbose=1: `25/25 ━━━━━━━━━━━━━━━━━━━━ 1s 9ms/step - accuracy: 0.4963 - loss: 0.7027 - val_accuracy: ...`
  verbose=2: `25/25 - 1s - 24ms/step - accuracy: 0.4512 - loss: 0.7111 - val_accuracy: 0.4550 - val_loss: 0.7085`
preceded by `Epoch i/N` when N > 1; logs in name order. Times vary, so tests match them with regexes.
"""

import math
import time

import numpy as np
import pytest

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
    for k, (step, logs) in enumerate(seen):
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
    assert [l for _, l in ends] == [l for _, l in progress]  # the same running means


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
    out = core_fit(m, x, y, 10, epochs=3, on_nonfinite_loss=lambda b, logs: calls.append((b, logs["loss"])) or True)
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
            core_fit(m, x, y, 10, epochs=2, on_epoch_end=lambda e, logs: epochs.append(e), **hooks)
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
