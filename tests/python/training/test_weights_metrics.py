"""Sample and class weights, and the streaming metrics (accuracy family, mse/mae, AUC, Precision, Recall, top-k).

- Weighted losses against a float64 NumPy reference: per batch (train_on_batch / test_on_batch, and the step itself
  against float64 torch autograd of the weighted loss) and per epoch (fit with shuffle=False); Keras 3's reduction
  is sum(w * loss) / batch size ("sum_over_batch_size"), so an epoch's loss is sum(w * loss) / samples.
- class_weight is the sample_weight it stands for (bitwise the same training).
- Metric values against NumPy / scikit-learn (roc_auc_score, precision_score, recall_score, top_k_accuracy_score,
  accuracy_score), and against a float64 NumPy statement of Keras's AUC algorithm (200 buckets, trapezoids).
- Streaming: an epoch's AUC/Precision/Recall come from counts over the whole epoch, not means of per-batch values.
- Names in logs/History, save/load of compiled metrics, bad arguments.
- Parity with Keras 3 itself where it is installed (see test_keras_parity.py for how it runs): evaluate and
  fit with sample/class weights, validation weights, weighted_metrics, AUC/Precision/Recall/top-k.

Tolerances: values are float32 computations summed in double; losses of O(1) agree with the float64 reference to
~1e-6 relative (rtol 2e-5 leaves room for the forward pass's rounding); counting metrics (accuracy, precision,
recall, top-k, AUC) are exact functions of comparisons, so they agree to rounding of the final division (1e-12)
unless a prediction sits within float32 rounding of a threshold, which the data below avoids.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fastann import callbacks, metrics, ops, optimizers
from fastann.layers import Dense
from fastann.models import Sequential, load_model

sklearn_metrics = pytest.importorskip("sklearn.metrics")

N_IN = 5


# --- a float64 NumPy reference of the model and the losses ----------------------------------------------------------

def make_model(out_units, out_act, loss, metrics_=(), weighted_metrics=None, seed=3, lr=0.0, hidden=7):
    m = Sequential([Dense(hidden, input_dim=N_IN, activation="tanh"), Dense(out_units, activation=out_act)])
    m.compile(loss=loss, optimizer=optimizers.SGD(lr), metrics=list(metrics_), weighted_metrics=weighted_metrics)
    rng = np.random.default_rng(seed)
    m.set_weights([rng.normal(0, 0.6, (N_IN, hidden)), rng.normal(0, 0.2, hidden),
                   rng.normal(0, 0.6, (hidden, out_units)), rng.normal(0, 0.2, out_units)])
    return m


def forward64(weights, x, out_act):
    w1, b1, w2, b2 = [np.asarray(w, np.float64) for w in weights]
    z = np.tanh(x.astype(np.float64) @ w1 + b1) @ w2 + b2
    if out_act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if out_act == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return z


def per_sample_loss64(loss, p, y):
    """Keras's per-sample losses in float64 (mean over the last axis, or the cross-entropy sum over classes)."""
    if loss == "mse":
        return ((p - y) ** 2).mean(axis=1)
    if loss == "mae":
        return np.abs(p - y).mean(axis=1)
    if loss == "huber":
        e = np.abs(p - y)
        return np.where(e <= 1.0, 0.5 * e ** 2, e - 0.5).mean(axis=1)
    if loss == "binary_crossentropy":
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    if loss == "categorical_crossentropy":
        return -(y * np.log(p)).sum(axis=1)
    if loss == "sparse_categorical_crossentropy":
        return -np.log(p[np.arange(len(y)), y.astype(int)])
    raise AssertionError(loss)


# (loss, output units, output activation, targets)
def targets(loss, n, units, rng):
    if loss == "binary_crossentropy":
        return (rng.random((n, units)) > 0.5).astype(np.float32)
    if loss == "categorical_crossentropy":
        return np.eye(units, dtype=np.float32)[rng.integers(0, units, n)]
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, units, n).astype(np.float32)
    return rng.normal(0, 1, (n, units)).astype(np.float32)


CASES = [("mse", 2, "linear"), ("mae", 3, "linear"), ("huber", 1, "linear"), ("binary_crossentropy", 1, "sigmoid"),
         ("binary_crossentropy", 3, "sigmoid"), ("categorical_crossentropy", 4, "softmax"),
         ("sparse_categorical_crossentropy", 4, "softmax")]


def data(n, loss, units, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, N_IN)).astype(np.float32)
    return x, targets(loss, n, units, rng), rng.uniform(0.0, 3.0, n).astype(np.float32)


