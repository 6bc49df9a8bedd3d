"""The CUDA backend: build facts (checked everywhere) and every CUDA op against the CPU op and NumPy (float64) on odd
shapes, the caching allocator's reuse, and training on the GPU against the CPU. The GPU tests skip with a reason where
no CUDA device is present (this includes every machine without the backend, a driver or a GPU); they never fail for
that. Run on a GPU machine: python -m pytest tests/python/cuda/test_cuda.py -v"""

import numpy as np
import pytest

import fastann
from fastann import _core
from fastann.layers import Dense
from fastann.models import Sequential

C = _core.cuda
GPU = fastann.cuda.is_available()
requires_gpu = pytest.mark.skipif(not GPU, reason="no CUDA device (fastann.cuda.is_available() is False: no CUDA "
                                  "backend, driver or GPU on this machine)")
# Tests of a kernel's own summation order need the real kernels (the test-only emulator runs the CPU's).
requires_real_gpu = pytest.mark.skipif(not GPU or fastann.cuda.build_info().get("option") == "EMULATOR",
                                       reason="checks a CUDA kernel's own order of additions: needs a real GPU")
DEV = "cuda:0"
ACTS = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "gelu", "softplus", "swish", "softmax",
        "softsign", "hard_sigmoid", "mish", "exponential", "hard_silu"]
SHAPES = [(1, 1), (3, 17), (33, 1), (17, 33), (1000, 3), (64, 129)]


def rng(seed=0):
    return np.random.default_rng(seed)


# --- build facts and queries: run everywhere ----------------------------------------------------------------------

def test_backend_built_when_nvcc_was_found():
    info = fastann.cuda.build_info()
    assert info["option"] in ("AUTO", "ON", "OFF", "EMULATOR")
    if info["option"] == "EMULATOR":  # the test-only host emulator (tests/README.md): no nvcc, no GPU code
        assert fastann.cuda.is_built() and not info["architectures"]
        assert fastann.cuda.device_count() == 0 or fastann.cuda.get_device_name(0) == "fastann CUDA emulator (host)"
        return
    if info["option"] != "OFF" and info["nvcc"]:
        assert fastann.cuda.is_built(), f"nvcc was found at build time ({info['nvcc']}) but the CUDA backend is missing"
        assert info["architectures"]
    if info["option"] == "OFF":
        assert not fastann.cuda.is_built()


def test_queries_never_raise():
    n = fastann.cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert fastann.cuda.is_available() == (fastann.cuda.is_built() and n > 0)
    assert isinstance(fastann.cuda.allow_tf32(), bool)
    assert set(fastann.cuda.memory_stats()) >= {"allocated_bytes", "reserved_bytes", "device_allocs", "cache_hits"}


@pytest.mark.skipif(GPU, reason="checks the errors of a machine without a usable CUDA device")
def test_cuda_requested_without_device_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"no CUDA device|built without the CUDA backend"):
        fastann.cuda.get_device_name(0)
    m = Sequential([Dense(2, input_dim=3)])
    for dev in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match=rf"device '{dev}' was requested"):
            m.compile(loss="mse", optimizer="sgd", device=dev)
    m.compile(loss="mse", optimizer="sgd", device="cpu")
    with pytest.raises(RuntimeError, match=r"no CUDA device|built without the CUDA backend"):
        C.roundtrip(np.ones(3, np.float32), "cuda:0")


def test_tf32_switch_is_off_by_default():
    assert fastann.cuda.allow_tf32() is False
    if not fastann.cuda.is_built():  # FASTANN_CUDA=OFF: there is no switch to turn on
        fastann.cuda.set_allow_tf32(True)
        assert fastann.cuda.allow_tf32() is False
        return
    fastann.cuda.set_allow_tf32(True)
    try:
        assert fastann.cuda.allow_tf32() is True
    finally:
        fastann.cuda.set_allow_tf32(False)


# --- GPU: device plumbing ---------------------------------------------------------------------------------------

@requires_gpu
def test_device_queries():
    assert fastann.cuda.device_count() >= 1
    assert isinstance(fastann.cuda.get_device_name(0), str) and fastann.cuda.get_device_name(0)
    with pytest.raises(RuntimeError, match="does not exist"):
        C.roundtrip(np.ones(3, np.float32), f"cuda:{fastann.cuda.device_count()}")


