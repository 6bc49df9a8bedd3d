"""Whole training runs against a float64 PyTorch reference (DESIGN.md, "How correctness is shown").

For every optimizer configuration x every loss, a small 2-hidden-layer MLP is trained for 52 steps with
`train_on_batch`, starting from the same weights on the same batches as a float64 reference. The reference computes the
forward pass and the loss with torch (float64) and its gradients with torch autograd, then applies *Keras's* update
rules (written out below in float64; torch.optim is not used because its Adam/RMSprop/Adagrad differ from Keras in where
epsilon goes and in the Adagrad initial accumulator). Per-step losses and final weights must agree to float32 accuracy.

`fit(shuffle=False)` is then checked against the same `train_on_batch` sequence: identical final weights (bitwise; the
same kernels run on the same batches in the same order) and History losses equal to the sample-weighted mean of each
epoch's per-batch losses.

Tolerances (TOL_* below), for losses of size 0.05-3.5 and weights of size <= ~2, with u = 2^-24 ~ 6e-8:
  1. Rounding inside one step: every activation is a dot product of fan-in <= 12, off by <~ fan-in * u relative; through
     three layers a step's loss is off by ~1e-7..1e-6, its gradient by ~1e-6 relative (more where it cancels).
  2. That rounding fed back through 52 steps of training: each step moves a weight by <= ~0.05 and is off by the
     gradient's relative error, so the weights drift by O(1e-6). Measured with a float32 twin of the reference (the
     same rules evaluated in torch/NumPy float32: an independent float32 implementation), over the whole grid:
     <= 6e-7 on the losses, <= 2.2e-6 on the weights (test_tolerances_are_calibrated keeps it <= 1/5 of the tolerance).
  3. Hyper-parameters: fastann forms 1 - beta_1, 1 - beta_2, 1 - rho and the decay factor 1 - lr*wd in double and
     rounds each once to float32 (as Keras's Python-float arithmetic does), adding <= u relative per step: below 2.
  Bound: ~2.2e-6 on weights, ~6e-7 on losses -> weights atol 1.2e-5, losses atol 4e-6 (>= 5x the measured float32
  twin; rtol covers relative rounding of O(1) values over 52 steps). The loss moves by ~|dL/dw| * |dw| ~ the weight
  error. Every weight error above is a bound on the *largest* component; typical ones are 10x smaller.
  These tolerances have teeth (test_tolerances_reject_near_miss_update_rules): PyTorch's Adam epsilon placement lands
  ~200x the tolerance away after 52 steps, RMSprop with epsilon outside the sqrt ~300x, AdamW's decay coupled into the
  gradient ~10^4 x, an Adagrad accumulator starting at 0 ~7000x; and each case asserts that training moved the weights
  by >= 100x the tolerance, so no comparison is vacuous.
  Kinks: mae's sign(p - y) is kept constant by construction (tanh outputs, targets beyond +-1.5; asserted), Keras's
  probability clip is kept out of reach (asserted), and relu/leaky_relu/huber kinks would need an activation within
  ~1e-6 of the kink to matter.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch (CPU) is the float64 reference for the training-parity tests")
F = torch.nn.functional

import fastann  # noqa: E402
from fastann import optimizers  # noqa: E402
from fastann.layers import Activation, Dense  # noqa: E402
from fastann.models import Sequential  # noqa: E402

# --- tolerances (justified in the module docstring) ----------------------------------------------------------------
TOL_LOSS = dict(rtol=5e-6, atol=4e-6)    # per-step losses, all 52 steps
TOL_WEIGHT = dict(rtol=3e-6, atol=1.2e-5)  # final weights (all are O(1): atol dominates)
MIN_MOVE = 100 * TOL_WEIGHT["atol"]      # training must move some weight by at least this much

N_SAMPLES = 60        # 4 batches per epoch: 16, 16, 16 and a partial 12
BATCH = 16
STEPS = 52            # 13 epochs
N_IN = 6


@pytest.fixture(autouse=True, scope="module")
def _torch_single_thread():
    """The reference's tensors are tiny: torch's intra-op threads only contend with fastann's pool for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- the float64 reference ----------------------------------------------------------------------------------------
