"""The base class of the callbacks that watch a metric (min or max, min_delta, baseline)."""

from __future__ import annotations

import warnings

from .._validate import number as _number
from .callback import Callback

# Metrics whose larger values are better; every other metric fastann has (loss, mse, mae, ...) is better smaller.
_HIGHER_IS_BETTER = {"accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
                     "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "precision", "recall"}

_LOWER_IS_BETTER = {"loss", "mse", "mae", "mean_squared_error", "mean_absolute_error"}


def _metric_kind(name):
    """The metric a log key names: without 'val_', 'weighted_' and a '_1'-style suffix of a repeated name."""
    name = name[len("val_"):] if name.startswith("val_") else name
    name = name[len("weighted_"):] if name.startswith("weighted_") else name
    base, _, suffix = name.rpartition("_")
    return base if suffix.isdigit() and base else name


class _MonitorCallback(Callback):
    """Compares a monitored value with the best so far: mode 'min', 'max' or 'auto' (inferred from the name:
    accuracies are maximised, losses and errors minimised). An improvement must beat the best by min_delta."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        if not isinstance(monitor, str):
            raise TypeError(f"{type(self).__name__}: monitor must be the name of a logged value, got {monitor!r}")
        name = type(self).__name__
        self.monitor = monitor
        self.mode = mode
        self.best = None if baseline is None else _number(baseline, f"{name}: baseline", finite=False)
        self.min_delta = abs(_number(min_delta, f"{name}: min_delta"))
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            higher = False
        elif self.mode == "max":
            higher = True
        else:
            name = _metric_kind(self.monitor)
            if name in _HIGHER_IS_BETTER:
                higher = True
            elif name in _LOWER_IS_BETTER:
                higher = False
            else:
                raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor}, but fastann "
                                 "can't determine whether that metric should be maximized or minimized. Pass "
                                 "mode='max' in order to monitor based on the highest metric value, or pass "
                                 "mode='min' in order to use the lowest value.")
        self.monitor_op = (lambda a, b: a > b) if higher else (lambda a, b: a < b)
        self._sign = 1.0 if higher else -1.0

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        return bool(self.monitor_op(value - self._sign * self.min_delta, reference))
