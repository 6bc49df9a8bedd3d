"""ModelCheckpoint: saves the model or its weights at the end of each epoch, atomically."""

from __future__ import annotations

import os
import warnings

from ._base import _MonitorCallback
from ._utils import _chief, _say, _verbosity


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (or only its weights) at the end of every epoch to `filepath`, which may name log values:
    `'ckpt-{epoch:02d}-{val_loss:.2f}.fastann'` (epoch counts from 1).

    save_best_only: save only when `monitor` improves (mode and initial_value_threshold as Keras). Writes are atomic
    (a temporary file renamed into place), so an interrupted run never leaves a half-written checkpoint.
    save_freq='epoch' only."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.verbose = _verbosity(verbose, "ModelCheckpoint: verbose")
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if isinstance(save_freq, int) and not isinstance(save_freq, bool):
            raise NotImplementedError(f"ModelCheckpoint: save_freq={save_freq} (saving every {save_freq} batches) "
                                      "is not supported yet; use save_freq='epoch'")
        if save_freq != "epoch":
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq is 'epoch'")
        self.save_freq = save_freq

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None and self.save_best_only:
            self._set_monitor_op()
        logs = logs or {}
        filepath = self._get_file_path(epoch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if not _chief():
            return  # rank 0 writes the checkpoints of a distributed fit
        if os.path.isdir(filepath):
            raise IsADirectoryError("Please specify a non-directory filepath for ModelCheckpoint. Filepath used is "
                                    f"an existing directory: {filepath}")
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            _say(f"\nEpoch {epoch + 1}: finished saving model to {filepath}", flush=True)

    def _should_save(self, epoch, logs, filepath) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                _say(f"\nEpoch {epoch + 1}: saving model to {filepath}", flush=True)
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model to "
                      f"{filepath}", flush=True)
            self.best = current
            return True
        if self.verbose > 0:
            _say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}", flush=True)
        return False

    def _get_file_path(self, epoch, logs) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from None
