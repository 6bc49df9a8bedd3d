"""BatchNormalization: normalisation over the batch axis, with moving statistics for inference."""

from __future__ import annotations

import numpy as np

from .. import initializers as _initializers
from .base import _SameWidth

_BN_INITIALIZERS = ("beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer")


class BatchNormalization(_SameWidth):
    """Batch normalisation over the batch axis (Keras semantics). In training each feature is normalised with the
    batch's mean and (biased) variance, y = gamma * (x - mean) / sqrt(var + epsilon) + beta, and the moving
    statistics follow moving = moving * momentum + batch * (1 - momentum); predict and evaluate use the moving
    statistics. Weights (Keras order): gamma, beta (trainable), moving_mean, moving_variance (non-trainable)."""

    _base_name = "batch_normalization"

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, input_dim=None, input_shape=None, name=None, **kwargs):
        if axis not in (-1, 1) or isinstance(axis, bool):
            raise ValueError(f"BatchNormalization: fastann layers take 2-D inputs (batch, features), so axis must "
                             f"be -1 or 1, got {axis!r}")
        for arg, value in (("beta_regularizer", beta_regularizer), ("gamma_regularizer", gamma_regularizer),
                           ("beta_constraint", beta_constraint), ("gamma_constraint", gamma_constraint)):
            if value is not None:
                raise NotImplementedError(f"BatchNormalization: {arg} is not supported yet")
        if kwargs.pop("renorm", False):
            raise NotImplementedError("BatchNormalization: renorm is not supported yet")
        kwargs.pop("renorm_clipping", None)
        kwargs.pop("renorm_momentum", None)
        for arg, value in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"BatchNormalization: {arg} must be a number, got {value!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum!r}")
        if not float(epsilon) > 0.0 or not np.isfinite(epsilon):
            raise ValueError(f"BatchNormalization: epsilon must be a positive number, got {epsilon!r}")
        super().__init__(name=name, input_dim=input_dim, input_shape=input_shape, **kwargs)
        self.axis = -1
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = bool(synchronized)  # one device: nothing to synchronise
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self._specs = [_initializers.get(i) for i in (beta_initializer, gamma_initializer, moving_mean_initializer,
                                                      moving_variance_initializer)]

    def _attach(self, core) -> None:
        core.add_batch_normalization(self.momentum, self.epsilon, self.center, self.scale, *self._specs,
                                     self._input_dim, self.name)

    def _weight(self, name):
        w = self.get_weights()
        if not w:
            return None
        names = self._info()["weight_names"]
        return w[names.index(name)] if name in names else None

    @property
    def gamma(self):
        return self._weight("gamma")

    @property
    def beta(self):
        return self._weight("beta")

    @property
    def moving_mean(self):
        return self._weight("moving_mean")

    @property
    def moving_variance(self):
        return self._weight("moving_variance")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axis=-1, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale)
        for key in _BN_INITIALIZERS:
            config[key] = _initializers.serialize(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config: dict) -> BatchNormalization:
        config = dict(config)
        for key in _BN_INITIALIZERS:
            if key in config:
                config[key] = _initializers.deserialize(config[key])
        return super().from_config(config)
