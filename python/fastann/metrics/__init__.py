"""Metrics reported by fit/evaluate, computed in C++ and streamed over each epoch (or evaluation), as Keras 3 does:
an accuracy is the mean over all the samples seen so far, AUC/Precision/Recall come from confusion counts
accumulated over them (not averages of per-batch values).

Give them to `compile(metrics=[...])` as names or objects:

- 'accuracy' (or 'acc') resolves from the loss as Keras does: binary_accuracy after binary_crossentropy,
  categorical_accuracy after categorical_crossentropy, sparse_categorical_accuracy after
  sparse_categorical_crossentropy; otherwise from the output width (1: binary, more: categorical).
- 'binary_accuracy', 'categorical_accuracy', 'sparse_categorical_accuracy', 'top_k_categorical_accuracy' (k=5),
  'sparse_top_k_categorical_accuracy', 'auc', 'precision', 'recall', 'mse' / 'mean_squared_error',
  'mae' / 'mean_absolute_error'.
- Objects with parameters: `AUC(num_thresholds=200)`, `Precision(thresholds=0.5)`, `Recall(thresholds=0.5)`,
  `TopKCategoricalAccuracy(k=5)`, `SparseTopKCategoricalAccuracy(k=5)`, `BinaryAccuracy(threshold=0.5)`,
  `CategoricalAccuracy()`, `SparseCategoricalAccuracy()`, `MeanSquaredError()`, `MeanAbsoluteError()`; `name=`
  sets the key in the logs and History.

`compile(metrics=...)` metrics ignore sample weights (Keras 3); `compile(weighted_metrics=...)` ones use them.
"""

from __future__ import annotations

from .._module_path import set_module as _set_module
from .auc import AUC
from .binary_accuracy import BinaryAccuracy
from .categorical_accuracy import CategoricalAccuracy
from .mean_absolute_error import MeanAbsoluteError
from .mean_squared_error import MeanSquaredError
from .metric import Metric
from .precision import Precision
from .recall import Recall
from .serialization import NAMES, get
from .sparse_categorical_accuracy import SparseCategoricalAccuracy
from .sparse_top_k_categorical_accuracy import SparseTopKCategoricalAccuracy
from .top_k_categorical_accuracy import TopKCategoricalAccuracy

__all__ = ["Metric", "AUC", "Precision", "Recall", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "MeanSquaredError",
           "MeanAbsoluteError", "NAMES", "get"]

_set_module(globals(), __all__)
del _set_module
