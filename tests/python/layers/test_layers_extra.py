"""Dropout, BatchNormalization, Input and the L1/L2 regularizers.

References are NumPy float64 (and PyTorch float64 for a training run); the C++ side computes in float32 with
statistics and penalties accumulated in double, so forward values agree to ~1e-6 relative (rtol 1e-5 below) and
gradients through batch norm, which divides by a batch standard deviation, to atol 1e-5 for O(1) data. Finite
differences are taken on the float64 reference (checking the analytic formula the kernels implement) and, with a
wide step and tolerance, on the float32 kernels themselves.
"""

import json
import math

import numpy as np
import pytest

import fastann
from fastann import _core, optimizers, regularizers
from fastann.layers import BatchNormalization, Dense, Dropout, Input
from fastann.models import Sequential, load_model

SHAPES = [(1, 3), (3, 1), (17, 5), (33, 70), (1000, 3), (64, 129)]  # 70, 129 columns cross the 64-column blocks


# --- Dropout ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_scaling_and_fraction(rate):
    x = np.random.default_rng(0).standard_normal((400, 250)).astype(np.float32)
    y, mask = _core.dropout(x, rate, 123)
    scale = np.float32(1.0 / (1.0 - rate))
    assert set(np.unique(mask)) <= {0.0, scale}
    np.testing.assert_array_equal(y, x * mask)
    n = x.size
    dropped = int((mask == 0).sum())
    # Binomial(n, rate): within 5 standard deviations.
    assert abs(dropped - n * rate) < 5 * math.sqrt(n * rate * (1 - rate)), (dropped, n * rate)
    # E[y] = x: the mean of the mask is 1 within 5 standard deviations of its estimate.
    sd = float(scale) * math.sqrt(rate * (1 - rate) / n)
    assert abs(mask.astype(np.float64).mean() - 1.0) < 5 * sd


def test_dropout_expected_value_per_element():
    x = np.linspace(-2, 3, 40, dtype=np.float32).reshape(1, 40)
    trials = np.stack([_core.dropout(x, 0.3, s)[0][0] for s in range(4000)])
    sd = np.abs(x[0]) * math.sqrt(0.3 / 0.7) / math.sqrt(4000)
    assert np.all(np.abs(trials.mean(axis=0) - x[0]) <= 5 * sd + 1e-6)


def test_dropout_is_seeded_and_independent_of_threads():
    x = np.ones((300, 300), np.float32)
    threads = fastann.get_num_threads()
    try:
        fastann.set_num_threads(1)
        a = _core.dropout(x, 0.5, 7)[1]
        fastann.set_num_threads(2)
        b = _core.dropout(x, 0.5, 7)[1]
    finally:
        fastann.set_num_threads(threads)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _core.dropout(x, 0.5, 8)[1])


def test_dropout_rate_zero_is_identity():
    x = np.random.default_rng(1).standard_normal((20, 7)).astype(np.float32)
    y, mask = _core.dropout(x, 0.0, 3)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(mask, 1.0)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_dropout_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


def test_dropout_off_at_inference():
    rng = np.random.default_rng(2)
    model = Sequential([Dense(8, input_dim=5, activation="tanh"), Dropout(0.7, seed=1), Dense(2)])
    plain = Sequential([Dense(8, input_dim=5, activation="tanh"), Dense(2)])
    plain.set_weights(model.get_weights())
    x = rng.standard_normal((50, 5)).astype(np.float32)
    y = rng.standard_normal((50, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))
    for m in (model, plain):
        m.compile(loss="mse", optimizer="sgd")
    assert model.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    assert model.test_on_batch(x, y) == plain.test_on_batch(x, y)
    # In training the loss sees the dropped activations.
    assert model.train_on_batch(x, y) != plain.train_on_batch(x, y)


