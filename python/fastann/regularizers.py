"""Weight and activity regularizers (Keras names and defaults): `L1(l1=0.01)`, `L2(l2=0.01)`, `L1L2(l1=0, l2=0)`, or
the strings 'l1', 'l2' and 'l1_l2' (Keras 2's l1_l2: l1 = l2 = 0.01).

    Dense(64, kernel_regularizer=regularizers.L2(1e-4), activity_regularizer="l1")

A regularizer adds l1 * sum|x| + l2 * sum x^2 to the loss of every batch (and to the reported loss, as Keras 3 does);
activity penalties are divided by the batch size. The penalty and its gradient are computed in C++.
"""

from __future__ import annotations

import math

import numpy as np

from . import _core
from ._validate import as_float32
from ._validate import config_dict as _config_dict


def _penalty(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float, got {value!r}")
    return float(value)


class Regularizer:
    """Base class: a penalty l1 * sum|x| + l2 * sum x^2 of a weight or a layer output."""

    _name = "l1_l2"
    l1 = 0.0
    l2 = 0.0

    def __call__(self, x) -> float:
        """The penalty of array x (computed by the C++ kernel the training step uses)."""
        return _core.regularizer(self.l1, self.l2, as_float32(x, "x"))[0]

    def _spec(self) -> dict:
        return {"name": self._name, "l1": self.l1, "l2": self.l2}

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    def __eq__(self, other):
        return type(self) is type(other) and self._spec() == other._spec()

    def __hash__(self):
        return hash((type(self).__name__, self.l1, self.l2))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """l1 * sum|x| + l2 * sum x^2."""

    _name = "l1_l2"

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _penalty(0.0 if l1 is None else l1, "l1")
        self.l2 = _penalty(0.0 if l2 is None else l2, "l2")


class L1(Regularizer):
    """l1 * sum|x|."""

    _name = "l1"

    def __init__(self, l1=0.01):
        self.l1 = _penalty(0.01 if l1 is None else l1, "l1")

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum x^2."""

    _name = "l2"

    def __init__(self, l2=0.01):
        self.l2 = _penalty(0.01 if l2 is None else l2, "l2")

    def get_config(self) -> dict:
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01) -> L1L2:
    """Keras 2's function: L1L2 with both penalties 0.01 by default."""
    return L1L2(l1=l1, l2=l2)


l1 = L1
l2 = L2

_STRINGS = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """None, a Regularizer, a name ('l1', 'l2', 'l1_l2') or a Keras config dict {'class_name': ..., 'config': ...}."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _STRINGS:
            raise ValueError(f"unknown regularizer {identifier!r}; valid regularizers: 'l1', 'l2', 'l1_l2', or "
                             "fastann.regularizers.L1(...), L2(...), L1L2(...)")
        return _STRINGS[identifier]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = {"L1": L1, "L2": L2, "L1L2": L1L2}.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"unknown regularizer class {identifier['class_name']!r}")
        return cls(**identifier.get("config", {}))
    raise TypeError(f"a regularizer must be None, a name or a fastann.regularizers.Regularizer, got {identifier!r}")


def spec(regularizer):
    """The dict the C++ core takes (None stays None)."""
    return None if regularizer is None else get(regularizer)._spec()


def from_spec(spec_dict):
    """The Regularizer for a spec from the model's JSON config ({'name', 'l1', 'l2'} or None)."""
    if spec_dict is None:
        return None
    name = _config_dict(spec_dict, "a regularizer spec", "name")["name"]
    if name == "l1":
        return L1(spec_dict["l1"])
    if name == "l2":
        return L2(spec_dict["l2"])
    return L1L2(spec_dict["l1"], spec_dict["l2"])


def serialize(regularizer):
    regularizer = get(regularizer)  # a name or a config dict as get() takes them; TypeError for anything else
    return None if regularizer is None else {"class_name": type(regularizer).__name__,
                                             "config": regularizer.get_config()}
