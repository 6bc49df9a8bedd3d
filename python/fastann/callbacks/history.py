"""History: the logs of every epoch, which fit returns."""

from __future__ import annotations

from .callback import Callback


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
