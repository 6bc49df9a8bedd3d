"""The base class of the optimizers: hyperparameters, and the live learning rate of a compiled model."""

from __future__ import annotations

from .._validate import boolean as _boolean
from .._validate import number as _number


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
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or type(self).__name__
        # Every hyperparameter a Python float (or bool for the flags: nesterov, centered), whatever number type it
        # came as (NumPy scalars included); the core checks the ranges at compile.
        flags = {"nesterov", "centered"}
        hyper = {k: _boolean(v, f"{type(self).__name__}: {k}") if k in flags or isinstance(v, bool) else
                 _number(v, f"{type(self).__name__}: {k}") for k, v in params.items()}
        self._params = dict(hyper, learning_rate=float(learning_rate))
        if weight_decay is not None:
            self._check_number("weight_decay", weight_decay)
            self._params["weight_decay"] = float(weight_decay)
        self._model = None

    def _check_number(self, arg, value):
        _number(value, f"{type(self).__name__}: {arg}", minimum=0.0)

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