def test_dropout_gradient_uses_the_forward_mask():
    """Dense(identity kernel) -> Dropout as the output, y = 0, mse, SGD: out = W * m (x = I), so the step gives
    W1 = W0 - lr * 2/(b*d) * W0 * m^2 per element, and the reported loss is mean((W0 * m)^2). Both reveal the mask;
    it must be one mask, of the right values."""
    d, rate, lr = 40, 0.25, 0.5
    model = Sequential([Dense(d, input_dim=d, use_bias=False), Dropout(rate, seed=11)])
    w0 = np.random.default_rng(3).uniform(1.0, 2.0, (d, d)).astype(np.float32)
    model.set_weights([w0])
    model.compile(loss="mse", optimizer=optimizers.SGD(lr))
    loss = model.train_on_batch(np.eye(d, dtype=np.float32), np.zeros((d, d), np.float32))
    w1 = model.get_weights()[0].astype(np.float64)
    m2 = (w0 - w1) / (lr * 2.0 / (d * d) * w0)
    scale2 = (1.0 / (1.0 - rate)) ** 2
    mask2 = np.where(m2 > scale2 / 2, scale2, 0.0)
    np.testing.assert_allclose(m2, mask2, atol=1e-3 * scale2)
    np.testing.assert_allclose(loss, np.mean(w0.astype(np.float64) ** 2 * mask2), rtol=1e-5)
    frac = (mask2 == 0).mean()
    assert abs(frac - rate) < 5 * math.sqrt(rate * (1 - rate) / d / d)


def _dropout_run(seed, data_seed=0):
    rng = np.random.default_rng(data_seed)
    x = rng.standard_normal((128, 6)).astype(np.float32)
    y = rng.standard_normal((128, 1)).astype(np.float32)
    model = Sequential([Dense(16, input_dim=6, activation="relu",
                              kernel_initializer=fastann.initializers.GlorotUniform(seed=1)),
                        Dropout(0.5, seed=seed),
                        Dense(1, kernel_initializer=fastann.initializers.GlorotUniform(seed=2))])
    model.compile(loss="mse", optimizer="adam")
    h = model.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=5)
    return h.history["loss"], model.get_weights()


def test_dropout_seeded_training_is_deterministic():
    l1, w1 = _dropout_run(seed=42)
    l2, w2 = _dropout_run(seed=42)
    l3, _ = _dropout_run(seed=43)
    assert l1 == l2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert l1 != l3


# --- BatchNormalization: the kernels ------------------------------------------------------------------------------

def bn_reference(x, gamma, beta, eps):
    x = x.astype(np.float64)
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    xhat = (x - mean) / np.sqrt(var + eps)
    g = 1.0 if gamma is None else gamma.astype(np.float64)
    b = 0.0 if beta is None else beta.astype(np.float64)
    return g * xhat + b, mean, var


