"""ProgbarLogger: prints the epochs and a progress bar for fit, evaluate and predict."""

from __future__ import annotations

import sys

from .._validate import number as _number
from ._utils import _chief
from .callback import Callback
from .progress import Progbar


class ProgbarLogger(Callback):
    """Prints `Epoch i/N` (when N > 1) and a Keras 3 progress bar per epoch (verbose=1), or one line per epoch
    (verbose=2). fit adds one when verbose > 0; evaluate and predict use it too. `interval` (seconds) bounds how
    often the live bar is redrawn (the C++ loop reports progress at most that often)."""

    def __init__(self, verbose=None, interval=0.05, stream=None):
        super().__init__()
        self.verbose = verbose
        self.interval = _number(interval, "ProgbarLogger: interval", minimum=0.0)
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
