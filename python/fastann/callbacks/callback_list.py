"""CallbackList: dispatches the hooks of fit / evaluate / predict to every callback."""

from __future__ import annotations

from .callback import Callback, _overrides
from .history import History
from .progbar_logger import ProgbarLogger
from .terminate_on_nan import TerminateOnNaN


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