def bn_backward_reference(x, gamma, dy, eps):
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    n = x.shape[0]
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv
    g = 1.0 if gamma is None else gamma.astype(np.float64)
    dgamma = (dy * xhat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    dx = g * inv / n * (n * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def bn_data(shape, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 3.0, shape[1]) + rng.uniform(-2, 2, shape[1]))
    gamma = rng.uniform(0.5, 1.5, shape[1]).astype(np.float32)
    beta = rng.standard_normal(shape[1]).astype(np.float32)
    return x.astype(np.float32), gamma, beta


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_training_forward_and_moving_stats(shape, affine):
    x, gamma, beta = bn_data(shape, 0)
    if not affine:
        gamma = beta = None
    eps, momentum = 1e-3, 0.9
    mm = np.random.default_rng(1).standard_normal(shape[1]).astype(np.float32)
    mv = np.random.default_rng(2).uniform(0.5, 2, shape[1]).astype(np.float32)
    y, mean, invstd, mm1, mv1 = _core.batchnorm_train(x, gamma, beta, eps, momentum, mm, mv)
    ref, rmean, rvar = bn_reference(x, gamma, beta, eps)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean, rmean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(rvar + eps), rtol=1e-6)
    np.testing.assert_allclose(mm1, mm * 0.9 + rmean * 0.1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mv1, mv * 0.9 + rvar * 0.1, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_inference_uses_given_statistics(shape):
    x, gamma, beta = bn_data(shape, 3)
    rng = np.random.default_rng(4)
    mean = rng.standard_normal(shape[1]).astype(np.float32)
    var = rng.uniform(0.1, 3, shape[1]).astype(np.float32)
    y = _core.batchnorm_infer(x, gamma, beta, mean, var, 1e-3)
    ref = (x.astype(np.float64) - mean) / np.sqrt(var.astype(np.float64) + 1e-3) * gamma + beta
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    y0 = _core.batchnorm_infer(x, None, None, mean, var, 1e-3)
    np.testing.assert_allclose(y0, (x.astype(np.float64) - mean) / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_backward_against_numpy(shape, affine):
    x, gamma, beta = bn_data(shape, 5)
    gamma = gamma if affine else None
    dy = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    _, mean, invstd, _, _ = _core.batchnorm_train(x, gamma, beta, 1e-3, 0.99, np.zeros(shape[1], np.float32),
                                                  np.ones(shape[1], np.float32))
    dx, dgamma, dbeta = _core.batchnorm_backward(x, mean, invstd, gamma, dy)
    rdx, rdgamma, rdbeta = bn_backward_reference(x, gamma, dy, 1e-3)
    np.testing.assert_allclose(dx, rdx, atol=1e-5 * max(1.0, np.abs(rdx).max()), rtol=1e-4)
    np.testing.assert_allclose(dgamma, rdgamma, rtol=1e-5, atol=1e-5 * math.sqrt(shape[0]))
    np.testing.assert_allclose(dbeta, rdbeta, rtol=1e-5, atol=1e-5 * math.sqrt(shape[0]))


def test_batchnorm_reference_gradient_by_finite_differences():
    """The analytic backward (float64) against central differences of L = sum(r * bn(x)) in float64."""
    x, gamma, beta = bn_data((7, 4), 7)
    x = x.astype(np.float64)
    r = np.random.default_rng(8).standard_normal((7, 4))
    eps, h = 1e-3, 1e-6
    dx, dgamma, dbeta = bn_backward_reference(x, gamma, r, eps)
    def loss(xx, gg, bb):
        return float((r * bn_reference(xx, gg, bb, eps)[0]).sum())

    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        assert abs((loss(xp, gamma, beta) - loss(xm, gamma, beta)) / (2 * h) - dx[idx]) < 1e-7
    for j in range(4):
        gp, gm = gamma.astype(np.float64), gamma.astype(np.float64)
        gp[j] += h
        gm[j] -= h
        assert abs((loss(x, gp, beta) - loss(x, gm, beta)) / (2 * h) - dgamma[j]) < 1e-7
        bp, bm = beta.astype(np.float64), beta.astype(np.float64)
        bp[j] += h
        bm[j] -= h
        assert abs((loss(x, gamma, bp) - loss(x, gamma, bm)) / (2 * h) - dbeta[j]) < 1e-7


def test_batchnorm_kernel_gradient_by_finite_differences():
    """The float32 kernels: central differences of sum(r * y) with a wide step against batchnorm_backward."""
    x, gamma, beta = bn_data((9, 3), 9)
    r = np.random.default_rng(10).standard_normal((9, 3)).astype(np.float32)
    zeros, ones = np.zeros(3, np.float32), np.ones(3, np.float32)

    def loss(xx):
        return float((r.astype(np.float64) * _core.batchnorm_train(xx, gamma, beta, 1e-3, 0.9, zeros, ones)[0]).sum())

    _, mean, invstd, _, _ = _core.batchnorm_train(x, gamma, beta, 1e-3, 0.9, zeros, ones)
    dx = _core.batchnorm_backward(x, mean, invstd, gamma, r)[0]
    h = 1e-2
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fd = (loss(xp) - loss(xm)) / (2 * h)
        assert abs(fd - dx[idx]) < 2e-3 * max(1.0, abs(fd)), (idx, fd, dx[idx])


# --- BatchNormalization: the layer -------------------------------------------------------------------------------

def test_batchnorm_layer_weights_names_and_counts():
    model = Sequential([Input(shape=(4,)), Dense(6), BatchNormalization(), BatchNormalization(center=False),
                        Dense(1)])
    bn, bn2 = model.layers[1], model.layers[2]
    assert [w.shape for w in bn.get_weights()] == [(6,)] * 4
    np.testing.assert_array_equal(bn.gamma, 1)
    np.testing.assert_array_equal(bn.beta, 0)
    np.testing.assert_array_equal(bn.moving_mean, 0)
    np.testing.assert_array_equal(bn.moving_variance, 1)
    assert bn2.beta is None and len(bn2.get_weights()) == 3
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    assert bn.count_params() == 24 and bn2.count_params() == 18
    assert model.count_params() == 30 + 24 + 18 + 7
    lines = []
    model.summary(print_fn=lines.append)
    assert " Total params: 79 " in "\n".join(lines)
    assert " Trainable params: 55 " in "\n".join(lines)
    assert " Non-trainable params: 24 " in "\n".join(lines)
    assert len(model.trainable_weights) == 2 + 2 + 1 + 2 and len(model.non_trainable_weights) == 4


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_batchnorm_layer_training_and_inference(optimizer):
    """One train_on_batch: the loss from batch statistics, the moving statistics updated by the momentum rule (the
    optimizer never touches them, whatever its learning rate); predict and evaluate then use them."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((24, 5)) * 3 + 2).astype(np.float32)
    y = rng.standard_normal((24, 5)).astype(np.float32)
    model = Sequential([BatchNormalization(momentum=0.8, epsilon=0.01, input_dim=5)])
    gamma = rng.uniform(0.5, 2, 5).astype(np.float32)
    beta = rng.standard_normal(5).astype(np.float32)
    mm = rng.standard_normal(5).astype(np.float32)
    mv = rng.uniform(0.5, 2, 5).astype(np.float32)
    model.set_weights([gamma, beta, mm, mv])
    model.compile(loss="mse", optimizer=optimizers.get(optimizer) if optimizer != "sgd" else optimizers.SGD(10.0))
    loss = model.train_on_batch(x, y)
    ref, mean, var = bn_reference(x, gamma, beta, 0.01)
    assert loss == pytest.approx(((ref - y) ** 2).mean(), rel=1e-5)
    g1, b1, mm1, mv1 = model.get_weights()
    np.testing.assert_allclose(mm1, mm * 0.8 + mean * 0.2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mv1, mv * 0.8 + var * 0.2, rtol=1e-6, atol=1e-6)
    assert not np.array_equal(g1, gamma) and not np.array_equal(b1, beta)
    inf = (x.astype(np.float64) - mm1) / np.sqrt(mv1.astype(np.float64) + 0.01) * g1 + b1
    np.testing.assert_allclose(model.predict(x, verbose=0), inf, rtol=1e-5, atol=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(((inf - y) ** 2).mean(), rel=1e-5)
    np.testing.assert_array_equal(model.get_weights()[2], mm1)  # evaluate/predict do not update them


def test_batchnorm_layer_gradient_matches_numpy():
    """SGD step of gamma/beta and of the Dense kernel below the BN layer against the float64 backward."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    y = rng.standard_normal((10, 4)).astype(np.float32)
    model = Sequential([Dense(4, input_dim=3, use_bias=False), BatchNormalization()])
    k = rng.standard_normal((3, 4)).astype(np.float32)
    gamma = rng.uniform(0.5, 2, 4).astype(np.float32)
    beta = rng.standard_normal(4).astype(np.float32)
    model.set_weights([k, gamma, beta, np.zeros(4, np.float32), np.ones(4, np.float32)])
    lr = 0.1
    model.compile(loss="mse", optimizer=optimizers.SGD(lr))
    model.train_on_batch(x, y)
    z = x.astype(np.float64) @ k
    out = bn_reference(z, gamma, beta, 1e-3)[0]
    dy = 2 * (out - y) / y.size
    dz, dgamma, dbeta = bn_backward_reference(z, gamma, dy, 1e-3)
    k1, g1, b1 = model.get_weights()[:3]
    np.testing.assert_allclose(k1, k - lr * (x.T.astype(np.float64) @ dz), atol=1e-6)
    np.testing.assert_allclose(g1, gamma - lr * dgamma, atol=1e-6)
    np.testing.assert_allclose(b1, beta - lr * dbeta, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [({"momentum": 1.5}, "momentum"), ({"epsilon": 0}, "epsilon"),
                                           ({"epsilon": -1e-3}, "epsilon"), ({"axis": 0}, "axis"),
                                           ({"momentum": "0.9"}, "momentum")])
def test_batchnorm_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNormalization(**kwargs)


def test_batchnorm_unsupported_arguments():
    with pytest.raises(NotImplementedError, match="gamma_regularizer"):
        BatchNormalization(gamma_regularizer="l2")
    with pytest.raises(NotImplementedError, match="renorm"):
        BatchNormalization(renorm=True)


# --- Input -------------------------------------------------------------------------------------------------------

def test_input_sets_the_input_size():
    model = Sequential()
    model.add(Input(shape=(10,)))
    assert model.input_shape == (None, 10) and model.layers == []
    model.add(Dense(4, activation="relu"))
    assert model.built and [w.shape for w in model.get_weights()] == [(10, 4), (4,)]
    model2 = Sequential([fastann.Input(shape=(3,)), BatchNormalization(), Dense(2)])
    assert model2.built and len(model2.layers) == 2 and model2.count_params() == 12 + 8
    assert model2.predict(np.zeros((2, 3)), verbose=0).shape == (2, 2)


def test_input_errors():
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="Input"):
        model.add(Input(shape=(3,)))
    m = Sequential([Input(shape=(3,))])
    with pytest.raises(ValueError, match="disagrees"):
        m.add(Dense(2, input_dim=4))
    for shape in [(3, 0), (0,), (), (2,) * 8]:
        with pytest.raises(ValueError):
            Input(shape=shape)
    assert Input(shape=(3, 4)).shape == (None, 3, 4)  # N-D inputs (Flatten, Reshape) are accepted


# --- regularizers ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.02), (0.003, 0.004)])
@pytest.mark.parametrize("n", [1, 17, 1000])
def test_regularizer_kernel_against_numpy(l1, l2, n):
    w = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    w[::5] = 0.0  # sign(0) = 0, as TensorFlow's gradient of |x|
    penalty, grad = _core.regularizer(l1, l2, w, 0.5)
    w64 = w.astype(np.float64)
    assert penalty == pytest.approx(l1 * np.abs(w64).sum() + l2 * (w64 ** 2).sum(), rel=1e-6, abs=1e-12)
    np.testing.assert_allclose(grad, 0.5 * (np.float32(l1) * np.sign(w64) + 2 * np.float32(l2) * w64), rtol=1e-6,
                               atol=1e-9)


def test_regularizer_objects_and_names():
    assert regularizers.L1().l1 == 0.01 and regularizers.L1().l2 == 0.0
    assert regularizers.L2().l2 == 0.01
    assert (regularizers.L1L2().l1, regularizers.L1L2().l2) == (0.0, 0.0)
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    r = regularizers.get("l1_l2")
    assert isinstance(r, regularizers.L1L2) and (r.l1, r.l2) == (0.01, 0.01)
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.5}}) == regularizers.L2(0.5)
    w = np.array([1.0, -2.0, 0.0], np.float32)
    assert regularizers.L1L2(0.1, 0.2)(w) == pytest.approx(0.1 * 3 + 0.2 * 5)
    for bad in (-0.1, float("inf"), float("nan"), "x"):
        with pytest.raises(ValueError, match="l1"):
            regularizers.L1(bad)
    with pytest.raises(ValueError, match="unknown regularizer"):
        Dense(2, kernel_regularizer="l3")
    with pytest.raises(TypeError):
        Dense(2, kernel_regularizer=0.1)


