"""The CUDA GEMM kernels added next to the 64x64 FP32 kernel (the 128x128 FP32 kernel for large shapes, the TF32
tensor-core kernel) against NumPy in float64, and the stream-aware caching allocator. Like
tests/python/cuda/test_cuda.py, the GPU tests skip with a reason where no CUDA device is present. Run on a GPU machine:
python -m pytest tests/python/cuda/test_cuda_kernels.py -v

Which kernel runs (csrc/backends/cuda/gemm.cu, choose()): TF32 when fastann.cuda.allow_tf32() and compute capability
>= 8.0; else the 128x128 kernel when m, n >= 128 and ceil(m/128) * ceil(n/128) * batch >= 2 * SMs; else the 64x64
kernel.
Non-batched products with fewer tiles than SMs and a long k are split along k (split-K, tests below).
LARGE_SHAPES have at least 400 tiles of 128x128, so they select the 128x128 kernel on any GPU with up to 200 SMs
(an H100 has 132); the first straddles the tile edges (m, n = 21 * 128 + 9 / + 1; k not a multiple of 8)."""

import numpy as np
import pytest

import fastann
from fastann import _core

C = _core.cuda
GPU = fastann.cuda.is_available()
requires_gpu = pytest.mark.skipif(not GPU, reason="no CUDA device (fastann.cuda.is_available() is False: no CUDA "
                                  "backend, driver or GPU on this machine)")
# The kernel plans (which GEMM kernel, how many split-K slices) exist on a real GPU only: the test-only CUDA emulator
# runs host kernels and answers ("host", 1).
REAL_GPU = GPU and fastann.cuda.build_info().get("option") != "EMULATOR"
requires_real_gpu = pytest.mark.skipif(not REAL_GPU, reason="checks the CUDA kernels' plan: needs a real GPU (not the "
                                       "emulator)")
DEV = "cuda:0"
TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]
LARGE_SHAPES = [(2697, 2689, 517), (2560, 2560, 1024)]
# The brief's shapes: 64x64 kernel on big GPUs, 128x128 on GPUs with few SMs; correct either way.
MID_SHAPES = [(1024, 1024, 1024), (1031, 1029, 517)]
ODD_SHAPES = [(1, 1, 1), (17, 33, 1), (33, 17, 1000), (1000, 1, 17), (129, 257, 33), (5, 4, 0)]
TF32_EPS = 2.0 ** -11  # TF32 keeps 10 mantissa bits: rounding to nearest errs by at most 2**-11 relative


def rng(seed=0):
    return np.random.default_rng(seed)


def _operands(m, n, k, ta, tb, seed):
    r = rng(seed)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = r.standard_normal((m, n)).astype(np.float32)
    bias = r.standard_normal(n).astype(np.float32)
    prod = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    return a, b, c, bias, prod


