"""TerminateOnNaN: stops training when the loss is no longer finite."""

from __future__ import annotations

import math

from ._utils import _say
from .callback import Callback


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
