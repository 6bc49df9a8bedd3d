"""Callbacks called by fit at epoch boundaries (Keras hook names). Per-batch hooks are not called yet."""

from __future__ import annotations

import sys
import time


class Callback:
    """Base class: override the hooks you need. `self.model` is the model being trained, `self.params` holds
    epochs, steps and verbose."""

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


class History(Callback):
    """Records the logs of every epoch: `history.history['loss']`, `history.epoch`."""

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


def _format_value(v: float) -> str:
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.4e}"


def _format_time_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def progress_line(steps: int, seconds: float, logs: dict, verbose: int) -> str:
    """Keras 3's end-of-epoch line: `32/32 ━━━━━━━━━━━━━━━━━━━━ 0s 1ms/step - accuracy: 0.5120 - loss: 0.6931`
    (verbose=1) or `32/32 - 0s - 1ms/step - ...` (verbose=2)."""
    per_step = _format_time_per_step(seconds / max(steps, 1))
    values = "".join(f" - {k}: {_format_value(v)}" for k, v in logs.items())
    if verbose == 1:
        return f"{steps}/{steps} {'━' * 20} {seconds:.0f}s {per_step}{values}"
    return f"{steps}/{steps} - {seconds:.0f}s - {per_step}{values}"


class ProgbarLogger(Callback):
    """Prints `Epoch i/N` and the epoch's loss and metrics (added by fit when verbose > 0)."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self._start = 0.0

    def _print(self, text):
        stream = self.stream or sys.stdout
        print(text, file=stream, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose == 1:
            self._print(f"Epoch {epoch + 1}/{self.params.get('epochs')}")
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose == 2:
            self._print(f"Epoch {epoch + 1}/{self.params.get('epochs')}")
        elapsed = time.perf_counter() - self._start
        self._print(progress_line(self.params.get("steps") or 0, elapsed, logs or {}, self.verbose))


class CallbackList:
    """Dispatches each hook to every callback in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastann.callbacks.Callback instances, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)

        return call
