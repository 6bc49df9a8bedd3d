"""The base class of the optimizers: hyperparameters, and the live learning rate of a compiled model."""

from __future__ import annotations

import math


class Optimizer:
    """Base class. After `model.compile`, `learning_rate` reads and writes the live value in the model."""

    _core_name = ""

    def __init__(self, learning_rate, weight_decay=None, name=None, lr=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, **params):
        if lr is not None:  # the old Keras spelling
            learning_rate = lr
        for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None:
                raise NotImplementedError(f"{type(self).__name__}: {arg} is not supported yet")
        self._check_number("learning_rate", learning_rate)
        self.name = name or type(self).__name__
        self._params = dict(params, learning_rate=float(learning_rate))
        if weight_decay is not None:
            self._check_number("weight_decay", weight_decay)
            self._params["weight_decay"] = float(weight_decay)
        self._model = None

    def _check_number(self, arg, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{type(self).__name__}: {arg} must be a finite number >= 0, got {value!r}")

    @property
    def learning_rate(self) -> float:
        if self._model is not None:
            return self._model._core.learning_rate
        return self._params["learning_rate"]

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._check_number("learning_rate", value)
        self._params["learning_rate"] = float(value)
        if self._model is not None:
            self._model._core.learning_rate = float(value)

    lr = learning_rate

    @property
    def iterations(self) -> int:
        return self._model._core.iterations if self._model is not None else 0

    def get_config(self) -> dict:
        return dict(self._params, name=self.name)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"
