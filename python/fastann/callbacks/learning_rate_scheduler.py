"""LearningRateScheduler: sets the learning rate from a schedule at each epoch's start."""

from __future__ import annotations

import inspect
import numbers

from ._utils import _say, _verbosity
from .callback import Callback


def _check_learning_rate(value, who):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{who}: the output of the `schedule` function should be a float. Got: {value!r}")
    return float(value)


class LearningRateScheduler(Callback):
    """At the start of every epoch sets `model.optimizer.learning_rate = schedule(epoch, lr)` (or schedule(epoch)
    for a one-argument function); the rate is recorded in the logs as `learning_rate`."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = _verbosity(verbose, "LearningRateScheduler: verbose")
        self._two_args = _accepts_two_args(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self._two_args:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            lr = self.schedule(epoch)
        optimizer.learning_rate = _check_learning_rate(lr, "LearningRateScheduler")
        if self.verbose > 0:
            _say(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def _accepts_two_args(fn) -> bool:
    try:
        inspect.signature(fn).bind(0, 0.0)
        return True
    except TypeError:
        return False
    except ValueError:  # no signature available (some builtins): Keras's default form
        return True
