"""fastann.ops against float64 NumPy references (forward and gradient), on odd shapes.

How the references are built
----------------------------
Every input is first rounded to float32 (what fastann computes on); the reference is then evaluated in float64 from
those rounded values, so the only error measured is fastann's own float32 arithmetic.  Gradients are checked twice:
against the analytic float64 derivative, and against central finite differences (float64) of the *reference*
function, which does not share any code or formula with the analytic derivative.

Tolerances (u = 2**-24 = 5.96e-8, the float32 unit roundoff)
------------------------------------------------------------
* matmul / gemm: the classic forward error bound for a length-k dot product in any summation order (blocked,
  FMA or not) is |C - C_ref| <= k*u*(|A| @ |B|) + O(u^2).  We assert the element-wise residual bound
      |C - C_ref| <= 2 * (k + 3) * u * (|alpha| |A|@|B| + |beta| |c| + |bias|) + 1e-30
  (factor 2 for slack; +3 for the alpha scaling, the beta*c and bias additions and the final rounding).  No fixed
  rtol: a cancelling dot product may legitimately have a large relative error, and a wrong tile/edge element
  shows up as an error of order |A|@|B|, far above the bound.  For k = 0 the bound is 0: the result must be exact
  zeros.  After a fused activation the pre-activation bound E is propagated through its Lipschitz constant L
  (relu/tanh 1, sigmoid 1/4, gelu 1.13, softmax 2*y_i*max_row E) plus the activation tolerance below.
* element-wise activations (forward): |y - y_ref| <= 1e-5 |y_ref| + 1e-6, i.e. ~80 ulp relative (vectorised
  float32 exp/erf/tanh approximations are a few ulp) plus an absolute floor for results that are cancellations
  (1 - erf(x), exp(x) - 1, ...) where float32 can only be accurate to ~u absolutely.
* activation gradients: |g - g_ref| <= 1e-5 |g_ref| + 1e-6 max|dy|; derivatives like 1 - tanh(x)^2 or
  s(1 - s) are computed from a float32 output and so are accurate to ~u absolutely, not relatively.
* losses: the value is accumulated in double internally; per-element terms carry a few float32 ulps, so
  rtol 1e-5 on the value (plus an absolute floor of 1e-6 * the input scale, for log-sum-exp - z cancellation).
  Gradient: |g - g_ref| <= 1e-5 * (|g_ref| + s) / N + 1e-12 where N is the mean's divisor and s the magnitude of
  the intermediate terms that cancel (e.g. y/p and (1-y)/(1-p) for binary crossentropy).
* finite differences: central differences in float64 with step h ~ 1e-6..1e-5 have error ~h^2 f''' + eps64 f/h,
  far below the float32 tolerances above, so the same tolerances are used (+1e-7 absolute for FD noise).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import fastann
from fastann import _core, ops

U32 = 2.0 ** -24
ISAS = ["generic", "avx2", "avx512"]
F64 = np.float64


# ----------------------------------------------------------------------------------------------------------------
# fixtures: every CPU kernel path and thread count, always restored


@pytest.fixture(params=ISAS)
def isa(request):
    name = request.param
    if not _core.cpu_isa_supported(name):
        pytest.skip(f"ISA {name} not supported by this CPU / build")
    original = _core.cpu_isa()
    _core.set_cpu_isa(name)
    assert _core.cpu_isa() == name
    yield name
    _core.set_cpu_isa(original)


@pytest.fixture(params=[1, 2], ids=["t1", "t2"])
def threads(request):
    original = fastann.get_num_threads()
    fastann.set_num_threads(request.param)
    assert fastann.get_num_threads() == request.param
    yield request.param
    fastann.set_num_threads(original)


def rng_for(*key):
    """A generator seeded from the test's parameters (stable across runs, unlike hash() of strings)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def f32(x):
    """The float32 rounding of x, as float32 (what fastann sees)."""
    return np.asarray(x, dtype=np.float32)


# ----------------------------------------------------------------------------------------------------------------
# GEMM helpers


def gemm_bound(a64, b64, k, alpha=1.0, beta=0.0, c64=None, bias64=None):
    s = abs(alpha) * np.matmul(np.abs(a64), np.abs(b64))
    if c64 is not None and beta != 0.0:
        s = s + abs(beta) * np.abs(c64)
    if bias64 is not None:
        s = s + np.abs(bias64)
    return 2.0 * (k + 3) * U32 * s + 1e-30


def assert_within(out, ref, bound, what=""):
    out = np.asarray(out)
    ref = np.asarray(ref)
    assert out.shape == ref.shape, f"{what}: shape {out.shape} != expected {ref.shape}"
    assert out.dtype == np.float32, f"{what}: dtype {out.dtype} != float32"
    err = np.abs(out.astype(F64) - ref)
    bad = ~(err <= bound)  # also catches NaN
    if bad.any():
        idx = np.unravel_index(np.argmax(np.where(bad, err / np.maximum(bound, 1e-300), 0)), ref.shape) \
            if ref.ndim else ()
        raise AssertionError(
            f"{what}: {int(bad.sum())}/{bad.size} elements outside bound; worst at {idx}: got {out[idx]!r}, "
            f"expected {ref[idx]!r}, |err|={err[idx]:.3g} > bound {np.broadcast_to(bound, ref.shape)[idx]:.3g}")


def check_matmul(a, b, what=""):
    """fastann.ops.matmul(a, b) vs float64 np.matmul of the float32-rounded inputs, residual bound."""
    a32 = np.asarray(a).astype(np.float32)
    b32 = np.asarray(b).astype(np.float32)
    a64, b64 = a32.astype(F64), b32.astype(F64)
    ref = np.matmul(a64, b64)
    k = a64.shape[-1]
    out = ops.matmul(a, b)
    assert_within(out, ref, gemm_bound(a64, b64, k), what or f"matmul {np.shape(a)} @ {np.shape(b)}")
    return out