# --- weighted losses ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss,units,act", CASES)
@pytest.mark.parametrize("n", [1, 3, 17])
def test_weighted_batch_loss_matches_numpy(loss, units, act, n):
    x, y, w = data(n, loss, units, seed=n)
    m = make_model(units, act, loss)
    l64 = per_sample_loss64(loss, forward64(m.get_weights(), x, act), y)
    want = (w * l64).sum() / n  # Keras 3 "sum_over_batch_size": divided by the batch size, not by sum(w)
    np.testing.assert_allclose(m.test_on_batch(x, y, sample_weight=w), want, rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(m.train_on_batch(x, y, sample_weight=w), want, rtol=2e-5, atol=1e-7)
    # The op itself, on the same predictions.
    p = m.predict(x, verbose=0)
    value, _ = ops.loss(loss, y, p, sample_weight=w)
    np.testing.assert_allclose(value, (w * per_sample_loss64(loss, p.astype(np.float64), y)).sum() / n, rtol=2e-5,
                               atol=1e-7)


@pytest.mark.parametrize("loss,units,act", CASES)
def test_weighted_step_matches_torch_autograd(loss, units, act):
    torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the float64 gradient reference")
    n, lr = 13, 0.1
    x, y, w = data(n, loss, units, seed=7)
    w[2] = 0.0  # a zero weight: that sample contributes nothing
    m = make_model(units, act, loss, lr=lr)
    before = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in m.get_weights()]
    z = torch.tanh(torch.tensor(x, dtype=torch.float64) @ before[0] + before[1]) @ before[2] + before[3]
    p = {"sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, 1), "linear": lambda t: t}[act](z)
    yt = torch.tensor(y, dtype=torch.float64)
    if loss == "mse":
        per = ((p - yt) ** 2).mean(1)
    elif loss == "mae":
        per = (p - yt).abs().mean(1)
    elif loss == "huber":
        e = (p - yt).abs()
        per = torch.where(e <= 1, 0.5 * e ** 2, e - 0.5).mean(1)
    elif loss == "binary_crossentropy":
        per = -(yt * torch.log(p) + (1 - yt) * torch.log(1 - p)).mean(1)
    elif loss == "categorical_crossentropy":
        per = -(yt * torch.log(p)).sum(1)
    else:
        per = -torch.log(p[torch.arange(n), yt.long()])
    total = (torch.tensor(w, dtype=torch.float64) * per).sum() / n
    total.backward()
    got = m.train_on_batch(x, y, sample_weight=w)
    np.testing.assert_allclose(got, total.item(), rtol=2e-5)
    for a, t in zip(m.get_weights(), before):
        np.testing.assert_allclose(a, (t - lr * t.grad).detach().numpy(), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("loss,units,act", CASES)
def test_fit_epoch_loss_is_weighted_sum_over_samples(loss, units, act):
    n, bs = 50, 16  # 4 batches, the last of 2
    x, y, w = data(n, loss, units, seed=11)
    # lr = 0: every batch sees the same weights, so the epoch loss is a closed form over all samples.
    m = make_model(units, act, loss)
    per = per_sample_loss64(loss, forward64(m.get_weights(), x, act), y)
    h = m.fit(x, y, batch_size=bs, epochs=2, shuffle=False, sample_weight=w, verbose=0)
    np.testing.assert_allclose(h.history["loss"], [(w * per).sum() / n] * 2, rtol=2e-5)
    np.testing.assert_allclose(m.evaluate(x, y, sample_weight=w, batch_size=7, verbose=0), (w * per).sum() / n,
                               rtol=2e-5)
    # lr > 0: fit(shuffle=False) is the train_on_batch sequence; its epoch loss is the batch losses weighted by
    # the batch sizes, i.e. sum(w * loss) / samples over the epoch.
    a, b = make_model(units, act, loss, lr=0.05), make_model(units, act, loss, lr=0.05)
    h = a.fit(x, y, batch_size=bs, epochs=1, shuffle=False, sample_weight=w, verbose=0)
    steps = [(b.train_on_batch(x[s:s + bs], y[s:s + bs], sample_weight=w[s:s + bs]), len(x[s:s + bs]))
             for s in range(0, n, bs)]
    np.testing.assert_allclose(h.history["loss"][0], sum(v * k for v, k in steps) / n, rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_unit_weights_change_nothing():
    x, y, _ = data(40, "binary_crossentropy", 1)
    a, b = (make_model(1, "sigmoid", "binary_crossentropy", ["accuracy", "auc"], lr=0.1) for _ in range(2))
    ha = a.fit(x, y, batch_size=8, epochs=2, seed=5, verbose=0)
    hb = b.fit(x, y, batch_size=8, epochs=2, seed=5, verbose=0, sample_weight=np.ones(40))
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# --- class weights --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss,units,act,cw", [
    ("binary_crossentropy", 1, "sigmoid", {0: 0.5, 1: 3.0}),
    ("binary_crossentropy", 1, "sigmoid", {1: 2.5}),  # a class left out weighs 1
    ("categorical_crossentropy", 4, "softmax", {0: 1.5, 2: 0.25, 3: 4.0}),
    ("sparse_categorical_crossentropy", 4, "softmax", {0: 0.0, 1: 2.0, 2: 1.0, 3: 0.5}),
    ("mse", 3, "linear", {1: 2.0}),  # argmax of the target row
])
def test_class_weight_is_the_matching_sample_weight(loss, units, act, cw):
    x, y, _ = data(45, loss, units, seed=2)
    labels = (y.astype(int) if y.ndim == 1 else y.argmax(1) if y.shape[1] > 1 else np.round(y[:, 0]).astype(int))
    sw = np.array([cw.get(int(k), 1.0) for k in labels], np.float32)
    mets = ["accuracy"]
    a, b = (make_model(units, act, loss, mets, weighted_metrics=["accuracy"], lr=0.05) for _ in range(2))
    ha = a.fit(x, y, batch_size=8, epochs=3, seed=9, verbose=0, class_weight=cw)
    hb = b.fit(x, y, batch_size=8, epochs=3, seed=9, verbose=0, sample_weight=sw)
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.train_on_batch(x[:9], y[:9], class_weight=cw) == b.train_on_batch(x[:9], y[:9], sample_weight=sw[:9])


def test_class_weight_applies_to_training_only():
    # Keras: class weights weight the training samples; validation data is not class-weighted.
    x, y, _ = data(40, "binary_crossentropy", 1, seed=4)
    vx, vy, _ = data(20, "binary_crossentropy", 1, seed=5)
    m = make_model(1, "sigmoid", "binary_crossentropy")
    h = m.fit(x, y, validation_data=(vx, vy), class_weight={0: 0.1, 1: 5.0}, verbose=0)
    np.testing.assert_allclose(h.history["val_loss"], m.evaluate(vx, vy, verbose=0), rtol=1e-7)


# --- validation weights ---------------------------------------------------------------------------------------------

def test_validation_sample_weights():
    x, y, w = data(40, "mse", 2, seed=6)
    vx, vy, vw = data(23, "mse", 2, seed=8)
    m = make_model(2, "linear", "mse", ["mae"], weighted_metrics=["mae"])
    p = forward64(m.get_weights(), vx, "linear")
    per = per_sample_loss64("mse", p, vy)
    mae = np.abs(p - vy).mean(1)
    h = m.fit(x, y, validation_data=(vx, vy, vw), batch_size=8, verbose=0)
    np.testing.assert_allclose(h.history["val_loss"], [(vw * per).sum() / 23], rtol=2e-5)
    np.testing.assert_allclose(h.history["val_mae"], [mae.mean()], rtol=2e-5)  # metrics= ignore weights
    np.testing.assert_allclose(h.history["val_weighted_mae"], [(vw * mae).sum() / vw.sum()], rtol=2e-5)
    # validation_split holds out the tail of the sample weights with the data.
    xa, ya, wa = np.concatenate([x, vx]), np.concatenate([y, vy]), np.concatenate([w, vw])
    split = 1 - 23 / 63 + 1e-9
    h = m.fit(xa, ya, validation_split=1 - split, sample_weight=wa, batch_size=8, verbose=0)
    np.testing.assert_allclose(h.history["val_loss"], [(vw * per).sum() / 23], rtol=2e-5)


def test_weighted_metrics_and_metrics_under_weights():
    x, y, w = data(60, "binary_crossentropy", 1, seed=12)
    m = make_model(1, "sigmoid", "binary_crossentropy", ["accuracy", "auc", "precision"],
                   weighted_metrics=["accuracy", metrics.AUC(), metrics.Precision(name="wp")])
    assert m.metrics_names == ["loss", "accuracy", "auc", "precision", "weighted_accuracy", "weighted_auc", "wp"]
    p = m.predict(x, verbose=0)[:, 0]  # counting metrics: the model's own float32 predictions
    r = m.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0, return_dict=True)
    hit = ((p > 0.5) == (y[:, 0] > 0.5)).astype(float)
    assert r["accuracy"] == pytest.approx(hit.mean(), abs=1e-12)
    assert r["weighted_accuracy"] == pytest.approx((w * hit).sum() / w.sum(), rel=1e-6)
    assert r["auc"] == pytest.approx(keras_auc64(y[:, 0], p), abs=1e-6)
    assert r["weighted_auc"] == pytest.approx(keras_auc64(y[:, 0], p, w), abs=1e-6)
    assert r["wp"] == pytest.approx(sklearn_metrics.precision_score(y[:, 0], p > 0.5, sample_weight=w), rel=1e-6)
    assert r["precision"] == pytest.approx(sklearn_metrics.precision_score(y[:, 0], p > 0.5), rel=1e-12)


