"""Losses by name: `get` ('mse', an instance) and `from_config` (the C++ core's configuration)."""

from __future__ import annotations

from .._validate import config_dict as _config_dict
from .binary_crossentropy import BinaryCrossentropy
from .categorical_crossentropy import CategoricalCrossentropy
from .huber import Huber
from .loss import Loss
from .mean_absolute_error import MeanAbsoluteError
from .mean_squared_error import MeanSquaredError
from .sparse_categorical_crossentropy import SparseCategoricalCrossentropy

_NAMES = ("mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "huber_loss",
          "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")

_CANONICAL = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber_loss": "huber"}

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
    cls = _BY_NAME.get(_config_dict(config, "a loss config", "name")["name"])
    if cls is None:
        raise ValueError(f"unknown loss {config['name']!r}")
    if cls is Huber:
        return config["name"] if config["delta"] == 1.0 else Huber(delta=config["delta"])
    if config["from_logits"]:
        return cls(from_logits=True)
    return config["name"]
