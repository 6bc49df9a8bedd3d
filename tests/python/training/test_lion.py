"""Lion (Keras 3's update rule) against a NumPy float64 reference of the same training run: u = m*beta_1 +
g*(1 - beta_1), w -= lr*sign(u), m = m*beta_2 + g*(1 - beta_2). sign() is discontinuous at 0, so the reference
first checks that no |u| it meets is within 1e-4 of 0 relative to the gradient's scale (float32 rounding, ~1e-7
relative, cannot flip a sign then); the weights then agree to float32 rounding accumulated over the steps:
rtol 1e-5, atol 1e-6 (lr * sign moves each weight by exactly lr per step, far above that)."""

import numpy as np
import pytest

import fastann
from fastann.layers import Dense
from fastann.models import Sequential, load_model


def _reference(ws, batches, lr, b1, b2, wd=0.0):
    ws = [w.astype(np.float64) for w in ws]
    ms = [np.zeros_like(w) for w in ws]
    min_margin = np.inf
    for x, t in batches:
        k1, c1, k2, c2 = ws
        z = x @ k1 + c1
        h = np.tanh(z)
        y = h @ k2 + c2
        dy = 2.0 * (y - t) / y.size  # mse: mean over outputs and batch
        dh = dy @ k2.T * (1.0 - h * h)
        grads = [x.T @ dh, dh.sum(0), h.T @ dy, dy.sum(0)]
        for i, g in enumerate(grads):
            ws[i] -= lr * wd * ws[i]
            u = ms[i] * b1 + g * (1 - b1)
            scale = np.abs(g).max() + 1e-30
            nz = u != 0
            if nz.any():
                min_margin = min(min_margin, float((np.abs(u[nz]) / scale).min()))
            ws[i] -= lr * np.sign(u)
            ms[i] = ms[i] * b2 + g * (1 - b2)
    return ws, min_margin


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_lion_matches_the_keras_rule_in_float64(wd):
    # Data and initial weights from fixed seeds whose run keeps every |u| clear of 0 (the margin assert below).
    rng = np.random.default_rng(8)
    x = rng.standard_normal((48, 5)).astype(np.float32)
    t = rng.standard_normal((48, 2)).astype(np.float32)
    fastann.utils.set_random_seed(8)
    model = Sequential([Dense(7, input_dim=5, activation="tanh"), Dense(2)])
    opt = fastann.optimizers.Lion(learning_rate=0.003, weight_decay=wd or None)
    model.compile(optimizer=opt, loss="mse")
    w0 = model.get_weights()
    batches = [(x[i:i + 16].astype(np.float64), t[i:i + 16].astype(np.float64)) for i in range(0, 48, 16)] * 4
    ref, margin = _reference(w0, batches, 0.003, 0.9, 0.99, wd)
    assert margin > 1e-4, f"a |u| of {margin:.1e} relative: a float32 sign flip could not be told from a bug"
    model.fit(x, t, epochs=4, batch_size=16, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 12
    for got, want in zip(model.get_weights(), ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Not a different rule in disguise: the weights moved by whole learning-rate steps from their start.
    moved = np.abs(model.get_weights()[0] - w0[0])
    assert moved.max() > 5 * 0.003


def test_lion_defaults_slots_and_saved_state_resume_exactly(tmp_path):
    opt = fastann.optimizers.get("lion")
    assert isinstance(opt, fastann.optimizers.Lion)
    assert opt.get_config() == {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99, "name": "Lion"}
    rng = np.random.default_rng(6)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    a = Sequential([Dense(3, input_dim=4, activation="relu"), Dense(1)])
    a.compile(optimizer="lion", loss="mse")
    a.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    path = tmp_path / "lion.fastann"
    a.save(path)
    safetensors = pytest.importorskip("safetensors.numpy")
    slots = sorted(k for k in safetensors.load_file(str(path)) if k.startswith("optimizer/"))
    assert slots == sorted(f"optimizer/{lyr.name}/{w}/momentum" for lyr in a.layers for w in ("kernel", "bias"))
    b = load_model(path)
    assert b.optimizer.get_config()["beta_2"] == pytest.approx(0.99)
    a.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    b.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="beta_1"):
        fastann.optimizers.Lion(beta_1=0.0)