# (m, k, n): odd sizes around the micro-kernel tiles (avx512 14x32, avx2 6x16), the small/packed path switch
# (k <= 16, k <= 256 with B <= 64 KiB), cache blocks (mc 144/168, kc 256, nc 2048) and a long k.
MATMUL_SHAPES = [
    (1, 1, 1), (1, 3, 1), (3, 1, 7), (1, 17, 33), (33, 17, 1), (7, 15, 16), (15, 16, 17), (16, 31, 33),
    (17, 33, 31), (31, 7, 255), (33, 257, 15), (14, 29, 32), (13, 64, 31), (29, 300, 65), (6, 16, 17),
    (255, 33, 257), (257, 255, 33), (170, 257, 257), (3, 1000, 7), (17, 1000, 33), (3, 33, 2100),
]


@pytest.mark.parametrize("m,k,n", MATMUL_SHAPES, ids=lambda v: str(v))
def test_matmul_2d(isa, threads, m, k, n):
    rng = rng_for("mm2d", m, k, n)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    check_matmul(a, b)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (17, 33, 31), (255, 33, 257), (33, 1000, 17)], ids=str)
def test_matmul_2d_nonnegative_is_tight(isa, m, k, n):
    # All-positive operands: no cancellation, so the result must also be accurate *relatively* (k*u bound).
    rng = rng_for("mmpos", m, k, n)
    a = rng.random((m, k), dtype=np.float32) + 0.5
    b = rng.random((k, n), dtype=np.float32) + 0.5
    out = check_matmul(a, b)
    ref = a.astype(F64) @ b.astype(F64)
    np.testing.assert_allclose(out, ref, rtol=2 * (k + 3) * U32)


BATCHED_SHAPES = [
    ((5, 3, 4), (4, 2)),
    ((2, 1, 3, 4), (1, 5, 4, 6)),
    ((7, 16, 16), (7, 16, 16)),
    ((3, 4), (2, 4, 5)),
    ((1, 17, 33), (4, 33, 15)),
    ((3, 33, 257), (257, 17)),
    ((2, 3, 31, 29), (3, 29, 33)),
    ((4,), (3, 4, 5)),
    ((2, 3, 4), (4,)),
    ((6, 1, 1), (6, 1, 1)),
]


@pytest.mark.parametrize("sa,sb", BATCHED_SHAPES, ids=lambda v: "x".join(map(str, v)))
def test_matmul_batched_broadcast(isa, threads, sa, sb):
    rng = rng_for("mmb", sa, sb)
    a = rng.standard_normal(sa, dtype=np.float32)
    b = rng.standard_normal(sb, dtype=np.float32)
    out = check_matmul(a, b)
    assert out.shape == np.matmul(a, b).shape


@pytest.mark.parametrize("k", [1, 3, 17, 257])
def test_matmul_1d_promotion(k):
    rng = rng_for("mm1d", k)
    v = rng.standard_normal(k, dtype=np.float32)
    w = rng.standard_normal(k, dtype=np.float32)
    m = rng.standard_normal((k, 7), dtype=np.float32)
    mt = rng.standard_normal((5, k), dtype=np.float32)
    assert check_matmul(v, m).shape == (7,)
    assert check_matmul(mt, v).shape == (5,)
    out = check_matmul(v, w)
    assert np.shape(out) == ()


def test_matmul_noncontiguous_and_fortran(isa):
    rng = rng_for("mmnc")
    base_a = rng.standard_normal((40, 70), dtype=np.float32)
    base_b = rng.standard_normal((70, 50), dtype=np.float32)
    cases = [
        (base_a[::2, ::3], base_b[:24, 1:-1]),                 # strided slices
        (base_a[:, :33], base_b[5:38]),                         # column slice (non-contiguous rows)
        (base_b.T, base_a.T),                                   # transposed views
        (base_a[::-1, ::-1], base_b[::-1]),                     # negative strides
        (np.asfortranarray(base_a), np.asfortranarray(base_b)), # Fortran order
        (base_a, np.asfortranarray(base_b)[:, ::2]),
    ]
    for a, b in cases:
        assert not (a.flags.c_contiguous and b.flags.c_contiguous)
        check_matmul(a, b, f"strided {a.shape}@{b.shape} a.strides={a.strides} b.strides={b.strides}")
    bt = rng.standard_normal((3, 5, 17, 6), dtype=np.float32).transpose(1, 0, 3, 2)  # (5,3,6,17)
    at = rng.standard_normal((5, 3, 9, 6), dtype=np.float32)[:, :, ::2]              # (5,3,5,6)
    check_matmul(at, bt, "batched strided")


def test_matmul_float64_and_int_inputs():
    rng = rng_for("mmdt")
    a64 = rng.standard_normal((17, 33))  # float64, not representable in float32
    b64 = rng.standard_normal((33, 15))
    out = check_matmul(a64, b64, "float64 inputs")
    assert out.dtype == np.float32
    ai = rng.integers(-50, 50, size=(7, 31))
    bi = rng.integers(-50, 50, size=(31, 5))
    out = ops.matmul(ai, bi)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, (ai @ bi).astype(np.float32))  # exact: |sums| << 2**24
    ab = rng.random((3, 4)) > 0.5
    np.testing.assert_array_equal(ops.matmul(ab, np.ones((4, 2))), ab.astype(np.float32) @ np.ones((4, 2)))
    # mixed int/float lists
    np.testing.assert_array_equal(ops.matmul([[1, 2], [3, 4]], [[1.5], [2]]), np.array([[5.5], [12.5]], np.float32))


