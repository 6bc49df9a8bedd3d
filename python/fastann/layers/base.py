"""The base classes of the layers: Layer (name, input size, weights once in a model) and _SameWidth."""

from __future__ import annotations

import numpy as np

from .._validate import as_float32, positive_int
from ._utils import _unique_name


def _input_shape_from(input_dim, input_shape, layer_name) -> tuple:
    """The declared per-sample input shape: () when none, (d,) from input_dim, or input_shape's dimensions."""
    if input_shape is not None:
        shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else tuple(input_shape)
        if not 1 <= len(shape) <= 7:
            raise ValueError(f"{layer_name}: input_shape must have 1 to 7 dimensions per sample, got {shape}")
        if input_dim is not None and (len(shape) != 1 or input_dim != shape[0]):
            raise ValueError(f"{layer_name}: input_dim={input_dim} disagrees with input_shape={shape}")
        what = f"{layer_name}: input_dim" if len(shape) == 1 else f"{layer_name}: input_shape dimensions"
        return tuple(positive_int(d, what) for d in shape)
    return () if input_dim is None else (positive_int(input_dim, f"{layer_name}: input_dim"),)


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
        self._input_shape = _input_shape_from(input_dim, input_shape, type(self).__name__)
        # A one-axis input is passed to the core as input_dim; a longer one as the model's Input (Sequential.add).
        self._input_dim = self._input_shape[0] if len(self._input_shape) == 1 else 0
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
        if self._model is not None and self._info()["input_shape"]:
            return (None, *self._info()["input_shape"])
        return (None, *(self._input_shape or (None,)))

    @property
    def output_shape(self):
        if self._model is not None and self._info()["output_shape"]:
            return (None, *self._info()["output_shape"])
        return (None, self._output_dim())

    def _output_dim(self):
        raise NotImplementedError

    def get_weights(self) -> list:
        """The layer's weights as NumPy arrays in Keras order (kernel (in, out), bias (out,)); [] if not built."""
        if self._model is None or not self._model._core.built:
            return []
        return self._model._core.get_layer_weights(self._index)

    def set_weights(self, weights) -> None:
        """Sets the layer's weights from a list of arrays in get_weights()'s order (shapes are checked)."""
        self._require_model()
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
            raise TypeError(f"set_weights expects a list of arrays, got {type(weights).__name__}")
        arrays = [as_float32(w, f"set_weights: weight {i}") for i, w in enumerate(weights)]
        self._model._core.set_layer_weights(self._index, arrays)

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
        elif self._input_shape:
            config["input_shape"] = list(self._input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """The layer for a `get_config()` dict (also accepts the model file's layer configs and Keras's
        `batch_input_shape`)."""
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict, got {type(config).__name__}")
        config = dict(config)
        alpha = config.pop("activation_alpha", None)
        if not config.get("input_dim"):
            config.pop("input_dim", None)
        if config.get("input_shape") is None:
            config.pop("input_shape", None)
        batch_shape = config.pop("batch_input_shape", None)
        if batch_shape is not None:
            config.setdefault("input_shape", tuple(batch_shape)[1:])
        layer = cls(**config)
        if alpha is not None:
            layer._alpha = float(alpha)
        return layer

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class _SameWidth(Layer):
    """A layer whose output has its input's width."""

    def _output_dim(self):
        if self._model is not None:
            dim = self._info()["output_dim"]
            if not dim and self._index:  # not built yet: the previous layer's width, when that one knows it
                return self._model._layers[self._index - 1]._output_dim()
            return dim or None
        return self._input_dim or None
