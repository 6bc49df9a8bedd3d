"""EarlyStopping: stops training when a monitored metric stops improving."""

from __future__ import annotations

import warnings

from .._validate import non_negative_int as _non_negative_int
from .._validate import number as _number
from ._base import _MonitorCallback
from ._utils import _say, _verbosity


class EarlyStopping(_MonitorCallback):
    """Stops training when `monitor` has not improved (by more than min_delta) for `patience` epochs.

    As Keras 3: epochs before `start_from_epoch` are ignored; with a `baseline`, the patience counter restarts only
    on epochs that beat it too; with restore_best_weights the weights of the best epoch are set back when training
    ends (whether it stopped early or not). `stopped_epoch` and `best_epoch` (0-based) tell what happened."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = _non_negative_int(patience, "EarlyStopping: patience")
        self.verbose = _verbosity(verbose, "EarlyStopping: verbose")
        self.baseline = None if baseline is None else _number(baseline, "EarlyStopping: baseline", finite=False)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = _non_negative_int(start_from_epoch, "EarlyStopping: start_from_epoch")
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        # Reusable across fit calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _say(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.", flush=True)
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=2)
        return value
