"""Activation functions (Keras names). Each function applies the C++ kernel to a NumPy array."""

from __future__ import annotations

from . import _core
from ._validate import as_float32
from ._validate import number as _number

_NAMES = ("linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "selu", "gelu", "softplus",
          "swish", "silu", "softsign", "hard_sigmoid", "mish", "exponential", "hard_silu", "hard_swish")
# Keras 3 names one function twice; the core keeps one name for each.
_CANONICAL = {"silu": "swish", "hard_swish": "hard_silu"}


def _apply(name, x, alpha=None):
    return _core.activation(name, as_float32(x, "x"), None if alpha is None else _number(alpha, f"{name}: alpha"))


def linear(x):
    return _apply("linear", x)


def relu(x):
    return _apply("relu", x)


def sigmoid(x):
    return _apply("sigmoid", x)


def tanh(x):
    return _apply("tanh", x)


def softmax(x):
    """Softmax over the last axis."""
    return _apply("softmax", x)


def leaky_relu(x, negative_slope=0.2):
    return _apply("leaky_relu", x, negative_slope)


def elu(x, alpha=1.0):
    return _apply("elu", x, alpha)


def selu(x):
    return _apply("selu", x)


def gelu(x):
    """Exact GELU, 0.5 x (1 + erf(x / sqrt(2)))."""
    return _apply("gelu", x)


def softplus(x):
    return _apply("softplus", x)


def swish(x):
    return _apply("swish", x)


silu = swish


def softsign(x):
    """x / (|x| + 1)."""
    return _apply("softsign", x)


def hard_sigmoid(x):
    """Keras 3's hard sigmoid, relu6(x + 3) / 6: 0 below -3, 1 above 3, x / 6 + 1/2 between."""
    return _apply("hard_sigmoid", x)


def mish(x):
    """x * tanh(softplus(x)) (Misra 2019)."""
    return _apply("mish", x)


def exponential(x):
    """e^x."""
    return _apply("exponential", x)


def hard_silu(x):
    """x * hard_sigmoid(x), also called hard swish."""
    return _apply("hard_silu", x)


hard_swish = hard_silu


def get(identifier) -> str:
    """Resolves an activation given as None, a name, or one of this module's functions to its Keras name."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        name = identifier
    elif callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        name = identifier.__name__
    else:
        raise ValueError(f"unknown activation {identifier!r}; valid activations: {', '.join(_NAMES)}")
    if name not in _NAMES:
        raise ValueError(f"unknown activation '{name}'; valid activations: {', '.join(_NAMES)}")
    return _CANONICAL.get(name, name)


def serialize(identifier) -> str:
    return get(identifier)
