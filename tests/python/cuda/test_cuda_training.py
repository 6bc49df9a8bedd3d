"""Training a Sequential on a CUDA device against the same training on the CPU.

Every GPU test builds the same model twice, compiles one with device='cpu' and one with device='cuda:0', copies the
CPU model's initial weights into the CUDA model (`gpu.set_weights(cpu.get_weights())`) and runs the same calls on the
same NumPy data on both. The CPU model is the independent reference (it is itself checked against NumPy and a float64
PyTorch run in test_ops.py / test_training_parity.py), so a wrong CUDA kernel, a wrong device transfer, a different
batch order or a different dropout mask shows up as a trajectory that leaves the CPU's. The GPU tests skip with a
reason where no CUDA device is present (fastann.cuda.is_available() is False), exactly as
tests/python/cuda/test_cuda.py does; they also run against the CUDA emulator build (kernels executed on the host
behind poisoned device pointers, so any
host access to device memory crashes instead of silently working). One test runs everywhere: asking for a CUDA
device that cannot be used is a RuntimeError that leaves the model usable on the CPU.

Tolerances. The CUDA GEMMs and reductions add in another order than the CPU's blocked kernels, so the two devices
agree to float32 rounding (u = 2^-24 ~ 6e-8), not bitwise:
  - one forward pass (predict / evaluate at identical weights): every output is a chain of dot products of fan-in
    <= 16 through <= 3 layers, each off by <~ fan-in * u relative (~1e-6 worst case, ~1e-7 typical)
    -> TOL_PRED rtol 1e-5, atol 1e-6 (outputs are O(0.1..1); atol covers outputs near 0).
  - training: that per-step rounding feeds back through the updates. The models here are small (fan-in <= 16,
    <= 24..36 steps of lr <= 0.1, weights O(1)); test_training_parity.py measured two float32 implementations of the
    same rules with different summation orders drifting apart by <= 6e-7 on the losses and <= 2.2e-6 on the weights
    after 52 steps of the same kind of model. TOL_LOSS (rtol 1e-4, atol 1e-6; losses are O(0.05..3)) and
    TOL_WEIGHT (rtol 1e-3, atol 1e-5) leave >= 5x (weights) and >= 50x (losses) above that, while every training
    test asserts the weights moved by >= MIN_MOVE = 100 x TOL_WEIGHT's atol, so no comparison is vacuous; and
    another batch order, dropout mask or class weighting lands far outside TOL_LOSS within these few epochs (the
    "teeth" controls below assert it on the CPU).
  - trained predictions: outputs of weights that differ by TOL_WEIGHT -> TOL_TRAINED (rtol 1e-3, atol 1e-5).
  - kinks: relu / leaky_relu pre-activations within ~1e-6 of 0 (where the two devices may take different branches)
    are rare enough here (~4e4 pre-activation evaluations per test, density ~0.3 at 0 -> ~1e-2 expected events at
    the 1e-6 scale, each moving a weight by ~lr * 1e-3); the optimizer and loss grids use smooth tanh hidden layers;
    mae keeps sign(p - y) constant by construction (tanh outputs, targets beyond +-1.5).
  - metrics that threshold (accuracy, precision, recall, AUC): a prediction within rounding of a threshold may fall
    on either side on the two devices. In a History (weights drifting by TOL_WEIGHT) they are compared to
    TOL_COUNT = 2 / samples (one sample on the other side of a threshold moves an accuracy by 1/n and precision,
    recall or AUC by at most ~1/#positives); at identical weights in evaluate they must agree to double rounding,
    with a guard asserting that no CPU prediction lies within 1e-5 of a threshold.
  - same device, same kernels (streaming vs resident dataset, two models in two threads vs alone): bitwise equal.
  Calibration (CPU only, no GPU was available when this file was written): the "CUDA" model replaced by a CPU model
  running another ISA's kernels (generic vs avx512: other micro-kernels, another summation order), started from
  weights perturbed by ~8 ulp and jittered by ~2 ulp after every training step (a stand-in for the per-step rounding
  differences of another device). Every comparison of the small models then used <= 0.10 of its tolerance (losses
  <= 0.03, predictions <= 0.08), i.e. >= 10x margin; the longer run of test_two_models_train_concurrently (192
  steps, fan-in 64) used 0.58 of TOL_WEIGHT, so it compares with TOL_LONG (10x looser: ~0.06).

Run on a GPU machine: python -m pytest tests/python/cuda/test_cuda_training.py -v
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import fastann
from fastann import initializers, losses, optimizers, regularizers
from fastann.callbacks import Callback
from fastann.layers import BatchNormalization, Dense, Dropout
from fastann.metrics import AUC, Precision, Recall, TopKCategoricalAccuracy
from fastann.models import Sequential, load_model

GPU = fastann.cuda.is_available()
requires_gpu = pytest.mark.skipif(not GPU, reason="no CUDA device (fastann.cuda.is_available() is False: no CUDA "
                                  "backend, driver or GPU on this machine)")
DEV = "cuda:0"

# --- tolerances (justified in the module docstring) -----------------------------------------------------------------
TOL_PRED = dict(rtol=1e-5, atol=1e-6)     # one forward pass at identical weights
TOL_LOSS = dict(rtol=1e-4, atol=1e-6)     # per-step / per-epoch losses and mean metrics of a few epochs
TOL_WEIGHT = dict(rtol=1e-3, atol=1e-5)   # weights after training
TOL_TRAINED = dict(rtol=1e-3, atol=1e-5)  # predictions of trained models
TOL_LONG = dict(rtol=1e-2, atol=1e-4)     # weights after 192 steps of a fan-in-64 model (calibration above)
TOL_EXACT_METRIC = dict(rtol=1e-6, atol=1e-9)  # evaluate at identical weights, no prediction near a threshold
MIN_MOVE = 100 * TOL_WEIGHT["atol"]       # training must move some weight by at least this much
THRESHOLD_MARGIN = 1e-5                   # no CPU prediction this close to a metric threshold (guarded)

N, D, BATCH, EPOCHS = 96, 6, 16, 4        # 6 steps an epoch, 24 steps
ACTS = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "gelu", "softplus", "swish", "softmax"]


def rng(seed=0):
    return np.random.default_rng(seed)


# --- data -----------------------------------------------------------------------------------------------------------
def make_x(n=N, d=D, seed=0):
    return rng(seed).standard_normal((n, d)).astype(np.float32)


def targets(kind, x, seed=1):
    """Targets for each loss: a learnable function of x (a random teacher), so training moves the weights."""
    r = rng(seed)
    n = x.shape[0]
    if kind == "regression":  # 3 outputs
        return (np.tanh(x @ r.standard_normal((x.shape[1], 3))) + 0.1 * r.standard_normal((n, 3))).astype(np.float32)
    if kind == "mae":  # tanh outputs in (-1, 1), targets beyond +-1.5: sign(p - y) = -sign(y) all along
        s = np.sign(x @ r.standard_normal(x.shape[1]) + 1e-3)
        return (s * r.uniform(1.5, 2.5, n))[:, None].astype(np.float32)
    if kind == "binary":
        return (x[:, 0] * x[:, 1] + 0.5 * x[:, 2] > 0).astype(np.float32)[:, None]
    if kind in ("categorical", "sparse"):
        labels = np.argmax(x @ r.standard_normal((x.shape[1], 4)), axis=1)
        return labels.astype(np.float32) if kind == "sparse" else np.eye(4, dtype=np.float32)[labels]
    raise AssertionError(kind)


# --- models ---------------------------------------------------------------------------------------------------------
def mlp(hidden_act="tanh", out=1, out_act="sigmoid", d=D, seed=0, widths=(16, 8)):
    """A layer factory (fresh layer objects for each model; the same names, so get_config() compares)."""
    def make():
        layers = [Dense(widths[0], input_dim=d, activation=hidden_act, name="h0",
                        kernel_initializer=initializers.GlorotUniform(seed=seed))]
        for i, w in enumerate(widths[1:], 1):
            layers.append(Dense(w, activation=hidden_act, name=f"h{i}",
                                kernel_initializer=initializers.GlorotUniform(seed=seed + i)))
        layers.append(Dense(out, activation=out_act, name="out",
                            kernel_initializer=initializers.GlorotUniform(seed=seed + 99),
                            bias_initializer=initializers.RandomUniform(-0.1, 0.1, seed=seed + 100)))
        return layers
    return make


def _compiled(make_layers, device, optimizer, **compile_kw):
    m = Sequential(make_layers(), name="m")
    m.compile(optimizer=optimizer() if callable(optimizer) else optimizer, device=device, **compile_kw)
    return m


def pair(make_layers, optimizer="sgd", **compile_kw):
    """The same model compiled on the CPU and on cuda:0, the CUDA one holding the CPU one's initial weights.
    `optimizer` may be a name or a factory of optimizer objects (one object per model)."""
    cpu = _compiled(make_layers, "cpu", optimizer, **compile_kw)
    gpu = _compiled(make_layers, DEV, optimizer, **compile_kw)
    gpu.set_weights(cpu.get_weights())
    return cpu, gpu


# --- comparisons ----------------------------------------------------------------------------------------------------
THRESHOLD_METRICS = ("accuracy", "auc", "precision", "recall")


def assert_numpy_weights(weights, like):
    assert isinstance(weights, list) and len(weights) == len(like)
    for w, ref in zip(weights, like):
        assert type(w) is np.ndarray, f"get_weights returned {type(w).__name__}, not a NumPy array"
        assert w.dtype == np.float32 and w.shape == ref.shape


def assert_weights_close(got, ref, tol=TOL_WEIGHT):
    assert_numpy_weights(got, ref)
    for i, (g, r) in enumerate(zip(got, ref)):
        np.testing.assert_allclose(g, r, err_msg=f"weight {i}", **tol)


def assert_moved(after, before):
    """Training moved the weights far beyond the tolerance: the comparisons that follow are not vacuous."""
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(after, before))
    assert moved >= MIN_MOVE, f"training moved no weight by more than {moved:.2e}: the test would prove nothing"


def assert_history_close(hg, hc, n_samples):
    """Same keys, same epochs, Python floats; losses and mean metrics to TOL_LOSS, thresholded metrics to
    TOL_COUNT = 2 / samples (docstring)."""
    assert hg.epoch == hc.epoch
    assert sorted(hg.history) == sorted(hc.history)
    for key, ref in hc.history.items():
        got = hg.history[key]
        assert len(got) == len(ref), key
        assert all(type(v) is float for v in got), f"{key}: History values must be Python floats, got {got!r}"
        if any(t in key for t in THRESHOLD_METRICS):
            np.testing.assert_allclose(got, ref, rtol=0, atol=2.0 / n_samples + 1e-7, err_msg=key)
        else:
            np.testing.assert_allclose(got, ref, err_msg=key, **TOL_LOSS)


def assert_values_close(got, ref, tol=TOL_LOSS):
    """evaluate / train_on_batch / test_on_batch results: the same structure and Python types, close values."""
    if isinstance(ref, dict):
        assert isinstance(got, dict) and list(got) == list(ref)
        got, ref = list(got.values()), list(ref.values())
    if isinstance(ref, list):
        assert isinstance(got, list) and len(got) == len(ref)
        assert all(type(v) is float for v in got), got
    else:
        assert type(got) is float and type(ref) is float, (got, ref)
    np.testing.assert_allclose(got, ref, **tol)


class BatchLosses(Callback):
    """Records logs['loss'] after every training batch (the running mean of the epoch, as Keras 3 reports it)."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(logs["loss"]))


