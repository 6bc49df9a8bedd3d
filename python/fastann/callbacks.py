"""Callbacks for fit / evaluate / predict, with Keras 3's hook names and semantics.

Subclass `Callback` and override the hooks you need; `self.model` is the model and `self.params` holds `epochs`,
`steps` and `verbose`. The training loop runs in C++: the epoch hooks cost nothing per batch, and the per-batch hooks
(`on_train_batch_begin` / `on_train_batch_end`, alias `on_batch_begin` / `on_batch_end`) are called only when some
callback overrides them, because each costs a Python call per batch. Their `logs` are the running means of the epoch
so far, as Keras 3 passes them.

Setting `model.stop_training = True` in a hook ends training: from on_epoch_end after that epoch, from a batch hook
after the current batch (that epoch still ends normally: validation and on_epoch_end run, as in Keras). An exception
raised by a hook stops training after the current batch and propagates out of fit.

fit's validation pass runs inside C++ and calls no test hooks; evaluate and predict call on_test_begin/end and
on_predict_begin/end (their per-batch hooks are not supported).
"""

from __future__ import annotations

import csv
import inspect
import math
import numbers
import os
import sys
import time
import warnings

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "TerminateOnNaN", "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger", "LambdaCallback"]


class Callback:
    """Base class: override the hooks you need. `self.model` is the model, `self.params` holds epochs, steps and
    verbose. Every hook receives `logs`, a dict (or None) of the current values."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    # Per batch: called only when overridden (each is a Python call per batch).
    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    # Not called by fastann (evaluate and predict run without per-batch hooks); overriding them is an error there.
    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


def _chief() -> bool:
    """False on the ranks other than 0 of a fastann.distributed job: only rank 0 prints and writes files
    (checkpoints, CSV logs); every rank still runs every callback's logic (on the same, global, logs)."""
    dist = sys.modules.get("fastann.distributed")
    return dist is None or dist._is_chief()


def _say(*args, **kwargs) -> None:
    """print, on rank 0 only (see _chief)."""
    if _chief():
        print(*args, **kwargs)


def _overrides(cb, name) -> bool:
    """True when `cb` has its own `name` hook (a subclass method or an instance attribute, as LambdaCallback sets)."""
    if name in vars(cb):
        return True
    return getattr(type(cb), name) is not getattr(Callback, name)


# --- progress bar --------------------------------------------------------------------------------------------------

_BAR_WIDTH = 20
_BAR_CHAR = "\u2501"  # ━


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _format_step_time(seconds: float) -> str:
    """Keras's time per step: `1s/step`, `12ms/step`, `850us/step` (0 prints as `0s/step`)."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_value(v, signed: bool = True) -> str:
    """4 decimals, or scientific notation for small values, as Keras prints them (verbose=1 compares |v| with 1e-3,
    verbose=2 compares v itself)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return str(v)
    v = float(v)
    return f"{v:.4f}" if (abs(v) if signed else v) > 1e-3 else f"{v:.4e}"


