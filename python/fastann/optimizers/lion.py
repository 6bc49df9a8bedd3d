"""Lion."""

from __future__ import annotations

from .optimizer import Optimizer


class Lion(Optimizer):
    """Keras's Lion: w -= lr * sign(beta_1 * m + (1 - beta_1) * g), then m = beta_2 * m + (1 - beta_2) * g."""

    _core_name = "lion"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, name=None, **kwargs):
        if not 0.0 < beta_1 <= 1.0:
            raise ValueError(f"Lion: beta_1 must be a float in (0, 1], got {beta_1!r}")
        super().__init__(learning_rate, weight_decay, name, beta_1=beta_1, beta_2=beta_2, **kwargs)