# --- runs everywhere: a CUDA device that cannot be used -------------------------------------------------------------

def test_unusable_cuda_device_is_a_runtime_error_and_the_model_stays_usable_on_cpu():
    """Without a usable CUDA device 'cuda' is refused; with one, a device index this machine lacks is. Either way
    the refused compile changes nothing: the model trains on as a twin that never saw it does, bitwise."""
    x, y = make_x(), targets("binary", make_x())
    bad = "cuda" if not GPU else f"cuda:{fastann.cuda.device_count()}"
    m = _compiled(mlp(), "cpu", lambda: optimizers.Adam(0.01), loss="binary_crossentropy")
    twin = _compiled(mlp(), "cpu", lambda: optimizers.Adam(0.01), loss="binary_crossentropy")
    twin.set_weights(m.get_weights())
    m.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    twin.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    with pytest.raises(RuntimeError, match=rf"'{bad}'"):
        m.compile(loss="binary_crossentropy", optimizer=optimizers.Adam(0.01), device=bad)
    # Still compiled with its Adam state on the CPU: the next epoch is the twin's, bit for bit.
    h = m.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    ht = twin.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
    assert h.history == ht.history
    for a, b in zip(m.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict(x, verbose=0), twin.predict(x, verbose=0))
    # An uncompiled model refused a CUDA device can still be compiled for the CPU and trained.
    fresh = Sequential(mlp()(), name="fresh")
    with pytest.raises(RuntimeError, match=rf"'{bad}'"):
        fresh.compile(loss="mse", optimizer="sgd", device=bad)
    fresh.compile(loss="mse", optimizer="sgd", device="cpu")
    assert np.isfinite(fresh.fit(x, y, epochs=1, verbose=0).history["loss"][0])


