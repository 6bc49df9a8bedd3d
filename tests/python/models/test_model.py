"""Model-level behaviour of the Keras-style API: building, weights, summary, fit/evaluate/predict semantics,
determinism and learning on real data.

References are NumPy float64 computations from the model's own float32 weights. Tolerances: a forward pass of a
few small layers in float32 agrees with float64 to ~1e-6 relative (each output is a short dot product: error
<= k * 2^-24 * sum|x||w|); we use rtol=1e-5, atol=1e-6.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastann
from fastann import callbacks, optimizers
from fastann.layers import Activation, Dense
from fastann.models import Sequential

ROOT = Path(__file__).resolve().parents[3]


def mlp(input_dim=10, hidden=(32, 32), out=1, out_act="sigmoid", act="relu"):
    m = Sequential()
    m.add(Dense(hidden[0], input_dim=input_dim, activation=act))
    for h in hidden[1:]:
        m.add(Dense(h, activation=act))
    m.add(Dense(out, activation=out_act))
    return m


def np_forward(weights, acts, x):
    h = np.asarray(x, np.float64)
    fns = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "linear": lambda z: z,
        "softmax": lambda z: (np.exp(z - z.max(1, keepdims=True))
                              / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)),
    }
    for i, a in enumerate(acts):
        h = fns[a](h @ weights[2 * i].astype(np.float64) + weights[2 * i + 1].astype(np.float64))
    return h


def test_seed_example_runs_and_prints_accuracy(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "seed_example.py")], capture_output=True,
                         text=True, timeout=120, check=True, cwd=tmp_path).stdout
    assert "Epoch 1/10" in out and "Epoch 10/10" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("accuracy: ") and last.endswith("%")
    assert 0.0 <= float(last[len("accuracy: "):-1]) <= 100.0
    assert (tmp_path / "model.fastann").stat().st_size > 0  # the saved model


def test_predict_matches_numpy_forward():
    rng = np.random.default_rng(0)
    m = mlp(input_dim=7, hidden=(17, 33), out=5, out_act="softmax", act="tanh")
    x = rng.standard_normal((41, 7))
    y = m.predict(x, verbose=0)
    assert y.dtype == np.float32 and y.shape == (41, 5)
    ref = np_forward(m.get_weights(), ["tanh", "tanh", "softmax"], x.astype(np.float32))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    # Batching bounds memory only; every row is computed the same way.
    np.testing.assert_allclose(m.predict(x, batch_size=4, verbose=0), y, rtol=1e-6, atol=1e-7)


def test_hand_computed_dense():
    m = Sequential([Dense(2, input_dim=3, activation="relu")])
    m.set_weights([np.array([[1, -1], [2, 0], [0, 3]], np.float32), np.array([0.5, -4], np.float32)])
    # x @ W + b = [1+4+0+0.5, -1+0+3-4] = [5.5, -2] -> relu -> [5.5, 0]
    np.testing.assert_array_equal(m.predict(np.array([[1.0, 2.0, 1.0]]), verbose=0), [[5.5, 0.0]])


def test_weights_roundtrip_and_shapes():
    m = mlp()
    shapes = [w.shape for w in m.get_weights()]
    assert shapes == [(10, 32), (32,), (32, 32), (32,), (32, 1), (1,)]
    rng = np.random.default_rng(1)
    new = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    m.set_weights(new)
    for a, b in zip(m.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    # get_weights returns copies
    m.get_weights()[0][:] = 0
    np.testing.assert_array_equal(m.get_weights()[0], new[0])
    # per layer
    np.testing.assert_array_equal(m.layers[1].get_weights()[0], new[2])
    np.testing.assert_array_equal(m.layers[2].bias, new[5])


def test_set_weights_errors():
    m = mlp()
    w = m.get_weights()
    with pytest.raises(ValueError, match="6 weight arrays, got 5"):
        m.set_weights(w[:-1])
    bad = list(w)
    bad[2] = np.zeros((31, 32), np.float32)
    with pytest.raises(ValueError, match=r"\(32, 32\)"):
        m.set_weights(bad)
    # nothing was changed by the failed call
    for a, b in zip(m.get_weights(), w):
        np.testing.assert_array_equal(a, b)


def test_glorot_uniform_default_init_statistics():
    fastann.utils.set_random_seed(3)
    m = Sequential([Dense(400, input_dim=300)])
    k, b = m.get_weights()
    limit = np.sqrt(6.0 / (300 + 400))
    assert np.abs(k).max() <= limit
    assert abs(k.std() - limit / np.sqrt(3)) < 0.01 * limit  # U(-l, l) has std l/sqrt(3); 120k samples
    np.testing.assert_array_equal(b, 0)


def test_summary_and_count_params():
    m = mlp()
    lines = []
    m.summary(print_fn=lines.append)
    text = "\n".join(lines)
    params = [10 * 32 + 32, 32 * 32 + 32, 32 + 1]
    assert m.count_params() == sum(params) == 1441
    for layer, p in zip(m.layers, params):
        assert f"{layer.name} (Dense)" in text
        assert f"{p:,}" in text
    assert "(None, 32)" in text and "(None, 1)" in text
    assert "Total params: 1,441" in text


def test_lazy_build_from_data():
    m = Sequential([Dense(4, activation="relu"), Dense(1)])
    assert not m.built
    m.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((20, 6))
    m.fit(x, x.sum(1), epochs=1, verbose=0)
    assert m.built and m.layers[0].get_weights()[0].shape == (6, 4)


def test_nb_epoch_and_history():
    m = mlp()
    m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x = np.random.default_rng(0).random((100, 10))
    y = (x[:, 0] > 0.5).astype(int)
    h = m.fit(x, y, nb_epoch=3, batch_size=10, verbose=0)
    assert h.epoch == [0, 1, 2]
    assert set(h.history) == {"loss", "accuracy"} and len(h.history["loss"]) == 3
    assert m.history is h
    assert m.metrics_names == ["loss", "accuracy"]


def test_evaluate_matches_numpy():
    rng = np.random.default_rng(5)
    m = mlp(input_dim=4, hidden=(8,), out=3, out_act="softmax")
    m.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy", "mse"])
    x = rng.standard_normal((37, 4))
    labels = rng.integers(0, 3, 37)
    y = np.eye(3)[labels]
    loss, acc, mse = m.evaluate(x, y, batch_size=8, verbose=0)
    p = np_forward(m.get_weights(), ["relu", "softmax"], x.astype(np.float32))
    np.testing.assert_allclose(loss, np.mean(-np.log(p[np.arange(37), labels])), rtol=1e-5)
    assert acc == pytest.approx(np.mean(p.argmax(1) == labels), abs=1e-12)
    np.testing.assert_allclose(mse, np.mean((p - y) ** 2), rtol=1e-5)
    d = m.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "accuracy", "mse"]


def test_accuracy_resolution_follows_loss():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 4))
    labels = rng.integers(0, 3, 30)
    m = mlp(input_dim=4, hidden=(8,), out=3, out_act="softmax")
    m.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    _, acc = m.evaluate(x, labels, verbose=0)
    p = m.predict(x, verbose=0)
    assert acc == pytest.approx(np.mean(p.argmax(1) == labels))
    # binary: threshold 0.5 per output
    mb = mlp(input_dim=4, hidden=(8,), out=1)
    mb.compile(loss="binary_crossentropy", optimizer="adam", metrics=["acc"])
    yb = (x[:, 0] > 0).astype(np.float32)
    _, accb = mb.evaluate(x, yb, verbose=0)
    assert accb == pytest.approx(np.mean((mb.predict(x, verbose=0)[:, 0] > 0.5) == yb))
    assert mb.metrics_names == ["loss", "acc"]


def test_validation_split_uses_last_fraction():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1
    m = Sequential([Dense(1, input_dim=3)])
    m.compile(optimizer=optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    h = m.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0)
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    # val metrics after the last epoch equal an evaluation of the last 10 samples with the final weights
    vloss, vmae = m.evaluate(x[40:], y[40:], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(vloss, rel=1e-6)
    assert h.history["val_mae"][-1] == pytest.approx(vmae, rel=1e-6)
    h2 = m.fit(x[:40], y[:40], epochs=1, validation_data=(x[40:], y[40:]), verbose=0)
    assert h2.history["val_loss"][-1] == pytest.approx(m.evaluate(x[40:], y[40:], verbose=0)[0], rel=1e-6)


def test_learning_rate_is_live():
    m = mlp()
    m.compile(loss="binary_crossentropy", optimizer=optimizers.Adam(learning_rate=0.01))
    assert m.optimizer.learning_rate == pytest.approx(0.01)
    m.optimizer.learning_rate = 0.0
    before = m.get_weights()
    x = np.random.default_rng(0).random((64, 10))
    m.fit(x, np.ones(64), epochs=2, verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert m.optimizer.iterations == 4


def test_activation_layer_equals_fused_dense():
    """Dense(linear) + Activation('sigmoid') trains exactly like Dense(activation='sigmoid')."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((40, 5))
    y = (x[:, 1] > 0).astype(np.float32)
    a = Sequential([Dense(6, input_dim=5, activation="tanh"), Dense(1, activation="sigmoid")])
    b = Sequential([Dense(6, input_dim=5, activation="tanh"), Dense(1), Activation("sigmoid")])
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    ha = a.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    hb = b.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_add_after_build_keeps_weights():
    m = Sequential([Dense(4, input_dim=3)])
    w = m.get_weights()
    m.add(Dense(2))
    np.testing.assert_array_equal(m.get_weights()[0], w[0])
    assert m.output_shape == (None, 2)


