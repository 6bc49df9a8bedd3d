"""Layers to and from configs: serialize / deserialize (Keras's form) and from_config_entry (the core's)."""

from __future__ import annotations

from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._validate import config_dict as _config_dict
from .activation import Activation
from .base import Layer
from .batch_normalization import BatchNormalization
from .dense import Dense
from .dropout import Dropout


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
    config = _config_dict(_config_dict(entry, "a layer entry", "class_name", "config")["config"], "a layer config")
    input_dim = config.get("input_dim") or None
    input_shape = config.get("input_shape") or None  # a declared input of more than one axis
    if entry["class_name"] not in ("Dense", "Activation", "Dropout", "BatchNormalization"):
        # Layers whose core config is their Keras config (Flatten, Reshape, ...).
        return deserialize({"class_name": entry["class_name"], "config": config})
    if entry["class_name"] == "Dense":
        layer = Dense(config["units"], activation=config["activation"], use_bias=config["use_bias"],
                      kernel_initializer=_initializers.from_spec(config["kernel_initializer"]),
                      bias_initializer=_initializers.from_spec(config["bias_initializer"]),
                      kernel_regularizer=_regularizers.from_spec(config.get("kernel_regularizer")),
                      bias_regularizer=_regularizers.from_spec(config.get("bias_regularizer")),
                      activity_regularizer=_regularizers.from_spec(config.get("activity_regularizer")),
                      input_dim=input_dim, input_shape=input_shape, name=config["name"])
    elif entry["class_name"] == "Activation":
        layer = Activation(config["activation"], input_dim=input_dim, input_shape=input_shape, name=config["name"])
    elif entry["class_name"] == "Dropout":
        seed = config["seed"]
        return Dropout(config["rate"], seed=None if seed is None else int(seed), input_dim=input_dim,
                       input_shape=input_shape, name=config["name"])
    elif entry["class_name"] == "BatchNormalization":
        return BatchNormalization(
            momentum=config["momentum"], epsilon=config["epsilon"], center=config["center"], scale=config["scale"],
            beta_initializer=_initializers.from_spec(config["beta_initializer"]),
            gamma_initializer=_initializers.from_spec(config["gamma_initializer"]),
            moving_mean_initializer=_initializers.from_spec(config["moving_mean_initializer"]),
            moving_variance_initializer=_initializers.from_spec(config["moving_variance_initializer"]),
            input_dim=input_dim, input_shape=input_shape, name=config["name"])
    else:
        raise ValueError(f"unknown layer type {entry['class_name']!r}")
    layer._alpha = config["activation_alpha"]
    return layer