@requires_gpu
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5, 7), (1025, 33)])
def test_roundtrip_and_fill(shape):
    x = rng().standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(C.roundtrip(x, DEV), x)
    np.testing.assert_array_equal(C.fill(list(shape), 2.5, DEV), np.full(shape, 2.5, np.float32))


# --- GPU: ops against the CPU op and NumPy ---------------------------------------------------------------------

def _np_act(name, z):
    z = z.astype(np.float64)
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return {"linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "tanh": np.tanh}.get(name, lambda v: None)(z)


@requires_gpu
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (3, 17, 33), (33, 1, 17), (64, 64, 64), (100, 37, 129),
                                   (257, 511, 1000), (5, 4, 0)])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_against_cpu_and_numpy(m, n, k, ta, tb):
    r = rng(m * 7 + n * 3 + k)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = r.standard_normal((m, n)).astype(np.float32)
    bias = r.standard_normal(n).astype(np.float32)
    ref = 0.5 * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)) + 2.0 * c + bias
    tol = dict(rtol=1e-4, atol=1e-4 * max(1, k) ** 0.5)
    for act in ("linear", "relu", "sigmoid", "tanh", "softmax"):
        args = (a, b, ta, tb, 0.5, 2.0, c, bias, act, None)
        got = C.gemm(*args, DEV)
        cpu = C.gemm(*args, "cpu")
        np.testing.assert_allclose(got, cpu, **tol)
        if act in ("linear", "relu", "sigmoid", "tanh", "softmax"):
            np.testing.assert_allclose(got, _np_act(act, ref), **tol)
    # beta == 0 must not read c (the binding fills c with NaN when none is given).
    got = C.gemm(a, b, ta, tb, 1.0, 0.0, None, None, "linear", None, DEV)
    np.testing.assert_allclose(got, (a.T if ta else a).astype(np.float64) @ (b.T if tb else b), **tol)


@requires_gpu
@pytest.mark.parametrize("act", ACTS)
def test_gemm_epilogue_every_activation(act):
    r = rng(1)
    a, b = r.standard_normal((37, 19)).astype(np.float32), r.standard_normal((19, 45)).astype(np.float32)
    bias = r.standard_normal(45).astype(np.float32)
    args = (a, b, False, False, 1.0, 0.0, None, bias, act, None)
    np.testing.assert_allclose(C.gemm(*args, DEV), C.gemm(*args, "cpu"), rtol=1e-4, atol=1e-5)


@requires_gpu
@pytest.mark.parametrize("sa,sb", [((7,), (7,)), ((3, 7), (7,)), ((7,), (7, 5)), ((4, 3, 7), (7, 5)),
                                   ((4, 3, 7), (4, 7, 5)), ((2, 1, 3, 7), (5, 7, 9)), ((3, 0, 4), (3, 4, 2)),
                                   ((6, 33, 17), (6, 17, 65))])
def test_batched_matmul_against_numpy(sa, sb):
    r = rng(2)
    a, b = r.standard_normal(sa).astype(np.float32), r.standard_normal(sb).astype(np.float32)
    got = C.matmul(a, b, DEV)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, C.matmul(a, b, "cpu"), rtol=1e-4, atol=1e-4)


