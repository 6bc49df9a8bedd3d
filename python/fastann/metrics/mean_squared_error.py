"""MeanSquaredError, the metric."""

from __future__ import annotations

from .metric import Metric


class MeanSquaredError(Metric):
    _core_name = "mean_squared_error"
    _default_name = "mean_squared_error"