def test_matmul_does_not_modify_inputs():
    rng = rng_for("mmro")
    a = rng.standard_normal((17, 33), dtype=np.float32)
    b = rng.standard_normal((33, 5), dtype=np.float32)
    a0, b0 = a.copy(), b.copy()
    ops.matmul(a, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("sa,sb", [
    ((2, 3), (4, 5)),
    ((3,), (4,)),
    ((5, 3), (4,)),
    ((4,), (5, 3)),
    ((2, 3, 4), (3, 4, 5)),        # batch dims 2 vs 3 do not broadcast
    ((2, 3, 4), (2, 5, 6)),
], ids=lambda v: "x".join(map(str, v)))
def test_matmul_mismatched_shapes_raise(sa, sb):
    with pytest.raises(ValueError) as ei:
        ops.matmul(np.ones(sa), np.ones(sb))
    if len(sa) == 2 and len(sb) == 2:
        assert str(sa) in str(ei.value) and str(sb) in str(ei.value), str(ei.value)


@pytest.mark.parametrize("sa,sb", [((), (1,)), ((1,), ()), ((2, 1), ()), ((), ())], ids=str)
def test_matmul_scalar_operand_raises(sa, sb):
    # NumPy: matmul of a 0-d operand is a ValueError ("does not have enough dimensions"), not a (1,) promotion.
    with pytest.raises(ValueError):
        np.matmul(np.ones(sa), np.ones(sb))
    with pytest.raises(ValueError):
        ops.matmul(np.ones(sa), np.ones(sb))


@pytest.mark.parametrize("sa,sb", [
    ((3, 0), (0, 4)), ((0, 5), (5, 4)), ((3, 5), (5, 0)), ((0, 0), (0, 0)), ((0,), (0,)),
    ((2, 3, 0), (2, 0, 6)), ((2, 0, 4), (1, 4, 3)), ((0, 3, 4), (0, 4, 2)), ((0, 4), (4,)),
    # a zero-size batch dimension broadcast against 1 (or a missing dim) stays 0, as in NumPy
    ((0, 3, 4), (4, 2)), ((0, 3, 4), (1, 4, 2)), ((3, 4), (0, 4, 2)), ((2, 0, 3, 4), (4, 2)),
], ids=lambda v: "x".join(map(str, v)))
def test_matmul_zero_size(sa, sb):
    a = np.ones(sa, np.float32)
    b = np.ones(sb, np.float32)
    out = ops.matmul(a, b)
    ref = np.matmul(a, b)
    assert out.shape == ref.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)  # k=0 -> exact zeros


def test_matmul_k0_overwrites_garbage():
    # k = 0 after a larger product (reused buffers) must still give exact zeros, never stale data.
    ops.matmul(np.full((64, 64), 7.0, np.float32), np.full((64, 64), 3.0, np.float32))
    out = ops.matmul(np.ones((64, 0), np.float32), np.ones((0, 64), np.float32))
    assert out.shape == (64, 64) and not out.any()


# ----------------------------------------------------------------------------------------------------------------
# activations: float64 references


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_erfc = np.vectorize(math.erfc, otypes=[F64])


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # exact-ish and overflow-free in float64


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _Phi(x):
    return 0.5 * _erfc(-x / math.sqrt(2.0))


def act_ref(name, x, alpha=None):
    if name == "linear":
        return x.copy()
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        return _softmax(x)
    if name == "leaky_relu":
        a = 0.2 if alpha is None else alpha
        return np.where(x > 0, x, a * x)
    if name == "elu":
        a = 1.0 if alpha is None else alpha
        return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == "gelu":
        return x * _Phi(x)
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name in ("swish", "silu"):
        return x * _sigmoid(x)
    if name == "softsign":
        return x / (np.abs(x) + 1.0)
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0
    if name == "mish":
        return x * np.tanh(np.logaddexp(0.0, x))
    if name == "exponential":
        return np.exp(x)
    if name in ("hard_silu", "hard_swish"):
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0
    raise KeyError(name)


def act_grad_ref(name, x, dy, alpha=None):
    """dy * act'(x) in float64 (softmax: row-wise VJP)."""
    if name == "softmax":
        y = _softmax(x)
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    if name == "linear":
        d = np.ones_like(x)
    elif name == "relu":
        d = (x > 0).astype(F64)
    elif name == "sigmoid":
        s = _sigmoid(x)
        d = s * (1.0 - s)
    elif name == "tanh":
        t = np.exp(-2.0 * np.abs(x))  # sech^2 without overflow
        d = 4.0 * t / (1.0 + t) ** 2
    elif name == "leaky_relu":
        d = np.where(x > 0, 1.0, 0.2 if alpha is None else alpha)
    elif name == "elu":
        a = 1.0 if alpha is None else alpha
        d = np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0.0)))
    elif name == "selu":
        d = SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))
    elif name == "gelu":
        d = _Phi(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    elif name == "softplus":
        d = _sigmoid(x)
    elif name in ("swish", "silu"):
        s = _sigmoid(x)
        d = s + x * s * (1.0 - s)
    elif name == "softsign":
        d = 1.0 / (np.abs(x) + 1.0) ** 2
    elif name == "hard_sigmoid":
        d = np.where((x > -3.0) & (x < 3.0), 1.0 / 6.0, 0.0)
    elif name == "mish":
        t = np.tanh(np.logaddexp(0.0, x))
        d = t + x * (1.0 - t * t) * _sigmoid(x)
    elif name == "exponential":
        d = np.exp(x)
    elif name in ("hard_silu", "hard_swish"):
        d = np.where(x <= -3.0, 0.0, np.where(x >= 3.0, 1.0, (2.0 * x + 3.0) / 6.0))
    else:
        raise KeyError(name)
    return dy * d


def act_grad_fd(name, x, dy, alpha=None):
    """Central finite differences (float64) of sum(dy * act_ref(x)) -- independent of act_grad_ref."""
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    if name != "softmax":  # element-wise: perturb every element at once
        return dy * (act_ref(name, x + h, alpha) - act_ref(name, x - h, alpha)) / (2.0 * h)
    g = np.empty_like(x)
    for j in range(x.shape[-1]):  # rows are independent: perturb column j of every row at once
        e = np.zeros_like(x)
        e[..., j] = h[..., j]
        fp = (dy * act_ref(name, x + e)).sum(axis=-1)
        fm = (dy * act_ref(name, x - e)).sum(axis=-1)
        g[..., j] = (fp - fm) / (2.0 * h[..., j])
    return g


ACTIVATIONS = [
    ("linear", None), ("relu", None), ("sigmoid", None), ("tanh", None), ("softmax", None),
    ("leaky_relu", None), ("leaky_relu", 0.05), ("elu", None), ("elu", 0.5), ("selu", None), ("gelu", None),
    ("softplus", None), ("swish", None), ("silu", None), ("softsign", None), ("hard_sigmoid", None), ("mish", None),
    ("exponential", None), ("hard_silu", None), ("hard_swish", None),
]
ACT_IDS = [n if a is None else f"{n}-{a}" for n, a in ACTIVATIONS]
ACT_SHAPES = [(1,), (1, 1), (3,), (17, 3), (3, 17), (2, 3, 33), (33, 10), (1000,), (7, 129)]
EXTREMES = np.array([-100.0, -30.0, -20.0, -10.0, -5.0, -1.0, -0.5, -0.01, 0.01, 0.5, 1.0, 5.0, 10.0, 20.0,
                     30.0, 100.0])


# Where an activation's derivative jumps (finite differences there are meaningless): 0 for relu, leaky_relu, elu
# and selu; -3 and 3 for the hard_ kinds.
KINKS = (-3.0, 0.0, 3.0)


def act_input(shape, key, kink_free=True, name=None):
    rng = rng_for("act", shape, key)
    x = rng.standard_normal(shape) * 3.0
    flat = x.reshape(-1)
    n = min(flat.size, EXTREMES.size)
    flat[:n] = rng.permutation(EXTREMES)[:n]  # extreme values inside the data (and inside softmax rows)
    if kink_free:  # keep every point at least 1e-3 away from the kinks
        for kink in KINKS:
            near = np.abs(flat - kink) < 1e-3
            flat[near] = kink + np.where(flat[near] < kink, -3e-3, 3e-3)
    if name == "exponential":  # e^x overflows float32 past 88.7 (as in Keras): keep the inputs where it is finite
        np.clip(flat, -87.0, 80.0, out=flat)
    return f32(x).astype(F64)  # exactly representable in float32


def act_tol(ref):
    return 1e-5 * np.abs(ref) + 1e-6


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=str)
@pytest.mark.parametrize("name,alpha", ACTIVATIONS, ids=ACT_IDS)
def test_activation_forward(name, alpha, shape):
    x = act_input(shape, name, kink_free=False, name=name)
    x32 = f32(x)
    out = ops.activation(name, x32, alpha)
    ref = act_ref(name, x, alpha)
    assert np.all(np.isfinite(out)), f"{name}: non-finite output for finite input"
    assert_within(out, ref, act_tol(ref), f"{name} forward {shape}")
    np.testing.assert_array_equal(x32, f32(x))  # input untouched


