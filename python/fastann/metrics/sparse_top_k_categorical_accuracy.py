"""SparseTopKCategoricalAccuracy: top-k accuracy for class-index targets."""

from __future__ import annotations

from .top_k_categorical_accuracy import TopKCategoricalAccuracy


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """As TopKCategoricalAccuracy, for class-index targets (sparse_categorical_crossentropy)."""

    _core_name = "sparse_top_k_categorical_accuracy"
    _default_name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None, from_sorted_ids=False):
        if from_sorted_ids:
            raise NotImplementedError("SparseTopKCategoricalAccuracy: from_sorted_ids is not supported")
        super().__init__(k, name, dtype)
