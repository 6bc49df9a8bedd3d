"""SGD: stochastic gradient descent, with momentum and Nesterov momentum."""

from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    _core_name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, name=None, **kwargs):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        super().__init__(learning_rate, weight_decay, name, momentum=momentum, nesterov=nesterov,
                         **kwargs)