def _act(name):
    return {
        "linear": lambda z: z,
        "relu": F.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "elu": F.elu,                                     # alpha = 1
        "selu": F.selu,
        "gelu": lambda z: F.gelu(z, approximate="none"),  # exact erf form, as fastann
        "softplus": F.softplus,
        "swish": F.silu,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.2),     # Keras 3 default negative_slope
        "softmax": lambda z: torch.softmax(z, dim=-1),
        "softsign": F.softsign,
        "hard_sigmoid": F.hardsigmoid,                    # relu6(x + 3) / 6, as Keras 3
        "mish": F.mish,
        "exponential": torch.exp,
        "hard_silu": F.hardswish,                         # x * relu6(x + 3) / 6
    }[name]


FUSED = {("binary_crossentropy", "sigmoid"), ("categorical_crossentropy", "softmax"),
         ("sparse_categorical_crossentropy", "softmax")}


def _loss_value(loss, out_act, z, y, from_logits=False):
    """Batch-mean Keras loss from the final pre-activation z. Cross-entropy after the matching sigmoid/softmax (or with
    from_logits) is the log-sum-exp form; otherwise the loss reads the outputs p = out_act(z)."""
    if from_logits or (loss, out_act) in FUSED:
        assert out_act == "linear" or not from_logits
        if loss == "binary_crossentropy":
            return F.binary_cross_entropy_with_logits(z, y, reduction="none").mean(-1).mean()
        if loss == "categorical_crossentropy":
            return -(y * F.log_softmax(z, dim=-1)).sum(-1).mean()
        if loss == "sparse_categorical_crossentropy":
            return F.cross_entropy(z, y.long())
        raise AssertionError(loss)
    p = _act(out_act)(z)
    e = p - y
    if loss in ("binary_crossentropy", "categorical_crossentropy"):
        # Keras clips probabilities to [1e-7, 1 - 1e-7]; stay well inside so the clip (a kink) never matters.
        pd = p.detach()
        assert 1e-5 < float(pd.min()) and float(pd.max()) < 1 - 1e-5, "probabilities too close to 0 or 1"
    if loss == "mean_squared_error":
        per = e * e
    elif loss == "mean_absolute_error":
        per = e.abs()
    elif loss == "huber":  # delta = 1
        a = e.abs()
        per = torch.where(a <= 1.0, 0.5 * e * e, a - 0.5)
    elif loss == "binary_crossentropy":  # on probabilities
        per = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    elif loss == "categorical_crossentropy":  # on probabilities, normalised to sum 1 as Keras does
        return -(y * torch.log(p / p.sum(-1, keepdim=True))).sum(-1).mean()
    else:
        raise AssertionError(loss)
    return per.mean(-1).mean()


