"""BinaryCrossentropy."""

from __future__ import annotations

from .loss import Loss


class BinaryCrossentropy(Loss):
    _core_name = "binary_crossentropy"