@pytest.mark.parametrize("name,alpha", ACTIVATIONS, ids=ACT_IDS)
def test_activation_forward_threads(threads, name, alpha):
    x = act_input((257, 129), name + "thr", kink_free=False, name=name)  # large enough to be split over threads
    out = ops.activation(name, f32(x), alpha)
    ref = act_ref(name, x, alpha)
    assert_within(out, ref, act_tol(ref), f"{name} forward threads={threads}")


@pytest.mark.parametrize("shape", ACT_SHAPES, ids=str)
@pytest.mark.parametrize("name,alpha", ACTIVATIONS, ids=ACT_IDS)
def test_activation_grad(name, alpha, shape):
    x = act_input(shape, name + "g", name=name)
    dy = f32(rng_for("dy", shape, name).standard_normal(shape)).astype(F64)
    g = ops.activation_grad(name, f32(x), f32(dy), alpha)
    assert np.all(np.isfinite(g)), f"{name}: non-finite gradient"
    ref = act_grad_ref(name, x, dy, alpha)
    atol = 1e-6 * max(1.0, np.abs(dy).max())
    assert_within(g, ref, 1e-5 * np.abs(ref) + atol, f"{name} grad vs analytic {shape}")
    fd = act_grad_fd(name, x, dy, alpha)
    assert_within(g, fd, 1e-5 * np.abs(fd) + atol + 1e-7, f"{name} grad vs finite differences {shape}")


def test_softmax_extremes_and_rows():
    x = np.array([[-100.0, 100.0, 0.0], [100.0, 100.0, 100.0], [-100.0, -100.0, -100.0], [1000.0, -1000.0, 0.0],
                  [30.0, -30.0, 30.0]])
    out = ops.activation("softmax", x)
    ref = act_ref("softmax", f32(x).astype(F64))
    assert np.all(np.isfinite(out))
    assert_within(out, ref, act_tol(ref), "softmax extremes")
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=0, atol=4e-7)
    one = ops.activation("softmax", np.array([[3.0], [-200.0]]))  # length-1 rows -> exactly 1
    np.testing.assert_array_equal(one, np.ones((2, 1), np.float32))


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "tanh", "swish", "gelu", "elu", "selu", "softsign",
                                  "hard_sigmoid", "mish", "hard_silu"])
def test_activation_huge_inputs_no_overflow(name):
    x = np.array([-1e4, -1000.0, -100.0, -88.8, -87.0, 87.0, 88.8, 100.0, 1000.0, 1e4], dtype=np.float32)
    out = ops.activation(name, x)
    assert np.all(np.isfinite(out)), f"{name}: {out}"
    ref = act_ref(name, x.astype(F64))
    assert_within(out, ref, act_tol(ref), f"{name} huge inputs")
    g = ops.activation_grad(name, x, np.ones_like(x))
    assert np.all(np.isfinite(g)), f"{name} grad: {g}"
    gref = act_grad_ref(name, x.astype(F64), np.ones(x.shape))
    assert_within(g, gref, 1e-5 * np.abs(gref) + 1e-6, f"{name} grad huge inputs")


@pytest.mark.parametrize("name", ["relu", "sigmoid", "gelu"])
def test_activation_0d_keeps_shape(name):
    # element-wise ops preserve the input shape, including a 0-d array (NumPy/Keras: scalar in, scalar out)
    x = np.array(-0.75, dtype=np.float32)
    out = ops.activation(name, x)
    assert np.shape(out) == ()
    assert abs(float(out) - act_ref(name, np.float64(-0.75))) <= 1e-6
    g = ops.activation_grad(name, x, np.array(2.0, dtype=np.float32))
    assert np.shape(g) == ()


def test_activation_unknown_name_raises():
    with pytest.raises(ValueError) as ei:
        ops.activation("swishy", np.ones(3))
    msg = str(ei.value)
    for valid in ("relu", "sigmoid", "softmax", "gelu", "leaky_relu"):
        assert valid in msg, msg
    with pytest.raises(ValueError):
        ops.activation_grad("nope", np.ones(3), np.ones(3))


def test_activation_grad_shape_mismatch_raises():
    with pytest.raises(ValueError):
        ops.activation_grad("relu", np.ones((3, 4)), np.ones((4, 3)))