class KerasRule:
    """Keras 3 optimizer update rules, in place on a list of NumPy arrays (t is 1-based). The arithmetic runs in the
    arrays' dtype: float64 for the reference, float32 for the calibration twin (see test_tolerances_are_calibrated)."""

    def __init__(self, kind, weights, **hp):
        self.kind, self.hp, self.t = kind, hp, 0
        self.s1 = [np.zeros_like(w) for w in weights]
        self.s2 = [np.zeros_like(w) for w in weights]
        self.s3 = [np.zeros_like(w) for w in weights]
        if kind == "adagrad":
            self.s1 = [np.full_like(w, hp.get("initial_accumulator_value", 0.1)) for w in weights]

    def step(self, ws, gs):
        self.t += 1
        hp, t = self.hp, self.t
        for i, (w, g) in enumerate(zip(ws, gs)):
            f = w.dtype.type  # scalars in the arrays' precision
            lr = f(hp["learning_rate"])
            if self.kind == "sgd":
                mu = f(hp.get("momentum", 0.0))
                if mu == 0:
                    w -= lr * g
                else:
                    m = mu * self.s1[i] - lr * g
                    self.s1[i] = m
                    w += (mu * m - lr * g) if hp.get("nesterov", False) else m
            elif self.kind in ("adam", "adamw"):
                b1, b2, eps = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999), f(hp.get("epsilon", 1e-7))
                if self.kind == "adamw":
                    w -= lr * f(hp.get("weight_decay", 0.004)) * w
                self.s1[i] += (g - self.s1[i]) * f(1 - b1)
                self.s2[i] += (g * g - self.s2[i]) * f(1 - b2)
                alpha = f(hp["learning_rate"] * np.sqrt(1 - b2 ** t) / (1 - b1 ** t))
                w -= alpha * self.s1[i] / (np.sqrt(self.s2[i]) + eps)
            elif self.kind == "rmsprop":
                rho, mom, eps = hp.get("rho", 0.9), f(hp.get("momentum", 0.0)), f(hp.get("epsilon", 1e-7))
                self.s1[i] = f(rho) * self.s1[i] + f(1 - rho) * g * g
                den = self.s1[i]
                if hp.get("centered", False):
                    self.s3[i] = f(rho) * self.s3[i] + f(1 - rho) * g
                    den = den - self.s3[i] ** 2
                inc = lr * g / np.sqrt(den + eps)
                if mom > 0:
                    self.s2[i] = mom * self.s2[i] + inc
                    w -= self.s2[i]
                else:
                    w -= inc
            elif self.kind == "adagrad":
                self.s1[i] += g * g
                w -= lr * g / np.sqrt(self.s1[i] + f(hp.get("epsilon", 1e-7)))
            else:
                raise AssertionError(self.kind)


def forward_loss(spec, params, xb, yb, dtype):
    """The model's batch loss as a torch scalar; also returns the final outputs (after the output activation)."""
    acts = spec["acts"]
    h = torch.tensor(xb, dtype=dtype)
    for k, act in enumerate(acts):
        z = h @ params[2 * k] + params[2 * k + 1]
        h = _act(act)(z) if k + 1 < len(acts) else z
    yt = torch.tensor(yb, dtype=dtype)
    loss = _loss_value(spec["loss"], acts[-1], h, yt, spec.get("from_logits", False))
    return loss, _act(acts[-1])(h.detach()), yt


def reference_run(spec, weights0, batches, opt_kind, opt_hp, dtype=torch.float64, rule=KerasRule):
    """Per-step losses (each before its update), final weights, and the smallest |output - target| seen (for mae)."""
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    ws = [np.array(w, dtype=np_dtype) for w in weights0]
    rule = rule(opt_kind, ws, **opt_hp)
    losses, min_gap = [], np.inf
    for xb, yb in batches:
        params = [torch.tensor(w, dtype=dtype, requires_grad=True) for w in ws]
        loss, out, yt = forward_loss(spec, params, xb, yb, dtype)
        if spec["loss"] == "mean_absolute_error":
            min_gap = min(min_gap, float((out - yt).abs().min()))
        grads = torch.autograd.grad(loss, params)
        losses.append(float(loss.detach()))
        rule.step(ws, [g.numpy() for g in grads])
    return np.array(losses), ws, min_gap


# --- problems -----------------------------------------------------------------------------------------------------
# Each loss gets its output activation and targets; the hidden activations rotate through fastann's activation list
# across the grid, so every activation's backward pass runs under several optimizers and losses.
LOSSES = {
    "mse": dict(loss="mean_squared_error", out="linear", n_out=3),
    "mae": dict(loss="mean_absolute_error", out="tanh", n_out=3),
    "huber": dict(loss="huber", out="linear", n_out=3),
    "bce": dict(loss="binary_crossentropy", out="sigmoid", n_out=2),
    "cce": dict(loss="categorical_crossentropy", out="softmax", n_out=4),
    "scce": dict(loss="sparse_categorical_crossentropy", out="softmax", n_out=4),
}

# Learning rates chosen so that 52 steps move the weights by 0.1-1 (far beyond the tolerances) without instability.
OPTIMIZERS = {
    "sgd": ("sgd", dict(learning_rate=0.05)),
    "sgd_momentum": ("sgd", dict(learning_rate=0.02, momentum=0.9)),
    "sgd_nesterov": ("sgd", dict(learning_rate=0.02, momentum=0.9, nesterov=True)),
    "adam": ("adam", dict(learning_rate=0.01)),
    "adamw": ("adamw", dict(learning_rate=0.01, weight_decay=0.05)),  # lr*wd = 5e-4/step: the decay is visible
    "rmsprop": ("rmsprop", dict(learning_rate=0.005)),
    "rmsprop_momentum_centered": ("rmsprop", dict(learning_rate=0.002, momentum=0.9, centered=True)),
    "adagrad": ("adagrad", dict(learning_rate=0.05)),
}