@requires_gpu
@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_forward_backward(name, shape):
    r = rng(3)
    x = (3 * r.standard_normal(shape)).astype(np.float32)
    dy = r.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(C.activation(name, x, None, DEV), C.activation(name, x, None, "cpu"),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(C.activation_grad(name, x, dy, None, DEV), C.activation_grad(name, x, dy, None, "cpu"),
                               rtol=1e-4, atol=1e-5)


@requires_gpu
@pytest.mark.parametrize("shape", SHAPES)
def test_bias_grad_is_the_cpu_column_sum(shape):
    dz = rng(4).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(C.bias_grad(dz, DEV), C.bias_grad(dz, "cpu"))  # same order of additions
    np.testing.assert_allclose(C.bias_grad(dz, DEV), dz.astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)


@requires_real_gpu
@pytest.mark.parametrize("shape", [(65536, 64), (100003, 3), (4096, 33), (70000, 257)])
def test_bias_grad_of_long_columns(shape):
    """From 4096 rows the GPU sums a column in chunks of 512 rows (a 2-D grid), then the chunk sums in order: another
    order of float32 additions than the CPU's sequential one, so the two agree to float32 rounding, not bitwise.
    Rounding errors (u = 2^-24 ~ 6e-8 relative to the partial sum, which grows like sqrt(i) for N(0, 1) terms) add
    up like a random walk: a sequential sum of n terms errs by ~ n * u / sqrt(2) (4e-3 at n = 100003); the chunked
    one by ~ (n / 512) * u * sqrt(512) / sqrt(2) (2e-4). Hence atol 2e-3 against float64 (~10x the GPU's typical
    error) and 2e-2 against the CPU (~5x the CPU's, ~3 sigma over 257 columns). A lost or doubled chunk moves a sum
    by ~sqrt(512) ~ 23. Run to run, the GPU result is bitwise the same (no atomics)."""
    dz = rng(14).standard_normal(shape).astype(np.float32)
    got = C.bias_grad(dz, DEV)
    ref = dz.astype(np.float64).sum(0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-3)
    np.testing.assert_array_equal(C.bias_grad(dz, DEV), got)
    np.testing.assert_allclose(got, C.bias_grad(dz, "cpu"), rtol=0, atol=2e-2)


@requires_gpu
@pytest.mark.parametrize("src_dev", [DEV, "cpu"])
def test_gather_rows(src_dev):
    src = rng(5).standard_normal((101, 3, 7)).astype(np.float32)
    idx = list(rng(6).integers(0, 101, 57))
    np.testing.assert_array_equal(C.gather_rows(src, idx, src_dev, DEV), src[idx])


@requires_gpu
def test_first_non_finite():
    x = np.zeros(100003, np.float32)
    assert C.first_non_finite(x, DEV) == -1
    x[77777] = np.inf
    x[99999] = np.nan
    assert C.first_non_finite(x, DEV) == 77777


@requires_gpu
@pytest.mark.parametrize("name,logits", [("mse", False), ("mae", False), ("huber", False),
                                         ("binary_crossentropy", False),
                                         ("binary_crossentropy", True), ("categorical_crossentropy", False),
                                         ("categorical_crossentropy", True),
                                         ("sparse_categorical_crossentropy", False),
                                         ("sparse_categorical_crossentropy", True)])
@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 17), (1000, 3), (33, 10)])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_value_and_gradient(name, logits, rows, cols, weighted):
    r = rng(7)
    if "crossentropy" in name and not logits:
        pred = r.uniform(0.01, 0.99, (rows, cols)).astype(np.float32)
    else:
        pred = r.standard_normal((rows, cols)).astype(np.float32)
    if name.startswith("sparse"):
        y = r.integers(0, cols, rows).astype(np.float32)
    elif name == "categorical_crossentropy":
        y = np.eye(cols, dtype=np.float32)[r.integers(0, cols, rows)]
    elif name == "binary_crossentropy":
        y = r.integers(0, 2, (rows, cols)).astype(np.float32)
    else:
        y = r.standard_normal((rows, cols)).astype(np.float32)
    w = r.uniform(0, 2, rows).astype(np.float32) if weighted else None
    vg, gg, pg = C.loss(name, y, pred, logits, 1.0, w, 1.0 / rows, DEV)
    vc, gc, pc = C.loss(name, y, pred, logits, 1.0, w, 1.0 / rows, "cpu")
    assert vg == pytest.approx(vc, rel=1e-9, abs=1e-9)  # double accumulation both sides, another summation order
    np.testing.assert_allclose(gg, gc, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(pg, pc, rtol=1e-5, atol=1e-7)


@requires_gpu
def test_sparse_label_error_names_the_row():
    pred = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"label 7 at row 2 is not a class index in \[0, 3\)"):
        C.loss("sparse_categorical_crossentropy", np.array([0, 1, 7, 2], np.float32), pred, True, 1.0, None, 1.0,
               DEV)


@requires_gpu
@pytest.mark.parametrize("name", ["binary_accuracy", "categorical_accuracy", "mse", "mae", "auc", "precision",
                                  "recall"])
def test_metric_on_device(name):
    r = rng(8)
    pred = r.uniform(0, 1, (77, 5)).astype(np.float32)
    y = (np.eye(5, dtype=np.float32)[r.integers(0, 5, 77)] if name == "categorical_accuracy"
         else r.integers(0, 2, (77, 5)).astype(np.float32))
    assert C.metric(name, y, pred, DEV) == pytest.approx(C.metric(name, y, pred, "cpu"), rel=1e-12)


