"""The base class of Precision and Recall: one decision threshold in [0, 1]."""

from __future__ import annotations

from ._utils import _unit_threshold
from .metric import Metric


class _ThresholdMetric(Metric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        if top_k is not None or class_id is not None:
            raise NotImplementedError(f"{type(self).__name__}: top_k and class_id are not supported yet")
        if thresholds is None:
            thresholds = 0.5
        if isinstance(thresholds, (list, tuple)):
            if len(thresholds) != 1:
                raise NotImplementedError(f"{type(self).__name__}: only one threshold is supported, got {thresholds!r}")
            thresholds = thresholds[0]
        self.thresholds = _unit_threshold(thresholds, f"{type(self).__name__}: thresholds")

    def _params(self):
        return {"threshold": self.thresholds}

    def _public_params(self):
        return {"thresholds": self.thresholds}
