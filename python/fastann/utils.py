"""Utilities."""

from __future__ import annotations

import random

import numpy as np

from . import _core


def set_random_seed(seed: int) -> None:
    """Seeds Python's `random`, NumPy's global generator and fastann's generator (weight initialisation and
    shuffling), as keras.utils.set_random_seed does. Same seed, same thread count: bitwise-identical training."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))
    _core.set_random_seed(int(seed))
