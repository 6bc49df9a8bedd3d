"""Utilities."""

from __future__ import annotations

import random

import numpy as np

from . import _core
from ._validate import integer as _integer


def set_random_seed(seed: int) -> None:
    """Seeds Python's `random`, NumPy's global generator and fastann's generator (weight initialisation and
    shuffling), as keras.utils.set_random_seed does. Same seed, same thread count: bitwise-identical training."""
    seed = _integer(seed, "seed", minimum=0, maximum=2**64 - 1)  # fastann's generator takes a 64-bit seed
    random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))
    _core.set_random_seed(int(seed))


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """One-hot encodes integer class indices (any shape; a trailing axis of 1 is dropped), as
    keras.utils.to_categorical: the result has shape y.shape + (num_classes,)."""
    arr = np.asarray(y)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("to_categorical: class indices must be integers")
    elif arr.dtype.kind not in "biu":
        raise TypeError(f"to_categorical: class indices must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.ndim > 1 and arr.shape[-1] == 1:
        arr = arr.reshape(arr.shape[:-1])
    if arr.size and arr.min() < 0:
        raise ValueError(f"to_categorical: class indices must be >= 0, got {arr.min()}")
    n = int(arr.max()) + 1 if num_classes is None and arr.size else (num_classes or 0)
    if arr.size and arr.max() >= n:
        raise ValueError(f"to_categorical: class index {arr.max()} is out of range for num_classes={n}")
    out = np.zeros(arr.shape + (n,), dtype=dtype)
    np.put_along_axis(out, arr[..., None], 1, axis=-1)
    return out
