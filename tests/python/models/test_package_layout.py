"""The layers, callbacks, optimizers, losses and metrics packages: their public names keep the module path they had
as single modules (pickles of a model whose compile got a loss object name fastann.losses.Huber)."""

import importlib
import pickle

import pytest

import fastann

PACKAGES = ["layers", "callbacks", "optimizers", "losses", "metrics"]


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_keep_the_package_module_path(package):
    mod = importlib.import_module(f"fastann.{package}")
    assert mod.__all__
    for name in mod.__all__:
        obj = getattr(mod, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == f"fastann.{package}", name
            assert pickle.loads(pickle.dumps(obj)) is obj


def test_known_paths():
    assert fastann.layers.Dense.__module__ == "fastann.layers"
    assert fastann.callbacks.Progbar.__module__ == "fastann.callbacks"
    assert b"fastann.losses" in pickle.dumps(fastann.losses.Huber(2.0))


def test_objects_pickle():
    for obj in (fastann.losses.Huber(2.0), fastann.optimizers.Adam(0.01), fastann.metrics.AUC(num_thresholds=50),
                fastann.callbacks.EarlyStopping(patience=3)):
        copy = pickle.loads(pickle.dumps(obj))
        assert type(copy) is type(obj) and vars(copy).keys() == vars(obj).keys()