# --- GPU: device names and errors -----------------------------------------------------------------------------------

@requires_gpu
def test_model_device_is_the_canonical_name():
    x, y = make_x(), targets("binary", make_x())
    for requested, canonical in (("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:0", "cuda:0")):
        m = _compiled(mlp(), requested, "sgd", loss="binary_crossentropy")
        assert m.device == canonical
    # Weights set before compile(device) are kept (bitwise: a copy to the device and back).
    src = _compiled(mlp(seed=5), "cpu", "sgd", loss="binary_crossentropy")
    m = Sequential(mlp()(), name="m")
    m.set_weights(src.get_weights())
    m.compile(loss="binary_crossentropy", optimizer="sgd", device="cuda")
    for a, b in zip(m.get_weights(), src.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Back to the CPU by compiling again: the trained weights come along, bitwise, and predict agrees.
    m.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)
    trained = m.get_weights()
    on_gpu = m.predict(x, verbose=0)
    m.compile(loss="binary_crossentropy", optimizer="sgd", device="cpu")
    assert m.device == "cpu"
    for a, b in zip(m.get_weights(), trained):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(m.predict(x, verbose=0), on_gpu, **TOL_PRED)


@requires_gpu
def test_compile_on_a_missing_device_names_it():
    m = Sequential(mlp()(), name="m")
    for dev in ("cuda:99", f"cuda:{fastann.cuda.device_count()}"):
        with pytest.raises(RuntimeError, match=r"cuda:{}".format(dev.split(":")[1])):
            m.compile(loss="mse", optimizer="sgd", device=dev)


# --- GPU: optimizers x batch order ----------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(learning_rate=0.1),
    "sgd_momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "sgd_nesterov": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(learning_rate=0.01),
    "adamw": lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.05),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.005),
    "rmsprop_centered": lambda: optimizers.RMSprop(learning_rate=0.005, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(learning_rate=0.05),
}
ORDERS = {"unshuffled": dict(shuffle=False), "shuffled_seed7": dict(shuffle=True, seed=7)}


@requires_gpu
@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_optimizer_loss_trajectory(opt, order):
    x = make_x()
    y = targets("binary", x)
    cpu, gpu = pair(mlp(), OPTIMIZERS[opt], loss="binary_crossentropy")
    w0 = cpu.get_weights()
    hc = cpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, **ORDERS[order])
    hg = gpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, **ORDERS[order])
    assert_history_close(hg, hc, N)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(gpu.get_weights(), cpu.get_weights())
    assert gpu.optimizer.iterations == cpu.optimizer.iterations == EPOCHS * N // BATCH
    np.testing.assert_allclose(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), **TOL_TRAINED)


@requires_gpu
def test_shuffled_order_has_teeth():
    """The shuffled and the unshuffled runs part by far more than the tolerance on the CPU, so a CUDA fit that
    ignored `shuffle`/`seed` (or shuffled with another stream) could not pass test_optimizer_loss_trajectory."""
    x = make_x()
    y = targets("binary", x)
    runs = []
    for kw in ({"shuffle": False}, {"shuffle": True, "seed": 7}, {"shuffle": True, "seed": 8}):
        cpu, gpu = pair(mlp(), OPTIMIZERS["adam"], loss="binary_crossentropy")
        hg = gpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, **kw)
        runs.append((hg.history["loss"], gpu.get_weights()))
    for i, j in ((0, 1), (1, 2)):
        assert not np.allclose(runs[i][0][1:], runs[j][0][1:], **TOL_LOSS)
        assert not all(np.allclose(a, b, **TOL_WEIGHT) for a, b in zip(runs[i][1], runs[j][1]))


