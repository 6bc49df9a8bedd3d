"""Recall: true positives over actual positives, over the epoch."""

from __future__ import annotations

from ._base import _ThresholdMetric


class Recall(_ThresholdMetric):
    """true positives / (true positives + false negatives) over the epoch, a prediction > thresholds (0.5) being
    positive and a target other than 0 being true (0 when no target is true)."""

    _core_name = "recall"
    _default_name = "recall"
