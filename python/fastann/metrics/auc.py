"""AUC: the area under the ROC curve, from confusion counts at evenly spaced thresholds."""

from __future__ import annotations

from ._utils import _positive_int
from .metric import Metric


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