# --- bad weights ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones(5), verbose=0), r"fit: sample_weight must have shape \(20,\)"),
    (lambda m, x, y: m.fit(x, y, sample_weight=-np.ones(20), verbose=0),
     r"sample_weight must hold finite weights >= 0, got -1 at row 0"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.r_[np.ones(19), np.nan], verbose=0),
     r"finite weights >= 0, got nan at row 19"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones(20), class_weight={0: 1.0}, verbose=0),
     "cannot be given together"),
    (lambda m, x, y: m.fit(x, y, class_weight={2: 1.0}, verbose=0),
     r"class_weight key 2 is not a class index of this model \(0..1\)"),
    (lambda m, x, y: m.fit(x, y, class_weight={-1: 1.0}, verbose=0), "class_weight key -1"),
    (lambda m, x, y: m.fit(x, y, class_weight={0: -2.0}, verbose=0),
     "class_weight for class 0 must be finite and >= 0"),
    (lambda m, x, y: m.fit(x, y, class_weight={"a": 1.0}, verbose=0), "class_weight key 'a'"),
    (lambda m, x, y: m.fit(x, y, class_weight=[1.0, 2.0], verbose=0), "class_weight must be a dict"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x, y, np.ones(3)), verbose=0),
     r"fit \(validation_data\): the sample weights must have shape \(20,\)"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x, y, -np.ones(20)), verbose=0), ">= 0"),
    (lambda m, x, y: m.evaluate(x, y, sample_weight=np.ones((20, 2)), verbose=0),
     r"evaluate: sample_weight must have shape \(20,\)"),
    (lambda m, x, y: m.train_on_batch(x, y, sample_weight=np.ones(21)), "train_on_batch: sample_weight"),
    (lambda m, x, y: m.train_on_batch(x, y, class_weight={5: 1.0}), "train_on_batch: class_weight key 5"),
    (lambda m, x, y: m.test_on_batch(x, y, sample_weight=-np.ones(20)), "test_on_batch: sample_weight must hold"),
])
def test_bad_weights_raise_value_error(call, match):
    x, y, _ = data(20, "binary_crossentropy", 1)
    m = make_model(1, "sigmoid", "binary_crossentropy")
    before = m.get_weights()
    with pytest.raises(ValueError, match=match):
        call(m, x, y)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing trained