def _dense_model(regs, act="linear"):
    rng = np.random.default_rng(13)
    model = Sequential([Dense(3, input_dim=4, activation=act, **regs)])
    k = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    model.set_weights([k, b])
    return model, k.astype(np.float64), b.astype(np.float64)


@pytest.mark.parametrize("regs", [
    {"kernel_regularizer": regularizers.L2(0.05)},
    {"bias_regularizer": regularizers.L1(0.1)},
    {"kernel_regularizer": regularizers.L1L2(0.02, 0.03), "bias_regularizer": "l2"},
    {"activity_regularizer": regularizers.L1L2(0.01, 0.02)},
    {"kernel_regularizer": "l1", "activity_regularizer": "l2"},
])
def test_regularized_loss_and_gradient_against_numpy(regs):
    """A Dense(tanh) layer, mse, SGD: the reported loss is the data loss plus the penalties (activity penalty / batch
    size), and the step applies their gradients (Keras 3's semantics)."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.standard_normal((6, 3)).astype(np.float32)
    model, k, b = _dense_model(regs, "tanh")
    lr = 0.1
    model.compile(loss="mse", optimizer=optimizers.SGD(lr))
    def get(key):
        return regularizers.get(regs.get(key))

    kr, br, ar = get("kernel_regularizer"), get("bias_regularizer"), get("activity_regularizer")
    x64 = x.astype(np.float64)
    out = np.tanh(x64 @ k + b)
    n = x.shape[0]

    def pen(r, v):
        return 0.0 if r is None else r.l1 * np.abs(v).sum() + r.l2 * (v ** 2).sum()

    def dpen(r, v):
        return 0.0 if r is None else r.l1 * np.sign(v) + 2 * r.l2 * v

    expected = ((out - y) ** 2).mean() + pen(kr, k) + pen(br, b) + pen(ar, out) / n
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(expected, rel=1e-5)
    dout = 2 * (out - y) / y.size + dpen(ar, out) / n
    dz = dout * (1 - out ** 2)
    k1, b1 = model.get_weights()
    np.testing.assert_allclose(k1, k - lr * (x64.T @ dz + dpen(kr, k)), atol=2e-6)
    np.testing.assert_allclose(b1, b - lr * (dz.sum(axis=0) + dpen(br, b)), atol=2e-6)


def test_activity_regularizer_on_the_output_layer_of_a_fused_loss():
    """sigmoid + binary cross-entropy is normally fused; an activity regularizer needs the probabilities, so the
    loss is computed on them (clipped as Keras does) and the penalty is added."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.integers(0, 2, (8, 3)).astype(np.float32)
    model, k, b = _dense_model({"activity_regularizer": regularizers.L2(0.1)}, "sigmoid")
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    p = 1 / (1 + np.exp(-(x.astype(np.float64) @ k + b)))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(bce + 0.1 * (p ** 2).sum() / 8, rel=1e-5)


