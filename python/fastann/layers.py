"""Layers (Keras names and arguments). A layer is configuration until it is added to a model; its weights then
live in the model's C++ core."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from . import activations as _activations
from . import initializers as _initializers
from . import regularizers as _regularizers
from ._validate import positive_int

_name_counters: dict = defaultdict(itertools.count)


def _unique_name(base: str) -> str:
    k = next(_name_counters[base])
    return base if k == 0 else f"{base}_{k}"


def _input_dim_from(input_dim, input_shape, layer_name):
    if input_shape is not None:
        shape = tuple(input_shape)
        if len(shape) != 1:
            raise ValueError(f"{layer_name}: input_shape must have one dimension (features,), got {shape}")
        dim = shape[0]
        if input_dim is not None and input_dim != dim:
            raise ValueError(f"{layer_name}: input_dim={input_dim} disagrees with input_shape={shape}")
        input_dim = dim
    return 0 if input_dim is None else positive_int(input_dim, f"{layer_name}: input_dim")


class Layer:
    """Base class of fastann layers."""

    _base_name = "layer"
    _alpha = None  # leaky_relu/elu alpha when it differs from the default (set for layers read from a model file)

    def __init__(self, name=None, input_dim=None, input_shape=None, trainable=True, dtype=None):
        if trainable is not True:
            raise NotImplementedError("trainable=False is not supported yet")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"fastann layers compute in float32, got dtype={dtype!r}")
        self.name = name if name is not None else _unique_name(self._base_name)
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"layer name must be a non-empty string, got {self.name!r}")
        self._input_dim = _input_dim_from(input_dim, input_shape, type(self).__name__)
        self._model = None
        self._index = None

    # --- attached to a model ------------------------------------------------------------------------------------
    def _info(self) -> dict:
        self._require_model()
        return self._model._core.layer_info(self._index)

    def _require_model(self):
        if self._model is None:
            raise RuntimeError(f"layer '{self.name}' is not part of a model yet")

    @property
    def built(self) -> bool:
        return self._model is not None and self._model._core.built

    @property
    def input_shape(self):
        dim = self._info()["input_dim"] if self.built else self._input_dim
        return (None, dim or None)

    @property
    def output_shape(self):
        return (None, self._output_dim())

    def _output_dim(self):
        raise NotImplementedError

    def get_weights(self) -> list:
        """The layer's weights as NumPy arrays in Keras order (kernel (in, out), bias (out,)); [] if not built."""
        if self._model is None or not self._model._core.built:
            return []
        return self._model._core.get_layer_weights(self._index)

    def set_weights(self, weights) -> None:
        self._require_model()
        self._model._core.set_layer_weights(self._index, list(weights))

    @property
    def weights(self) -> list:
        return self.get_weights()

    @property
    def trainable_weights(self) -> list:
        """The weights the optimizer updates (e.g. BatchNormalization's gamma and beta)."""
        w = self.get_weights()
        return w[:self._info()["trainable_weights"]] if w else []

    @property
    def non_trainable_weights(self) -> list:
        """Weights updated by the layer itself (BatchNormalization's moving_mean and moving_variance)."""
        w = self.get_weights()
        return w[self._info()["trainable_weights"]:] if w else []

    def count_params(self) -> int:
        self._require_model()
        return self._info()["param_count"]

    def get_config(self) -> dict:
        """The constructor's arguments as JSON-serialisable values (`input_dim` only when the layer was given
        one); `type(layer).from_config(layer.get_config())` makes the same layer, without weights."""
        config = {"name": self.name}
        if self._input_dim:
            config["input_dim"] = self._input_dim
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """The layer for a `get_config()` dict (also accepts the model file's layer configs and Keras's
        `batch_input_shape`)."""
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict, got {type(config).__name__}")
        config = dict(config)
        alpha = config.pop("activation_alpha", None)
        if not config.get("input_dim"):
            config.pop("input_dim", None)
        batch_shape = config.pop("batch_input_shape", None)
        if batch_shape is not None:
            config.setdefault("input_shape", tuple(batch_shape)[1:])
        layer = cls(**config)
        if alpha is not None:
            layer._alpha = float(alpha)
        return layer

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


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
    def from_config(cls, config: dict) -> "Dense":
        config = dict(config)
        for key in ("kernel_initializer", "bias_initializer"):
            if key in config:
                config[key] = _initializers.deserialize(config[key])
        return super().from_config(config)


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


def _layer_classes() -> dict:
    """Every Layer subclass by class name (layers defined later are found too)."""
    found, todo = {}, [Layer]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found


