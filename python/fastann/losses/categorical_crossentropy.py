"""CategoricalCrossentropy: for one-hot targets."""

from __future__ import annotations

from .loss import Loss


class CategoricalCrossentropy(Loss):
    _core_name = "categorical_crossentropy"
