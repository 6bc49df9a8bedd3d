"""Metrics by name: `get` validates one, `_core` / `_from_core` convert to and from the C++ core's form."""

from __future__ import annotations

from .auc import AUC
from .binary_accuracy import BinaryAccuracy
from .categorical_accuracy import CategoricalAccuracy
from .mean_absolute_error import MeanAbsoluteError
from .mean_squared_error import MeanSquaredError
from .metric import Metric
from .precision import Precision
from .recall import Recall
from .sparse_categorical_accuracy import SparseCategoricalAccuracy
from .sparse_top_k_categorical_accuracy import SparseTopKCategoricalAccuracy
from .top_k_categorical_accuracy import TopKCategoricalAccuracy

NAMES = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
         "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "precision", "recall",
         "mse", "mean_squared_error", "mae", "mean_absolute_error")

_CLASSES = {cls._core_name: cls for cls in (AUC, Precision, Recall, TopKCategoricalAccuracy,
                                            SparseTopKCategoricalAccuracy, BinaryAccuracy, CategoricalAccuracy,
                                            SparseCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError)}


def get(identifier):
    """Validates a metric: a name (returned as is) or a fastann.metrics.Metric object."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in NAMES:
        return identifier
    raise ValueError(f"unknown metric {identifier!r}; valid metrics: {', '.join(NAMES)}, or a fastann.metrics "
                     "object (AUC(), Precision(), Recall(), TopKCategoricalAccuracy(k), ...)")


def _core(metric):
    """The core's form of a validated metric: its name, or a dict with its parameters."""
    return metric._core_config() if isinstance(metric, Metric) else metric


def _from_core(config: dict):
    """The Python metric of a compiled metric's core config: the plain name when it has the defaults and is
    reported under that name, else an object."""
    name, display = config["name"], config.get("display_name") or config["name"]
    cls = _CLASSES.get(name)
    if cls is None:
        return display if display == name else name
    if cls is AUC:
        obj = AUC(num_thresholds=int(config["num_thresholds"]), name=display)
    elif cls in (Precision, Recall):
        obj = cls(thresholds=float(config["threshold"]), name=display)
    elif cls in (TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy):
        obj = cls(k=int(config["k"]), name=display)
    elif cls is BinaryAccuracy:
        obj = BinaryAccuracy(name=display, threshold=float(config["threshold"]))
    else:
        obj = cls(name=display)
    plain = display == name and obj._params() == cls()._params()
    return name if plain else obj
