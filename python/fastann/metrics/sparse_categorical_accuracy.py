"""SparseCategoricalAccuracy: argmax of the prediction against the class index."""

from __future__ import annotations

from .metric import Metric


class SparseCategoricalAccuracy(Metric):
    """How often the argmax of the prediction is the class-index target."""

    _core_name = "sparse_categorical_accuracy"
    _default_name = "sparse_categorical_accuracy"
