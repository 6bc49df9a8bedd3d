"""Precision: true positives over predicted positives, over the epoch."""

from __future__ import annotations

from ._base import _ThresholdMetric


class Precision(_ThresholdMetric):
    """true positives / (true positives + false positives) over the epoch, a prediction > thresholds (0.5) being
    positive and a target other than 0 being true (0 when nothing is predicted positive)."""

    _core_name = "precision"
    _default_name = "precision"
