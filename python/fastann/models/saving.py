"""load_model: a model file (saved by `Sequential.save` or C++ `fastann::save_model`) back as a model."""

from __future__ import annotations

import json
import os

from .. import _core
from .. import layers as _layers
from .sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True) -> Sequential:
    """Loads a model saved by `Sequential.save` (or by C++ `fastann::save_model`): architecture, weights and, when
    compile=True, the compile configuration with the optimizer state, so training resumes where it stopped.
    A file that is not a valid fastann model raises OSError naming the problem."""
    if custom_objects:
        raise NotImplementedError("load_model: custom_objects are not supported (fastann has no custom layers yet)")
    core = _core.load_model(os.fsencode(filepath))
    if compile or not core.compiled:
        return Sequential._wrap(core)
    # An uncompiled copy: the same layers and weights in a fresh core model.
    config = json.loads(core.config_json())
    fresh = Sequential([_layers.from_config_entry(entry) for entry in config["layers"]], name=core.name)
    if core.built:
        fresh._core.build(list(core.input_shape))
        fresh._core.set_weights(core.get_weights())
    return fresh
