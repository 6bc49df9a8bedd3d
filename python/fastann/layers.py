"""Layers (Keras names and arguments). A layer is configuration until it is added to a model; its weights then
live in the model's C++ core."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np

from . import activations as _activations
from . import initializers as _initializers
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
        for arg, value in (("kernel_regularizer", kernel_regularizer), ("bias_regularizer", bias_regularizer),
                           ("activity_regularizer", activity_regularizer),
                           ("kernel_constraint", kernel_constraint), ("bias_constraint", bias_constraint)):
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

    def _attach(self, core) -> None:
        core.add_dense(self.units, self.activation, self._alpha, self.use_bias, self._kernel_spec, self._bias_spec,
                       self._input_dim, self.name)

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
                      bias_initializer=_initializers.serialize(self.bias_initializer))
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


def from_config_entry(entry: dict) -> Layer:
    """A layer object for one entry of the model's JSON config ({"class_name": ..., "config": {...}}, as the C++ core
    and the model file write it)."""
    config = entry["config"]
    input_dim = config["input_dim"] or None
    if entry["class_name"] == "Dense":
        layer = Dense(config["units"], activation=config["activation"], use_bias=config["use_bias"],
                      kernel_initializer=_initializers.from_spec(config["kernel_initializer"]),
                      bias_initializer=_initializers.from_spec(config["bias_initializer"]),
                      input_dim=input_dim, name=config["name"])
    elif entry["class_name"] == "Activation":
        layer = Activation(config["activation"], input_dim=input_dim, name=config["name"])
    else:
        raise ValueError(f"unknown layer type {entry['class_name']!r}")
    layer._alpha = config["activation_alpha"]
    return layer