HIDDEN_PAIRS = [("relu", "tanh"), ("tanh", "elu"), ("elu", "gelu"), ("gelu", "relu"), ("swish", "selu"),
                ("leaky_relu", "softplus"), ("softplus", "sigmoid"), ("selu", "leaky_relu")]

FASTANN_OPT = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "adamw": optimizers.AdamW,
               "rmsprop": optimizers.RMSprop, "adagrad": optimizers.Adagrad}


def hidden_for(opt_key, loss_key):
    return HIDDEN_PAIRS[(list(OPTIMIZERS).index(opt_key) + list(LOSSES).index(loss_key)) % len(HIDDEN_PAIRS)]


def case_seed(*names):
    return zlib.crc32("/".join(map(str, names)).encode())


def make_problem(loss_key, hidden, seed, n=N_SAMPLES, units=(12, 10), out=None):
    """Data (float32), initial weights (float32: glorot-uniform kernels, small non-zero biases) and the model spec."""
    cfg = LOSSES[loss_key]
    out = out or cfg["out"]
    rng = np.random.default_rng(seed)
    n_out = cfg["n_out"]
    sizes = [N_IN, *units, n_out]
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32))
        weights.append(rng.uniform(-0.1, 0.1, fan_out).astype(np.float32))
    x = rng.normal(size=(n, N_IN)).astype(np.float32)
    proj = rng.normal(size=(N_IN, n_out)) / np.sqrt(N_IN)
    signal = np.tanh(x @ proj) + 0.3 * rng.normal(size=(n, n_out))
    loss = cfg["loss"]
    if loss == "mean_squared_error":
        y = signal if out == "linear" else 1.0 / (1.0 + np.exp(-2.0 * signal))  # in (0, 1) for bounded outputs
    elif loss == "mean_absolute_error":
        # tanh outputs stay in (-1, 1) and the targets in +-[1.5, 3.5] (sign alternating per output), so sign(p - y)
        # never flips: float32 and float64 cannot land on different sides of |.|'s kink (the gap is asserted).
        assert out == "tanh"
        y = np.where(np.arange(n_out) % 2 == 0, 1.0, -1.0) * (2.5 + 0.5 * np.clip(signal, -2, 2))
    elif loss == "huber":
        y = 1.5 * signal  # |error| straddles delta = 1: both branches run
    elif loss == "binary_crossentropy":
        y = (signal > 0).astype(np.float64)
    else:
        labels = np.argmax(signal, axis=1)
        y = np.eye(n_out)[labels] if loss == "categorical_crossentropy" else labels.astype(np.float64)
    spec = dict(loss=loss, acts=[*hidden, out], units=[*units, n_out])
    return spec, weights, x, y.astype(np.float32)


def batches_of(x, y, steps=STEPS, batch=BATCH):
    """The batch sequence fit(shuffle=False) sees: consecutive slices, the last one partial, epoch after epoch."""
    starts = list(range(0, x.shape[0], batch))
    return [(x[a:a + batch], y[a:a + batch]) for a in (starts[s % len(starts)] for s in range(steps))]


def build_fastann(spec, weights, opt_kind, opt_hp, metrics=None, loss=None, activation_layer=False):
    """The spec as a fastann Sequential; activation_layer=True puts the output activation in an Activation layer."""
    m = Sequential()
    n = len(spec["units"])
    for k, (units, act) in enumerate(zip(spec["units"], spec["acts"])):
        if k + 1 == n and activation_layer:
            act = None
        m.add(Dense(units, activation=act, input_dim=N_IN) if k == 0 else Dense(units, activation=act))
    if activation_layer:
        m.add(Activation(spec["acts"][-1]))
    m.compile(optimizer=FASTANN_OPT[opt_kind](**opt_hp), loss=loss or spec["loss"], metrics=metrics)
    m.set_weights(weights)
    return m


