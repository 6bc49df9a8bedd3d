"""Model files written by an earlier fastann (tests/data/model_files, format version 1, saved at commit c49b4a1) still
load: same architecture, weights, compile state and optimizer step; predictions equal what that version printed and
a NumPy float64 forward pass of the loaded weights. Tolerances: float32 results through at most three layers of
width <= 16, so a few ulps of float32 per layer (eps32 = 2**-23): rtol 64 * eps32 against the stored predictions
(another ISA path may round differently), 1e-5 absolute against float64."""

import pathlib

import numpy as np
import pytest

from fastann.models import load_model

DATA = pathlib.Path(__file__).parents[2] / "data" / "model_files"
EPS32 = 2.0**-23


def _act(name, z):
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    assert name in ("linear", None), name
    return z


def _numpy_forward(model, x):
    """Inference of the loaded model in float64 from its own config and weights."""
    h = x.astype(np.float64)
    for layer in model.layers:
        cfg = layer.get_config()
        w = [np.asarray(v, np.float64) for v in layer.get_weights()]
        kind = type(layer).__name__
        if kind == "Dense":
            h = h @ w[0] + (w[1] if cfg["use_bias"] else 0.0)
            h = _act(cfg["activation"], h)
        elif kind == "BatchNormalization":
            gamma, beta, mean, var = w
            h = gamma * (h - mean) / np.sqrt(var + cfg["epsilon"]) + beta
        elif kind == "Activation":
            h = _act(cfg["activation"], h)
        elif kind == "Dropout":
            pass
        else:
            raise AssertionError(f"unexpected layer {kind}")
    return h


CLASSIFIER_LAYERS = ["Dense", "BatchNormalization", "Dropout", "Dense", "Activation", "Dense"]


@pytest.mark.parametrize("name, loss, optimizer, layers", [
    ("classifier", "categorical_crossentropy", {"name": "Adam", "learning_rate": 3e-3}, CLASSIFIER_LAYERS),
    ("regressor", "mean_squared_error", {"name": "SGD", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
     ["Dense", "Dense"]),
])
def test_version_1_file_loads_and_predicts_as_saved(name, loss, optimizer, layers):
    ref = np.load(DATA / f"{name}_v1.npz")
    model = load_model(DATA / f"{name}_v1.fastann")
    assert model.name == f"legacy_{name}"
    assert [type(layer).__name__ for layer in model.layers] == layers
    assert model.loss == loss
    cfg = model.optimizer.get_config()
    assert {k: cfg[k] for k in optimizer} == pytest.approx(optimizer)
    assert model.optimizer.iterations == int(ref["iterations"]) > 0
    pred = model.predict(ref["x"], verbose=0)
    np.testing.assert_allclose(pred, ref["pred"], rtol=64 * EPS32, atol=64 * EPS32)
    np.testing.assert_allclose(pred, _numpy_forward(model, ref["x"]), rtol=0, atol=1e-5)


def test_version_1_file_resumes_training():
    ref = np.load(DATA / "classifier_v1.npz")
    model = load_model(DATA / "classifier_v1.fastann")
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit(ref["train_x"], ref["train_y"], epochs=1, batch_size=16, verbose=0, shuffle=False)
    assert np.isfinite(hist.history["loss"][0])
    assert model.optimizer.iterations == int(ref["iterations"]) + 4
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