def test_class_weight_keys_for_categorical_models():
    x, y, _ = data(20, "categorical_crossentropy", 4)
    m = make_model(4, "softmax", "categorical_crossentropy")
    m.fit(x, y, class_weight={np.int64(3): 2.0, 0: 1}, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight key 4 is not a class index of this model \(0..3\)"):
        m.fit(x, y, class_weight={4: 1.0}, verbose=0)


# --- metric values against NumPy / scikit-learn ---------------------------------------------------------------------

def keras_auc64(y, p, w=None, num_thresholds=200):
    """Keras's AUC (ROC, 'interpolation' = trapezoids) stated in float64 NumPy: predictions clipped to [0, 1] are
    counted above thresholds {-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps}; TPR/FPR points joined by trapezoids."""
    y = np.asarray(y).ravel() != 0
    p = np.clip(np.asarray(p, np.float32).ravel(), 0, 1)
    w = np.ones(len(y)) if w is None else np.repeat(np.asarray(w, np.float64), len(y) // len(w))
    thresholds = np.r_[-1e-7, np.arange(1, num_thresholds - 1) / (num_thresholds - 1), 1 + 1e-7]
    above = p[None, :] > thresholds[:, None]
    tp = (above * (w * y)).sum(1)
    fp = (above * (w * ~y)).sum(1)
    pos, neg = (w * y).sum(), (w * ~y).sum()
    tpr = tp / pos if pos else np.zeros_like(tp)
    fpr = fp / neg if neg else np.zeros_like(fp)
    return float(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum())


@pytest.mark.parametrize("n", [1, 3, 17, 1000])
@pytest.mark.parametrize("cols", [1, 3])
def test_auc_matches_keras_algorithm_and_sklearn(n, cols):
    rng = np.random.default_rng(n * 10 + cols)
    y = (rng.random((n, cols)) < 0.4).astype(np.float32)
    p = np.clip(rng.normal(0.5, 0.25, (n, cols)) + 0.2 * y, -0.1, 1.1).astype(np.float32)  # some out of [0, 1]
    w = rng.uniform(0, 2, n).astype(np.float32)
    # Away from the threshold grid by more than float32 rounding (the algorithm is exact on either side).
    grid = np.arange(200) / 199
    p = np.where(np.abs(p[..., None] - grid).min(-1) < 1e-6, p + 2e-6, p).astype(np.float32)
    assert ops.metric("auc", y, p) == pytest.approx(keras_auc64(y, p), abs=1e-12)
    assert ops.metric("auc", y, p, sample_weight=w) == pytest.approx(keras_auc64(y, p, w), abs=1e-12)
    assert ops.metric("auc", y, p, num_thresholds=7) == pytest.approx(keras_auc64(y, p, num_thresholds=7), abs=1e-12)
    if 0 < y.sum() < y.size:
        pc = np.clip(p, 0, 1).ravel()  # Keras clips predictions to [0, 1] first (out-of-range ones tie at the ends)
        exact = sklearn_metrics.roc_auc_score(y.ravel(), pc)
        if n == 1000:  # 200 buckets: the trapezoids are within ~1/200 of the exact area
            assert abs(ops.metric("auc", y, p) - exact) < 3e-3
            assert abs(ops.metric("auc", y, p, num_thresholds=5000) - exact) < 2e-4
        wr = np.repeat(w, cols)
        exact_w = sklearn_metrics.roc_auc_score(y.ravel(), pc, sample_weight=wr)
        assert abs(ops.metric("auc", y, p, sample_weight=w, num_thresholds=20000) - exact_w) < 1e-3
    else:
        assert ops.metric("auc", y, p) == 0.0  # no positives or no negatives: 0, as Keras


def test_auc_edge_cases():
    y = np.array([[0], [1], [0], [1]], np.float32)
    assert ops.metric("auc", y, np.array([[0.1], [0.9], [0.2], [0.8]], np.float32)) == 1.0
    assert ops.metric("auc", y, np.array([[0.9], [0.1], [0.8], [0.2]], np.float32)) == 0.0
    assert ops.metric("auc", y, np.full((4, 1), 0.5, np.float32)) == 0.5  # all tied
    assert ops.metric("auc", y, np.array([[-5], [7], [np.nan], [1]], np.float32)) == pytest.approx(
        keras_auc64(y, np.array([-5, 7, 0, 1])))  # NaN counts as 0 (below every threshold but the first)


@pytest.mark.parametrize("n", [1, 3, 17, 1000])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_precision_recall_match_sklearn(n, threshold):
    rng = np.random.default_rng(n)
    y = (rng.random((n, 2)) < 0.5).astype(np.float32)
    p = rng.random((n, 2)).astype(np.float32)
    w = rng.uniform(0, 2, n).astype(np.float32)
    yb, pb, wr = y.ravel(), p.ravel() > threshold, np.repeat(w, 2)
    for name, ref in (("precision", sklearn_metrics.precision_score), ("recall", sklearn_metrics.recall_score)):
        want = ref(yb, pb, zero_division=0)
        assert ops.metric(name, y, p, threshold=threshold) == pytest.approx(want, abs=1e-12)
        want_w = ref(yb, pb, sample_weight=wr, zero_division=0)
        assert ops.metric(name, y, p, sample_weight=w, threshold=threshold) == pytest.approx(want_w, rel=1e-6)


@pytest.mark.parametrize("n", [1, 3, 17, 1000])
@pytest.mark.parametrize("k", [1, 2, 5, 12])
def test_top_k_matches_sklearn(n, k):
    classes = 9
    rng = np.random.default_rng(n + k)
    p = rng.random((n, classes)).astype(np.float32)  # continuous: no ties
    labels = rng.integers(0, classes, n)
    onehot = np.eye(classes, dtype=np.float32)[labels]
    w = rng.uniform(0, 2, n).astype(np.float32)
    want = sklearn_metrics.top_k_accuracy_score(labels, p, k=min(k, classes), labels=np.arange(classes)) \
        if k < classes else 1.0
    assert ops.metric("top_k_categorical_accuracy", onehot, p, k=k) == pytest.approx(want, abs=1e-12)
    assert ops.metric("sparse_top_k_categorical_accuracy", labels.astype(np.float32), p, k=k) == pytest.approx(
        want, abs=1e-12)
    hits = (np.argsort(-p, 1)[:, :k] == labels[:, None]).any(1)
    assert ops.metric("top_k_categorical_accuracy", onehot, p, k=k, sample_weight=w) == pytest.approx(
        (w * hits).sum() / w.sum(), rel=1e-6)


def test_top_k_ties_count_as_in():
    # TensorFlow's in_top_k (Keras 3): the target is in when fewer than k predictions are strictly larger.
    p = np.array([[0.1, 0.2, 0.2, 0.2, 0.3], [0.5, 0.1, 0.1, 0.1, 0.2], [0.2] * 5], np.float32)
    t = np.eye(5, dtype=np.float32)[[1, 1, 3]]
    assert [ops.metric("top_k_categorical_accuracy", t, p, k=k) for k in (1, 2, 3)] == pytest.approx(
        [1 / 3, 2 / 3, 1.0])


@pytest.mark.parametrize("n", [1, 3, 17, 1000])
def test_accuracy_family_and_errors_match_numpy(n):
    rng = np.random.default_rng(n)
    w = rng.uniform(0, 2, n).astype(np.float32)
    y = (rng.random((n, 3)) < 0.5).astype(np.float32)
    p = rng.random((n, 3)).astype(np.float32)
    acc = ((p > 0.5) == (y > 0.5)).mean(1)
    assert ops.metric("binary_accuracy", y, p) == pytest.approx(acc.mean(), abs=1e-12)
    assert ops.metric("binary_accuracy", y, p, sample_weight=w) == pytest.approx((w * acc).sum() / w.sum(), rel=1e-6)
    assert ops.metric("binary_accuracy", y, p, threshold=0.8) == pytest.approx(((p > 0.8) == y).mean(), abs=1e-12)
    labels = rng.integers(0, 3, n)
    onehot = np.eye(3, dtype=np.float32)[labels]
    want = sklearn_metrics.accuracy_score(labels, p.argmax(1))
    assert ops.metric("categorical_accuracy", onehot, p) == pytest.approx(want, abs=1e-12)
    assert ops.metric("sparse_categorical_accuracy", labels.astype(np.float32), p) == pytest.approx(want, abs=1e-12)
    want_w = sklearn_metrics.accuracy_score(labels, p.argmax(1), sample_weight=w)
    assert ops.metric("categorical_accuracy", onehot, p, sample_weight=w) == pytest.approx(want_w, rel=1e-6)
    e = p.astype(np.float64) - y
    assert ops.metric("mse", y, p) == pytest.approx((e ** 2).mean(), rel=1e-12)
    assert ops.metric("mae", y, p, sample_weight=w) == pytest.approx((w * np.abs(e).mean(1)).sum() / w.sum(),
                                                                     rel=1e-6)


# --- streaming over the epoch ---------------------------------------------------------------------------------------

def test_epoch_metrics_stream_over_all_samples_not_batch_means():
    rng = np.random.default_rng(21)
    x = rng.normal(0, 1, (203, N_IN)).astype(np.float32)
    y = (x[:, :1] + rng.normal(0, 1, (203, 1)) > 0).astype(np.float32)
    mets = ["accuracy", "auc", "precision", "recall", metrics.AUC(num_thresholds=1000, name="auc_fine")]
    m = make_model(1, "sigmoid", "binary_crossentropy", mets)  # lr 0: every batch sees the same model
    p = m.predict(x, verbose=0)
    h = m.fit(x, y, batch_size=20, shuffle=True, seed=1, verbose=0).history
    yb, pb = y.ravel(), p.ravel()
    assert h["accuracy"][0] == pytest.approx(((pb > 0.5) == yb).mean(), abs=1e-12)
    assert h["auc"][0] == pytest.approx(keras_auc64(yb, pb), abs=1e-12)
    assert h["auc_fine"][0] == pytest.approx(sklearn_metrics.roc_auc_score(yb, pb), abs=2e-3)
    assert h["precision"][0] == pytest.approx(sklearn_metrics.precision_score(yb, pb > 0.5), abs=1e-12)
    assert h["recall"][0] == pytest.approx(sklearn_metrics.recall_score(yb, pb > 0.5), abs=1e-12)
    # What averaging per-batch values would give instead is measurably different.
    batch_auc = [keras_auc64(yb[s:s + 20], pb[s:s + 20]) for s in range(0, 203, 20)]
    batch_prec = [m.test_on_batch(x[s:s + 20], y[s:s + 20], return_dict=True)["precision"] for s in range(0, 203, 20)]
    assert abs(np.mean(batch_auc) - h["auc"][0]) > 1e-3
    assert abs(np.mean(batch_prec) - h["precision"][0]) > 1e-3
    # evaluate streams too, whatever the batch size.
    for bs in (1, 7, 500):
        r = m.evaluate(x, y, batch_size=bs, verbose=0, return_dict=True)
        assert r["auc"] == pytest.approx(h["auc"][0], abs=1e-12)
        assert r["precision"] == pytest.approx(h["precision"][0], abs=1e-12)


def test_running_logs_are_streaming_values():
    x, y, _ = data(64, "binary_crossentropy", 1, seed=3)
    m = make_model(1, "sigmoid", "binary_crossentropy", ["auc", "recall"])
    seen = []

    class Grab(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(dict(logs))

    h = m.fit(x, y, batch_size=16, shuffle=False, verbose=0, callbacks=[Grab()])
    p = m.predict(x, verbose=0).ravel()
    for i, logs in enumerate(seen):
        rows = 16 * (i + 1)
        assert logs["auc"] == pytest.approx(keras_auc64(y[:rows], p[:rows]), abs=1e-12)
    assert seen[-1]["auc"] == h.history["auc"][0] and seen[-1]["recall"] == h.history["recall"][0]


def test_categorical_model_with_top_k_metrics():
    x, y, _ = data(90, "categorical_crossentropy", 6, seed=4)
    m = make_model(6, "softmax", "categorical_crossentropy",
                   ["top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy(k=2, name="top2"), "accuracy"])
    p = m.predict(x, verbose=0)
    labels = y.argmax(1)
    r = m.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert r["top_k_categorical_accuracy"] == pytest.approx(
        sklearn_metrics.top_k_accuracy_score(labels, p, k=5, labels=np.arange(6)), abs=1e-12)
    assert r["top2"] == pytest.approx(sklearn_metrics.top_k_accuracy_score(labels, p, k=2, labels=np.arange(6)),
                                      abs=1e-12)
    s = Sequential([Dense(7, input_dim=N_IN, activation="tanh"), Dense(6, activation="softmax")])
    s.compile(loss="sparse_categorical_crossentropy", optimizer="sgd",
              metrics=["sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy(k=3)])
    s.set_weights(m.get_weights())
    assert s.metrics_names == ["loss", "sparse_top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy_1"]
    r = s.evaluate(x, labels, verbose=0)
    assert r[1] == pytest.approx(sklearn_metrics.top_k_accuracy_score(labels, p, k=5, labels=np.arange(6)))
    assert r[2] == pytest.approx(sklearn_metrics.top_k_accuracy_score(labels, p, k=3, labels=np.arange(6)))


# --- names, compile arguments, save/load ----------------------------------------------------------------------------

def test_metric_names_in_logs_and_history():
    x, y, _ = data(30, "binary_crossentropy", 1)
    m = make_model(1, "sigmoid", "binary_crossentropy",
                   ["auc", "precision", "recall", metrics.AUC(), metrics.Recall(name="r2")])
    h = m.fit(x, y, validation_split=0.2, verbose=0)
    assert sorted(h.history) == ["auc", "auc_1", "loss", "precision", "r2", "recall", "val_auc", "val_auc_1",
                                 "val_loss", "val_precision", "val_r2", "val_recall"]
    assert m.metrics_names == ["loss", "auc", "precision", "recall", "auc_1", "r2"]


def test_bad_metric_arguments():
    m = Sequential([Dense(3, input_dim=2, activation="softmax")])
    with pytest.raises(ValueError, match="needs class-index targets"):
        m.compile(loss="categorical_crossentropy", metrics=["sparse_top_k_categorical_accuracy"])
    with pytest.raises(ValueError, match="needs one-hot targets"):
        m.compile(loss="sparse_categorical_crossentropy", metrics=["auc"])
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        m.compile(loss="mse", metrics=["f1"])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="num_thresholds must be > 1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match=r"thresholds must be a number in \[0, 1\]"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(NotImplementedError, match="curve='PR'"):
        metrics.AUC(curve="PR")
    with pytest.raises(ValueError, match="must be a list"):
        m.compile(loss="mse", metrics={"out": "mae"})


def test_compiled_metrics_round_trip_through_the_model_file(tmp_path):
    x, y, w = data(40, "binary_crossentropy", 1, seed=8)
    mets = ["accuracy", metrics.AUC(num_thresholds=50), metrics.Precision(thresholds=0.3), "recall",
            metrics.AUC(name="roc"), "auc"]
    m = make_model(1, "sigmoid", "binary_crossentropy", mets, weighted_metrics=["accuracy", metrics.Recall()],
                   lr=0.1)
    m.fit(x, y, sample_weight=w, epochs=2, verbose=0)
    m.save(tmp_path / "m.fastann")
    m2 = load_model(tmp_path / "m.fastann")
    assert m2.metrics_names == m.metrics_names == ["loss", "accuracy", "auc", "precision", "recall", "roc", "auc_1",
                                                   "weighted_accuracy", "weighted_recall"]
    assert m2.compiled_metrics == ["accuracy", metrics.AUC(num_thresholds=50), metrics.Precision(thresholds=0.3),
                                   "recall", metrics.AUC(name="roc"), metrics.AUC(name="auc_1")]
    assert m2.weighted_metrics == ["accuracy", metrics.Recall(name="weighted_recall")]
    assert m2.evaluate(x, y, sample_weight=w, verbose=0) == m.evaluate(x, y, sample_weight=w, verbose=0)
    config = json.loads(m._core.config_json())["compile"]
    assert config["metrics"][0] == "accuracy" and config["metrics"][3] == "recall"  # plain metrics stay names
    assert config["metrics"][1] == {"name": "auc", "display_name": "auc", "k": 5, "num_thresholds": 50,
                                    "threshold": 0.5}
    # Training continues identically after loading.
    h1 = m.fit(x, y, sample_weight=w, epochs=1, seed=2, verbose=0).history
    h2 = m2.fit(x, y, sample_weight=w, epochs=1, seed=2, verbose=0).history
    assert h1 == h2


def test_early_stopping_maximises_auc_and_precision():
    for monitor in ("val_auc", "val_precision", "val_weighted_recall", "val_auc_1", "top_k_categorical_accuracy"):
        cb = callbacks.EarlyStopping(monitor=monitor)
        cb._set_monitor_op()
        assert cb._sign == 1.0, monitor


# --- parity with Keras 3 --------------------------------------------------------------------------------------------

KERAS_SCRIPT = textwrap.dedent(r"""
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import keras

    d = np.load(sys.argv[1])
    out = {"keras": keras.__version__}

    def model(units, act, loss, metrics, weighted, w, lr):
        m = keras.Sequential([keras.Input((d["x"].shape[1],)), keras.layers.Dense(7, activation="tanh"),
                              keras.layers.Dense(units, activation=act)])
        m.compile(loss=loss, optimizer=keras.optimizers.SGD(lr), metrics=metrics, weighted_metrics=weighted)
        m.set_weights(w)
        return m

    def hist(h):
        return {k: [float(v) for v in vs] for k, vs in h.history.items()}

    K = keras.metrics
    # Binary: sample weights, validation weights, class weights, weighted metrics, AUC/Precision/Recall.
    wb = [d[f"bw{i}"] for i in range(4)]
    # Keras numbers unnamed metric objects per process (auc, auc_1, ...): named here, as each model is built anew.
    bmet = lambda: ["accuracy", K.AUC(name="auc"), K.Precision(name="precision"), K.Recall(name="recall"),
                    K.AUC(num_thresholds=50, name="auc50")]
    bw = lambda: ["accuracy", K.AUC(name="wauc")]
    x, y, sw, vx, vy, vw = (d[k] for k in ("x", "yb", "sw", "vx", "vyb", "vw"))
    m = model(1, "sigmoid", "binary_crossentropy", bmet(), bw(), wb, 0.0)
    out["evaluate_binary"] = m.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0, return_dict=True)
    m = model(1, "sigmoid", "binary_crossentropy", bmet(), bw(), wb, 0.05)
    out["fit_binary"] = hist(m.fit(x, y, sample_weight=sw, validation_data=(vx, vy, vw), batch_size=16, epochs=2,
                                   shuffle=False, verbose=0))
    m = model(1, "sigmoid", "binary_crossentropy", bmet(), bw(), wb, 0.05)
    out["fit_binary_cw"] = hist(m.fit(x, y, class_weight={0: 0.4, 1: 2.5}, validation_split=0.25, batch_size=16,
                                      epochs=2, shuffle=False, verbose=0))
    m = model(1, "sigmoid", "binary_crossentropy", bmet(), bw(), wb, 0.05)
    out["train_on_batch"] = [m.train_on_batch(x[:20], y[:20], sample_weight=sw[:20], return_dict=True),
                             m.train_on_batch(x[20:45], y[20:45], class_weight={1: 3.0}, return_dict=True),
                             m.test_on_batch(x[:30], y[:30], sample_weight=sw[:30], return_dict=True)]
    # Categorical: top-k, sample weights.
    wc = [d[f"cw{i}"] for i in range(4)]
    cmet = lambda: ["accuracy", "top_k_categorical_accuracy", K.TopKCategoricalAccuracy(k=2, name="top2")]
    m = model(6, "softmax", "categorical_crossentropy", cmet(), ["categorical_accuracy"], wc, 0.1)
    out["fit_categorical"] = hist(m.fit(x, d["yc"], sample_weight=sw, batch_size=16, epochs=2, shuffle=False,
                                        validation_split=0.2, verbose=0))
    m = model(6, "softmax", "sparse_categorical_crossentropy",
              ["sparse_top_k_categorical_accuracy", K.SparseTopKCategoricalAccuracy(k=2, name="top2")], None, wc, 0.1)
    out["fit_sparse_cw"] = hist(m.fit(x, d["ys"], class_weight={0: 2.0, 3: 0.5, 5: 1.5}, batch_size=16, epochs=2,
                                      shuffle=False, verbose=0))
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)
""")


def keras_inputs():
    rng = np.random.default_rng(2024)
    n = 90
    x = rng.normal(0, 1, (n, N_IN)).astype(np.float32)
    yb = (x[:, :1] + rng.normal(0, 1, (n, 1)) > 0).astype(np.float32)
    ys = rng.integers(0, 6, n)
    vx = rng.normal(0, 1, (31, N_IN)).astype(np.float32)
    vyb = (vx[:, :1] > 0).astype(np.float32)

    def weights(units):
        return [rng.normal(0, 0.6, (N_IN, 7)).astype(np.float32), rng.normal(0, 0.2, 7).astype(np.float32),
                rng.normal(0, 0.6, (7, units)).astype(np.float32), rng.normal(0, 0.2, units).astype(np.float32)]

    arrays = dict(x=x, yb=yb, ys=ys.astype(np.float32), yc=np.eye(6, dtype=np.float32)[ys],
                  sw=rng.uniform(0, 3, n).astype(np.float32), vx=vx, vyb=vyb,
                  vw=rng.uniform(0, 3, 31).astype(np.float32))
    arrays.update({f"bw{i}": a for i, a in enumerate(weights(1))})
    arrays.update({f"cw{i}": a for i, a in enumerate(weights(6))})
    return arrays


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory):
    # The Keras runner of tests/python/callbacks/ (importable there by its file name, as pytest imports tests).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "callbacks"))
    from test_keras_parity import keras_python
    python, env = keras_python()
    if python is None:
        pytest.skip("Keras 3 is not installed (set FASTANN_KERAS_PYTHON to a Python that has it)")
    tmp = tmp_path_factory.mktemp("keras_weights")
    np.savez(tmp / "data.npz", **keras_inputs())
    (tmp / "run.py").write_text(KERAS_SCRIPT)
    proc = subprocess.run([python, str(tmp / "run.py"), str(tmp / "data.npz"), str(tmp / "out.json")], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"the Keras reference run failed:\n{proc.stderr[-3000:]}")
    out = json.loads((tmp / "out.json").read_text())
    if not out["keras"].startswith("3."):
        pytest.skip(f"Keras {out['keras']} is not Keras 3")
    return out


def fastann_model(d, units, act, loss, mets, weighted, prefix, lr):
    m = Sequential([Dense(7, input_dim=N_IN, activation="tanh"), Dense(units, activation=act)])
    m.compile(loss=loss, optimizer=optimizers.SGD(lr), metrics=mets, weighted_metrics=weighted)
    m.set_weights([d[f"{prefix}{i}"] for i in range(4)])
    return m


def bmet():
    return ["accuracy", metrics.AUC(), metrics.Precision(), metrics.Recall(), metrics.AUC(num_thresholds=50,
                                                                                           name="auc50")]


def bw():
    return ["accuracy", metrics.AUC(name="wauc")]


# Counting metrics at lr > 0 can flip where a prediction sits within ~1e-6 of a threshold after a few float32
# steps; the data keeps clear of that, and these tolerances are for the float32 arithmetic of the losses.
KERAS_TOL = dict(rtol=2e-5, atol=2e-6)


def assert_logs_match(ours, theirs, what):
    assert sorted(ours) == sorted(theirs), what
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], err_msg=f"{what}: {k}", **KERAS_TOL)


def test_keras_evaluate_with_sample_weights(keras_run):
    d = keras_inputs()
    m = fastann_model(d, 1, "sigmoid", "binary_crossentropy", bmet(), bw(), "bw", 0.0)
    r = m.evaluate(d["x"], d["yb"], sample_weight=d["sw"], batch_size=16, verbose=0, return_dict=True)
    assert_logs_match(r, keras_run["evaluate_binary"], "evaluate")


def test_keras_fit_with_sample_and_validation_weights(keras_run):
    d = keras_inputs()
    m = fastann_model(d, 1, "sigmoid", "binary_crossentropy", bmet(), bw(), "bw", 0.05)
    h = m.fit(d["x"], d["yb"], sample_weight=d["sw"], validation_data=(d["vx"], d["vyb"], d["vw"]), batch_size=16,
              epochs=2, shuffle=False, verbose=0)
    assert_logs_match(h.history, keras_run["fit_binary"], "fit")


def test_keras_fit_with_class_weight(keras_run):
    d = keras_inputs()
    m = fastann_model(d, 1, "sigmoid", "binary_crossentropy", bmet(), bw(), "bw", 0.05)
    h = m.fit(d["x"], d["yb"], class_weight={0: 0.4, 1: 2.5}, validation_split=0.25, batch_size=16, epochs=2,
              shuffle=False, verbose=0)
    assert_logs_match(h.history, keras_run["fit_binary_cw"], "fit class_weight")


def test_keras_train_and_test_on_batch_with_weights(keras_run):
    d = keras_inputs()
    m = fastann_model(d, 1, "sigmoid", "binary_crossentropy", bmet(), bw(), "bw", 0.05)
    x, y, sw = d["x"], d["yb"], d["sw"]
    ours = [m.train_on_batch(x[:20], y[:20], sample_weight=sw[:20], return_dict=True),
            m.train_on_batch(x[20:45], y[20:45], class_weight={1: 3.0}, return_dict=True),
            m.test_on_batch(x[:30], y[:30], sample_weight=sw[:30], return_dict=True)]
    for i, (a, b) in enumerate(zip(ours, keras_run["train_on_batch"])):
        assert_logs_match(a, b, f"batch call {i}")


def test_keras_top_k_with_weights(keras_run):
    d = keras_inputs()
    mets = ["accuracy", "top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy(k=2, name="top2")]
    m = fastann_model(d, 6, "softmax", "categorical_crossentropy", mets, ["categorical_accuracy"], "cw", 0.1)
    h = m.fit(d["x"], d["yc"], sample_weight=d["sw"], batch_size=16, epochs=2, shuffle=False, validation_split=0.2,
              verbose=0)
    assert_logs_match(h.history, keras_run["fit_categorical"], "categorical")
    m = fastann_model(d, 6, "softmax", "sparse_categorical_crossentropy",
                      ["sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
                      None, "cw", 0.1)
    h = m.fit(d["x"], d["ys"], class_weight={0: 2.0, 3: 0.5, 5: 1.5}, batch_size=16, epochs=2, shuffle=False,
              verbose=0)
    assert_logs_match(h.history, keras_run["fit_sparse_cw"], "sparse")