@requires_gpu
@pytest.mark.parametrize("kind", ["binary", "categorical", "sparse", "regression"])
@pytest.mark.parametrize("weighted", [False, True])
def test_state_sums_on_device_equal_the_host_sums(kind, weighted):
    """fit's streaming state (ops::StateSums): the loss and the sample-mean metrics add up on the device (one kernel
    each per batch, read back once), the others through host copies; the CPU sums every batch on the host. Over 9
    batches of 37 rows (the last short), both give the same sums up to double rounding (the per-row values are
    float32 math in double on both; only the order of the double additions differs)."""
    r = rng(14)
    n, c = 329, 5
    logits = r.standard_normal((n, c)).astype(np.float32)
    if kind == "binary":
        pred = (1 / (1 + np.exp(-logits))).astype(np.float32)
        y = r.integers(0, 2, (n, c)).astype(np.float32)
        loss, metrics = "binary_crossentropy", ["binary_accuracy", "mse", "auc", "precision", "recall"]
    elif kind == "categorical":
        pred = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
        y = np.eye(c, dtype=np.float32)[r.integers(0, c, n)]
        loss, metrics = "categorical_crossentropy", ["categorical_accuracy", "top_k_categorical_accuracy", "mae"]
    elif kind == "sparse":
        pred = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
        y = r.integers(0, c, n).astype(np.float32)
        loss, metrics = "sparse_categorical_crossentropy", ["sparse_categorical_accuracy"]
    else:
        pred, y = logits, r.standard_normal((n, c)).astype(np.float32)
        loss, metrics = "mse", ["mse", "mae"]
    w = r.uniform(0.2, 2.0, n).astype(np.float32) if weighted else None
    got, bad_g = C.state_sums(loss, metrics, y, pred, w, 37, DEV)
    ref, bad_c = C.state_sums(loss, metrics, y, pred, w, 37, "cpu")
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)
    assert bad_g == bad_c == -1
    # A non-finite prediction in batch 4 (rows 148..184) is named by its step, though read back only at the end.
    pred[150, 0] = np.inf if kind == "regression" else np.nan
    assert C.state_sums(loss, metrics, y, pred, w, 37, DEV)[1] == 4 == C.state_sums(loss, metrics, y, pred, w, 37,
                                                                                       "cpu")[1]


@requires_gpu
@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (256, 33), (1000, 3), (64, 129)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_on_device(shape, affine):
    """Batch norm's kernels (one thread per column, the rows in order, statistics in double, as the CPU) against the
    CPU op and against NumPy float64. Same arithmetic, but nvcc contracts a * b + c into fused multiply-adds and the
    CPU build does not: float32 results agree to a few ulp (rtol 1e-5), the double statistics to ~1e-6 relative."""
    r = rng(15)
    x = (r.standard_normal(shape) * 3 + 1).astype(np.float32)
    dy = r.standard_normal(shape).astype(np.float32)
    g = r.uniform(0.5, 2, shape[1]).astype(np.float32) if affine else None
    b = r.standard_normal(shape[1]).astype(np.float32) if affine else None
    mm, mv = r.standard_normal(shape[1]).astype(np.float32), r.uniform(0.5, 2, shape[1]).astype(np.float32)
    got = C.batchnorm(x, g, b, dy, 1e-3, 0.99, mm, mv, DEV)
    ref = C.batchnorm(x, g, b, dy, 1e-3, 0.99, mm, mv, "cpu")
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-5, err_msg=k)
    # float64 reference of the forward pass and the batch statistics
    x64 = x.astype(np.float64)
    mu, var = x64.mean(0), x64.var(0)
    xhat = (x64 - mu) / np.sqrt(var + 1e-3)
    y64 = xhat * (g if affine else 1.0) + (b if affine else 0.0)
    np.testing.assert_allclose(got["y"], y64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["mean"], mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["moving_mean"], mm * 0.99 + mu * 0.01, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["dbeta"], dy.astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got["dgamma"], (dy * xhat).sum(0), rtol=1e-4, atol=1e-3)


