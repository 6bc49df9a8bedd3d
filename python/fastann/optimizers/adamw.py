"""AdamW: Adam with decoupled weight decay."""

from __future__ import annotations

from .optimizer import Optimizer


class AdamW(Optimizer):
    _core_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name=None, **kwargs):
        if amsgrad:
            raise NotImplementedError("AdamW: amsgrad=True is not supported yet")
        super().__init__(learning_rate, weight_decay, name, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, **kwargs)
