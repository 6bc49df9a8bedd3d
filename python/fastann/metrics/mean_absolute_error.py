"""MeanAbsoluteError, the metric."""

from __future__ import annotations

from .metric import Metric


class MeanAbsoluteError(Metric):
    _core_name = "mean_absolute_error"
    _default_name = "mean_absolute_error"
