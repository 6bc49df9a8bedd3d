"""Input (alias InputLayer): the model's input size, as Keras's Input(shape=(features,))."""

from __future__ import annotations

import numpy as np

from .._validate import positive_int
from ._utils import _unique_name


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
