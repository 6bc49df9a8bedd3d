"""Losses (Keras names and semantics; computed in C++).

Each loss is the mean over the batch of a per-sample loss: mean over the last axis for mean_squared_error,
mean_absolute_error, huber and binary_crossentropy; sum over classes for the cross-entropies. After a sigmoid or
softmax output layer, the model computes cross-entropy from the pre-activation (log-sum-exp), as Keras does.
"""

from __future__ import annotations

from .._module_path import set_module as _set_module
from .binary_crossentropy import BinaryCrossentropy
from .categorical_crossentropy import CategoricalCrossentropy
from .huber import Huber
from .loss import Loss
from .mean_absolute_error import MeanAbsoluteError
from .mean_squared_error import MeanSquaredError
from .serialization import from_config, get
from .sparse_categorical_crossentropy import SparseCategoricalCrossentropy

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "get", "from_config"]

_set_module(globals(), __all__)
del _set_module
