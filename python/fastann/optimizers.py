"""Optimizers (Keras names, defaults and update rules; the updates run in C++ as one fused step).

Update rules, as Keras 3:
  SGD      m = momentum*m - lr*g; w += m   (nesterov: w += momentum*m - lr*g); no momentum: w -= lr*g
  Adam     m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
           w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
  AdamW    Adam after decoupled weight decay w -= lr * weight_decay * w
  RMSprop  v = rho*v + (1 - rho) g^2; w -= lr * g / sqrt(v + epsilon)   (momentum, centered as Keras)
  Adagrad  acc += g^2 (acc starts at initial_accumulator_value); w -= lr * g / sqrt(acc + epsilon)
"""

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


class SGD(Optimizer):
    _core_name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, name=None, **kwargs):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        super().__init__(learning_rate, weight_decay, name, momentum=float(momentum), nesterov=bool(nesterov),
                         **kwargs)


class Adam(Optimizer):
    _core_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, name=None, **kwargs):
        if amsgrad:
            raise NotImplementedError("Adam: amsgrad=True is not supported yet")
        super().__init__(learning_rate, weight_decay, name, beta_1=float(beta_1), beta_2=float(beta_2),
                         epsilon=float(epsilon), **kwargs)


class AdamW(Optimizer):
    _core_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name=None, **kwargs):
        if amsgrad:
            raise NotImplementedError("AdamW: amsgrad=True is not supported yet")
        super().__init__(learning_rate, weight_decay, name, beta_1=float(beta_1), beta_2=float(beta_2),
                         epsilon=float(epsilon), **kwargs)


class RMSprop(Optimizer):
    _core_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, name, rho=float(rho), momentum=float(momentum),
                         epsilon=float(epsilon), centered=bool(centered), **kwargs)


class Adagrad(Optimizer):
    _core_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, name,
                         initial_accumulator_value=float(initial_accumulator_value), epsilon=float(epsilon),
                         **kwargs)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """An Optimizer from an instance (returned as is) or a name ('adam', 'sgd', ...) with Keras defaults."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; valid optimizers: {', '.join(_BY_NAME)}")


def from_config(config: dict) -> Optimizer:
    """The optimizer object for a configuration as the C++ core reports it (every hyperparameter given)."""
    import inspect

    cls = _BY_NAME[config["name"]]
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in config.items() if k in accepted and k != "name"}
    if kwargs.get("weight_decay") == 0.0 and cls is not AdamW:
        kwargs["weight_decay"] = None
    return cls(**kwargs)