def test_activation_wrappers():
    x = act_input((17, 5), "wrap")
    x32 = f32(x)
    for fn, name, _kw in [(fastann.activations.relu, "relu", {}), (fastann.activations.sigmoid, "sigmoid", {}),
                         (fastann.activations.softmax, "softmax", {}), (fastann.activations.gelu, "gelu", {}),
                         (fastann.activations.silu, "swish", {}), (fastann.activations.tanh, "tanh", {}),
                         (fastann.activations.mish, "mish", {}), (fastann.activations.hard_swish, "hard_silu", {}),
                         (fastann.activations.softsign, "softsign", {}),
                         (fastann.activations.hard_sigmoid, "hard_sigmoid", {})]:
        ref = act_ref(name, x)
        assert_within(fn(x32), ref, act_tol(ref), f"activations.{fn.__name__}")
    xe = np.clip(x, -87.0, 80.0)  # where e^x is finite in float32
    ref = act_ref("exponential", xe)
    assert_within(fastann.activations.exponential(f32(xe)), ref, act_tol(ref), "activations.exponential")
    ref = act_ref("leaky_relu", x, 0.1)
    assert_within(fastann.activations.leaky_relu(x32, negative_slope=0.1), ref, act_tol(ref), "leaky wrapper")
    ref = act_ref("elu", x, 0.7)
    assert_within(fastann.activations.elu(x32, alpha=0.7), ref, act_tol(ref), "elu wrapper")
    # default slopes match the ops defaults (Keras: leaky 0.2, elu 1.0)
    np.testing.assert_array_equal(fastann.activations.leaky_relu(x32), ops.activation("leaky_relu", x32))
    np.testing.assert_array_equal(fastann.activations.elu(x32), ops.activation("elu", x32))


# ----------------------------------------------------------------------------------------------------------------
# gemm with fused epilogue


GEMM_SHAPES = [(1, 1, 1), (3, 1, 7), (7, 33, 17), (17, 16, 3), (33, 257, 15), (257, 31, 33),
               # the unpacked few-row path (m <= 8; columns split over threads once B is large), its m = 9 edge,
               # single-column products with many rows (run transposed) and a thin-k outer product
               (2, 784, 512), (5, 100, 129), (8, 64, 200), (9, 64, 200), (300, 64, 1), (64, 1, 300),
               # narrow products with A read in place (AVX-512: 9-16 rows in one block when n <= 16, else split)
               (12, 10, 16), (16, 24, 48), (40, 20, 64)]
EPILOGUES = {
    "plain": dict(),
    "alpha": dict(alpha=0.5),
    "alpha0_beta": dict(alpha=0.0, beta=2.0, c=True),
    "alpha_beta_c": dict(alpha=-1.25, beta=0.75, c=True),
    "beta1_c": dict(beta=1.0, c=True),
    "bias": dict(bias=True),
    "all": dict(alpha=0.5, beta=-2.0, c=True, bias=True),
    "relu": dict(alpha=1.5, beta=0.5, c=True, bias=True, activation="relu"),
    "sigmoid": dict(alpha=0.7, beta=1.0, c=True, bias=True, activation="sigmoid"),
    "tanh": dict(bias=True, activation="tanh"),
    "softmax": dict(alpha=0.5, beta=0.3, c=True, bias=True, activation="softmax"),
    "gelu": dict(beta=1.0, c=True, bias=True, activation="gelu"),
    "mish": dict(alpha=0.8, bias=True, activation="mish"),
    "hard_silu": dict(beta=0.5, c=True, bias=True, activation="hard_silu"),
    "softsign": dict(bias=True, activation="softsign"),
    "relu_nobias": dict(activation="relu"),
}
# Bounds of |act'|: an error e in the GEMM's output moves act's by at most this times e.
LIPSCHITZ = {None: 1.0, "linear": 1.0, "relu": 1.0, "tanh": 1.0, "sigmoid": 0.25, "gelu": 1.13, "mish": 1.1,
             "hard_silu": 1.5, "softsign": 1.0}


@pytest.mark.parametrize("epi", list(EPILOGUES), ids=str)
@pytest.mark.parametrize("m,k,n", GEMM_SHAPES, ids=str)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["NN", "NT", "TN", "TT"])
def test_gemm(isa, trans_a, trans_b, m, k, n, epi):
    spec = EPILOGUES[epi]
    rng = rng_for("gemm", m, k, n, epi, trans_a, trans_b)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    c = rng.standard_normal((m, n), dtype=np.float32) if spec.get("c") else None
    bias = rng.standard_normal(n, dtype=np.float32) if spec.get("bias") else None
    alpha = spec.get("alpha", 1.0)
    beta = spec.get("beta", 0.0)
    act = spec.get("activation")
    out = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, c=c, bias=bias, activation=act)

    a64 = a.astype(F64).T if trans_a else a.astype(F64)
    b64 = b.astype(F64).T if trans_b else b.astype(F64)
    c64 = None if c is None else c.astype(F64)
    bias64 = None if bias is None else bias.astype(F64)
    pre = alpha * (a64 @ b64)
    if c64 is not None:
        pre = pre + beta * c64
    if bias64 is not None:
        pre = pre + bias64
    bound = gemm_bound(a64, b64, k, alpha, beta, c64, bias64)
    if act is None:
        assert_within(out, pre, bound, f"gemm {epi}")
        return
    ref = act_ref(act, pre)
    if act == "softmax":
        tol = 2.0 * ref * bound.max(axis=-1, keepdims=True) + act_tol(ref)
    else:
        tol = LIPSCHITZ[act] * bound + act_tol(ref)
    assert_within(out, ref, tol, f"gemm {epi} ({act})")


@pytest.mark.parametrize("m,k,n", [(1, 784, 512), (3, 784, 512), (8, 1024, 1024), (256, 1024, 1), (1024, 256, 1)],
                         ids=str)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False)], ids=["NN", "NT", "TN"])
