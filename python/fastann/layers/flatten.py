"""Flatten: (batch, d0, d1, ...) -> (batch, d0 * d1 * ...), as Keras's Flatten."""

from __future__ import annotations

import json

from .base import Layer


class Flatten(Layer):
    """Flattens each sample to one axis (row-major order, channels_last). `Flatten(input_shape=(28, 28))` first in a
    model sets the model's input shape."""

    _base_name = "flatten"

    def __init__(self, data_format=None, input_shape=None, name=None, **kwargs):
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten: data_format must be 'channels_last', got {data_format!r}")
        self.data_format = "channels_last"

    def _attach(self, core) -> None:
        core.add_layer("Flatten", json.dumps({"name": self.name, "data_format": self.data_format}))

    def _output_dim(self):
        if self._model is not None:
            return self._info()["output_dim"] or None
        if self._input_shape:
            n = 1
            for d in self._input_shape:
                n *= d
            return n
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
