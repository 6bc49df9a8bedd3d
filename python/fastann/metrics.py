"""Metrics reported by fit/evaluate, computed in C++ over each epoch (streaming, sample-weighted means).

'accuracy' (or 'acc') resolves from the loss as Keras does: binary_accuracy after binary_crossentropy,
categorical_accuracy after categorical_crossentropy, sparse_categorical_accuracy after
sparse_categorical_crossentropy; otherwise from the output width (1: binary, more: categorical).
"""

from __future__ import annotations

NAMES = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
         "mse", "mean_squared_error", "mae", "mean_absolute_error")


def get(identifier) -> str:
    """Validates a metric name."""
    if isinstance(identifier, str) and identifier in NAMES:
        return identifier
    raise ValueError(f"unknown metric {identifier!r}; valid metrics: {', '.join(NAMES)}")
