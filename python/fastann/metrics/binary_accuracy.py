"""BinaryAccuracy: how often the thresholded prediction equals the target."""

from __future__ import annotations

import numbers

from .metric import Metric


class BinaryAccuracy(Metric):
    """How often (prediction > threshold) equals the target, per output and averaged over the outputs."""

    _core_name = "binary_accuracy"
    _default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or threshold != threshold:
            raise ValueError(f"BinaryAccuracy: threshold must be a number, got {threshold!r}")
        self.threshold = float(threshold)

    def _params(self):
        return {"threshold": self.threshold}
