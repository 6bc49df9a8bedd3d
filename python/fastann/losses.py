"""Losses (Keras names and semantics; computed in C++).

Each loss is the mean over the batch of a per-sample loss: mean over the last axis for mean_squared_error,
mean_absolute_error, huber and binary_crossentropy; sum over classes for the cross-entropies. After a sigmoid or
softmax output layer, the model computes cross-entropy from the pre-activation (log-sum-exp), as Keras does.
"""

from __future__ import annotations

from . import _core
from ._validate import as_float32

_NAMES = ("mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "huber_loss",
          "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
_CANONICAL = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber_loss": "huber"}


class Loss:
    """A loss with its options; calling it returns the batch-mean loss as a float."""

    _core_name = ""

    def __init__(self, from_logits=False, delta=1.0, reduction="sum_over_batch_size", name=None):
        if reduction != "sum_over_batch_size":
            raise NotImplementedError(f"{type(self).__name__}: reduction={reduction!r} is not supported yet")
        self.from_logits = bool(from_logits)
        self.delta = float(delta)
        self.name = name or self._core_name

    def __call__(self, y_true, y_pred) -> float:
        value, _ = _core.loss(self._core_name, as_float32(y_true, "y_true"), as_float32(y_pred, "y_pred"),
                              self.from_logits, self.delta)
        return value

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}


class MeanSquaredError(Loss):
    _core_name = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name)


class MeanAbsoluteError(Loss):
    _core_name = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name)


class Huber(Loss):
    _core_name = "huber"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        if not delta > 0:
            raise ValueError(f"Huber: delta must be > 0, got {delta!r}")
        super().__init__(delta=delta, reduction=reduction, name=name)

    def get_config(self) -> dict:
        return {"name": self.name, "delta": self.delta}


class BinaryCrossentropy(Loss):
    _core_name = "binary_crossentropy"


class CategoricalCrossentropy(Loss):
    _core_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    _core_name = "sparse_categorical_crossentropy"


_BY_NAME = {c._core_name: c for c in (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy,
                                      CategoricalCrossentropy, SparseCategoricalCrossentropy)}


def get(identifier) -> Loss:
    """A Loss from an instance (returned as is) or a Keras name ('mse', 'binary_crossentropy', ...)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _NAMES:
        return _BY_NAME[_CANONICAL.get(identifier, identifier)]()
    raise ValueError(f"unknown loss {identifier!r}; valid losses: {', '.join(_NAMES)}")


def from_config(config: dict):
    """The loss for a configuration as the C++ core reports it: its name when the options are the defaults."""
    cls = _BY_NAME[config["name"]]
    if cls is Huber:
        return config["name"] if config["delta"] == 1.0 else Huber(delta=config["delta"])
    if config["from_logits"]:
        return cls(from_logits=True)
    return config["name"]
