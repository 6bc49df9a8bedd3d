"""Reshape (with Flatten): N-D shapes inside a model, into Dense (which maps the last axis,
as Keras's Dense does) train, predict, save and load. References: a NumPy float64 forward pass and a NumPy float64
gradient step; tolerances from float32 (eps32 = 2**-23) over sums of at most 225 terms: rtol 1e-5 / atol 1e-6."""

import json

import numpy as np
import pytest

import fastann
from fastann.layers import Dense, Flatten, Input, Reshape
from fastann.models import Sequential

RTOL, ATOL = 1e-5, 1e-6


def test_reshape_then_dense_maps_the_last_axis_and_its_gradient_step_matches_numpy():
    rng = np.random.default_rng(3)
    n = 12
    x = rng.standard_normal((n, 15)).astype(np.float32)
    t = rng.standard_normal((n, 1)).astype(np.float32)
    lr = 0.05
    model = Sequential([Input(shape=(15,)), Reshape((5, -1)), Dense(2), Flatten(), Dense(1)])
    model.compile(optimizer=fastann.optimizers.SGD(learning_rate=lr), loss="mse")
    assert model.layers[0].output_shape == (None, 5, 3)
    assert model.layers[1].output_shape == (None, 5, 2)
    assert model.layers[1].get_weights()[0].shape == (3, 2)
    K, b, W, c = (w.astype(np.float64) for w in model.get_weights())
    xr = x.astype(np.float64).reshape(n, 5, 3)
    h = xr @ K + b  # (n, 5, 2): the kernel maps the last axis
    hf = h.reshape(n, 10)
    y = hf @ W + c
    np.testing.assert_allclose(model.predict(x, verbose=0), y, rtol=RTOL, atol=ATOL)
    # One SGD step on the whole batch, in float64: L = mean((y - t)^2).
    dy = 2.0 * (y - t) / n
    dW, dc = hf.T @ dy, dy.sum(0)
    dh = (dy @ W.T).reshape(n, 5, 2)
    dK, db = np.einsum("nti,ntj->ij", xr, dh), dh.sum((0, 1))
    model.fit(x, t, epochs=1, batch_size=n, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), [K - lr * dK, b - lr * db, W - lr * dW, c - lr * dc], strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)



def test_bad_shapes_are_clear_errors_and_leave_the_model_as_it_was():
    model = Sequential([Input(shape=(15,)), Dense(4)])
    with pytest.raises(ValueError, match=r"total size of the new shape \(4, 2\) must equal that of the input shape"):
        model.add(Reshape((4, 2)))
    assert len(model.layers) == 1 and model.layers[-1].output_shape == (None, 4)
    model.add(Reshape((2, 2)))
    with pytest.raises(ValueError, match="at most one target_shape dimension can be -1"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="target_shape"):
        Reshape((0, 3))
    images = Sequential([Input(shape=(15, 15)), Flatten(), Dense(1)])
    images.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"x must have shape \(samples, 15, 15\)"):
        images.predict(np.zeros((2, 15, 14), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"x must have shape \(samples, 15, 15\)"):
        images.fit(np.zeros((2, 225), np.float32), np.zeros((2, 1), np.float32), verbose=0)
    # An output with more than one axis per sample predicts, but is not trained (yet) with a per-sample loss.
    seq = Sequential([Input(shape=(6,)), Reshape((3, 2))])
    seq.compile(optimizer="sgd", loss="mse")
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(seq.predict(x, verbose=0), x.reshape(2, 3, 2))
    with pytest.raises(ValueError, match=r"output has shape \(3, 2\) per sample"):
        seq.fit(x, np.zeros((2, 3, 2), np.float32), verbose=0)



def test_configs_round_trip_through_the_registry():
    for layer in (Flatten(), Reshape((3, -1)), Flatten(input_shape=(4, 5))):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()
        entry = fastann.layers.serialize(layer)
        assert fastann.layers.deserialize(json.loads(json.dumps(entry))).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="data_format"):
        Flatten(data_format="channels_first")



def test_onnx_export_of_flatten_and_reshape_matches_predict(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = Sequential([Input(shape=(4, 6)), Reshape((6, 4)), Dense(3, activation="tanh"), Flatten(), Dense(2)])
    x = np.random.default_rng(4).standard_normal((5, 4, 6)).astype(np.float32)
    model.build((None, 4, 6))
    path = tmp_path / "m.onnx"
    model.export(path, format="onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