class Progbar:
    """Keras 3's progress bar for `target` steps.

    verbose=1: a live bar updated in place on a terminal
    (`12/32 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.5120 - loss: 0.6931`, the ETA while running, the elapsed
    time when done); when the stream is not a terminal only the final line is printed, without control characters.
    verbose=2: the final line only, `32/32 - 0s - 2ms/step - ...`. The stream is sys.stdout at the time of writing
    unless one is given. Updates are printed as they come: fastann's C++ loops already bound their rate."""

    def __init__(self, target: int, verbose: int = 1, stream=None):
        self.target = int(target)
        self.verbose = verbose
        self._stream = stream
        self.dynamic = _isatty(self.stream)
        self._start = time.perf_counter()
        self._after_first_step = None
        self._prev_width = 0

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    def _step_time(self, current: int, now: float) -> float:
        # As Keras: the first step (often slower) is left out once there are others.
        if current <= 0:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_step = (now - self._after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_step

    def _write(self, text: str) -> None:
        stream = self.stream
        stream.write(text)
        stream.flush()

    def update(self, current: int, logs=None, finalize: bool = False) -> None:
        """Shows `current` steps done with `logs` (name -> value); finalize prints the final line."""
        logs = logs or {}
        now = time.perf_counter()
        if self.verbose == 2:
            if not finalize:
                return
            per_step = (now - self._start) / max(current, 1)
            values = "".join(f" - {k}: {_format_value(v, signed=False)}" for k, v in logs.items())
            self._write(f"{self._count(current)} - {now - self._start:.0f}s - {_format_step_time(per_step)}"
                        f"{values}\n")
            return
        if self.verbose != 1:
            return
        per_step = self._step_time(current, now)
        if not finalize and not self.dynamic:
            return
        count = self._count(current)
        done = min(int(_BAR_WIDTH * current / self.target), _BAR_WIDTH) if self.target > 0 else _BAR_WIDTH
        when = f"{now - self._start:.0f}s" if finalize else _format_eta(per_step * (self.target - current))
        tail = f" {_format_step_time(per_step)}" + "".join(f" - {k}: {_format_value(v)}" for k, v in logs.items())
        visible = f"{count} {_BAR_CHAR * _BAR_WIDTH} {when}{tail}"
        if not self.dynamic:
            self._write(visible + "\n")
            return
        # On a terminal, as Keras 3: back over the previous line, bold count and time, green done / gray rest.
        text = "\b" * self._prev_width + "\r" + f"\x1b[1m{count}\x1b[0m "
        if done > 0:
            text += f"\x1b[32m{_BAR_CHAR * done}\x1b[0m"
        text += f"\x1b[37m{_BAR_CHAR * (_BAR_WIDTH - done)}\x1b[0m \x1b[1m{when}\x1b[0m{tail}"
        width = len(visible)
        if self._prev_width > width:
            text += " " * (self._prev_width - width)
        if finalize:
            text += "\n"
        self._prev_width = width
        self._write(text)

    def _count(self, current: int) -> str:
        return f"{current:>{len(str(self.target))}}/{self.target}"


class ProgbarLogger(Callback):
    """Prints `Epoch i/N` (when N > 1) and a Keras 3 progress bar per epoch (verbose=1), or one line per epoch
    (verbose=2). fit adds one when verbose > 0; evaluate and predict use it too. `interval` (seconds) bounds how
    often the live bar is redrawn (the C++ loop reports progress at most that often)."""

    def __init__(self, verbose=None, interval=0.05, stream=None):
        super().__init__()
        self.verbose = verbose
        self.interval = interval
        self.stream = stream
        self.epochs = 1
        self.target = 0
        self.progbar = None
        self._in_fit = False

    def set_params(self, params):
        super().set_params(params)
        if self.verbose is None or self.verbose == "auto":
            verbose = params.get("verbose", 1)
            self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps") or 0

    def _print(self, text):
        if not _chief():
            return
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(text + "\n")
        stream.flush()

    def _new_bar(self):
        self.progbar = Progbar(self.target, self.verbose, self.stream) if _chief() else None

    def _progress(self, step, logs=None):
        """Called by the C++ loops at a bounded rate with the running means (not a Keras hook)."""
        if self.progbar is not None:
            self.progbar.update(step, logs)

    def _finish(self, logs):
        if self.progbar is not None:
            self.progbar.update(self.target, logs, finalize=True)
            self.progbar = None

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose and self.epochs > 1:
            self._print(f"Epoch {epoch + 1}/{self.epochs}")
        self._new_bar()

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._new_bar()

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._new_bar()

    def on_predict_end(self, logs=None):
        self._finish(None)


# --- the list fit / evaluate / predict drive -------------------------------------------------------------------------

class CallbackList:
    """Dispatches each hook to every callback in order. As Keras 3: the user's callbacks, then History (unless one
    was given), then the ProgbarLogger (when verbose, unless one was given) -- so the progress line and History see
    what the user's callbacks add to `logs` (e.g. `learning_rate`)."""

    def __init__(self, callbacks, model, params, add_history=False, add_progbar=False):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastann.callbacks.Callback instances, got {type(cb).__name__}")
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        self.model = model
        self.params = params
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    # Every hook gets its logs positionally, as Keras calls them (LambdaCallback functions take them so).
    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    # --- what the C++ loop needs ----------------------------------------------------------------------------------
    def progress_targets(self):
        return [cb for cb in self.callbacks if isinstance(cb, ProgbarLogger) and cb.verbose == 1]

    def progress_interval_ms(self) -> int:
        intervals = [cb.interval for cb in self.progress_targets()]
        return max(int(round(min(intervals) * 1000)), 0) if intervals else 50

    def progress(self, step, logs):
        for cb in self.progress_targets():
            cb._progress(step, logs)

    def batch_callbacks(self, which):
        """The callbacks that override the per-batch hook `which` ('begin' or 'end'): fit calls them per batch.
        A plain TerminateOnNaN is not among them: the C++ loop checks the loss itself (see nonfinite_callbacks)."""
        return [cb for cb in self.callbacks
                if _overrides_train_batch(cb, which) and not (which == "end" and _nan_check_in_cpp(cb))]

    def nonfinite_callbacks(self):
        """The TerminateOnNaN callbacks that fit calls only when the loss stops being finite."""
        return [cb for cb in self.callbacks if _nan_check_in_cpp(cb)]

    def check_no_batch_hooks(self, what, names):
        for cb in self.callbacks:
            for name in names:
                if _overrides(cb, name):
                    raise NotImplementedError(f"{what}: {type(cb).__name__}.{name} is not supported: {what} runs "
                                              f"in C++ without per-batch hooks")


def _overrides_train_batch(cb, which) -> bool:
    return _overrides(cb, f"on_train_batch_{which}") or _overrides(cb, f"on_batch_{which}")


def _nan_check_in_cpp(cb) -> bool:
    """A TerminateOnNaN whose batch hook is the stock one: C++ does its check and calls it when it would act."""
    return (isinstance(cb, TerminateOnNaN) and type(cb).on_batch_end is TerminateOnNaN.on_batch_end
            and "on_batch_end" not in vars(cb) and not _overrides(cb, "on_train_batch_end"))


# --- History -------------------------------------------------------------------------------------------------------

class History(Callback):
    """Records the logs of every epoch: `history.history['loss']`, `history.epoch`. fit returns it."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


# --- callbacks that watch a metric ----------------------------------------------------------------------------------

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
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
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


class EarlyStopping(_MonitorCallback):
    """Stops training when `monitor` has not improved (by more than min_delta) for `patience` epochs.

    As Keras 3: epochs before `start_from_epoch` are ignored; with a `baseline`, the patience counter restarts only
    on epochs that beat it too; with restore_best_weights the weights of the best epoch are set back when training
    ends (whether it stopped early or not). `stopped_epoch` and `best_epoch` (0-based) tell what happened."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
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
        self.verbose = verbose
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


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or infinite (raise_error=True raises RuntimeError instead). The C++
    loop checks the loss after every batch itself, so this costs no Python call per batch."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating "
                               "training immediately.")
        _say(f"Batch {batch}: Invalid loss, terminating training", flush=True)
        self.model.stop_training = True


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
        self.verbose = verbose
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


