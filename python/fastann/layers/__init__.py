"""Layers (Keras names and arguments). A layer is configuration until it is added to a model; its weights then
live in the model's C++ core."""

from __future__ import annotations

from .._module_path import set_module as _set_module
from .activation import Activation
from .base import Layer
from .batch_normalization import BatchNormalization
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .input import Input, InputLayer
from .reshape import Reshape
from .serialization import deserialize, from_config_entry, serialize

__all__ = ["Layer", "Dense", "Activation", "serialize", "deserialize", "Dropout", "BatchNormalization", "Input",
           "InputLayer", "Flatten", "Reshape", "from_config_entry"]

_set_module(globals(), __all__)
del _set_module
