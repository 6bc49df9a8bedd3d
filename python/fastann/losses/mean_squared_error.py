"""MeanSquaredError: the mean over the last axis of the squared error."""

from __future__ import annotations

from .loss import Loss


class MeanSquaredError(Loss):
    _core_name = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction=reduction, name=name)
