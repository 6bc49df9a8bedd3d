"""Argument conversion shared by the API modules: NumPy arrays in, float32 C-contiguous arrays out; integer and
real arguments checked and converted before they reach fastann._core.

Every numeric argument of the public API goes through `integer` or `number`: they accept Python and NumPy numbers
(not bool), bound integers to what the core's 64-bit sizes hold (2**63 - 1), and raise ValueError naming the
argument, so that no call ever reaches a binding with a value pybind11 would reject with its signature dump."""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

INT64_MAX = 2**63 - 1


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


def is_integer(value) -> bool:
    """A Python or NumPy integer (bool is not one: True is no batch size)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value) -> bool:
    """A Python or NumPy real number (int or float; not bool, not complex)."""
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def integer(value, name: str, minimum: int | None = None, maximum: int = INT64_MAX) -> int:
    """`value` as a Python int in [minimum, maximum] (maximum at most 2**63 - 1, the core's sizes); ValueError
    naming `name` otherwise ("a positive integer" for minimum 1, "a non-negative integer" for 0)."""
    if minimum == 1 and maximum == INT64_MAX:
        kind = "a positive integer"
    elif minimum == 0 and maximum == INT64_MAX:
        kind = "a non-negative integer"
    elif minimum is None:
        kind = f"an integer of at most {maximum}"
    else:
        kind = f"an integer in [{minimum}, {maximum}]"
    if not is_integer(value):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    v = operator.index(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be {kind}, got {v}")
    if v > maximum or v < -INT64_MAX - 1:
        raise ValueError(f"{name} must be {kind} (at most {maximum}), got {v}")
    return v


def positive_int(value, name: str) -> int:
    return integer(value, name, minimum=1)


def non_negative_int(value, name: str) -> int:
    return integer(value, name, minimum=0)


def number(value, name: str, minimum: float | None = None, maximum: float | None = None, *,
           min_open: bool = False, max_open: bool = False, finite: bool = True) -> float:
    """`value` (a Python or NumPy int or float) as a Python float in the given range; ValueError naming `name` for
    anything else: a non-number, NaN, an infinity (unless finite=False) or a value out of range."""
    lo = "" if minimum is None else ("(" if min_open else "[") + f"{minimum:g}"
    hi = "" if maximum is None else f"{maximum:g}" + (")" if max_open else "]")
    kind = "a finite number" if finite else "a number"
    if minimum is not None or maximum is not None:
        kind += f" in {lo or '(-inf'}, {hi or 'inf)'}"
    if not is_number(value):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int past the float range
        raise ValueError(f"{name} must be {kind}, got {value!r}") from None
    bad = math.isnan(v) or (finite and math.isinf(v))
    if minimum is not None:
        bad = bad or (v <= minimum if min_open else v < minimum)
    if maximum is not None:
        bad = bad or (v >= maximum if max_open else v > maximum)
    if bad:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return v


def boolean(value, name: str) -> bool:
    """A Python or NumPy bool (or the ints 0 and 1, as Keras's flags take them)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if is_integer(value) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def config_dict(value, name: str, *keys: str) -> dict:
    """`value` as a config dict holding `keys` (TypeError for a non-dict, ValueError for a missing key): the
    from_config / from_spec readers check their argument before indexing it."""
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"{name} must have the key(s) {', '.join(map(repr, missing))}, got {value!r}")
    return value