def _act(name, z):
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return {"linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "tanh": np.tanh}[name](z)


@pytest.fixture
def tf32():
    """TF32 on for the test, off afterwards whatever happens (the flag is process-wide)."""
    fastann.cuda.set_allow_tf32(True)
    try:
        yield
    finally:
        fastann.cuda.set_allow_tf32(False)


def _check_gemm(m, n, k, ta, tb, atol, rtol, acts=("linear", "relu", "sigmoid", "softmax")):
    a, b, c, bias, prod = _operands(m, n, k, ta, tb, seed=m * 7 + n * 3 + k + 2 * ta + tb)
    alpha, beta = 0.5, 2.0
    ref = alpha * prod + beta * c.astype(np.float64) + bias
    for act in acts:
        got = C.gemm(a, b, ta, tb, alpha, beta, c, bias, act, None, DEV)
        tol = 2 * atol if act == "softmax" else atol  # softmax is 2-Lipschitz in the max-norm
        np.testing.assert_allclose(got, _act(act, ref), rtol=rtol, atol=tol, err_msg=f"act={act}")
    # beta == 0 must not read c (the binding fills c with NaN when none is given), no bias, alpha 1.
    got = C.gemm(a, b, ta, tb, 1.0, 0.0, None, None, "linear", None, DEV)
    np.testing.assert_allclose(got, prod, rtol=rtol, atol=2 * atol)


# --- the 128x128 FP32 kernel ----------------------------------------------------------------------------------

FP32_TOL = lambda k: dict(rtol=1e-4, atol=1e-4 * max(1, k) ** 0.5)  # noqa: E731 (as tests/python/cuda/test_cuda.py)


@requires_gpu
@pytest.mark.parametrize("m,n,k", LARGE_SHAPES + MID_SHAPES)
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
def test_large_tile_fp32_gemm_against_numpy(m, n, k, ta, tb):
    assert fastann.cuda.allow_tf32() is False
    _check_gemm(m, n, k, ta, tb, **FP32_TOL(k))


@requires_gpu
def test_large_tile_fp32_gemm_unaligned_operands():
    # Odd leading dimensions (not multiples of 4): the scalar, bounds-checked load path of every kernel.
    for ta, tb in TRANSPOSES:
        _check_gemm(2697, 2689, 515, ta, tb, acts=("linear",), **FP32_TOL(515))


@requires_gpu
def test_large_tile_batched_matmul():
    # 40 products of 385x383x203: 4 * 3 * 40 = 480 tiles of 128x128 -> the 128x128 kernel with grid z.
    r = rng(5)
    a = r.standard_normal((40, 385, 203)).astype(np.float32)
    b = r.standard_normal((40, 203, 383)).astype(np.float32)
    np.testing.assert_allclose(C.matmul(a, b, DEV), np.matmul(a.astype(np.float64), b.astype(np.float64)),
                               **FP32_TOL(203))
    # Broadcast b (every product reads the same b) with k a multiple of 4 (the float4 path).
    a = r.standard_normal((30, 400, 256)).astype(np.float32)
    b = r.standard_normal((256, 420)).astype(np.float32)
    np.testing.assert_allclose(C.matmul(a, b, DEV), np.matmul(a.astype(np.float64), b.astype(np.float64)),
                               **FP32_TOL(256))


# --- TF32 -------------------------------------------------------------------------------------------------------
# Tolerance. Each input is rounded to TF32 with relative error <= 2**-11; a product a_i b_i then errs by about
# |a_i b_i| (d_a + d_b), with d uniform in +-2**-11 (the sum has standard deviation sqrt(2/3) * 2**-11 ~ 0.82 *
# 2**-11), and k such errors with random signs add up to a standard deviation of ~0.82 * 2**-11 * sqrt(k) *
# rms(a_i b_i) (= 1 for standard normal operands); float32 accumulation adds ~2**-24 * sqrt(k), negligible. Outputs
# are scaled by alpha. Over up to ~7e6 outputs the largest deviation is ~5.5 standard deviations (~4.5 * 2**-11 *
# sqrt(k) * alpha), so atol = 8 * 2**-11 * sqrt(k) * alpha bounds it with margin. relu and sigmoid are 1-Lipschitz;
# softmax is 2-Lipschitz in the max-norm, so _check_gemm doubles atol for it (and for the alpha = 1 check).

def TF32_TOL(k, alpha=0.5):
    return dict(rtol=4 * TF32_EPS, atol=8 * TF32_EPS * max(1, k) ** 0.5 * alpha)


@requires_gpu
@pytest.mark.parametrize("m,n,k", ODD_SHAPES + MID_SHAPES + LARGE_SHAPES[:1])
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
def test_tf32_gemm_against_numpy(tf32, m, n, k, ta, tb):
    _check_gemm(m, n, k, ta, tb, **TF32_TOL(k))


@requires_gpu
def test_tf32_gemm_unaligned_operands(tf32):
    for ta, tb in TRANSPOSES:
        _check_gemm(131, 67, 203, ta, tb, acts=("linear", "relu"), **TF32_TOL(203))


@requires_gpu
def test_tf32_batched_matmul(tf32):
    r = rng(6)
    for sa, sb in [((6, 33, 17), (6, 17, 65)), ((40, 129, 96), (96, 130)), ((3, 1, 1), (3, 1, 1))]:
        a, b = r.standard_normal(sa).astype(np.float32), r.standard_normal(sb).astype(np.float32)
        k = sa[-1]
        np.testing.assert_allclose(C.matmul(a, b, DEV), np.matmul(a.astype(np.float64), b.astype(np.float64)),
                                   **TF32_TOL(k, alpha=1.0))


@requires_gpu
def test_tf32_off_gives_fp32_accuracy_and_on_is_tf32():
    m = n = k = 1024
    a, b, _, _, prod = _operands(m, n, k, False, False, seed=9)
    off = C.gemm(a, b, False, False, 1.0, 0.0, None, None, "linear", None, DEV)
    err_off = np.abs(off - prod).max()
    # FP32: errors ~2**-24 * sqrt(k) * a few; far below TF32's ~2**-11 * sqrt(k).
    assert err_off < 1e-4 * k ** 0.5, err_off
    fastann.cuda.set_allow_tf32(True)
    try:
        on = C.gemm(a, b, False, False, 1.0, 0.0, None, None, "linear", None, DEV)
    finally:
        fastann.cuda.set_allow_tf32(False)
    err_on = np.abs(on - prod).max()
    assert err_on < 8 * TF32_EPS * k ** 0.5, err_on
    name = fastann.cuda.get_device_name(0)
    if any(s in name for s in ("A100", "A30", "H100", "H200", "H800", "A800", "GH200")):
        # Compute capability >= 8.0: the TF32 kernel ran, so the error is TF32-sized (expected max ~0.05 here).
        assert err_on > 20 * err_off and err_on > 2 ** -11, (err_on, err_off)
    # Switching back gives the FP32 result again (bit-identical: same kernel, same inputs).
    np.testing.assert_array_equal(C.gemm(a, b, False, False, 1.0, 0.0, None, None, "linear", None, DEV), off)


# --- split-K (csrc/backends/cuda/gemm.cu, plan_gemm) ------------------------------------------------------------
# Non-batched products whose output has fewer tiles than the GPU has SMs and whose k is long are computed as S
# k slices into a workspace, then summed in slice order with the epilogue applied by a reduce kernel.
# SPLIT_SHAPES: a width-64 layer's weight gradient at batch 65536 (one 64x64 tile), mnist_mlp's 784x512 gradient at
# batch 1024 (104 tiles: split on GPUs with more than 104 SMs), a single output over k = 100000, and a shape that
# straddles the tile edges with k = 4097 (odd: the last slice is short and the non-transposed loads are scalar).
# ALWAYS_SPLIT: the shapes with at most 2 tiles of the FP32 (64x64) and TF32 (128x128) kernels, which split on any
# GPU with at least 3 SMs.
# Tolerance: FP32_TOL(k), atol = 1e-4 sqrt(k). Standard-normal operands make each output a sum of k products with
# |partial sums| ~ sqrt(j); each float32 add rounds by ~2**-24 |partial sum|, so even one sequential sum over all
# of k errs by about 2**-24 k / sqrt(6) (1.6e-3 at k = 65536); the split shortens the sequential runs to one slice,
# so the error is smaller still. atol is 16x that sequential estimate at k = 65536 (0.026) and more at smaller k,
# while a slice lost or counted twice (>= 16 products) moves an output by ~4 (standard deviation sqrt(16)).
SPLIT_SHAPES = [(64, 64, 65536), (784, 512, 1024), (1, 1, 100000), (65, 63, 4097)]
ALWAYS_SPLIT = [(64, 64, 65536), (1, 1, 100000), (65, 63, 4097)]


@requires_real_gpu
@pytest.mark.parametrize("m,n,k", ALWAYS_SPLIT)
def test_split_k_plan(m, n, k):
    assert fastann.cuda.allow_tf32() is False
    for ta, tb in TRANSPOSES:
        kernel, splits = C._gemm_plan(m, n, k, ta, tb, DEV)
        assert kernel == "small" and splits > 1, (kernel, splits)
        # Each slice has at least 8 k-steps of 16.
        assert splits <= k // 128
    # Not split: k too short for two slices of 128, an empty k, and a large output (>= 1 tile per SM).
    assert C._gemm_plan(64, 64, 255, False, False, DEV)[1] == 1
    assert C._gemm_plan(5, 4, 0, False, False, DEV)[1] == 1
    assert C._gemm_plan(2560, 2560, 1024, False, False, DEV) == ("large", 1)


@requires_real_gpu
def test_split_k_plan_tf32(tf32):
    kernel, splits = C._gemm_plan(64, 64, 65536, True, False, DEV)
    name = fastann.cuda.get_device_name(0)
    if any(s in name for s in ("A100", "A30", "H100", "H200", "H800", "A800", "GH200")):
        assert kernel == "tf32" and splits > 1, (kernel, splits)


@requires_gpu
@pytest.mark.parametrize("m,n,k", SPLIT_SHAPES)
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
def test_split_k_gemm_against_numpy(m, n, k, ta, tb):
    # _check_gemm: alpha 0.5, beta 2 with c, bias, linear/relu/sigmoid/softmax; then beta 0 with c all NaN (the
    # reduce must not read it) and alpha 1.
    _check_gemm(m, n, k, ta, tb, **FP32_TOL(k))


@requires_gpu
@pytest.mark.parametrize("m,n,k", [(64, 64, 65536), (65, 63, 4097)])
@pytest.mark.parametrize("ta,tb", TRANSPOSES)
def test_split_k_tf32_gemm_against_numpy(tf32, m, n, k, ta, tb):
    _check_gemm(m, n, k, ta, tb, acts=("linear", "sigmoid", "softmax"), **TF32_TOL(k))


@requires_gpu
@pytest.mark.parametrize("use_tf32", [False, True])
def test_split_k_is_bitwise_repeatable(use_tf32):
    # No atomics: the partials are summed in slice order, so repeated calls give identical bits.
    fastann.cuda.set_allow_tf32(use_tf32)
    try:
        for m, n, k in [(64, 64, 65536), (65, 63, 4097)]:
            a, b, c, bias, _ = _operands(m, n, k, True, False, seed=11)
            first = C.gemm(a, b, True, False, 0.5, 2.0, c, bias, "relu", None, DEV)
            for _ in range(4):
                np.testing.assert_array_equal(C.gemm(a, b, True, False, 0.5, 2.0, c, bias, "relu", None, DEV), first)
    finally:
        fastann.cuda.set_allow_tf32(False)


@requires_gpu
def test_split_k_weight_gradient_shape():
    # dW = x^T dz as training computes it: x (batch, fan_in), dz (batch, units), trans_a.
    r = rng(12)
    x = r.standard_normal((65536, 64)).astype(np.float32)
    dz = r.standard_normal((65536, 64)).astype(np.float32)
    got = C.gemm(x, dz, True, False, 1.0, 0.0, None, None, "linear", None, DEV)
    np.testing.assert_allclose(got, x.T.astype(np.float64) @ dz.astype(np.float64), rtol=1e-4, atol=1e-4 * 256)


def test_gemm_plan_binding_exists_when_built():
    if fastann.cuda.is_built():
        assert hasattr(C, "_gemm_plan")


# --- the stream-aware caching allocator -------------------------------------------------------------------------

@requires_gpu
def test_allocator_blocks_stay_with_their_stream():
    p = C._allocator_stream_probe(0)
    # A block freed by work on stream s1 is not handed to the default stream or to stream s2 ...
    assert p["default_got_s1_block"] is False
    assert p["s2_got_s1_block"] is False
    # ... but is reused on s1.
    assert p["s1_reused_its_block"] is True
    # Retiring s1 (its handle dropped) moves its cached blocks to the default stream, and its live blocks return
    # there when freed.
    assert p["default_got_retired_free_block"] is True
    assert p["default_got_retired_live_block"] is True
    # empty_cache frees the cached blocks of every stream: nothing reserved beyond the live blocks.
    assert p["reserved_before_empty"] > p["reserved_after_empty"]
    assert p["reserved_after_empty"] == p["allocated_after_empty"]


@requires_gpu
def test_allocator_probe_leaves_the_cache_usable():
    # Ops on the default stream after the probe still work and reuse memory.
    C._allocator_stream_probe(0)
    x = rng(3).standard_normal((300, 200)).astype(np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(C.roundtrip(x, DEV), x)
    before = fastann.cuda.memory_stats(0)
    np.testing.assert_array_equal(C.roundtrip(x, DEV), x)
    after = fastann.cuda.memory_stats(0)
    assert after["device_allocs"] == before["device_allocs"]


def test_probe_binding_exists_when_built():
    if fastann.cuda.is_built():
        assert hasattr(C, "_allocator_stream_probe")
