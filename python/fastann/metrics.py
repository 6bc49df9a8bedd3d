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

import numbers

NAMES = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
         "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "precision", "recall",
         "mse", "mean_squared_error", "mae", "mean_absolute_error")


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _unit_threshold(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    return float(value)


class Metric:
    """A metric computed by the C++ core. `name` is its key in the logs and History."""

    _core_name = ""
    _default_name = ""

    def __init__(self, name=None, dtype=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name if name is not None else self._default_name

    def _params(self) -> dict:
        return {}

    def _core_config(self) -> dict:
        """What compile hands to the core: {'name', 'display_name', and this metric's parameters}."""
        return {"name": self._core_name, "display_name": self.name, **self._params()}

    def get_config(self) -> dict:
        return {"name": self.name, **self._public_params()}

    def _public_params(self) -> dict:
        return self._params()

    def __eq__(self, other):
        return type(self) is type(other) and self._core_config() == other._core_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self._core_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class AUC(Metric):
    """Area under the ROC curve, as Keras's AUC(): predictions clipped to [0, 1] are counted against
    `num_thresholds` evenly spaced thresholds over the epoch, and the area is summed by the trapezoidal rule
    (Keras's summation_method='interpolation' for ROC). Close to sklearn's exact roc_auc_score (within about
    1 / num_thresholds). Targets other than 0 count as positive; several output columns are pooled (multi_label
    False)."""

    _core_name = "auc"
    _default_name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name, dtype)
        unsupported = {"curve": (curve, "ROC"), "summation_method": (summation_method, "interpolation"),
                       "thresholds": (thresholds, None), "multi_label": (multi_label, False),
                       "num_labels": (num_labels, None), "label_weights": (label_weights, None),
                       "from_logits": (from_logits, False)}
        for arg, (value, default) in unsupported.items():
            if value != default and not (value is None and default is None):
                raise NotImplementedError(f"AUC: {arg}={value!r} is not supported yet (only {arg}={default!r})")
        self.num_thresholds = _positive_int(num_thresholds, "AUC: num_thresholds")
        if self.num_thresholds < 2:
            raise ValueError(f"AUC: num_thresholds must be > 1, got {num_thresholds!r}")

    def _params(self):
        return {"num_thresholds": self.num_thresholds}


class _ThresholdMetric(Metric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        if top_k is not None or class_id is not None:
            raise NotImplementedError(f"{type(self).__name__}: top_k and class_id are not supported yet")
        if thresholds is None:
            thresholds = 0.5
        if isinstance(thresholds, (list, tuple)):
            if len(thresholds) != 1:
                raise NotImplementedError(f"{type(self).__name__}: only one threshold is supported, got {thresholds!r}")
            thresholds = thresholds[0]
        self.thresholds = _unit_threshold(thresholds, f"{type(self).__name__}: thresholds")

    def _params(self):
        return {"threshold": self.thresholds}

    def _public_params(self):
        return {"thresholds": self.thresholds}


class Precision(_ThresholdMetric):
    """true positives / (true positives + false positives) over the epoch, a prediction > thresholds (0.5) being
    positive and a target other than 0 being true (0 when nothing is predicted positive)."""

    _core_name = "precision"
    _default_name = "precision"


class Recall(_ThresholdMetric):
    """true positives / (true positives + false negatives) over the epoch, a prediction > thresholds (0.5) being
    positive and a target other than 0 being true (0 when no target is true)."""

    _core_name = "recall"
    _default_name = "recall"


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot target's class is among the k largest predictions (ties at the k-th value count as
    in, as TensorFlow's in_top_k)."""

    _core_name = "top_k_categorical_accuracy"
    _default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(name, dtype)
        self.k = _positive_int(k, f"{type(self).__name__}: k")

    def _params(self):
        return {"k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """As TopKCategoricalAccuracy, for class-index targets (sparse_categorical_crossentropy)."""

    _core_name = "sparse_top_k_categorical_accuracy"
    _default_name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None, from_sorted_ids=False):
        if from_sorted_ids:
            raise NotImplementedError("SparseTopKCategoricalAccuracy: from_sorted_ids is not supported")
        super().__init__(k, name, dtype)


class BinaryAccuracy(Metric):
    """How often (prediction > threshold) equals the target, per output and averaged over the outputs."""

    _core_name = "binary_accuracy"
    _default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or threshold != threshold:
            raise ValueError(f"BinaryAccuracy: threshold must be a number, got {threshold!r}")
        self.threshold = float(threshold)

    def _params(self):
        return {"threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """How often the argmax of the prediction is the argmax of the one-hot target."""

    _core_name = "categorical_accuracy"
    _default_name = "categorical_accuracy"


class SparseCategoricalAccuracy(Metric):
    """How often the argmax of the prediction is the class-index target."""

    _core_name = "sparse_categorical_accuracy"
    _default_name = "sparse_categorical_accuracy"


class MeanSquaredError(Metric):
    _core_name = "mean_squared_error"
    _default_name = "mean_squared_error"


class MeanAbsoluteError(Metric):
    _core_name = "mean_absolute_error"
    _default_name = "mean_absolute_error"


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