@requires_gpu
@pytest.mark.parametrize("opt", ["sgd_momentum", "adam", "rmsprop_centered"])
def test_per_batch_losses_follow_the_cpu(opt):
    """Per step, through the opt-in batch hook (the running mean of the epoch's batch losses)."""
    x = make_x()
    y = targets("sparse", x)
    cpu, gpu = pair(mlp(out=4, out_act="softmax"), OPTIMIZERS[opt], loss="sparse_categorical_crossentropy")
    rc, rg = BatchLosses(), BatchLosses()
    cpu.fit(x, y, epochs=3, batch_size=BATCH, shuffle=True, seed=3, verbose=0, callbacks=[rc])
    gpu.fit(x, y, epochs=3, batch_size=BATCH, shuffle=True, seed=3, verbose=0, callbacks=[rg])
    assert len(rc.values) == len(rg.values) == 3 * N // BATCH
    np.testing.assert_allclose(rg.values, rc.values, **TOL_LOSS)


# --- GPU: losses, activations, layers -------------------------------------------------------------------------------

LOSSES = {  # loss -> (output activation, output width, target kind)
    "mse": ("linear", 3, "regression"),
    "mae": ("tanh", 1, "mae"),
    "huber": ("linear", 3, "regression"),
    "binary_crossentropy": ("sigmoid", 1, "binary"),
    "binary_crossentropy_logits": ("linear", 1, "binary"),
    "categorical_crossentropy": ("softmax", 4, "categorical"),
    "categorical_crossentropy_logits": ("linear", 4, "categorical"),
    "sparse_categorical_crossentropy": ("softmax", 4, "sparse"),
    "sparse_categorical_crossentropy_logits": ("linear", 4, "sparse"),
}
LOSS_OBJECTS = {
    "binary_crossentropy_logits": lambda: losses.BinaryCrossentropy(from_logits=True),
    "categorical_crossentropy_logits": lambda: losses.CategoricalCrossentropy(from_logits=True),
    "sparse_categorical_crossentropy_logits": lambda: losses.SparseCategoricalCrossentropy(from_logits=True),
    "huber": lambda: losses.Huber(delta=0.5),
}


@requires_gpu
@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss(loss):
    out_act, width, kind = LOSSES[loss]
    x = make_x()
    y = targets(kind, x)
    cpu = _compiled(mlp(out=width, out_act=out_act), "cpu", OPTIMIZERS["adam"],
                    loss=LOSS_OBJECTS.get(loss, lambda: loss)())
    gpu = _compiled(mlp(out=width, out_act=out_act), DEV, OPTIMIZERS["adam"],
                    loss=LOSS_OBJECTS.get(loss, lambda: loss)())
    gpu.set_weights(cpu.get_weights())
    w0 = cpu.get_weights()
    hc = cpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=1, verbose=0)
    hg = gpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=1, verbose=0)
    if loss == "mae":  # the kink stays out of reach (docstring)
        assert np.all(np.sign(cpu.predict(x, verbose=0) - y) == -np.sign(y))
    assert_history_close(hg, hc, N)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(gpu.get_weights(), cpu.get_weights())
    np.testing.assert_allclose(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), **TOL_TRAINED)
    assert_values_close(gpu.evaluate(x, y, verbose=0), cpu.evaluate(x, y, verbose=0))


@requires_gpu
@pytest.mark.parametrize("act", ACTS)
def test_every_hidden_activation(act):
    x = make_x()
    y = targets("regression", x)
    cpu, gpu = pair(mlp(hidden_act=act, out=3, out_act="linear"), OPTIMIZERS["sgd_momentum"], loss="mse")
    w0 = cpu.get_weights()
    hc = cpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    hg = gpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    assert_history_close(hg, hc, N)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(gpu.get_weights(), cpu.get_weights())
    np.testing.assert_allclose(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), **TOL_TRAINED)


def _regularized(dropout_seed=42):
    """Dense with L2/L1/L1L2 (kernel, bias, activity) -> BatchNormalization -> Dropout -> Dense -> Dropout -> out."""
    def make():
        return [Dense(16, input_dim=D, activation="tanh", name="h0",
                      kernel_initializer=initializers.GlorotUniform(seed=0),
                      kernel_regularizer=regularizers.L2(1e-2), bias_regularizer=regularizers.L1(1e-2),
                      activity_regularizer=regularizers.L1L2(l1=1e-3, l2=1e-3)),
                BatchNormalization(momentum=0.9, name="bn"),
                Dropout(0.3, seed=dropout_seed, name="drop0"),
                Dense(8, activation="elu", name="h1", kernel_initializer=initializers.GlorotUniform(seed=1),
                      kernel_regularizer=regularizers.L1L2(l1=1e-3, l2=1e-2)),
                Dropout(0.2, seed=dropout_seed + 1, name="drop1"),
                Dense(1, activation="sigmoid", name="out", kernel_initializer=initializers.GlorotUniform(seed=2))]
    return make


@requires_gpu
def test_dropout_batchnorm_and_regularizers():
    """Same dropout seed -> the same counter-based masks on both devices -> the same trajectory; BN's moving
    statistics (in get_weights) and inference-mode predict/evaluate agree; the regularization terms are in the loss."""
    x = make_x()
    y = targets("binary", x)
    cpu, gpu = pair(_regularized(), OPTIMIZERS["adam"], loss="binary_crossentropy", metrics=["accuracy"])
    w0 = cpu.get_weights()
    hc = cpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=2, verbose=0)
    hg = gpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=2, verbose=0)
    assert_history_close(hg, hc, N)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(gpu.get_weights(), cpu.get_weights())  # includes BN's moving_mean / moving_variance
    np.testing.assert_allclose(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), **TOL_TRAINED)
    assert_values_close(gpu.evaluate(x, y, verbose=0)[0], cpu.evaluate(x, y, verbose=0)[0])
    # train_on_batch goes through dropout too (the masks advance with the step on both devices).
    for i in range(3):
        sl = slice(10 * i, 10 * i + 13)
        assert_values_close(gpu.train_on_batch(x[sl], y[sl]), cpu.train_on_batch(x[sl], y[sl]))
    # Teeth: other dropout seeds give another trajectory, far outside the tolerance.
    other = _compiled(_regularized(dropout_seed=7), "cpu", OPTIMIZERS["adam"], loss="binary_crossentropy",
                      metrics=["accuracy"])
    other.set_weights(w0)
    ho = other.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=2, verbose=0)
    assert not np.allclose(ho.history["loss"], hc.history["loss"], **TOL_LOSS)


