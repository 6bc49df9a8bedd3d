"""Low-level ops on NumPy arrays, computed by the C++ core in float32 (inputs of other dtypes or layouts are
converted to float32 C-contiguous first)."""

from __future__ import annotations

from . import _core
from ._validate import as_float32
from .activations import get as _activation_name


def matmul(a, b):
    """a @ b with NumPy's matmul semantics (1-D promotion, broadcast batch dimensions), in float32."""
    return _core.matmul(as_float32(a, "a"), as_float32(b, "b"))


def gemm(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None, activation=None):
    """alpha * op(a) @ op(b) + beta * c, then + bias (per column) and activation, fused; 2-D operands."""
    return _core.gemm(as_float32(a, "a"), as_float32(b, "b"), bool(trans_a), bool(trans_b), float(alpha),
                      float(beta), None if c is None else as_float32(c, "c"),
                      None if bias is None else as_float32(bias, "bias"), _activation_name(activation), None)


def activation(name, x, alpha=None):
    """Applies the named activation (softmax over the last axis). alpha: leaky_relu slope or elu alpha."""
    return _core.activation(name, as_float32(x, "x"), alpha)


def activation_grad(name, x, dy, alpha=None):
    """The vector-Jacobian product dy * activation'(x) (softmax: per row)."""
    return _core.activation_grad(name, as_float32(x, "x"), as_float32(dy, "dy"), alpha)


def loss(name, y_true, y_pred, from_logits=False, delta=1.0, sample_weight=None):
    """Returns (value, gradient): the batch-mean loss and its gradient with respect to y_pred. With sample_weight
    (one per row) the value is sum(weight * per-sample loss) / rows, as Keras 3 reduces it."""
    return _core.loss(name, as_float32(y_true, "y_true"), as_float32(y_pred, "y_pred"), bool(from_logits),
                      float(delta), None if sample_weight is None else as_float32(sample_weight, "sample_weight"))


def metric(name, y_true, y_pred, sample_weight=None, k=5, num_thresholds=200, threshold=0.5):
    """The named metric ('auc', 'precision', 'top_k_categorical_accuracy', ...; see fastann.metrics) of one batch,
    as fit/evaluate compute it over an epoch; sample_weight: one weight per row."""
    return _core.metric(name, as_float32(y_true, "y_true"), as_float32(y_pred, "y_pred"),
                        None if sample_weight is None else as_float32(sample_weight, "sample_weight"), int(k),
                        int(num_thresholds), float(threshold))
