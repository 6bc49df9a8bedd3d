"""Argument checks shared by the metrics."""

from __future__ import annotations

import numbers

from .._validate import positive_int


def _positive_int(value, what):
    return positive_int(value, what)  # Python or NumPy integers up to 2**63 - 1


def _unit_threshold(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    return float(value)