def _train_weights(seed, threads):
    old = fastann.get_num_threads()
    fastann.set_num_threads(threads)
    try:
        fastann.utils.set_random_seed(seed)
        m = mlp(input_dim=20, hidden=(64, 64), out=1)
        m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
        x = np.random.default_rng(0).random((300, 20))
        y = (x.sum(1) > 10).astype(int)
        h = m.fit(x, y, epochs=3, batch_size=32, verbose=0)
        return m.get_weights(), h.history
    finally:
        fastann.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_gives_bitwise_identical_training(threads):
    w1, h1 = _train_weights(123, threads)
    w2, h2 = _train_weights(123, threads)
    assert h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    w3, _ = _train_weights(124, threads)
    assert any(not np.array_equal(a, b) for a, b in zip(w1, w3))


def test_fit_seed_controls_shuffling():
    x = np.random.default_rng(0).random((64, 5))
    y = x.sum(1)
    res = []
    for seed in (7, 7, 8):
        init = fastann.initializers.GlorotUniform
        m = Sequential([Dense(3, input_dim=5, kernel_initializer=init(seed=1)), Dense(1,
                                                                                      kernel_initializer=init(seed=2))])
        m.compile(optimizer="sgd", loss="mse")
        m.fit(x, y, epochs=2, batch_size=8, seed=seed, verbose=0)
        res.append(m.get_weights()[0])
    np.testing.assert_array_equal(res[0], res[1])
    assert not np.array_equal(res[0], res[2])


