"""Dense: the fully connected layer."""

from __future__ import annotations

from .. import activations as _activations
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._validate import positive_int
from .base import Layer


class Dense(Layer):
    """Fully connected layer: output = activation(input @ kernel + bias)."""

    _base_name = "dense"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, input_dim=None,
                 input_shape=None, name=None, **kwargs):
        for arg, value in (("kernel_constraint", kernel_constraint), ("bias_constraint", bias_constraint)):
            if value is not None:
                raise NotImplementedError(f"Dense: {arg} is not supported yet")
        super().__init__(name=name, input_dim=input_dim, input_shape=input_shape, **kwargs)
        self.units = positive_int(units, "Dense: units")
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._kernel_spec = _initializers.get(kernel_initializer)
        self._bias_spec = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)

    def _attach(self, core) -> None:
        core.add_dense(self.units, self.activation, self._alpha, self.use_bias, self._kernel_spec, self._bias_spec,
                       self._input_dim, self.name, _regularizers.spec(self.kernel_regularizer),
                       _regularizers.spec(self.bias_regularizer), _regularizers.spec(self.activity_regularizer))

    def _output_dim(self):
        return self.units

    @property
    def kernel(self):
        w = self.get_weights()
        return w[0] if w else None

    @property
    def bias(self):
        w = self.get_weights()
        return w[1] if self.use_bias and w else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=_initializers.serialize(self.kernel_initializer),
                      bias_initializer=_initializers.serialize(self.bias_initializer),
                      kernel_regularizer=_regularizers.serialize(self.kernel_regularizer),
                      bias_regularizer=_regularizers.serialize(self.bias_regularizer),
                      activity_regularizer=_regularizers.serialize(self.activity_regularizer))
        if self._alpha is not None:
            config["activation_alpha"] = self._alpha
        return config

    @classmethod
    def from_config(cls, config: dict) -> Dense:
        config = dict(config)
        for key in ("kernel_initializer", "bias_initializer"):
            if key in config:
                config[key] = _initializers.deserialize(config[key])
        return super().from_config(config)