def test_epoch_loss_includes_the_penalty():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = rng.standard_normal((64, 3)).astype(np.float32)
    plain, _, _ = _dense_model({})
    reg, _, _ = _dense_model({"kernel_regularizer": regularizers.L2(0.5)})
    for m in (plain, reg):
        m.compile(loss="mse", optimizer=optimizers.SGD(0.0))  # no updates: each batch sees the same weights
    hp = plain.fit(x, y, batch_size=10, verbose=0, shuffle=False).history["loss"][0]
    hr = reg.fit(x, y, batch_size=10, verbose=0, shuffle=False).history["loss"][0]
    k = reg.get_weights()[0].astype(np.float64)
    assert hr - hp == pytest.approx(0.5 * (k ** 2).sum(), rel=1e-5)


# --- training parity with PyTorch (float64) ----------------------------------------------------------------------

def test_training_parity_with_torch_bn_dropout0_l2():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    x = rng.standard_normal((96, 5)).astype(np.float32)
    y = rng.integers(0, 2, (96, 1)).astype(np.float32)
    model = Sequential([Input(shape=(5,)),
                        Dense(8, activation="relu", kernel_regularizer=regularizers.L2(0.01)),
                        BatchNormalization(momentum=0.9), Dropout(0.0),
                        Dense(1, activation="sigmoid", bias_regularizer=regularizers.L1(0.005))])
    w0 = [w.copy() for w in model.get_weights()]
    w0[2] = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    w0[3] = rng.standard_normal(8).astype(np.float32) * 0.1
    model.set_weights(w0)
    model.compile(loss="binary_crossentropy", optimizer=optimizers.SGD(0.05, momentum=0.9))
    losses = [model.train_on_batch(x[i:i + 16], y[i:i + 16]) for i in range(0, 96, 16)]

    t = [torch.tensor(w, dtype=torch.float64, requires_grad=j in (0, 1, 2, 3, 6, 7)) for j, w in enumerate(w0)]
    k1, b1, gamma, beta, mm, mv, k2, b2 = t
    vel = [torch.zeros_like(v) for v in t]
    ref_losses = []
    for i in range(0, 96, 16):
        xb = torch.tensor(x[i:i + 16], dtype=torch.float64)
        yb = torch.tensor(y[i:i + 16], dtype=torch.float64)
        h = torch.relu(xb @ k1 + b1)
        mean, var = h.mean(0), h.var(0, unbiased=False)
        with torch.no_grad():
            mm.mul_(0.9).add_(0.1 * mean)
            mv.mul_(0.9).add_(0.1 * var)
        h = (h - mean) / torch.sqrt(var + 1e-3) * gamma + beta
        logits = h @ k2 + b2
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yb)
        loss = loss + 0.01 * (k1 ** 2).sum() + 0.005 * b2.abs().sum()
        ref_losses.append(loss.item())
        params = [k1, b1, gamma, beta, k2, b2]
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, j in zip(params, grads, (0, 1, 2, 3, 6, 7)):
                vel[j] = 0.9 * vel[j] - 0.05 * g  # Keras SGD momentum
                p.add_(vel[j])
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, ref in zip(model.get_weights(), t):
        np.testing.assert_allclose(got, ref.detach().numpy(), atol=2e-5)


