"""Reshape: (batch, *input_shape) -> (batch, *target_shape), as Keras's Reshape (one dimension may be -1)."""

from __future__ import annotations

import json

import numpy as np

from .._validate import positive_int
from .base import Layer


class Reshape(Layer):
    """Gives each sample the shape `target_shape` (the same number of elements; one dimension may be -1)."""

    _base_name = "reshape"

    def __init__(self, target_shape, input_shape=None, name=None, **kwargs):
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        shape = (target_shape,) if isinstance(target_shape, (int, np.integer)) else tuple(target_shape)
        if not 1 <= len(shape) <= 7:
            raise ValueError(f"Reshape: target_shape must have 1 to 7 dimensions, got {shape}")
        if sum(1 for d in shape if d == -1) > 1:
            raise ValueError(f"Reshape: at most one target_shape dimension can be -1, got {shape}")
        self.target_shape = tuple(-1 if d == -1 else positive_int(d, "Reshape: target_shape dimensions")
                                  for d in shape)

    def _attach(self, core) -> None:
        core.add_layer("Reshape", json.dumps({"name": self.name, "target_shape": list(self.target_shape)}))

    def _output_dim(self):
        if self._model is not None:
            return self._info()["output_dim"] or None
        return self.target_shape[-1] if self.target_shape[-1] != -1 else None

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
