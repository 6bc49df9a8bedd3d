"""Dropout: inverted dropout in training, the identity at inference."""

from __future__ import annotations

import numpy as np

from .base import _SameWidth


class Dropout(_SameWidth):
    """Inverted dropout: in training (fit, train_on_batch) each input is set to 0 with probability `rate` and the
    others are scaled by 1 / (1 - rate), so the expected output is the input; predict and evaluate pass inputs
    through unchanged. `seed` makes the masks repeatable (else they follow fastann.utils.set_random_seed)."""

    _base_name = "dropout"

    def __init__(self, rate, noise_shape=None, seed=None, input_dim=None, input_shape=None, name=None, **kwargs):
        if noise_shape is not None:
            raise NotImplementedError("Dropout: noise_shape is not supported yet")
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) or \
                not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
                                 or seed >= 2**64):
            raise ValueError(f"Dropout: seed must be a non-negative integer, got {seed!r}")
        super().__init__(name=name, input_dim=input_dim, input_shape=input_shape, **kwargs)
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        self.noise_shape = None

    def _attach(self, core) -> None:
        core.add_dropout(self.rate, self.seed, self._input_dim, self.name)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed, noise_shape=None)
        return config