class ReduceLROnPlateau(_MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` has not improved (by more than min_delta) for
    `patience` epochs, then waits `cooldown` epochs before counting again; never below min_lr. The current rate is
    recorded in the logs as `learning_rate`."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
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


class CSVLogger(Callback):
    """Writes one row per epoch to a CSV file: `epoch` and the logs' keys in sorted order (val_ columns are added
    when the first epoch has none, as Keras does). append=True keeps an existing file (its header too)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        if not _chief():
            return  # rank 0 writes the log of a distributed fit
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self._write_header = not f.readline()
        self._close()
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if not _chief():
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self._writer is None:
            sep = self.sep

            class _Dialect(csv.excel):
                delimiter = sep

            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, dialect=_Dialect)
            if self._write_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, logs.get(k, "NA")) for k in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = None
        self._writer = None


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end", "on_predict_begin",
          "on_predict_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
          "on_predict_batch_end")


class LambdaCallback(Callback):
    """A callback from plain functions, e.g.
    `LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs['loss']))`. on_epoch_begin/end take
    (epoch, logs), on_train_begin/end (logs), the batch hooks (batch, logs); any other hook by keyword."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        for name in kwargs:
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback got an unexpected argument '{name}' (hooks: {', '.join(_HOOKS)})")
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {type(fn).__name__}")
            setattr(self, name, fn)