# --- GPU: sample / class weights, validation, metrics ---------------------------------------------------------------

@requires_gpu
def test_sample_weight_class_weight_and_weighted_validation():
    x = make_x()
    xv = make_x(40, seed=9)
    # sample_weight, regression, validation_data with weights
    y, yv = targets("regression", x), targets("regression", xv)
    sw, vw = rng(3).uniform(0, 2, N).astype(np.float32), rng(4).uniform(0, 2, 40).astype(np.float32)
    cpu, gpu = pair(mlp(out=3, out_act="linear"), OPTIMIZERS["adam"], loss="mse", weighted_metrics=["mae"])
    w0 = cpu.get_weights()
    kw = dict(epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=4, verbose=0, sample_weight=sw,
              validation_data=(xv, yv, vw))
    hc, hg = cpu.fit(x, y, **kw), gpu.fit(x, y, **kw)
    assert "val_loss" in hc.history
    assert_history_close(hg, hc, N)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(gpu.get_weights(), cpu.get_weights())
    assert_values_close(gpu.evaluate(xv, yv, sample_weight=vw, verbose=0),
                        cpu.evaluate(xv, yv, sample_weight=vw, verbose=0))
    # class_weight, sparse classification
    y, yv = targets("sparse", x), targets("sparse", xv)
    cw = {0: 1.0, 1: 3.0, 2: 0.5}  # class 3 weighs 1
    cpu, gpu = pair(mlp(out=4, out_act="softmax"), OPTIMIZERS["rmsprop"], loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    w0 = cpu.get_weights()
    kw = dict(epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0, class_weight=cw, validation_data=(xv, yv))
    hc, hg = cpu.fit(x, y, **kw), gpu.fit(x, y, **kw)
    assert_history_close(hg, hc, N)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(gpu.get_weights(), cpu.get_weights())
    # Teeth: without the class weights the trajectory is another one.
    plain = _compiled(mlp(out=4, out_act="softmax"), "cpu", OPTIMIZERS["rmsprop"],
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plain.set_weights(w0)
    hp = plain.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    assert not np.allclose(hp.history["loss"], hc.history["loss"], **TOL_LOSS)


@requires_gpu
def test_validation_split():
    x = make_x(120)
    y = targets("categorical", x)
    cpu, gpu = pair(mlp(out=4, out_act="softmax"), OPTIMIZERS["sgd_nesterov"], loss="categorical_crossentropy",
                    metrics=["accuracy", TopKCategoricalAccuracy(k=2)])
    kw = dict(epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=5, verbose=0, validation_split=0.25)
    hc, hg = cpu.fit(x, y, **kw), gpu.fit(x, y, **kw)
    assert {"val_loss", "val_accuracy"} <= set(hc.history)
    assert_history_close(hg, hc, 30)  # thresholded validation metrics count 30 samples
    assert_weights_close(gpu.get_weights(), cpu.get_weights())


def _guard_thresholds(p, thresholds):
    """No CPU prediction within THRESHOLD_MARGIN of a threshold, so rounding cannot move a count (docstring)."""
    gap = np.min(np.abs(p.reshape(-1, 1) - np.asarray(thresholds).reshape(1, -1)))
    assert gap > THRESHOLD_MARGIN, (f"a prediction lies {gap:.1e} from a metric threshold: pick other data so "
                                    "that the exact comparison is meaningful")


@requires_gpu
def test_metrics_in_fit_and_exactly_in_evaluate():
    x = make_x(256)
    y = targets("binary", x)
    xv = make_x(64, seed=11)
    yv = targets("binary", xv)
    metrics = ["accuracy", AUC(num_thresholds=11, name="auc11"), AUC(), Precision(), Recall(), "mse"]
    cpu, gpu = pair(mlp(), OPTIMIZERS["adam"], loss="binary_crossentropy", metrics=metrics,
                    weighted_metrics=["accuracy"])
    sw = rng(6).uniform(0.5, 1.5, 256).astype(np.float32)
    kw = dict(epochs=3, batch_size=32, shuffle=True, seed=9, verbose=0, sample_weight=sw, validation_data=(xv, yv))
    hc, hg = cpu.fit(x, y, **kw), gpu.fit(x, y, **kw)
    assert {"auc11", "auc", "precision", "recall", "weighted_accuracy", "val_auc"} <= set(hc.history)
    assert_history_close(hg, hc, 64)  # the coarser count: 2 / 64 (validation) covers 2 / 256 (training)
    # At identical weights: the counts are the same, so every metric agrees to double rounding.
    gpu.set_weights(cpu.get_weights())
    p = cpu.predict(x, verbose=0)
    _guard_thresholds(p, [0.5] + [k / 10 for k in range(1, 10)])  # accuracy/precision/recall at 0.5, auc11 at k/10
    rc = cpu.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    rg = gpu.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    assert list(rg) == list(rc) == gpu.metrics_names
    for key in rc:
        if key == "auc":  # 200 thresholds: not guarded, one sample may cross one of them
            assert rg[key] == pytest.approx(rc[key], abs=2.0 / float(min(y.sum(), (1 - y).sum())))
        elif key == "loss" or key == "mse":
            assert rg[key] == pytest.approx(rc[key], rel=TOL_PRED["rtol"] * 10, abs=TOL_PRED["atol"])
        else:
            assert rg[key] == pytest.approx(rc[key], rel=TOL_EXACT_METRIC["rtol"], abs=TOL_EXACT_METRIC["atol"]), key


# --- GPU: predict / evaluate / train_on_batch / test_on_batch -------------------------------------------------------

@requires_gpu
@pytest.mark.parametrize("n", [1, 3, 1000])
@pytest.mark.parametrize("batch_size", [None, 7, 32])
def test_predict_returns_float32_numpy_equal_to_the_cpu(n, batch_size):
    cpu, gpu = pair(mlp(hidden_act="relu", out=4, out_act="softmax"), "adam", loss="categorical_crossentropy")
    x = make_x(n, seed=n)
    pg = gpu.predict(x, batch_size=batch_size, verbose=0)
    pc = cpu.predict(x, batch_size=batch_size, verbose=0)
    assert type(pg) is np.ndarray and pg.dtype == np.float32 and pg.shape == (n, 4)
    np.testing.assert_allclose(pg, pc, **TOL_PRED)
    np.testing.assert_allclose(pg.sum(axis=1), 1.0, rtol=1e-5)
    # The same rows give the same outputs however the batches are cut (one kernel per row block, no reduction
    # across rows).
    np.testing.assert_allclose(gpu.predict(x, batch_size=1000, verbose=0), pg, **TOL_PRED)
    np.testing.assert_allclose(gpu.predict_on_batch(x), pc, **TOL_PRED)


@requires_gpu
@pytest.mark.parametrize("batch_size", [None, 7, 1000])
def test_evaluate_equals_the_cpu(batch_size):
    x = make_x(1000, seed=2)
    y = targets("regression", x)
    cpu, gpu = pair(mlp(hidden_act="gelu", out=3, out_act="linear"), "adam", loss="huber", metrics=["mae", "mse"])
    sw = rng(8).uniform(0, 2, 1000).astype(np.float32)
    for kw in ({}, {"sample_weight": sw}):
        assert_values_close(gpu.evaluate(x, y, batch_size=batch_size, verbose=0, **kw),
                            cpu.evaluate(x, y, batch_size=batch_size, verbose=0, **kw), tol=TOL_PRED)
        assert_values_close(gpu.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True, **kw),
                            cpu.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True, **kw),
                            tol=TOL_PRED)
    # A loss-only model returns a float, as on the CPU.
    cpu, gpu = pair(mlp(out=3, out_act="linear"), "sgd", loss="mse")
    assert_values_close(gpu.evaluate(x, y, verbose=0), cpu.evaluate(x, y, verbose=0), tol=TOL_PRED)