def test_gemm_thread_count_does_not_change_bits(isa, trans_a, trans_b, m, k, n):
    # Shapes whose columns are split across threads: each element is still one thread's full-k sum.
    rng = rng_for("gemm-bits", m, k, n, trans_a, trans_b)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    old = fastann.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            fastann.set_num_threads(t)
            outs.append(ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, activation="relu"))
    finally:
        fastann.set_num_threads(old)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_gemm_c_not_modified_and_threads(threads):
    rng = rng_for("gemmc")
    a = rng.standard_normal((65, 130), dtype=np.float32)
    b = rng.standard_normal((130, 257), dtype=np.float32)
    c = rng.standard_normal((65, 257), dtype=np.float32)
    c0 = c.copy()
    out = ops.gemm(a, b, beta=1.0, c=c)
    np.testing.assert_array_equal(c, c0)
    a64, b64 = a.astype(F64), b.astype(F64)
    assert_within(out, a64 @ b64 + c.astype(F64), gemm_bound(a64, b64, 130, 1.0, 1.0, c.astype(F64)), "gemm c")


def test_gemm_strided_and_float64_inputs():
    rng = rng_for("gemmstr")
    a = rng.standard_normal((40, 60))[::2, ::3]  # float64, strided: (20, 20)
    b = np.asfortranarray(rng.standard_normal((20, 33)))
    out = ops.gemm(a, b, trans_a=True, bias=np.arange(33))
    a64 = a.astype(np.float32).astype(F64).T
    b64 = b.astype(np.float32).astype(F64)
    bias64 = np.arange(33, dtype=F64)
    assert_within(out, a64 @ b64 + bias64, gemm_bound(a64, b64, 20, bias64=bias64), "gemm strided")


@pytest.mark.parametrize("m,k,n", [(3, 0, 4), (0, 5, 4), (3, 5, 0), (0, 0, 0), (1, 0, 1)], ids=str)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["NN", "NT", "TN", "TT"])
def test_gemm_zero_size(trans_a, trans_b, m, k, n):
    # k = 0: alpha * (empty sum = 0) + beta * c + bias, then the activation; m = 0 or n = 0: an empty result.
    a = np.ones((k, m) if trans_a else (m, k), np.float32)
    b = np.ones((n, k) if trans_b else (k, n), np.float32)
    c = np.full((m, n), 2.0, np.float32)
    out = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, alpha=3.0, beta=0.5, c=c, bias=np.full(n, -1.5),
                   activation="relu")
    assert out.shape == (m, n) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.zeros((m, n), np.float32))
    out = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, beta=0.5, c=c, bias=np.ones(n))
    np.testing.assert_array_equal(out, np.full((m, n), 2.0, np.float32))


@pytest.mark.parametrize("kw", [
    dict(a=(3, 4), b=(5, 6)),
    dict(a=(3, 4), b=(3, 6)),
    dict(a=(3, 4), b=(4, 6), trans_a=True),
    dict(a=(3, 4), b=(4, 6), trans_b=True),
    dict(a=(3, 4), b=(4, 6), bias=(5,)),
    dict(a=(3, 4), b=(4, 6), c=(3, 5), beta=1.0),
    dict(a=(3, 4, 1), b=(4, 6)),
], ids=str)
def test_gemm_shape_errors(kw):
    kw = dict(kw)
    a = np.ones(kw.pop("a"))
    b = np.ones(kw.pop("b"))
    for key in ("bias", "c"):
        if key in kw:
            kw[key] = np.ones(kw[key])
    with pytest.raises(ValueError):
        ops.gemm(a, b, **kw)


def test_gemm_unknown_activation_raises():
    with pytest.raises(ValueError):
        ops.gemm(np.ones((2, 2)), np.ones((2, 2)), activation="bogus")


# ----------------------------------------------------------------------------------------------------------------
# losses: float64 references returning per-sample losses, gradient and the gradient's cancellation scale


# Keras clips probabilities to [1e-7, 1 - 1e-7] in float32: these are those float32 bounds.
EPS = float(np.float32(1e-7))
EPS_HI = float(np.float32(1 - 1e-7))


def loss_rows(name, yt, yp, from_logits=False, delta=1.0):
    """Per-sample (per-row) losses in float64."""
    if name in ("mean_squared_error", "mse"):
        return ((yp - yt) ** 2).mean(axis=-1)
    if name in ("mean_absolute_error", "mae"):
        return np.abs(yp - yt).mean(axis=-1)
    if name == "huber":
        e = np.abs(yp - yt)
        return np.where(e <= delta, 0.5 * e * e, delta * (e - 0.5 * delta)).mean(axis=-1)
    if name == "binary_crossentropy":
        if from_logits:
            return (np.maximum(yp, 0) - yp * yt + np.log1p(np.exp(-np.abs(yp)))).mean(axis=-1)
        p = np.clip(yp, EPS, EPS_HI)
        return (-(yt * np.log(p) + (1 - yt) * np.log(1 - p))).mean(axis=-1)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if name.startswith("sparse"):
            yt = np.eye(yp.shape[-1])[yt.astype(int)]
        if from_logits:
            zmax = yp.max(axis=-1, keepdims=True)
            lse = zmax + np.log(np.exp(yp - zmax).sum(axis=-1, keepdims=True))
            return (yt * (lse - yp)).sum(axis=-1)
        q = np.clip(yp / yp.sum(axis=-1, keepdims=True), EPS, EPS_HI)
        return -(yt * np.log(q)).sum(axis=-1)
    raise KeyError(name)


def loss_grad_ref(name, yt, yp, from_logits=False, delta=1.0):
    """(grad, scale): analytic d mean(loss_rows) / d yp in float64, and the magnitude of the terms that cancel."""
    rows = yp.shape[0]
    cols = yp.shape[-1]
    n_el = rows * cols
    if name in ("mean_squared_error", "mse"):
        g = 2 * (yp - yt)
        return g / n_el, np.abs(g) / n_el
    if name in ("mean_absolute_error", "mae"):
        g = np.sign(yp - yt)
        return g / n_el, np.abs(g) / n_el
    if name == "huber":
        g = np.clip(yp - yt, -delta, delta)
        return g / n_el, np.abs(g) / n_el
    if name == "binary_crossentropy":
        if from_logits:
            s = _sigmoid(yp)
            return (s - yt) / n_el, (s + np.abs(yt)) / n_el
        inside = (yp >= EPS) & (yp <= EPS_HI)
        p = np.clip(yp, EPS, EPS_HI)
        t = np.abs(yt / p) + np.abs((1 - yt) / (1 - p))
        return np.where(inside, -yt / p + (1 - yt) / (1 - p), 0.0) / n_el, t / n_el
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if name.startswith("sparse"):
            yt = np.eye(cols)[yt.astype(int)]
        ysum = yt.sum(axis=-1, keepdims=True)
        if from_logits:
            s = _softmax(yp)
            return (s * ysum - yt) / rows, (s * np.abs(ysum) + np.abs(yt)) / rows
        S = yp.sum(axis=-1, keepdims=True)
        q = yp / S
        free = (q >= EPS) & (q <= EPS_HI)  # clipped entries pass no gradient
        w = np.divide(yt, q, out=np.zeros_like(q), where=free)  # -d loss / d q
        g = (-w + (w * q).sum(axis=-1, keepdims=True)) / S
        return g / rows, (np.abs(w) + np.abs(w * q).sum(axis=-1, keepdims=True)) / S / rows
    raise KeyError(name)


