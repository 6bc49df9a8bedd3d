"""Low-level ops on NumPy arrays, computed by the C++ core in float32 (inputs of other dtypes or layouts are
converted to float32 C-contiguous first)."""

from __future__ import annotations

from . import _core
from ._validate import as_float32
from ._validate import boolean as _boolean
from ._validate import integer as _integer
from ._validate import number as _number
from .activations import get as _activation_name


def matmul(a, b):
    """a @ b with NumPy's matmul semantics (1-D promotion, broadcast batch dimensions), in float32."""
    return _core.matmul(as_float32(a, "a"), as_float32(b, "b"))


def gemm(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None, activation=None):
    """alpha * op(a) @ op(b) + beta * c, then + bias (per column) and activation, fused; 2-D operands."""
    return _core.gemm(as_float32(a, "a"), as_float32(b, "b"), _boolean(trans_a, "trans_a"),
                      _boolean(trans_b, "trans_b"), _number(alpha, "alpha"), _number(beta, "beta"),
                      None if c is None else as_float32(c, "c"), None if bias is None else as_float32(bias, "bias"),
                      _activation_name(activation), None)


def activation(name, x, alpha=None):
    """Applies the named activation (softmax over the last axis). alpha: leaky_relu slope or elu alpha."""
    return _core.activation(_name(name), as_float32(x, "x"), _alpha(alpha))


def activation_grad(name, x, dy, alpha=None):
    """The vector-Jacobian product dy * activation'(x) (softmax: per row)."""
    return _core.activation_grad(_name(name), as_float32(x, "x"), as_float32(dy, "dy"), _alpha(alpha))


def loss(name, y_true, y_pred, from_logits=False, delta=1.0, sample_weight=None):
    """Returns (value, gradient): the batch-mean loss and its gradient with respect to y_pred. With sample_weight
    (one per row) the value is sum(weight * per-sample loss) / rows, as Keras 3 reduces it."""
    return _core.loss(_name(name), as_float32(y_true, "y_true"), as_float32(y_pred, "y_pred"),
                      _boolean(from_logits, "from_logits"), _number(delta, "delta"),
                      None if sample_weight is None else as_float32(sample_weight, "sample_weight"))


def metric(name, y_true, y_pred, sample_weight=None, k=5, num_thresholds=200, threshold=0.5):
    """The named metric ('auc', 'precision', 'top_k_categorical_accuracy', ...; see fastann.metrics) of one batch,
    as fit/evaluate compute it over an epoch; sample_weight: one weight per row."""
    return _core.metric(_name(name), as_float32(y_true, "y_true"), as_float32(y_pred, "y_pred"),
                        None if sample_weight is None else as_float32(sample_weight, "sample_weight"),
                        _integer(k, "k", minimum=1, maximum=2**31 - 1),
                        _integer(num_thresholds, "num_thresholds", minimum=1, maximum=2**31 - 1),
                        _number(threshold, "threshold"))


def _name(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    return name


def _alpha(alpha):
    return None if alpha is None else _number(alpha, "alpha")