@requires_gpu
def test_train_on_batch_and_test_on_batch():
    x = make_x(200)
    y = targets("binary", x)
    cpu, gpu = pair(mlp(), OPTIMIZERS["adamw"], loss="binary_crossentropy", metrics=["accuracy"])
    w0 = cpu.get_weights()
    sizes = [16, 16, 5, 1, 33, 16, 64, 3, 16, 30]  # batch sizes that change from call to call
    start = 0
    for step, size in enumerate(sizes):
        sl = slice(start, start + size)
        start += size
        kw = {"sample_weight": rng(step).uniform(0, 2, size).astype(np.float32)} if step % 3 == 1 else {}
        if step % 3 == 2:
            kw = {"class_weight": {0: 0.5, 1: 2.0}}
        rc = cpu.train_on_batch(x[sl], y[sl], **kw)
        rg = gpu.train_on_batch(x[sl], y[sl], **kw)
        np.testing.assert_allclose(rg[0], rc[0], **TOL_LOSS)  # the loss before the update
        assert type(rg[0]) is float and isinstance(rg, list) and len(rg) == len(rc)
        tc = cpu.test_on_batch(x[sl], y[sl])
        tg = gpu.test_on_batch(x[sl], y[sl])
        np.testing.assert_allclose(tg[0], tc[0], **TOL_LOSS)
    assert gpu.optimizer.iterations == cpu.optimizer.iterations == len(sizes)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(gpu.get_weights(), cpu.get_weights())
    d = gpu.test_on_batch(x[:50], y[:50], return_dict=True)
    assert list(d) == cpu.metrics_names and all(type(v) is float for v in d.values())
    # Loss-only: a float, as on the CPU.
    cpu, gpu = pair(mlp(out=3, out_act="linear"), "sgd", loss="mse")
    yr = targets("regression", x)
    assert_values_close(gpu.train_on_batch(x[:20], yr[:20]), cpu.train_on_batch(x[:20], yr[:20]))
    assert_values_close(gpu.test_on_batch(x[:20], yr[:20]), cpu.test_on_batch(x[:20], yr[:20]))


@requires_gpu
def test_get_and_set_weights_are_numpy_round_trips():
    cpu, gpu = pair(_regularized(), "adam", loss="binary_crossentropy")
    w = [rng(i).standard_normal(a.shape).astype(np.float32) for i, a in enumerate(cpu.get_weights())]
    w[5] = np.abs(w[5]) + 0.1  # BN's moving variance (h0 kernel, bias, gamma, beta, moving mean, moving variance)
    gpu.set_weights(w)
    got = gpu.get_weights()
    assert_numpy_weights(got, w)
    for a, b in zip(got, w):
        np.testing.assert_array_equal(a, b)
        assert a.flags["C_CONTIGUOUS"] and a.flags["WRITEABLE"]
    got[0][...] = 0  # a copy, not a view of device memory
    np.testing.assert_array_equal(gpu.get_weights()[0], w[0])
    # Per-layer weights too.
    np.testing.assert_array_equal(gpu.layers[0].get_weights()[0], w[0])
    assert gpu.get_config() == cpu.get_config()