def max_abs_diff(ws_a, ws_b):
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - b))) for a, b in zip(ws_a, ws_b))


def assert_weights_close(got, want, what):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"{what}: weight {i} shape {g.shape} != {w.shape}"
        np.testing.assert_allclose(g, w, **TOL_WEIGHT,
                                   err_msg=f"{what}: weight {i} (layer {i // 2} {'kernel' if i % 2 == 0 else 'bias'})")


def check_against_reference(m, spec, w0, batches, opt_kind, opt_hp, what):
    want_losses, want_w, min_gap = reference_run(spec, w0, batches, opt_kind, opt_hp)
    # The comparison must mean something: training moved the weights far beyond the tolerance.
    moved = max_abs_diff(w0, want_w)
    assert moved >= MIN_MOVE, f"{what}: reference training barely moved (max |dw| = {moved:.2e})"
    if spec["loss"] == "mean_absolute_error":
        assert min_gap > 0.1, f"{what}: an mae target came within {min_gap:.3g} of its prediction (kink of |.|)"
    got = [m.train_on_batch(xb, yb) for xb, yb in batches]
    assert all(isinstance(v, float) for v in got), f"{what}: train_on_batch should return a float loss"
    np.testing.assert_allclose(np.array(got), want_losses, **TOL_LOSS, err_msg=f"{what}: per-step losses")
    assert_weights_close(m.get_weights(), want_w, f"{what}: final weights")
    assert m.optimizer.iterations == len(batches)


# --- every optimizer x every loss -----------------------------------------------------------------------------------
@pytest.mark.parametrize("loss_key", list(LOSSES))
@pytest.mark.parametrize("opt_key", list(OPTIMIZERS))
def test_train_on_batch_matches_float64_reference(opt_key, loss_key):
    opt_kind, opt_hp = OPTIMIZERS[opt_key]
    spec, w0, x, y = make_problem(loss_key, hidden_for(opt_key, loss_key), case_seed(opt_key, loss_key))
    m = build_fastann(spec, w0, opt_kind, opt_hp)
    check_against_reference(m, spec, w0, batches_of(x, y), opt_kind, opt_hp, f"{opt_key}/{loss_key}")


# --- the activations added through the activation op's folder, as hidden layers (fused into the GEMM epilogue and
# differentiated from the input or the output, as each needs) -------------------------------------------------------
@pytest.mark.parametrize("hidden", [("softsign", "mish"), ("mish", "hard_silu"), ("hard_silu", "hard_sigmoid"),
                                    ("hard_sigmoid", "exponential"), ("exponential", "softsign")], ids="-".join)
def test_new_activations_train_as_the_float64_reference(hidden):
    opt_kind, opt_hp = OPTIMIZERS["adam"]
    spec, w0, x, y = make_problem("mse", hidden, case_seed("acts", *hidden))
    m = build_fastann(spec, w0, opt_kind, opt_hp)
    check_against_reference(m, spec, w0, batches_of(x, y), opt_kind, opt_hp, "adam/mse/" + "-".join(hidden))


# --- output-layer variants: separate Activation layer, from_logits, losses on probabilities (not fused) -------------
VARIANTS = {
    # name: (loss_key, output activation, compile-time loss (None: the name), own Activation layer)
    "cce_softmax_activation_layer": ("cce", "softmax", None, True),
    "bce_sigmoid_activation_layer": ("bce", "sigmoid", None, True),
    "bce_from_logits": ("bce", "linear", lambda: fastann.losses.BinaryCrossentropy(from_logits=True), False),
    "cce_from_logits": ("cce", "linear", lambda: fastann.losses.CategoricalCrossentropy(from_logits=True), False),
    "scce_from_logits": ("scce", "linear",
                         lambda: fastann.losses.SparseCategoricalCrossentropy(from_logits=True), False),
    "mse_sigmoid": ("mse", "sigmoid", None, False),
    "mse_softmax": ("mse", "softmax", None, False),
    "bce_on_softmax_probs": ("bce", "softmax", None, False),
    "cce_on_sigmoid_probs": ("cce", "sigmoid", None, False),
}


