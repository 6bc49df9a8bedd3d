"""Adagrad."""

from __future__ import annotations

from .optimizer import Optimizer


class Adagrad(Optimizer):
    _core_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, name,
                         initial_accumulator_value=initial_accumulator_value, epsilon=epsilon,
                         **kwargs)
