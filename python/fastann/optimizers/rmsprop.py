"""RMSprop."""

from __future__ import annotations

from .optimizer import Optimizer


class RMSprop(Optimizer):
    _core_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, name, rho=rho, momentum=momentum,
                         epsilon=epsilon, centered=centered, **kwargs)
