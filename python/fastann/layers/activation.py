"""Activation: an activation function as a layer."""

from __future__ import annotations

from .. import activations as _activations
from .base import _SameWidth


class Activation(_SameWidth):
    """Applies an activation function to its input."""

    _base_name = "activation"

    def __init__(self, activation, input_dim=None, input_shape=None, name=None, **kwargs):
        super().__init__(name=name, input_dim=input_dim, input_shape=input_shape, **kwargs)
        self.activation = _activations.get(activation)

    def _attach(self, core) -> None:
        core.add_activation(self.activation, self._alpha, self._input_dim, self.name)

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = self.activation
        if self._alpha is not None:
            config["activation_alpha"] = self._alpha
        return config