# --- the model file ----------------------------------------------------------------------------------------------

def _full_model():
    return Sequential([Input(shape=(5,)),
                       Dense(8, activation="relu", kernel_regularizer=regularizers.L2(0.01),
                             bias_regularizer=regularizers.L1(0.02), activity_regularizer="l1_l2"),
                       BatchNormalization(momentum=0.8, epsilon=0.01, center=False), Dropout(0.3, seed=9),
                       Dense(1, activation="sigmoid")], name="extra")


def test_save_load_round_trip_is_bitwise(tmp_path):
    rng = np.random.default_rng(18)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 2, (64, 1)).astype(np.float32)
    model = _full_model()
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=1)
    path = tmp_path / "m.fastann"
    model.save(path)
    loaded = load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert model.evaluate(x, y, verbose=0) == loaded.evaluate(x, y, verbose=0)
    assert [type(lyr).__name__ for lyr in loaded.layers] == ["Dense", "BatchNormalization", "Dropout", "Dense"]
    dense, bn, drop = loaded.layers[:3]
    assert dense.kernel_regularizer == regularizers.L2(0.01) and dense.bias_regularizer == regularizers.L1(0.02)
    assert dense.activity_regularizer == regularizers.L1L2(0.01, 0.01)
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.8, 0.01, False, True)
    assert (drop.rate, drop.seed) == (0.3, 9)
    config = json.loads(loaded._core.config_json())
    assert config == json.loads(model._core.config_json())
    safetensors = pytest.importorskip("safetensors.numpy")
    tensors = safetensors.load_file(str(path))
    bn_name = model.layers[1].name
    np.testing.assert_array_equal(tensors[f"{bn_name}/moving_mean"], model.layers[1].moving_mean)
    np.testing.assert_array_equal(tensors[f"{bn_name}/moving_variance"], model.layers[1].moving_variance)
    assert f"{bn_name}/gamma" in tensors and f"{bn_name}/beta" not in tensors
    # The optimizer has slots for the trainable weights only.
    assert f"optimizer/{bn_name}/gamma/momentum" in tensors
    assert not any(k.startswith(f"optimizer/{bn_name}/moving") for k in tensors)


