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

from .._module_path import set_module as _set_module
from .callback import Callback
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .progbar_logger import ProgbarLogger
from .progress import Progbar as Progbar  # public (not in __all__), as before
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "TerminateOnNaN", "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger", "LambdaCallback"]

_set_module(globals(), [*__all__, "Progbar"])
del _set_module
