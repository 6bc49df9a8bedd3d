"""Huber: quadratic within `delta` of the target, linear beyond."""

from __future__ import annotations

from .loss import Loss


class Huber(Loss):
    _core_name = "huber"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(delta=delta, reduction=reduction, name=name)

    def get_config(self) -> dict:
        return {"name": self.name, "delta": self.delta}
