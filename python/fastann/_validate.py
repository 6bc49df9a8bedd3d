"""Argument conversion shared by the API modules: NumPy arrays in, float32 C-contiguous arrays out."""

from __future__ import annotations

import numpy as np


def as_float32(value, name: str) -> np.ndarray:
    """Returns `value` as a float32 C-contiguous array (no copy when it already is one)."""
    if type(value) is np.ndarray and value.dtype == np.float32 and value.flags.c_contiguous:
        return value  # the common case, checked first: it is on the per-call path of predict and the ops
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of numbers: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must contain numbers (bool, int or float), got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.float32, order="C")  # keeps 0-d arrays 0-d, unlike ascontiguousarray


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
