"""Activation: an activation function as a layer."""

from __future__ import annotations

from .. import activations as _activations
from .base import Layer


class Activation(Layer):
    """Applies an activation function to its input."""

    _base_name = "activation"

    def __init__(self, activation, input_dim=None, input_shape=None, name=None, **kwargs):
        super().__init__(name=name, input_dim=input_dim, input_shape=input_shape, **kwargs)
        self.activation = _activations.get(activation)

    def _attach(self, core) -> None:
        core.add_activation(self.activation, self._alpha, self._input_dim, self.name)

    def _output_dim(self):
        if self._model is not None:
            return self._info()["output_dim"] or None
        return self._input_dim or None

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = self.activation
        if self._alpha is not None:
            config["activation_alpha"] = self._alpha
        return config
