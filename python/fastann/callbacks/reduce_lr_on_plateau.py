"""ReduceLROnPlateau: lowers the learning rate when a monitored metric stops improving."""

from __future__ import annotations

import warnings

from .._validate import non_negative_int as _non_negative_int
from .._validate import number as _number
from ._base import _MonitorCallback
from ._utils import _say, _verbosity


class ReduceLROnPlateau(_MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` has not improved (by more than min_delta) for
    `patience` epochs, then waits `cooldown` epochs before counting again; never below min_lr. The current rate is
    recorded in the logs as `learning_rate`."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta=min_delta)
        factor = _number(factor, "ReduceLROnPlateau: factor")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.patience = _non_negative_int(patience, "ReduceLROnPlateau: patience")
        self.verbose = _verbosity(verbose, "ReduceLROnPlateau: verbose")
        self.cooldown = _non_negative_int(cooldown, "ReduceLROnPlateau: cooldown")
        self.min_lr = _number(min_lr, "ReduceLROnPlateau: min_lr", minimum=0.0)
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce(self, epoch) -> bool:
        optimizer = self.model.optimizer
        old = float(optimizer.learning_rate)
        if old <= self.min_lr:
            return False
        new = max(old * self.factor, self.min_lr)
        optimizer.learning_rate = new
        if self.verbose > 0:
            _say(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.", flush=True)
        return True
