"""The base class of the callbacks (Keras 3's hooks) and _overrides, which tells the hooks a callback has."""

from __future__ import annotations


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


def _overrides(cb, name) -> bool:
    """True when `cb` has its own `name` hook (a subclass method or an instance attribute, as LambdaCallback sets)."""
    if name in vars(cb):
        return True
    return getattr(type(cb), name) is not getattr(Callback, name)