# --- GPU: the model file --------------------------------------------------------------------------------------------

@requires_gpu
def test_save_and_load_a_cuda_trained_model(tmp_path):
    x = make_x()
    y = targets("categorical", x)
    cpu, gpu = pair(_regularized_categorical(), OPTIMIZERS["adam"], loss="categorical_crossentropy",
                    metrics=["accuracy"])
    gpu.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, seed=1, verbose=0)
    gpu.save(tmp_path / "gpu.fastann")
    loaded = load_model(tmp_path / "gpu.fastann")
    assert loaded.device == "cpu"
    for a, b in zip(loaded.get_weights(), gpu.get_weights()):
        np.testing.assert_array_equal(a, b)  # the file holds the device's weights, bit for bit
    np.testing.assert_allclose(loaded.predict(x, verbose=0), gpu.predict(x, verbose=0), **TOL_PRED)
    assert loaded.get_config() == gpu.get_config()
    assert loaded.optimizer.iterations == gpu.optimizer.iterations == EPOCHS * N // BATCH
    assert_values_close(loaded.evaluate(x, y, verbose=0), gpu.evaluate(x, y, verbose=0), tol=TOL_PRED)


def _regularized_categorical():
    def make():
        return [Dense(16, input_dim=D, activation="relu", name="h0", kernel_initializer=initializers.HeNormal(seed=3),
                      kernel_regularizer=regularizers.L2(1e-3)),
                BatchNormalization(name="bn"), Dropout(0.25, seed=5, name="drop"),
                Dense(4, activation="softmax", name="out", kernel_initializer=initializers.GlorotUniform(seed=4))]
    return make