@pytest.mark.parametrize("opt_key", ["adam", "sgd_momentum"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_output_variants_match_float64_reference(variant, opt_key):
    loss_key, out, loss_obj, activation_layer = VARIANTS[variant]
    opt_kind, opt_hp = OPTIMIZERS[opt_key]
    hidden = HIDDEN_PAIRS[case_seed(variant) % len(HIDDEN_PAIRS)]
    spec, w0, x, y = make_problem(loss_key, hidden, case_seed(variant, opt_key), out=out)
    spec["from_logits"] = loss_obj is not None
    m = build_fastann(spec, w0, opt_kind, opt_hp, loss=loss_obj() if loss_obj else None,
                      activation_layer=activation_layer)
    check_against_reference(m, spec, w0, batches_of(x, y), opt_kind, opt_hp, f"{variant}/{opt_key}")


# --- fit(shuffle=False) is the train_on_batch sequence ---------------------------------------------------------------
FIT_CASES = [("adam", "cce"), ("sgd_momentum", "mse"), ("rmsprop_momentum_centered", "bce"), ("adagrad", "scce"),
             ("adamw", "huber"), ("sgd_nesterov", "mae")]


@pytest.mark.parametrize("batch_size", [16, 7])  # n = 50: last batches of 2 and of 1 sample
@pytest.mark.parametrize("opt_key,loss_key", FIT_CASES)
def test_fit_without_shuffle_is_the_train_on_batch_sequence(opt_key, loss_key, batch_size):
    n, epochs = 50, 3
    opt_kind, opt_hp = OPTIMIZERS[opt_key]
    spec, w0, x, y = make_problem(loss_key, hidden_for(opt_key, loss_key), case_seed("fit", opt_key, loss_key), n=n)
    metric = "mae" if loss_key in ("mse", "mae", "huber") else "accuracy"
    per_epoch = -(-n // batch_size)

    fitted = build_fastann(spec, w0, opt_kind, opt_hp, metrics=[metric])
    hist = fitted.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)

    stepped = build_fastann(spec, w0, opt_kind, opt_hp, metrics=[metric])
    batches = batches_of(x, y, steps=epochs * per_epoch, batch=batch_size)
    results = np.array([stepped.train_on_batch(xb, yb) for xb, yb in batches])  # rows: [loss, metric]
    sizes = np.array([len(xb) for xb, _ in batches], dtype=np.float64)
    assert sizes.sum() == epochs * n and sizes[per_epoch - 1] == n - (per_epoch - 1) * batch_size

    # Same kernels on the same batches in the same order: bitwise the same weights and optimizer step count.
    for i, (a, b) in enumerate(zip(fitted.get_weights(), stepped.get_weights())):
        np.testing.assert_array_equal(a, b, err_msg=f"weight {i}: fit(shuffle=False) != train_on_batch sequence")
    assert fitted.optimizer.iterations == stepped.optimizer.iterations == epochs * per_epoch

    # History: per epoch, the sample-weighted mean of that epoch's per-batch values (Keras's running mean). Both
    # sides accumulate in double, so they agree to double rounding.
    assert len(hist.history["loss"]) == epochs and len(hist.history[metric]) == epochs
    for e in range(epochs):
        rows = slice(e * per_epoch, (e + 1) * per_epoch)
        w = sizes[rows]
        for col, key in ((0, "loss"), (1, metric)):
            want = float(np.sum(results[rows, col] * w) / w.sum())
            assert hist.history[key][e] == pytest.approx(want, rel=1e-12, abs=1e-15), (key, e)

    # And the fitted model is the float64 reference's, to float32 tolerance.
    _, want_w, _ = reference_run(spec, w0, batches, opt_kind, opt_hp)
    assert_weights_close(fitted.get_weights(), want_w, f"fit {opt_key}/{loss_key} B={batch_size}")


# --- the tolerances: above float32 noise, below a wrong update rule --------------------------------------------------
@pytest.mark.parametrize("opt_key,loss_key", [("adam", "scce"), ("rmsprop_momentum_centered", "cce"),
                                              ("sgd_nesterov", "mae"), ("adagrad", "huber")])
def test_tolerances_are_calibrated(opt_key, loss_key):
    """The float32 twin of the reference (the same rules, evaluated in torch/NumPy float32) is an independent float32
    implementation: its deviation from float64 must sit well inside the tolerances (>= 5x margin)."""
    opt_kind, opt_hp = OPTIMIZERS[opt_key]
    spec, w0, x, y = make_problem(loss_key, hidden_for(opt_key, loss_key), case_seed(opt_key, loss_key))
    batches = batches_of(x, y)
    l64, w64, _ = reference_run(spec, w0, batches, opt_kind, opt_hp)
    l32, w32, _ = reference_run(spec, w0, batches, opt_kind, opt_hp, dtype=torch.float32)
    assert np.max(np.abs(l32 - l64)) <= TOL_LOSS["atol"] / 5
    assert max_abs_diff(w32, w64) <= TOL_WEIGHT["atol"] / 5


class NearMissRule(KerasRule):
    """Plausible wrong implementations (mostly PyTorch's conventions) that the tolerances must reject."""

    def __init__(self, mistake, kind, weights, **hp):
        super().__init__(kind, weights, **hp)
        self.mistake = mistake
        if mistake == "adagrad_zero_accumulator":
            self.s1 = [np.zeros_like(w) for w in weights]

    def step(self, ws, gs):
        if self.mistake == "adam_torch_epsilon":  # eps added to the bias-corrected sqrt(v_hat)
            self.t += 1
            lr, t, b1, b2, eps = self.hp["learning_rate"], self.t, 0.9, 0.999, 1e-7
            for i, (w, g) in enumerate(zip(ws, gs)):
                self.s1[i] += (g - self.s1[i]) * (1 - b1)
                self.s2[i] += (g * g - self.s2[i]) * (1 - b2)
                w -= lr * (self.s1[i] / (1 - b1 ** t)) / (np.sqrt(self.s2[i] / (1 - b2 ** t)) + eps)
        elif self.mistake == "adamw_coupled_decay":  # L2 in the gradient (torch Adam(weight_decay=...))
            self.kind = "adam"
            super().step(ws, [g + self.hp["weight_decay"] * w for w, g in zip(ws, gs)])
        elif self.mistake == "rmsprop_epsilon_outside_sqrt":
            self.t += 1
            lr, rho, eps = self.hp["learning_rate"], 0.9, 1e-7
            for i, (w, g) in enumerate(zip(ws, gs)):
                self.s1[i] = rho * self.s1[i] + (1 - rho) * g * g
                w -= lr * g / (np.sqrt(self.s1[i]) + eps)
        else:
            super().step(ws, gs)


@pytest.mark.parametrize("mistake,opt_key", [("adam_torch_epsilon", "adam"), ("adamw_coupled_decay", "adamw"),
                                             ("rmsprop_epsilon_outside_sqrt", "rmsprop"),
                                             ("adagrad_zero_accumulator", "adagrad")])
def test_tolerances_reject_near_miss_update_rules(mistake, opt_key):
    """Training with a subtly wrong rule ends outside TOL_WEIGHT of the Keras rule: the tolerances have teeth."""
    opt_kind, opt_hp = OPTIMIZERS[opt_key]
    loss_key = "mse"
    spec, w0, x, y = make_problem(loss_key, hidden_for(opt_key, loss_key), case_seed(opt_key, loss_key))
    batches = batches_of(x, y)
    _, good, _ = reference_run(spec, w0, batches, opt_kind, opt_hp)
    _, bad, _ = reference_run(spec, w0, batches, opt_kind, opt_hp,
                              rule=lambda kind, weights, **hp: NearMissRule(mistake, kind, weights, **hp))
    excess = max(float(np.max(np.abs(b - g) / (TOL_WEIGHT["atol"] + TOL_WEIGHT["rtol"] * np.abs(g))))
                 for b, g in zip(bad, good))
    assert excess > 10, f"{mistake}: only {excess:.2f}x the weight tolerance away from the Keras rule"