def loss_grad_fd(name, yt, yp, from_logits=False, delta=1.0, h=1e-6):
    """Central finite differences (float64) of mean(loss_rows) -- rows are independent, so perturb a column."""
    rows = yp.shape[0]
    g = np.empty_like(yp)
    for j in range(yp.shape[-1]):
        e = np.zeros_like(yp)
        e[:, j] = h
        fp = loss_rows(name, yt, yp + e, from_logits, delta)
        fm = loss_rows(name, yt, yp - e, from_logits, delta)
        g[:, j] = (fp - fm) / (2 * h) / rows
    return g


def make_loss_data(name, rows, cols, from_logits, delta, labels="hard"):
    rng = rng_for("loss", name, rows, cols, from_logits, delta, labels)
    shape = (rows, cols)
    if name in ("mean_squared_error", "mse", "mean_absolute_error", "mae", "huber"):
        yt = rng.standard_normal(shape) * 2
        yp = rng.standard_normal(shape) * 2
        yt, yp = f32(yt).astype(F64), f32(yp).astype(F64)
        # keep |y_pred - y_true| away from the kinks (0 for mae, delta for huber) by more than the FD step
        e = yp - yt
        for kink in (0.0, delta):
            near = np.abs(np.abs(e) - kink) < 1e-3
            yp = np.where(near, yt + np.sign(e + 1e-12) * (kink + 5e-3), yp)
            e = yp - yt
        return yt, f32(yp).astype(F64)
    if name == "binary_crossentropy":
        yt = rng.integers(0, 2, shape).astype(F64) if labels == "hard" else rng.random(shape)
        yp = rng.standard_normal(shape) * 3 if from_logits else rng.uniform(0.01, 0.99, shape)
    elif name == "categorical_crossentropy":
        if labels == "hard":
            yt = np.eye(cols)[rng.integers(0, cols, rows)]
        else:
            yt = rng.random(shape)
            yt /= yt.sum(axis=-1, keepdims=True)
        yp = rng.standard_normal(shape) * 3 if from_logits else rng.uniform(0.05, 1.0, shape)  # not normalised
    else:  # sparse
        yt = rng.integers(0, cols, rows).astype(F64)
        yp = rng.standard_normal(shape) * 3 if from_logits else rng.uniform(0.05, 1.0, shape)
        yp = yp if from_logits else yp / yp.sum(axis=-1, keepdims=True)
    return f32(yt).astype(F64), f32(yp).astype(F64)


LOSS_CASES = [
    ("mean_squared_error", False, 1.0, "hard"), ("mse", False, 1.0, "hard"),
    ("mean_absolute_error", False, 1.0, "hard"), ("mae", False, 1.0, "hard"),
    ("huber", False, 0.5, "hard"), ("huber", False, 1.0, "hard"), ("huber", False, 2.0, "hard"),
    ("binary_crossentropy", False, 1.0, "hard"), ("binary_crossentropy", False, 1.0, "soft"),
    ("binary_crossentropy", True, 1.0, "hard"), ("binary_crossentropy", True, 1.0, "soft"),
    ("categorical_crossentropy", False, 1.0, "hard"), ("categorical_crossentropy", False, 1.0, "soft"),
    ("categorical_crossentropy", True, 1.0, "hard"), ("categorical_crossentropy", True, 1.0, "soft"),
    ("sparse_categorical_crossentropy", False, 1.0, "hard"), ("sparse_categorical_crossentropy", True, 1.0, "hard"),
]
LOSS_IDS = [f"{n}-{'logits' if fl else 'probs'}-d{d}-{lab}" for n, fl, d, lab in LOSS_CASES]


def check_loss(name, yt, yp, from_logits, delta, fd=True, what=""):
    value, grad = ops.loss(name, f32(yt), f32(yp), from_logits=from_logits, delta=delta)
    assert isinstance(value, float), type(value)
    per_row = loss_rows(name, yt, yp, from_logits, delta)
    ref_value = per_row.mean()
    scale = 1.0 + np.abs(yp).max() if yp.size else 1.0
    assert math.isfinite(value)
    assert abs(value - ref_value) <= 1e-5 * abs(ref_value) + 1e-6 * scale, \
        f"{what}: value {value!r} != reference {ref_value!r}"
    grad = np.asarray(grad)
    assert grad.shape == yp.shape and grad.dtype == np.float32, (grad.shape, grad.dtype)
    g_ref, g_scale = loss_grad_ref(name, yt, yp, from_logits, delta)
    tol = 1e-5 * (np.abs(g_ref) + g_scale) + 1e-12
    assert_within(grad, g_ref, tol, f"{what}: gradient vs analytic")
    if fd:
        g_fd = loss_grad_fd(name, yt, yp, from_logits, delta)
        assert_within(grad, g_fd, tol + 1e-7 / yp.shape[0], f"{what}: gradient vs finite differences")


@pytest.mark.parametrize("cols", [1, 3, 10])
@pytest.mark.parametrize("rows", [1, 3, 17, 33])
@pytest.mark.parametrize("name,from_logits,delta,labels", LOSS_CASES, ids=LOSS_IDS)
def test_loss_value_and_grad(name, from_logits, delta, labels, rows, cols):
    yt, yp = make_loss_data(name, rows, cols, from_logits, delta, labels)
    check_loss(name, yt, yp, from_logits, delta, what=f"{name} rows={rows} cols={cols} logits={from_logits}")


