"""Optimizers by name: `get` ('adam', an instance) and `from_config` (the C++ core's configuration)."""

from __future__ import annotations

from .._validate import config_dict as _config_dict
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .lion import Lion
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "lion": Lion}


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

    cls = _BY_NAME.get(_config_dict(config, "an optimizer config", "name")["name"])
    if cls is None:
        raise ValueError(f"unknown optimizer {config['name']!r}")
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in config.items() if k in accepted and k != "name"}
    if kwargs.get("weight_decay") == 0.0 and cls is not AdamW:
        kwargs["weight_decay"] = None
    return cls(**kwargs)