@requires_gpu
@pytest.mark.parametrize("n", [1, 7, 1000, 401408])
@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.02), (0.003, 0.005)])
def test_regularizer_on_device(n, l1, l2):
    """L1/L2 penalty (summed in double on both devices, in another order: agree to double rounding) and its gradient
    added to g (the same float32 arithmetic per element: bitwise, up to nvcc's fused multiply-add, so rtol 1e-6), and
    against NumPy float64. w holds exact zeros (sign 0)."""
    r = rng(16)
    w = r.standard_normal(n).astype(np.float32)
    w[::5] = 0.0
    g = r.standard_normal(n).astype(np.float32)
    pg, gg = C.regularizer(l1, l2, w, g, 0.25, DEV)
    pc, gc = C.regularizer(l1, l2, w, g, 0.25, "cpu")
    w64 = w.astype(np.float64)
    a, b = float(np.float32(l1)), float(np.float32(l2))  # the op takes float32 coefficients
    assert pg == pytest.approx(pc, rel=1e-12)
    assert pg == pytest.approx(a * np.abs(w64).sum() + b * (w64 ** 2).sum(), rel=1e-9)
    np.testing.assert_allclose(gg, gc, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gg, g + 0.25 * (a * np.sign(w64) + 2 * b * w64), rtol=1e-6, atol=1e-7)
    assert C.regularizer(l1, l2, w, None, 0.0, DEV)[1] is None


@requires_gpu
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
def test_dropout_mask_is_the_cpu_mask(rate):
    x = rng(9).standard_normal((129, 33)).astype(np.float32)
    mg, yg = C.dropout(rate, 1234, x, DEV)
    mc, yc = C.dropout(rate, 1234, x, "cpu")
    np.testing.assert_array_equal(mg, mc)
    np.testing.assert_array_equal(yg, yc)


@requires_gpu
@pytest.mark.parametrize("cfg", [
    {"kind": "sgd", "lr": 0.1},
    {"kind": "sgd", "lr": 0.1, "momentum": 0.9},
    {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
    {"kind": "adam", "lr": 1e-3, "adam_alpha": 3e-3, "one_minus_beta_1": 0.1, "one_minus_beta_2": 1e-3},
    {"kind": "adamw", "lr": 1e-3, "adam_alpha": 3e-3, "decay_factor": 0.999},
    {"kind": "rmsprop", "lr": 1e-3, "rho": 0.9, "one_minus_rho": 0.1},
    {"kind": "rmsprop", "lr": 1e-3, "rho": 0.9, "one_minus_rho": 0.1, "momentum": 0.5, "centered": True},
    {"kind": "adagrad", "lr": 1e-2},
])
def test_fused_optimizer_step(cfg):
    r = rng(10)
    n = 100003
    w, g = r.standard_normal(n).astype(np.float32), r.standard_normal(n).astype(np.float32)
    s1, s2, s3 = (r.uniform(0, 1, n).astype(np.float32) for _ in range(3))
    got = C.optimizer_step(cfg, w, g, s1, s2, s3, DEV)
    ref = C.optimizer_step(cfg, w, g, s1, s2, s3, "cpu")
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# --- GPU: allocator and training --------------------------------------------------------------------------------

@requires_gpu
def test_allocator_reuses_memory_over_1000_steps():
    r = rng(11)
    a, b = r.standard_normal((256, 100)).astype(np.float32), r.standard_normal((100, 10)).astype(np.float32)
    y = r.standard_normal((256, 10)).astype(np.float32)
    w = r.standard_normal(1000).astype(np.float32)

    def step():
        C.gemm(a, b, False, False, 1.0, 0.0, None, None, "relu", None, DEV)
        C.loss("mse", y, y, False, 1.0, None, 1.0, DEV)
        C.optimizer_step({"kind": "adam", "adam_alpha": 1e-3}, w, w, w, w, w, DEV)
        C.matmul(a[None].repeat(3, 0), b, DEV)

    for _ in range(5):  # warm-up: the cache fills
        step()
    before = fastann.cuda.memory_stats(0)
    for _ in range(1000):
        step()
    after = fastann.cuda.memory_stats(0)
    assert after["device_allocs"] == before["device_allocs"]
    assert after["reserved_bytes"] == before["reserved_bytes"]
    assert after["allocated_bytes"] == before["allocated_bytes"]
    assert after["cache_hits"] > before["cache_hits"]
