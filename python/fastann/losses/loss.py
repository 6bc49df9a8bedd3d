"""The base class of the losses: options, and the batch-mean loss computed by the C++ core."""

from __future__ import annotations

from .. import _core
from .._validate import as_float32
from .._validate import number as _number


class Loss:
    """A loss with its options; calling it returns the batch-mean loss as a float."""

    _core_name = ""

    def __init__(self, from_logits=False, delta=1.0, reduction="sum_over_batch_size", name=None):
        if reduction != "sum_over_batch_size":
            raise NotImplementedError(f"{type(self).__name__}: reduction={reduction!r} is not supported yet")
        self.from_logits = bool(from_logits)
        self.delta = _number(delta, f"{type(self).__name__}: delta", minimum=0.0, min_open=True)
        self.name = name or self._core_name

    def __call__(self, y_true, y_pred) -> float:
        value, _ = _core.loss(self._core_name, as_float32(y_true, "y_true"), as_float32(y_pred, "y_pred"),
                              self.from_logits, self.delta)
        return value

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}
