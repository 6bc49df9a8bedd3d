"""The NumPy <-> Tensor conversion of the bindings (csrc/bindings/numpy.hpp), for every Tensor dtype.

float32, int32 and int64 arrays round-trip exactly (values, shape, dtype) through a Tensor view and a copy of it;
bfloat16 leaves as uint16 bits (whether ml_dtypes is installed or not) and comes in as uint16 bits when asked for,
or as an ml_dtypes.bfloat16 array where ml_dtypes is installed. The bfloat16 rounding is checked against a NumPy
round-to-nearest-even of the float32 bits.
"""

import numpy as np
import pytest

from fastann import _core

SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 0, 4), (2, 3, 1, 4)]


def _values(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        v = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        if v.size >= 2:
            v.flat[0], v.flat[-1] = info.min, info.max
        return v
    return rng.standard_normal(shape).astype(dtype)


def _bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (NaN stays a quiet NaN), in NumPy."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), rounded)


def _bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_roundtrip_is_exact(dtype, shape):
    a = _values(dtype, shape)
    out = _core.tensor_roundtrip(a)
    assert out.dtype == np.dtype(dtype)
    assert out.shape == a.shape
    np.testing.assert_array_equal(out, a)
    assert out.flags.c_contiguous and out.flags.writeable
    if a.size:
        assert not np.shares_memory(out, a)  # the copy is the Tensor's own buffer, handed over to NumPy


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_roundtrip_with_the_dtype_named(dtype):
    a = _values(np.dtype(dtype), (4, 3))
    np.testing.assert_array_equal(_core.tensor_roundtrip(a, dtype), a)


def test_float32_special_values_roundtrip_bitwise():
    a = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3.4e38], dtype=np.float32)
    out = _core.tensor_roundtrip(a)
    np.testing.assert_array_equal(out.view(np.uint32), a.view(np.uint32))


def test_bfloat16_is_uint16_bits_both_ways():
    bits = np.array([[0x3F80, 0xBF80, 0x7F80], [0xFF80, 0x7FC0, 0x0001]], dtype=np.uint16)
    out = _core.tensor_roundtrip(bits, "bfloat16")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, bits)
    # bfloat16 -> float32 is exact: the bits become the upper half of the float32
    wide = _core.tensor_astype(bits, "float32", "bfloat16")
    np.testing.assert_array_equal(wide.view(np.uint32), bits.astype(np.uint32) << 16)


def test_float32_to_bfloat16_rounds_to_nearest_even():
    x = np.concatenate([
        _values(np.float32, (257,), seed=3),
        np.array([1.0, 1.00390625, 1.005859375, 1.01171875, -2.5, 65504.0, 3.4e38, 1e-40, 0.0, -0.0,
                  np.inf, -np.inf, np.nan], dtype=np.float32),
    ])
    bits = _core.tensor_astype(x, "bfloat16")
    assert bits.dtype == np.uint16 and bits.shape == x.shape
    np.testing.assert_array_equal(bits, _bf16_bits(x))
    wide = _core.tensor_astype(bits, "float32", "bfloat16")
    np.testing.assert_array_equal(wide, _bf16_to_f32(bits))


def test_uint16_is_not_bfloat16_unless_asked():
    with pytest.raises(TypeError, match="uint16"):
        _core.tensor_roundtrip(np.zeros(3, dtype=np.uint16))
    with pytest.raises(TypeError, match="expected an array of int32"):
        _core.tensor_roundtrip(np.zeros(3, dtype=np.int64), "int32")


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.bool_, np.uint8, np.complex64])
def test_other_dtypes_raise_type_error(dtype):
    with pytest.raises(TypeError, match="float32, int32, int64 or bfloat16"):
        _core.tensor_roundtrip(np.zeros(3, dtype=dtype))


def test_non_contiguous_raises_value_error():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.tensor_roundtrip(a[:, ::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.tensor_roundtrip(np.asfortranarray(a))
    np.testing.assert_array_equal(_core.tensor_roundtrip(np.ascontiguousarray(a[:, ::2])), a[:, ::2])


def test_int_to_float_astype():
    a = np.array([[-3, 0, 7], [2**24, -(2**24), 5]], dtype=np.int64)
    np.testing.assert_array_equal(_core.tensor_astype(a, "float32"), a.astype(np.float32))
    np.testing.assert_array_equal(_core.tensor_astype(a.astype(np.int32), "int64"), a)


def test_ml_dtypes_bfloat16_arrays_are_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = _values(np.float32, (5, 3), seed=7)
    a = x.astype(ml_dtypes.bfloat16)
    out = _core.tensor_roundtrip(a)
    assert out.dtype == np.uint16  # out is always the bits, ml_dtypes or not
    np.testing.assert_array_equal(out, a.view(np.uint16))
    np.testing.assert_array_equal(out.view(ml_dtypes.bfloat16), a)
    np.testing.assert_array_equal(_core.tensor_astype(a, "float32"), a.astype(np.float32))
    np.testing.assert_array_equal(_core.tensor_astype(x, "bfloat16"), a.view(np.uint16))
