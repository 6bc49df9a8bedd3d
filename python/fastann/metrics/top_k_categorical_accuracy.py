"""TopKCategoricalAccuracy: how often the target class is among the k largest predictions."""

from __future__ import annotations

from ._utils import _positive_int
from .metric import Metric


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot target's class is among the k largest predictions (ties at the k-th value count as
    in, as TensorFlow's in_top_k)."""

    _core_name = "top_k_categorical_accuracy"
    _default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(name, dtype)
        self.k = _positive_int(k, f"{type(self).__name__}: k")

    def _params(self):
        return {"k": self.k}