@requires_gpu
@pytest.mark.parametrize("opt", ["adam", "rmsprop_centered", "sgd_nesterov", "adagrad"])
def test_optimizer_state_survives_save_and_load(tmp_path, opt):
    """fit 2 epochs on CUDA, save, load (a CPU model), compile it for CUDA again with its own optimizer, fit 2 more
    == fit 4 epochs on CUDA. Same device and kernels on both sides: bitwise."""
    x = make_x()
    y = targets("binary", x)
    a = _compiled(mlp(), DEV, OPTIMIZERS[opt], loss="binary_crossentropy", metrics=["accuracy"])
    b = _compiled(mlp(), DEV, OPTIMIZERS[opt], loss="binary_crossentropy", metrics=["accuracy"])
    b.set_weights(a.get_weights())
    a.fit(x, y, epochs=4, batch_size=BATCH, shuffle=False, verbose=0)
    b.fit(x, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
    b.save(tmp_path / "b.fastann")
    c = load_model(tmp_path / "b.fastann")
    assert c.device == "cpu" and c.optimizer.iterations == 2 * N // BATCH
    c.compile(optimizer=c.optimizer, loss=c.loss, metrics=c.compiled_metrics, device=DEV)
    assert c.device == DEV
    assert c.optimizer.iterations == 2 * N // BATCH, "compile(device=...) with the model's own optimizer dropped " \
                                                     "its state"
    c.fit(x, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
    assert c.optimizer.iterations == a.optimizer.iterations == 4 * N // BATCH
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wc)


# --- GPU: the dataset on the device or streamed ---------------------------------------------------------------------

@pytest.fixture
def dataset_limit():
    """Sets fastann.cuda.set_dataset_memory_limit for one test and restores the automatic limit afterwards."""
    before = fastann.cuda.dataset_memory_limit()
    assert before is None, "another test left a dataset memory limit set"
    try:
        yield fastann.cuda.set_dataset_memory_limit
    finally:
        fastann.cuda.set_dataset_memory_limit(None)
    assert fastann.cuda.dataset_memory_limit() is None


@requires_gpu
@pytest.mark.parametrize("limit", ["zero", "below_the_dataset"])
def test_streamed_dataset_equals_the_resident_one(dataset_limit, limit):
    """The same fit with the dataset resident on the device (the automatic limit: it is tiny) and streamed through
    pinned host buffers: same kernels, same batches in the same order -> bitwise the same; and both follow the CPU."""
    x = make_x(300)
    y = targets("sparse", x)
    xv = make_x(50, seed=12)
    yv = targets("sparse", xv)
    sw = rng(13).uniform(0, 2, 300).astype(np.float32)
    vw = rng(14).uniform(0, 2, 50).astype(np.float32)
    make = mlp(out=4, out_act="softmax")
    kw = dict(epochs=3, batch_size=32, shuffle=True, seed=9, verbose=0, sample_weight=sw,
              validation_data=(xv, yv, vw))
    compile_kw = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cpu, resident = pair(make, OPTIMIZERS["adam"], **compile_kw)
    streamed = _compiled(make, DEV, OPTIMIZERS["adam"], **compile_kw)
    streamed.set_weights(cpu.get_weights())
    w0 = cpu.get_weights()
    hc = cpu.fit(x, y, **kw)
    hr = resident.fit(x, y, **kw)
    nbytes = 0 if limit == "zero" else (x.nbytes + y.nbytes) // 2
    dataset_limit(nbytes)
    assert fastann.cuda.dataset_memory_limit() == nbytes
    hs = streamed.fit(x, y, **kw)
    assert hs.history == hr.history
    for a, b in zip(streamed.get_weights(), resident.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert_history_close(hs, hc, 50)
    assert_moved(cpu.get_weights(), w0)
    assert_weights_close(streamed.get_weights(), cpu.get_weights())
    # evaluate and predict under the limit as well
    np.testing.assert_array_equal(streamed.predict(x, verbose=0), resident.predict(x, verbose=0))
    assert streamed.evaluate(x, y, verbose=0) == resident.evaluate(x, y, verbose=0)


@requires_gpu
def test_dataset_memory_limit_setting():
    assert fastann.cuda.dataset_memory_limit() is None  # automatic by default
    try:
        fastann.cuda.set_dataset_memory_limit(12345)
        assert fastann.cuda.dataset_memory_limit() == 12345
        fastann.cuda.set_dataset_memory_limit(0)
        assert fastann.cuda.dataset_memory_limit() == 0
    finally:
        fastann.cuda.set_dataset_memory_limit(None)
    assert fastann.cuda.dataset_memory_limit() is None


# --- GPU: allocator, concurrency ------------------------------------------------------------------------------------

@requires_gpu
def test_training_steps_allocate_nothing_in_the_steady_state():
    x = make_x(512, d=20)
    y = targets("sparse", x)
    m = _compiled(mlp(hidden_act="relu", out=4, out_act="softmax", d=20, widths=(64, 32)), DEV, "adam",
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=1, batch_size=64, verbose=0)  # warm-up epoch
    for _ in range(5):  # warm-up of the train_on_batch path (its batch-sized buffers)
        m.train_on_batch(x[:64], y[:64])
    fastann.cuda.synchronize(0)
    before = fastann.cuda.memory_stats(0)
    losses_seen = []
    for i in range(1000):
        start = (64 * i) % 448
        losses_seen.append(m.train_on_batch(x[start:start + 64], y[start:start + 64])[0])
    fastann.cuda.synchronize(0)
    after = fastann.cuda.memory_stats(0)
    assert np.all(np.isfinite(losses_seen)) and losses_seen[-1] < losses_seen[0]  # it did train
    assert after["device_allocs"] == before["device_allocs"], (before, after)
    assert after["reserved_bytes"] == before["reserved_bytes"], (before, after)
    assert after["allocated_bytes"] == before["allocated_bytes"], (before, after)
    assert after["peak_allocated_bytes"] >= after["allocated_bytes"]


@requires_gpu
def test_two_models_train_concurrently_like_they_train_alone():
    """Each model has its own stream: two fits in two Python threads give, bitwise, the weights each gives alone
    (same device, same kernels, same batches: only the interleaving differs, so any difference is shared state)."""
    x = make_x(2048, d=20)
    y = targets("binary", x)
    # smooth activations: the CPU comparison below runs 192 steps of 2048 rows, where relu kinks would start to count
    makes = [mlp(hidden_act="tanh", d=20, seed=10, widths=(64, 32)), mlp(hidden_act="elu", d=20, seed=20,
                                                                          widths=(48, 24))]
    kw = dict(epochs=3, batch_size=32, shuffle=True, seed=5, verbose=0)
    cpus = [_compiled(mk, "cpu", OPTIMIZERS["adam"], loss="binary_crossentropy") for mk in makes]
    alone = [_compiled(mk, DEV, OPTIMIZERS["adam"], loss="binary_crossentropy") for mk in makes]
    together = [_compiled(mk, DEV, OPTIMIZERS["adam"], loss="binary_crossentropy") for mk in makes]
    for c, a, t in zip(cpus, alone, together):
        a.set_weights(c.get_weights())
        t.set_weights(c.get_weights())
        a.fit(x, y, **kw)
    errors = []

    def run(m):
        try:
            m.fit(x, y, **kw)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(m,)) for m in together]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    for c, a, t in zip(cpus, alone, together):
        for wa, wt in zip(a.get_weights(), t.get_weights()):
            np.testing.assert_array_equal(wt, wa)
        # and alone they followed the CPU (192 steps of a fan-in-64 model: TOL_LONG, see the docstring)
        w0 = c.get_weights()
        c.fit(x, y, **kw)
        assert_moved(c.get_weights(), w0)
        assert_weights_close(a.get_weights(), c.get_weights(), tol=TOL_LONG)


# --- a loss that goes non-finite -----------------------------------------------------------------------------------

@requires_gpu
@pytest.mark.parametrize("per_batch_hook", [False, True])
def test_nonfinite_loss_on_cuda_names_the_exact_batch(per_batch_hook, capsys):
    """On CUDA the loss sum stays on the device between reads (every 32 steps, or wherever logs are needed), so
    TerminateOnNaN may hear of a non-finite loss some batches late; the batch it names must still be the first bad
    one, as on the CPU. Batch 40 of 64 (not a read point of its own) carries an infinite input."""
    from fastann.callbacks import LambdaCallback, TerminateOnNaN

    x = make_x(64 * 4)
    y = targets("binary", x)
    x[40 * 4 + 1] = np.inf
    fastann.set_check_finite(False)
    try:
        for device in ("cpu", DEV):
            m = _compiled(mlp(), device, "sgd", loss="binary_crossentropy")
            cbs = [TerminateOnNaN()]
            if per_batch_hook:
                cbs.insert(0, LambdaCallback(on_train_batch_end=lambda b, logs: None))
            h = m.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0, callbacks=cbs)
            assert capsys.readouterr().out == "Batch 40: Invalid loss, terminating training\n", device
            assert h.epoch == [0] and not np.isfinite(h.history["loss"][0])
            # With a per-batch hook the loss is read every batch: training stops right there, as on the CPU.
            # Without one, CUDA stops at the next read point (batch 63, the 32-step read), CPU at batch 40.
            expected = 41 if (device == "cpu" or per_batch_hook) else 64
            assert m.optimizer.iterations == expected, device
    finally:
        fastann.set_check_finite(True)
