"""CategoricalAccuracy: argmax of the prediction against the one-hot target."""

from __future__ import annotations

from .metric import Metric


class CategoricalAccuracy(Metric):
    """How often the argmax of the prediction is the argmax of the one-hot target."""

    _core_name = "categorical_accuracy"
    _default_name = "categorical_accuracy"