def serialize(layer: Layer) -> dict:
    """{"class_name": "Dense", "config": layer.get_config()}, as Keras writes a layer into a model's config."""
    if not isinstance(layer, Layer):
        raise TypeError(f"serialize expects a fastann layer, got {type(layer).__name__}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    """The layer for a {"class_name": ..., "config": {...}} dict (`serialize`); Keras's "module" and
    "registered_name" keys are ignored."""
    if not isinstance(config, dict) or "class_name" not in config or not isinstance(config.get("config"), dict):
        raise ValueError(f"a layer config is a dict {{'class_name': ..., 'config': {{...}}}}, got {config!r}")
    classes = _layer_classes()
    cls = classes.get(config["class_name"])
    if cls is None:
        raise ValueError(f"unknown layer class {config['class_name']!r}; fastann layers: {', '.join(sorted(classes))}")
    return cls.from_config(config["config"])


class _SameWidth(Layer):
    """A layer whose output has its input's width."""

    def _output_dim(self):
        if self._model is not None:
            return self._info()["output_dim"] or None
        return self._input_dim or None


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
    def from_config(cls, config: dict) -> "BatchNormalization":
        config = dict(config)
        for key in _BN_INITIALIZERS:
            if key in config:
                config[key] = _initializers.deserialize(config[key])
        return super().from_config(config)


class Input:
    """The model's input, as Keras's `Input(shape=(features,))`: `model.add(Input(shape=(10,)))` (or first in
    `Sequential([...])`) sets the input size. It is not a layer of `model.layers`."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"Input got unexpected arguments: {', '.join(sorted(kwargs))}")
        if batch_shape is not None:
            if shape is not None:
                raise ValueError("Input: give shape or batch_shape, not both")
            batch_shape = tuple(batch_shape)
            if len(batch_shape) < 1:
                raise ValueError(f"Input: batch_shape must be (batch, features), got {batch_shape}")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("Input: shape is required, e.g. Input(shape=(10,))")
        shape = (shape,) if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool) else tuple(shape)
        if len(shape) != 1:
            raise ValueError(f"Input: fastann models take 2-D inputs, so shape must be (features,), got {shape}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"fastann layers compute in float32, got dtype={dtype!r}")
        self.dim = positive_int(shape[0], "Input: the feature dimension")
        self.shape = (batch_size, self.dim)
        self.batch_size = batch_size
        self.name = name if name is not None else _unique_name("input_layer")

    def __repr__(self):
        return f"<Input shape={self.shape} name={self.name}>"


InputLayer = Input


def from_config_entry(entry: dict) -> Layer:
    """A layer object for one entry of the model's JSON config ({"class_name": ..., "config": {...}}, as the C++ core
    and the model file write it)."""
    config = entry["config"]
    input_dim = config["input_dim"] or None
    if entry["class_name"] == "Dense":
        layer = Dense(config["units"], activation=config["activation"], use_bias=config["use_bias"],
                      kernel_initializer=_initializers.from_spec(config["kernel_initializer"]),
                      bias_initializer=_initializers.from_spec(config["bias_initializer"]),
                      kernel_regularizer=_regularizers.from_spec(config.get("kernel_regularizer")),
                      bias_regularizer=_regularizers.from_spec(config.get("bias_regularizer")),
                      activity_regularizer=_regularizers.from_spec(config.get("activity_regularizer")),
                      input_dim=input_dim, name=config["name"])
    elif entry["class_name"] == "Activation":
        layer = Activation(config["activation"], input_dim=input_dim, name=config["name"])
    elif entry["class_name"] == "Dropout":
        seed = config["seed"]
        return Dropout(config["rate"], seed=None if seed is None else int(seed), input_dim=input_dim,
                       name=config["name"])
    elif entry["class_name"] == "BatchNormalization":
        return BatchNormalization(
            momentum=config["momentum"], epsilon=config["epsilon"], center=config["center"], scale=config["scale"],
            beta_initializer=_initializers.from_spec(config["beta_initializer"]),
            gamma_initializer=_initializers.from_spec(config["gamma_initializer"]),
            moving_mean_initializer=_initializers.from_spec(config["moving_mean_initializer"]),
            moving_variance_initializer=_initializers.from_spec(config["moving_variance_initializer"]),
            input_dim=input_dim, name=config["name"])
    else:
        raise ValueError(f"unknown layer type {entry['class_name']!r}")
    layer._alpha = config["activation_alpha"]
    return layer
