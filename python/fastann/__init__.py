"""fastann: neural networks with a Keras-style API on a fast C++ core.

    from fastann.models import Sequential
    from fastann.layers import Dense

Only the import lines differ from a Keras tutorial. The numeric work (GEMM, activations, losses, optimizers and the
whole fit/evaluate/predict loops) runs in C++ with the GIL released.
"""

from . import (
    _core,
    activations,
    callbacks,
    cuda,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    regularizers,
    utils,
)
from ._core import __version__
from ._paths import get_cmake_dir, get_include, get_library_dir
from .layers import Input
from .models import Sequential


def set_num_threads(n: int) -> None:
    """Sets the number of threads the CPU kernels use (default: the available cores, or FASTANN_NUM_THREADS)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads expects an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the CPU kernels use."""
    return _core.get_num_threads()


def set_check_finite(enabled: bool) -> None:
    """fit/evaluate/train_on_batch/test_on_batch raise ValueError for NaN or infinity in x or y, naming the row and
    column (default True: one threaded pass over the data per call). False uses such data as given."""
    _core.set_check_finite(bool(enabled))


def get_check_finite() -> bool:
    return _core.get_check_finite()


__all__ = [
    "__version__", "Sequential", "Input", "activations", "callbacks", "cuda", "initializers", "layers", "losses",
    "metrics", "models", "ops", "optimizers", "regularizers", "utils", "set_num_threads", "get_num_threads",
    "set_check_finite", "get_check_finite", "get_include", "get_library_dir", "get_cmake_dir",
]
