"""SparseCategoricalCrossentropy: for class-index targets."""

from __future__ import annotations

from .loss import Loss


class SparseCategoricalCrossentropy(Loss):
    _core_name = "sparse_categorical_crossentropy"
