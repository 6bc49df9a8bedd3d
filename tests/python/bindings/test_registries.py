"""The Python name lists (fastann.losses / fastann.metrics `get`) and the C++ registries (csrc/nn/losses.cpp,
csrc/nn/metrics.cpp) accept the same names, and every registered name compiles a model."""

import numpy as np
import pytest

import fastann
from fastann import _core
from fastann.losses import serialization as loss_names
from fastann.metrics import serialization as metric_names


def test_loss_names_match_the_core_registry():
    assert sorted(_core.loss_names()) == sorted(loss_names._NAMES)


def test_metric_names_match_the_core_registry():
    assert sorted(_core.metric_names()) == sorted(metric_names.NAMES)


@pytest.mark.parametrize("name", sorted(_core.loss_names()))
def test_every_registered_loss_trains(name):
    sparse = name == "sparse_categorical_crossentropy"
    classes = 3 if name in ("categorical_crossentropy", "sparse_categorical_crossentropy") else 1
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    if sparse:
        y = rng.integers(0, classes, size=16).astype(np.float32)
    elif classes > 1:
        y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, size=16)]
    else:
        y = rng.uniform(size=(16, 1)).astype(np.float32)
    act = "softmax" if classes > 1 else ("sigmoid" if name == "binary_crossentropy" else None)
    m = fastann.Sequential([fastann.layers.Input((4,)), fastann.layers.Dense(classes, activation=act)])
    m.compile(optimizer="sgd", loss=name)
    h = m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"][0])


def test_unknown_names_list_the_registry():
    m = fastann.Sequential([fastann.layers.Input((4,)), fastann.layers.Dense(1)])
    with pytest.raises(ValueError, match="unknown loss 'msee'; valid losses: .*huber_loss"):
        m.compile(optimizer="sgd", loss="msee")
    with pytest.raises(ValueError, match="unknown metric 'f1'; valid metrics: .*mean_absolute_error"):
        m.compile(optimizer="sgd", loss="mse", metrics=["f1"])
