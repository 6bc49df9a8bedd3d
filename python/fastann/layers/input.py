"""Input (alias InputLayer): the model's input shape per sample, as Keras's Input(shape=...)."""

from __future__ import annotations

import numpy as np

from .._validate import positive_int
from ._utils import _unique_name


class Input:
    """The model's input, as Keras's `Input(shape=...)`: `model.add(Input(shape=(10,)))` (or first in
    `Sequential([...])`) sets the input shape per sample, e.g. (features,) or (15, 15) before a Flatten. It is not a
    layer of `model.layers`."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"Input got unexpected arguments: {', '.join(sorted(kwargs))}")
        if batch_shape is not None:
            if shape is not None:
                raise ValueError("Input: give shape or batch_shape, not both")
            batch_shape = tuple(batch_shape)
            if len(batch_shape) < 2:
                raise ValueError(f"Input: batch_shape must be (batch, features, ...), got {batch_shape}")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("Input: shape is required, e.g. Input(shape=(10,))")
        shape = (shape,) if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool) else tuple(shape)
        if not 1 <= len(shape) <= 7:
            raise ValueError(f"Input: shape must have 1 to 7 dimensions per sample, got {shape}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"fastann layers compute in float32, got dtype={dtype!r}")
        what = "Input: the feature dimension" if len(shape) == 1 else "Input: each shape dimension"
        self._dims = tuple(positive_int(d, what) for d in shape)
        self.dim = self._dims[0] if len(self._dims) == 1 else int(np.prod(self._dims))
        self.shape = (batch_size, *self._dims)
        self.batch_size = batch_size
        self.name = name if name is not None else _unique_name("input_layer")

    def __repr__(self):
        return f"<Input shape={self.shape} name={self.name}>"


InputLayer = Input