@pytest.mark.parametrize("name", ["mse", "huber", "binary_crossentropy", "categorical_crossentropy"])
def test_loss_large_batch_threads(threads, name):
    yt, yp = make_loss_data(name, 1000, 17, name.endswith("entropy"), 1.0, "soft")
    check_loss(name, yt, yp, name.endswith("entropy"), 1.0, fd=False, what=f"{name} 1000x17 t{threads}")


def test_bce_clipping():
    # p exactly 0 or 1: Keras clips to [1e-7, 1 - 1e-7]; finite value, zero gradient at clipped entries.
    yt = np.array([[1.0, 0.0, 0.0, 1.0, 0.3, 1.0]])
    yp = np.array([[0.0, 1.0, 0.0, 1.0, 0.5, 0.2]])
    value, grad = ops.loss("binary_crossentropy", yt, yp)
    ref = loss_rows("binary_crossentropy", yt, yp).mean()
    assert math.isfinite(value)
    assert abs(value - ref) <= 1e-5 * ref, (value, ref)
    assert np.all(grad[0, :4] == 0.0), grad
    g_ref, _ = loss_grad_ref("binary_crossentropy", yt, yp)
    np.testing.assert_allclose(grad[0, 4:], g_ref[0, 4:], rtol=1e-5)
    # A confident wrong prediction costs what it costs in Keras: -log(1 - float32(1 - 1e-7)) = 15.9424.
    v_wrong, _ = ops.loss("binary_crossentropy", [[0.0]], [[1.0]])
    assert abs(v_wrong - 15.942385) < 1e-5, v_wrong


def test_cce_clipping_and_normalisation():
    yt = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    yp = np.array([[0.0, 2.0, 2.0], [0.0, 5.0, 1.0], [1.0, 2.0, 7.0]])  # a zero probability, unnormalised rows
    value, grad = ops.loss("categorical_crossentropy", yt, yp)
    ref = loss_rows("categorical_crossentropy", yt, yp).mean()
    assert math.isfinite(value) and np.all(np.isfinite(grad))
    assert abs(value - ref) <= 1e-5 * ref, (value, ref)
    g_ref, g_scale = loss_grad_ref("categorical_crossentropy", yt, yp)
    assert_within(grad, g_ref, 1e-5 * (np.abs(g_ref) + g_scale) + 1e-12, "cce clipped gradient")
    # scale invariance of the from-probabilities form (normalisation by the row sum)
    v2, _ = ops.loss("categorical_crossentropy", yt[2:], yp[2:] * 3.0)
    v1, _ = ops.loss("categorical_crossentropy", yt[2:], yp[2:])
    assert abs(v1 - v2) <= 1e-6 * abs(v1)


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_crossentropy_logits_extreme(name):
    z = np.array([[100.0, -100.0, 30.0], [-30.0, 0.0, 100.0], [1000.0, -1000.0, 0.0]])
    if name == "sparse_categorical_crossentropy":
        yt = np.array([1.0, 2.0, 0.0])
    elif name == "categorical_crossentropy":
        yt = np.eye(3)[[1, 2, 0]]
    else:
        yt = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    value, grad = ops.loss(name, yt, z, from_logits=True)
    assert math.isfinite(value) and np.all(np.isfinite(grad)), (value, grad)
    ref = loss_rows(name, yt, z, from_logits=True).mean()
    assert abs(value - ref) <= 1e-5 * abs(ref), (value, ref)
    g_ref, g_scale = loss_grad_ref(name, yt, z, from_logits=True)
    assert_within(grad, g_ref, 1e-5 * (np.abs(g_ref) + g_scale) + 1e-12, f"{name} extreme logits gradient")


@pytest.mark.parametrize("labels", [[0, 3, 1], [0, 1.5, 1], [-1, 0, 0], [0, 1, 1e9], [0, np.nan, 1]],
                         ids=["too-large", "non-integer", "negative", "huge", "nan"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_invalid_labels_raise(labels, from_logits):
    yp = np.full((3, 3), 1.0 / 3)
    with pytest.raises(ValueError):
        ops.loss("sparse_categorical_crossentropy", np.array(labels, dtype=F64), yp, from_logits=from_logits)


def test_loss_errors():
    with pytest.raises(ValueError):
        ops.loss("hinge_of_doom", np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError):
        ops.loss("mse", np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError):
        ops.loss("sparse_categorical_crossentropy", np.zeros(3), np.ones((4, 3)) / 3)


def test_loss_aliases_identical():
    yt, yp = make_loss_data("mse", 17, 3, False, 1.0)
    assert ops.loss("mse", yt, yp)[0] == ops.loss("mean_squared_error", yt, yp)[0]
    assert ops.loss("mae", yt, yp)[0] == ops.loss("mean_absolute_error", yt, yp)[0]
    yt = np.array([0, 2, 1])
    yp = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    vs, gs = ops.loss("sparse_categorical_crossentropy", yt, yp)
    vc, gc = ops.loss("categorical_crossentropy", np.eye(3)[yt], yp)
    assert abs(vs - vc) <= 1e-6 * vc
    np.testing.assert_allclose(gs, gc, rtol=1e-6, atol=1e-9)


def test_loss_wrappers():
    from fastann import losses
    yt, yp = make_loss_data("mse", 17, 3, False, 1.0)
    for obj, name, kw in [(losses.MeanSquaredError(), "mse", {}), (losses.MeanAbsoluteError(), "mae", {}),
                          (losses.Huber(delta=2.0), "huber", dict(delta=2.0))]:
        v = obj(f32(yt), f32(yp))
        ref = loss_rows(name, yt, yp, **kw).mean()
        assert abs(v - ref) <= 1e-5 * ref, (name, v, ref)
    yt, yp = make_loss_data("binary_crossentropy", 17, 3, True, 1.0, "soft")
    v = losses.BinaryCrossentropy(from_logits=True)(yt, yp)
    ref = loss_rows("binary_crossentropy", yt, yp, True).mean()
    assert abs(v - ref) <= 1e-5 * ref
    yt, yp = make_loss_data("sparse_categorical_crossentropy", 17, 10, False, 1.0)
    v = losses.SparseCategoricalCrossentropy()(yt, yp)
    ref = loss_rows("sparse_categorical_crossentropy", yt, yp).mean()
    assert abs(v - ref) <= 1e-5 * ref
    assert losses.get("mse")(yt[:, None], yt[:, None]) == 0.0