def test_learns_sklearn_digits():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn provides the bundled digits set")
    digits = datasets.load_digits()
    x = digits.data / 16.0
    y = digits.target
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    train, test = idx[:1400], idx[1400:]
    fastann.utils.set_random_seed(0)
    m = Sequential([Dense(64, input_dim=64, activation="relu"), Dense(64, activation="relu"),
                    Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x[train], y[train], epochs=30, batch_size=32, verbose=0)
    _, acc = m.evaluate(x[test], y[test], verbose=0)
    assert acc >= 0.95, acc


def test_progress_output(capsys):
    m = mlp()
    m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x = np.random.default_rng(0).random((100, 10))
    m.fit(x, np.ones(100), epochs=2, batch_size=32, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert out[1].startswith("4/4 ━━━━━━━━━━━━━━━━━━━━ ") and " - accuracy: " in out[1] and " - loss: " in out[1]
    m.fit(x, np.ones(100), epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_callback_exception_stops_training_and_propagates():
    class Boom(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    m = mlp()
    m.compile(loss="binary_crossentropy", optimizer="adam")
    x = np.random.default_rng(0).random((64, 10))
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, np.ones(64), epochs=5, verbose=0, callbacks=[Boom()])
    assert m.history.epoch == [0]  # as Keras 3, History runs after the user's callbacks: epoch 1 never completed
    assert all(np.isfinite(w).all() for w in m.get_weights())
    m.predict(x, verbose=0)  # still usable


def test_stop_training_from_callback():
    class StopAt(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True

    m = mlp()
    m.compile(loss="binary_crossentropy", optimizer="adam")
    h = m.fit(np.random.default_rng(0).random((64, 10)), np.ones(64), epochs=10, verbose=0, callbacks=[StopAt()])
    assert h.epoch == [0, 1, 2]


def test_input_conversion_float64_int_fortran_noncontiguous():
    m = Sequential([Dense(3, input_dim=4, activation="tanh")])
    x = np.random.default_rng(0).standard_normal((10, 8))
    ref = m.predict(np.ascontiguousarray(x[:, ::2], dtype=np.float32), verbose=0)
    np.testing.assert_array_equal(m.predict(x[:, ::2], verbose=0), ref)          # non-contiguous float64
    np.testing.assert_array_equal(m.predict(np.asfortranarray(x[:, ::2]), verbose=0), ref)
    xi = np.arange(40).reshape(10, 4)
    np.testing.assert_array_equal(m.predict(xi, verbose=0), m.predict(xi.astype(np.float32), verbose=0))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda m, x, y: m.fit(x, y), RuntimeError, "compile"),
        (lambda m, x, y: m.compile(optimizer="nope", loss="mse"), ValueError, "valid optimizers"),
        (lambda m, x, y: m.compile(optimizer="adam", loss="nope"), ValueError, "valid losses"),
        (lambda m, x, y: m.compile(optimizer="adam", loss="mse", metrics=["nope"]), ValueError, "valid metrics"),
        (lambda m, x, y: m.predict(x[:, :3]), ValueError, "3 features but the model expects 10"),
        (lambda m, x, y: m.predict(np.array(["a", "b"])), TypeError, "numbers"),
    ],
)
def test_clear_errors(call, exc, match):
    m = mlp()
    x = np.random.default_rng(0).random((8, 10))
    with pytest.raises(exc, match=match):
        call(m, x, np.ones(8))


def test_fit_argument_errors():
    m = mlp()
    m.compile(loss="binary_crossentropy", optimizer="adam")
    x = np.random.default_rng(0).random((8, 10))
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x, np.ones(8), batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="different numbers of samples"):
        m.fit(x, np.ones(7), verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        m.fit(x, np.ones(8), epochs=-1, verbose=0)
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        Dense(3, activation="relux")
    with pytest.raises(TypeError, match="unexpected"):
        m.fit(x, np.ones(8), verbose=0, epochz=3)


def test_sparse_labels_out_of_range():
    m = mlp(input_dim=4, hidden=(8,), out=3, out_act="softmax")
    m.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x = np.random.default_rng(0).random((8, 4))
    with pytest.raises(ValueError, match=r"label 3 .* \[0, 3\)"):
        m.fit(x, np.array([0, 1, 2, 3, 0, 1, 2, 0]), verbose=0)


def test_threads_setting():
    old = fastann.get_num_threads()
    try:
        fastann.set_num_threads(1)
        assert fastann.get_num_threads() == 1
        with pytest.raises(ValueError):
            fastann.set_num_threads(0)
    finally:
        fastann.set_num_threads(old)
    assert os.cpu_count() is None or 1 <= fastann.get_num_threads() <= os.cpu_count()


def test_ctrl_c_stops_fit_cleanly():
    """SIGINT during fit raises KeyboardInterrupt within a batch or so; the model keeps finite weights and the
    history of the epochs it finished."""
    script = r"""
import os, signal, threading, time
import numpy as np
import fastann
from fastann.models import Sequential
from fastann.layers import Dense

m = Sequential([Dense(256, input_dim=100, activation="relu"), Dense(1)])
m.compile(optimizer="sgd", loss="mse")
x = np.random.default_rng(0).random((20000, 100), dtype=np.float32)
y = x.sum(1) / 100

class Interrupt(fastann.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT)).start()

start = time.perf_counter()
try:
    m.fit(x, y, epochs=100000, batch_size=32, verbose=0, callbacks=[Interrupt()])
    print("not interrupted")
except KeyboardInterrupt:
    finite = all(np.isfinite(w).all() for w in m.get_weights())
    print("interrupted", len(m.history.epoch), finite, m.predict(x[:2], verbose=0).shape)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    assert words[0] == "interrupted", out.stdout
    assert int(words[1]) >= 1 and words[2] == "True"


def test_callback_may_evaluate_but_not_restructure():
    """Keras callbacks often evaluate the model between epochs; changing its layers mid-fit is refused."""
    x = np.random.default_rng(0).random((64, 10))
    y = (x[:, 0] > 0.5).astype(np.float32)
    seen = []

    class EvalEachEpoch(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.evaluate(x, y, batch_size=50, verbose=0))

    m = mlp()
    m.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    m.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[EvalEachEpoch()])
    assert len(seen) == 3
    assert seen[-1] == m.evaluate(x, y, batch_size=50, verbose=0)

    class AddLayer(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.add(Dense(1))

    with pytest.raises(RuntimeError, match="while the model is being fit"):
        m.fit(x, y, epochs=2, verbose=0, callbacks=[AddLayer()])
    assert len(m.layers) == 3


def test_activation_layers_anywhere():
    """An Activation may come first (width from the data) or last (width from the previous layer)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((20, 3))
    m = Sequential([Activation("tanh"), Dense(2), Activation("softmax")])
    m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    assert m.output_shape == (None, 2)
    y = np.eye(2)[(x[:, 0] > 0).astype(int)]
    m.fit(x, y, epochs=1, verbose=0)
    k, b = m.get_weights()
    z = np.tanh(x.astype(np.float32).astype(np.float64)) @ k + b
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(m.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-6)
    assert m.count_params() == 3 * 2 + 2


def test_subnormals_are_flushed_like_tensorflow():
    """fastann computes with subnormal floats flushed to zero (FTZ/DAZ, as TensorFlow does): arithmetic on them is
    ~100x slower and they appear when gradients die out. The caller's own floating-point mode is left untouched."""
    tiny = np.float32(1e-20)
    assert fastann.ops.matmul([[tiny]], [[tiny]])[0, 0] == 0.0            # a subnormal result (1e-40) is flushed
    assert fastann.ops.matmul([[np.float32(1e-40)]], [[1e30]])[0, 0] == 0.0  # a subnormal input reads as zero
    assert fastann.ops.matmul([[np.float32(1e-30)]], [[1e-5]])[0, 0] == np.float32(1e-30) * np.float32(1e-5)
    # NumPy in this thread still sees IEEE subnormals afterwards.
    assert np.float32(1e-20) * np.float32(1e-20) > 0


def test_to_categorical():
    from fastann.utils import to_categorical

    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert to_categorical([1, 0]).dtype == np.float32
    with pytest.raises(ValueError, match="out of range"):
        to_categorical([0, 5], num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        to_categorical([-1, 0])