def test_resumed_training_equals_uninterrupted(tmp_path):
    """With batch norm and regularizers (Dropout at rate 0: a dropout generator's position is not in the file)."""
    rng = np.random.default_rng(19)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 2, (64, 1)).astype(np.float32)

    def make():
        m = Sequential([Dense(8, input_dim=5, activation="relu", kernel_regularizer="l2",
                              kernel_initializer=fastann.initializers.GlorotUniform(seed=1)),
                        BatchNormalization(), Dropout(0.0),
                        Dense(1, activation="sigmoid", kernel_initializer=fastann.initializers.GlorotUniform(seed=2))])
        m.compile(loss="binary_crossentropy", optimizer="adam")
        return m

    a = make()
    a.fit(x, y, epochs=4, batch_size=16, verbose=0, shuffle=False)
    b = make()
    b.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    b.save(tmp_path / "half.fastann")
    c = load_model(tmp_path / "half.fastann")
    c.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wc)


def test_load_weights_and_uncompiled_load(tmp_path):
    model = _full_model()
    model.save(tmp_path / "w.fastann")
    other = _full_model()
    other.load_weights(tmp_path / "w.fastann")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = load_model(tmp_path / "w.fastann", compile=False)
    assert len(fresh.get_weights()) == len(model.get_weights())
